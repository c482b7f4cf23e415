"""PySide6 6.12.0 on CPython 3.11 lowers the reference count of None on every call that
returns nothing and aborts the process (``Fatal Python error: none_dealloc``) after a few
thousand calls. The pin in pyproject.toml keeps 6.11.x; this test catches an upgrade that
brings the bug back."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QLabel


def test_none_refcount_is_stable_across_many_calls() -> None:
    app = QApplication.instance() or QApplication([])
    assert app is not None
    label = QLabel()
    before = sys.getrefcount(None)
    for i in range(5000):
        label.setText(str(i))
    after = sys.getrefcount(None)
    # Other threads may take or drop a handful of references; the bug loses one per call.
    assert abs(after - before) < 100, (before, after)
