"""Shared checks for the feedback widgets' tests."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QLineEdit,
    QPlainTextEdit,
    QTabBar,
    QTabWidget,
    QWidget,
)

INTERACTIVE = (QAbstractButton, QLineEdit, QPlainTextEdit, QAbstractItemView, QTabWidget)
COMPOUND = (QAbstractItemView, QTabWidget, QTabBar)


def _part_of_compound(widget: QWidget, top: QWidget) -> bool:
    """Headers and corner buttons of a table, the tab bar of a tab widget: parts of one control."""
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, COMPOUND):
            return True
        parent = parent.parentWidget()
    return False


def unnamed_controls(top: QWidget) -> list[str]:
    """Controls a user can operate that lack a screen-reader name or a tooltip (should be
    none)."""
    missing = []
    for widget in top.findChildren(QWidget):
        if not isinstance(widget, INTERACTIVE) or _part_of_compound(widget, top):
            continue
        if not widget.accessibleName() or not widget.toolTip():
            missing.append(f"{type(widget).__name__} {widget.accessibleName()!r}")
    return missing
