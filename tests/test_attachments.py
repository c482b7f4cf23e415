"""Files dropped into the message box: text goes in as a fenced block, the rest is refused
with the reason."""

from __future__ import annotations

import codecs
import os
import threading
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from desktop.attachments import (
    MAX_BYTES,
    MAX_CHARS,
    Attachment,
    AttachmentError,
    read_attachment,
)


def test_a_source_file_becomes_a_fenced_block_with_its_language(tmp_path: Path) -> None:
    path = tmp_path / "reverse.py"
    path.write_bytes(b"def rev(s):\r\n    return s[::-1]\r\n")
    attachment = read_attachment(path)
    assert attachment == Attachment("reverse.py", "def rev(s):\n    return s[::-1]\n")
    assert attachment.as_markdown() == (
        "`reverse.py`:\n```python\ndef rev(s):\n    return s[::-1]\n```\n"
    )


def test_the_fence_is_longer_than_any_backtick_run_inside(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("Example:\n```sh\nls\n```\nend", encoding="utf-8")
    block = read_attachment(path).as_markdown()
    assert block.startswith("`notes.md`:\n````markdown\n")
    assert block.endswith("end\n````\n")
    fences = [t for t in MarkdownIt().parse(block) if t.type == "fence"]
    assert [t.content for t in fences] == ["Example:\n```sh\nls\n```\nend\n"]


def test_utf16_with_a_byte_order_mark_is_text(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "a;b\n1;2\n".encode("utf-16-le"))
    assert read_attachment(path).text == "a;b\n1;2\n"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.png is not a text file"),
        ("noise.dat", bytes(range(0x80, 0x100)) * 4, "noise.dat is not a text file"),
        ("big.log", b"x" * (MAX_BYTES + 1), "big.log is too large to paste"),
    ],
)
def test_what_is_not_text_is_refused_with_the_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(AttachmentError, match=reason):
        read_attachment(path)


def test_a_windows_or_latin_1_text_file_is_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("Café crème, 20 € — à bientôt\r\n".encode("cp1252"))
    assert read_attachment(path).text == "Café crème, 20 € — à bientôt\n"


def test_a_folder_a_missing_file_and_a_full_message_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AttachmentError, match="is a folder"):
        read_attachment(tmp_path)
    with pytest.raises(AttachmentError, match="could not be read"):
        read_attachment(tmp_path / "gone.txt")
    path = tmp_path / "long.txt"
    path.write_text("y" * 5000, encoding="utf-8")
    assert read_attachment(path, room=5000).text == "y" * 5000
    with pytest.raises(AttachmentError, match="with what comes before it the message would pass"):
        read_attachment(path, room=4999)  # other files took the rest of the room
    path.write_text("y" * (MAX_CHARS + 1), encoding="utf-8")
    with pytest.raises(AttachmentError, match=f"{MAX_CHARS:,} at most"):
        read_attachment(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_by_the_window_and_read_by_the_command_line(
    tmp_path: Path,
) -> None:
    """Opening a pipe nobody writes to waits forever: the window must not try; `parley ask
    -f <(git diff)` hands one over on purpose, with a writer."""
    fifo = tmp_path / "diff"
    os.mkfifo(fifo)
    with pytest.raises(AttachmentError, match="diff is not a file"):
        read_attachment(fifo)  # returns at once: no open() that would block
    writer = threading.Thread(target=lambda: fifo.write_text("+ added\n", encoding="utf-8"))
    writer.start()
    try:
        assert read_attachment(fifo, pipes=True).text == "+ added\n"
    finally:
        writer.join(timeout=5)
