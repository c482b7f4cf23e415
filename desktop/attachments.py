"""Text files put into a message (dropped or pasted into the window's input; ``parley ask
-f FILE``, ``parley chat``'s ``/file``): their text goes into the message as a fenced block
under the file's name, so the model reads it and the history keeps it.

Only text is accepted (UTF-8, UTF-16 with its byte-order mark, or Windows' cp1252), up to
``MAX_CHARS`` in all;
anything else is refused with a sentence saying why, and nothing is inserted for that file.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 400_000  # read no more than this from one file
MAX_CHARS = 100_000  # about 25k tokens: more would not fit a small model's window anyway

LANGUAGES = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".tsx": "tsx", ".jsx": "jsx",
    ".java": "java", ".kt": "kotlin", ".c": "c", ".h": "c", ".cpp": "cpp", ".hpp": "cpp",
    ".cc": "cpp", ".cs": "csharp", ".go": "go", ".rs": "rust", ".rb": "ruby", ".php": "php",
    ".swift": "swift", ".sh": "bash", ".bash": "bash", ".ps1": "powershell", ".sql": "sql",
    ".html": "html", ".css": "css", ".json": "json", ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml", ".xml": "xml", ".md": "markdown", ".csv": "csv", ".ini": "ini",
    ".r": "r", ".lua": "lua", ".pl": "perl", ".tex": "latex",
}  # fmt: skip


class AttachmentError(ValueError):
    """A file that cannot go into a message; the text is the reason, for the user."""


@dataclass(frozen=True)
class Attachment:
    name: str
    text: str

    def as_markdown(self) -> str:
        """The file's text in a fence long enough that no line of the file closes it."""
        longest = 2
        for line in self.text.splitlines():
            stripped = line.lstrip()
            run = len(stripped) - len(stripped.lstrip("`"))
            longest = max(longest, run)
        fence = "`" * (longest + 1)
        lang = LANGUAGES.get(Path(self.name).suffix.lower(), "")
        body = self.text if self.text.endswith("\n") else self.text + "\n"
        title = f"`{self.name}`:\n" if self.name else ""  # no name: standard input
        return f"{title}{fence}{lang}\n{body}{fence}\n"


def read_attachment(path: Path, room: int = MAX_CHARS, *, pipes: bool = False) -> Attachment:
    """The text of ``path``, or :class:`AttachmentError` with the reason. ``room``: how many
    characters may still be added to the message. ``pipes``: a named pipe or a device is
    read too (``parley ask -f <(git diff)``); the window takes files only, since reading a
    pipe with no writer would wait forever."""
    name = path.name
    if path.is_dir():
        raise AttachmentError(f"{name} is a folder; give the files in it instead")
    if not pipes and path.exists() and not path.is_file():
        raise AttachmentError(f"{name} is not a file (a pipe, socket or device)")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise AttachmentError(f"{name} could not be read: {exc.strerror or exc}") from exc
    return attachment_from_bytes(name, data, room)


def attachment_from_bytes(name: str, data: bytes, room: int = MAX_CHARS) -> Attachment:
    """Text read elsewhere (standard input: ``name`` empty) checked as :func:`read_attachment`
    checks a file's; ``data`` holds at most ``MAX_BYTES + 1`` bytes of it."""
    label = name or "the input"
    if len(data) > MAX_BYTES:
        raise AttachmentError(f"{label} is too large to paste (more than {MAX_BYTES // 1000} KB)")
    text = _decode(data)
    if text is None:
        raise AttachmentError(f"{label} is not a text file" if name else "the input is not text")
    if len(text) > room:
        if room < MAX_CHARS:  # other files came first: the total is what does not fit
            raise AttachmentError(
                f"{label} has {len(text):,} characters; with what comes before it the "
                f"message would pass {MAX_CHARS:,} ({room:,} left)"
            )
        raise AttachmentError(
            f"{label} has {len(text):,} characters; a message takes {MAX_CHARS:,} at most"
        )
    return Attachment(name, text.replace("\r\n", "\n"))


def _decode(data: bytes) -> str | None:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Windows' own encoding (cp1252, a superset of Latin-1's letters) still writes many
        # text files: read as such when it reads as text, mostly ASCII (binary data with no
        # NUL byte would be more than a quarter non-ASCII)
        if sum(b >= 0x80 for b in data) > len(data) // 4:
            return None
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    return None if controls > len(text) // 100 else text
