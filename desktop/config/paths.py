"""Where Parley keeps its files. ``PARLEY_DATA_DIR`` overrides the platform default
(portable installs, several profiles side by side)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Parley"


def data_dir() -> Path:
    override = os.environ.get("PARLEY_DATA_DIR")
    base = Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, False))
    return base


def models_dir() -> Path:
    return data_dir() / "models"


def cache_dir() -> Path:
    override = os.environ.get("PARLEY_CACHE_DIR")
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME, False))
