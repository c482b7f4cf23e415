"""Shared fixtures. Every test runs with its own data directory: the user's real settings,
history and models are never read or written."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ("tests.models",)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "parley-data"))
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path / "parley-cache"))
