"""PDF transcripts through Qt's PDF writer are real PDFs with the text in them."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pytestqt.qtbot import QtBot

from desktop.store.transcripts import TreeConversation, TreeMessage
from desktop.transcripts import export_bytes
from desktop.ui.pdf_export import html_to_pdf


def _words(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def test_pdf_is_valid_and_holds_the_text(qtbot: QtBot) -> None:
    long_answer = "\n\n".join(f"Paragraph number {i} of the answer." for i in range(120))
    conversation = TreeConversation(
        uid="c",
        title="Quarterly <plan> review",
        created_at=1.7e9,
        updated_at=1.7e9,
        messages=(
            TreeMessage("q", None, "user", "Summarise <script>alert(1)</script>", created_at=1.7e9),
            TreeMessage(
                "a",
                "q",
                "assistant",
                "```python\nprint('zebra crossing')\n```\n" + long_answer,
                model="smollm2",
                created_at=1.7e9 + 1,
            ),
        ),
    )

    pdf = export_bytes([conversation], "pdf", pdf_renderer=html_to_pdf)

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 3  # the long answer is paged, not cut off
    assert reader.metadata is not None
    assert reader.metadata.title == "Quarterly <plan> review"
    words = _words(pdf)
    assert "Quarterly <plan> review" in words
    assert "Summarise <script>alert(1)</script>" in words  # shown as text
    # Highlighted code is laid out token by token; the extractor puts spaces between them.
    assert "print ( 'zebra crossing' )" in words
    assert "Paragraph number 119 of the answer." in words


def test_command_line_application_is_offscreen_and_allows_widgets() -> None:
    """Without a running app, the CLI's PDF export starts an offscreen QApplication."""
    import subprocess
    import sys

    code = (
        "from desktop.ui.pdf_export import offscreen_application, html_to_pdf\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = offscreen_application()\n"
        "assert isinstance(app, QApplication)\n"
        "assert app.platformName() == 'offscreen', app.platformName()\n"
        "QLabel('widgets still work')\n"
        "assert html_to_pdf('<p>x</p>').startswith(b'%PDF-')\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "QT_QPA_PLATFORM"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
