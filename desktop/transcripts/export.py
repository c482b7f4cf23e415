"""Writing transcripts to files: one conversation, a selection, or everything.

Per-conversation formats (Markdown, HTML, text, PDF) give one file for one conversation and
a zip of one file each for several. The JSON formats hold any number of conversations in one
file (ChatGPT's ``conversations.json`` is itself a list), which is also what import reads.
Files are written next to the target and renamed into place: a failed export leaves no
half-written file.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

from desktop.store.store import Store
from desktop.store.transcripts import TreeConversation, read_conversations
from desktop.transcripts import chatgpt, parley_json, render
from desktop.transcripts.errors import TranscriptError

Format = Literal["markdown", "html", "text", "pdf", "parley-json", "chatgpt-json"]
FORMATS: tuple[Format, ...] = get_args(Format)
JSON_FORMATS: tuple[Format, ...] = ("parley-json", "chatgpt-json")
EXTENSIONS: dict[Format, str] = {
    "markdown": ".md",
    "html": ".html",
    "text": ".txt",
    "pdf": ".pdf",
    "parley-json": ".parley.json",
    "chatgpt-json": ".json",
}

PdfRenderer = Callable[[str, str], bytes]
"""``(html, title) -> PDF bytes``: provided by the UI layer (Qt's PDF writer)."""

_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]+')


def safe_filename(title: str, limit: int = 80) -> str:
    """A file name made from a title, valid on Windows, macOS and Linux."""
    # a title cut short ends in "…": a file name does better without it
    name = _UNSAFE.sub(" ", title.rstrip("…")).strip(" .")
    name = re.sub(r"\s+", " ", name)[:limit].strip(" .")
    reserved = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))}
    reserved |= {f"LPT{i}" for i in range(1, 10)}
    if not name or name.upper() in reserved:
        name = f"chat {name}".strip()
    return name


def with_extension(path: Path, suffix: str) -> Path:
    """``path`` ending in ``suffix``: a name typed for another format loses that format's
    extension first ("notes.md" saved as HTML is "notes.html", not "notes.md.html")."""
    name = path.name
    if name.lower().endswith(suffix):
        return path
    known = sorted({*EXTENSIONS.values(), ".zip"}, key=len, reverse=True)  # .parley.json first
    for other in known:
        if name.lower().endswith(other) and len(name) > len(other):
            return path.with_name(name[: -len(other)] + suffix)
    return path.with_name(name + suffix)


def render_one(
    conversation: TreeConversation, fmt: Format, pdf_renderer: PdfRenderer | None = None
) -> bytes:
    """One conversation in a per-conversation format, as file bytes."""
    if fmt == "markdown":
        return render.to_markdown(conversation).encode("utf-8")
    if fmt == "text":
        return render.to_text(conversation).encode("utf-8")
    if fmt == "html":
        return render.to_html(conversation).encode("utf-8")
    if fmt == "pdf":
        if pdf_renderer is None:
            raise ValueError("PDF export needs a PDF renderer (desktop.ui.pdf_export)")
        return pdf_renderer(render.to_print_html(conversation), conversation.title)
    return render_json(fmt, [conversation])


def render_json(fmt: Format, conversations: Sequence[TreeConversation]) -> bytes:
    if fmt == "parley-json":
        document: object = parley_json.to_document(conversations)
    elif fmt == "chatgpt-json":
        document = chatgpt.to_chatgpt(conversations)
    else:
        raise ValueError(f"{fmt} is not a JSON format")
    return json.dumps(document, ensure_ascii=False, indent=1, allow_nan=False).encode("utf-8")


def default_filename(conversations: Sequence[TreeConversation], fmt: Format) -> str:
    if fmt == "chatgpt-json":
        return "conversations.json"
    if len(conversations) == 1:
        return safe_filename(conversations[0].title) + EXTENSIONS[fmt]
    stamp = time.strftime("%Y-%m-%d")
    if fmt == "parley-json":
        return f"Parley chats {stamp}.parley.json"
    return f"Parley chats {stamp} ({fmt}).zip"


def _zip(
    conversations: Sequence[TreeConversation],
    fmt: Format,
    pdf_renderer: PdfRenderer | None,
    progress: Callable[[str, float], None] | None = None,
) -> bytes:
    def parts() -> Iterable[bytes]:
        for done, conversation in enumerate(conversations, 1):
            yield render_one(conversation, fmt, pdf_renderer)
            if progress is not None:
                progress("export", done / len(conversations))

    return zip_parts(conversations, parts(), fmt)


def zip_parts(
    conversations: Sequence[TreeConversation], parts: Iterable[bytes], fmt: Format
) -> bytes:
    """The zip of several conversations, each rendered in ``fmt`` (``parts``, in the same
    order: rendered as they are zipped, or beforehand, e.g. PDFs a slice at a time on the GUI
    thread), one file each, named after its title."""
    import io

    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for conversation, part in zip(conversations, parts, strict=True):
            stem = safe_filename(conversation.title)
            name, n = stem + EXTENSIONS[fmt], 1
            while name.lower() in used:
                n += 1
                name = f"{stem} ({n}){EXTENSIONS[fmt]}"
            used.add(name.lower())
            info = zipfile.ZipInfo(name, time.localtime(conversation.updated_at)[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, part)
    return buffer.getvalue()


def export_bytes(
    conversations: Sequence[TreeConversation],
    fmt: Format,
    pdf_renderer: PdfRenderer | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> bytes:
    """The file contents for ``conversations`` in ``fmt`` (a zip for several conversations in
    a per-conversation format; ``progress("export", fraction)`` after each one)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt in JSON_FORMATS:
        return render_json(fmt, conversations)
    if len(conversations) == 1:
        return render_one(conversations[0], fmt, pdf_renderer)
    return _zip(conversations, fmt, pdf_renderer, progress)


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to a new file beside ``target`` and rename it into place (created
    with the usual permissions, unlike ``mkstemp``'s owner-only files)."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with temporary.open("xb") as out:
                out.write(data)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as error:
        raise TranscriptError(f"cannot write {target}: {error.strerror or error}") from error


def export_conversations(
    store: Store,
    conversation_ids: Sequence[int],
    fmt: Format,
    destination: Path,
    pdf_renderer: PdfRenderer | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Path:
    """Export the conversations to ``destination`` (a file, or an existing folder to put a
    file with the default name in). Returns the file written."""
    if not conversation_ids:
        raise TranscriptError("no conversations to export")
    conversations = read_conversations(store, conversation_ids)
    target = export_target(destination, conversations, fmt)
    write_atomically(target, export_bytes(conversations, fmt, pdf_renderer, progress))
    return target


def export_target(
    destination: Path, conversations: Sequence[TreeConversation], fmt: Format
) -> Path:
    """The file to write: ``destination``, or a file with the default name in it when it
    is a folder."""
    if destination.is_dir():
        return destination / default_filename(conversations, fmt)
    return destination
