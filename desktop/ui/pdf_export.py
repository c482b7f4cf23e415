"""PDF transcripts with Qt's own PDF writer: ``QTextDocument`` lays out the transcript's HTML
(see ``desktop.transcripts.render.to_print_html``) and ``QPdfWriter`` pages it onto A4.

GUI thread only (or the only thread of a command-line export). The document never loads a
resource: an ``<img>`` or stylesheet link that somehow reached the HTML stays empty.
"""

from __future__ import annotations

from typing import Any, cast

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QUrl
from PySide6.QtGui import QGuiApplication, QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import QApplication

MARGIN_MM = 16.0


class _NoResources(QTextDocument):
    """A document that loads nothing from disk or network."""

    def loadResource(self, kind: int, name: QUrl | str) -> Any:  # noqa: N802 (Qt's name)
        return None


def html_to_pdf(html: str, title: str = "") -> bytes:
    """Lay out ``html`` on A4 pages and return the PDF file's bytes. Needs a
    ``QGuiApplication`` (the app's, or :func:`offscreen_application` for the CLI)."""
    if QGuiApplication.instance() is None:
        raise RuntimeError("html_to_pdf needs a QGuiApplication")
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(title)
    writer.setCreator("Parley")
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(MARGIN_MM, MARGIN_MM, MARGIN_MM, MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
    )
    document = _NoResources()
    document.setHtml(html)
    document.print_(writer)  # paints every page and ends the painter: the PDF is complete
    buffer.close()
    return bytes(data.data())


def offscreen_application() -> QGuiApplication:
    """The running application, or a new one on the offscreen platform (for a command-line
    export: no window, no display needed). A ``QApplication``, not just a GUI one, so that
    widget code later in the same process still works. Keep the returned object alive for
    as long as PDFs are written."""
    existing = QGuiApplication.instance()
    if existing is not None:
        return cast(QGuiApplication, existing)
    return QApplication(["parley", "-platform", "offscreen"])
