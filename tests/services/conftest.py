from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import no_thread_left_running


@pytest.fixture(autouse=True)
def _no_qthread_leak(qapp: object) -> Iterator[None]:
    with no_thread_left_running():
        yield
