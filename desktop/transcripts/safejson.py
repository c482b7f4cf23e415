"""Reading untrusted JSON within limits: size before parsing, memory, nesting depth.

A transcript file can be far larger than what should be held in memory at once (ChatGPT's
exports of heavy users reach hundreds of MB, and Python's objects take several times the
text's size). :class:`JsonStream` therefore reads the text piece by piece and decodes one
value at a time: each conversation of an array, or each member of an object, is decoded
whole (with Python's own decoder) but none may be larger than :data:`MAX_ITEM_BYTES`, so
memory stays bounded whatever the file's size.

Sizes are checked before a byte is parsed (the file's size, or the size a zip member
declares) and again while reading (a file that grows, or a zip member that lies about its
size, cannot get past them). Python's decoder stops at the interpreter's recursion limit,
which is far deeper than any transcript needs; :func:`check_depth` then enforces
:data:`MAX_DEPTH` with an explicit stack, never recursion.
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from desktop.transcripts.errors import TranscriptError

MAX_BYTES = 1024 * 1024 * 1024
"""Default import limit: 1 GB, twice the largest ChatGPT exports of heavy users (100-500
MB). Memory does not grow with the file (see :data:`MAX_ITEM_BYTES`), so what this bounds
is the time an import takes (about 3.5 MB/s measured, so about 5 minutes) and the history's
growth on disk (about the file's size). The CLI's ``--max-size`` changes it."""
MAX_ITEM_BYTES = 64 * 1024 * 1024
"""The most JSON text decoded at once: one conversation of an array, or an object's members
that are not streamed (a Parley file whose conversations do not come after its header,
one ChatGPT conversation on its own). Counted in characters, which are the bytes of ASCII
text. No chat comes near it, and it was the default limit of the whole file before files
were read a conversation at a time, so no file that imported by default before is refused."""
MAX_DEPTH = 64
"""Arrays and objects inside each other. ChatGPT's format needs about 10, Parley's 6."""
MAX_ZIP_MEMBERS = 100_000
CHUNK_BYTES = 1024 * 1024
"""How much is read from the file at a time."""

JSON_NAMES = ("conversations.json", "parley.json")
"""What an import looks for inside a zip, in this order of preference (then any *.json)."""

_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_TRUNCATION_MARGIN = 16
"""Python's decoder reports text cut short within this many characters of its end (a cut
``\\uXXXX`` escape, literal or number), except for an unterminated string."""


def mb(size: int) -> str:
    """``size`` for a message: ``64 MB``, ``1 GB``, ``512 KB``."""
    if size >= 1024**3 and size % 1024**3 == 0:
        return f"{size // 1024**3} GB"
    if size < 1024**2:
        return f"{size // 1024} KB"
    return f"{size / 1024**2:.0f} MB"


def _too_big(name: str, limit: int) -> TranscriptError:
    return TranscriptError(
        f"{name} is larger than the import limit of {mb(limit)}; nothing was imported"
    )


def _too_deep(name: str, max_depth: int) -> TranscriptError:
    return TranscriptError(
        f"{name} is nested more than {max_depth} levels deep, which no transcript is; "
        "nothing was imported"
    )


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not allowed in a transcript")


@dataclass(frozen=True)
class Source:
    """A transcript's JSON text on disk (a file, or a member of a zip) that may be read more
    than once: :meth:`open` gives its bytes afresh each time."""

    path: Path
    name: str
    """For messages: the file's name, or ``export.zip:conversations.json``."""
    member: str | None = None
    """The member of the zip at ``path``; ``None`` for a plain file."""
    stamp: tuple[int, int] = (0, 0)
    """The file's size and modification time when it was found."""
    size: int = 0
    """Bytes of JSON text (the zip member's uncompressed size): for progress."""

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The bytes; raises :class:`TranscriptError` when the file cannot be read or has
        changed since it was found (read twice, it must be the same file both times)."""
        try:
            if _stamp(self.path) != self.stamp:
                raise TranscriptError(
                    f"{self.name} changed while it was being imported; nothing was imported"
                )
            if self.member is None:
                with self.path.open("rb") as f:
                    yield f
            else:
                with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as f:
                    yield f
        except OSError as error:
            raise TranscriptError(f"cannot read {self.path}: {error.strerror or error}") from error
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
            raise _damaged(self.path, error) from error


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def _damaged(path: Path, error: BaseException) -> TranscriptError:
    # zipfile's words for a zip whose end (the table of its files) is missing
    reason = "its end is missing: cut short?" if str(error) == "File is not a zip file" else error
    return TranscriptError(f"{path.name} is a damaged zip file ({reason}); nothing was imported")


def open_source(path: Path, limit: int = MAX_BYTES) -> Source:
    """Where the JSON of ``path`` is (the file itself, or the export's file inside a zip),
    checked against ``limit`` before anything is parsed. Raises :class:`TranscriptError` for
    a missing, unreadable or too large file."""
    try:
        stamp = _stamp(path)
        size = stamp[0]
        if path.is_dir():
            raise TranscriptError(f"{path} is a folder, not a transcript file")
        if zipfile.is_zipfile(path) or _starts_as_zip(path):
            return _zip_source(path, limit, stamp)  # a zip cut short: said to be damaged
    except OSError as error:
        raise TranscriptError(f"cannot read {path}: {error.strerror or error}") from error
    if size > limit:
        raise _too_big(path.name, limit)
    return Source(path, path.name, stamp=stamp, size=size)


def _starts_as_zip(path: Path) -> bool:
    """A file that begins as a zip does (a download cut short has no central directory, so
    ``is_zipfile`` says no, and it was then read as JSON: "not UTF-8 text")."""
    with path.open("rb") as file:
        return file.read(4) == b"PK\x03\x04"


def _zip_source(path: Path, limit: int, stamp: tuple[int, int]) -> Source:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise TranscriptError(f"{path.name} has too many files to be an export")
            by_name = {info.filename.rsplit("/", 1)[-1]: info for info in infos}
            chosen = next((by_name[n] for n in JSON_NAMES if n in by_name), None)
            if chosen is None:
                chosen = next((i for i in infos if i.filename.endswith(".json")), None)
            if chosen is None:
                raise TranscriptError(
                    f"{path.name} contains no conversations.json or parley.json; "
                    "nothing was imported"
                )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise _damaged(path, error) from error
    name = f"{path.name}:{chosen.filename}"
    if chosen.file_size > limit:  # what the header says; the reading counts again
        raise _too_big(name, limit)
    return Source(path, name, chosen.filename, stamp, chosen.file_size)


class ValueTooLargeError(TranscriptError):
    """A value of the file is larger than may be decoded at once."""


class JsonStream:
    """One JSON text, read from a binary file a piece at a time and decoded a value at a
    time: :meth:`items` for the values of an array, :meth:`members` for the keys of an
    object, :meth:`value` for one whole value. Each value is checked for depth and may not
    exceed ``item_limit`` characters; the file may not exceed ``limit`` bytes.

    Errors are :class:`TranscriptError` in the words of a whole-file parse (invalid JSON
    with its line and column, not UTF-8 with its byte, too large, too deep).
    """

    def __init__(
        self,
        file: IO[bytes],
        name: str,
        *,
        limit: int = MAX_BYTES,
        item_limit: int = MAX_ITEM_BYTES,
        max_depth: int = MAX_DEPTH,
        chunk: int = CHUNK_BYTES,
    ) -> None:
        self.name = name
        self._file = file
        self._limit = limit
        self._item_limit = item_limit
        self._max_depth = max_depth
        self._chunk = chunk
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._encoding = "UTF-8"
        self._json = json.JSONDecoder(parse_constant=_reject_constant)
        self._bytes_read = 0
        self._content_seen = False  # anything but whitespace in the text consumed so far
        self._bytes_decoded = 0  # of the text, after a byte-order mark
        self._bom = 0
        self._eof = False
        self._text = ""  # what was read and not yet consumed starts at _pos
        self._pos = 0
        self._offset = 0  # characters consumed before _text[0]
        self._line = 0  # newlines before _text[0]
        self._column = 0  # characters after the last of them, before _text[0]
        self._depth = 1  # of the next value: 2 inside the array or object being read

    # ------------------------------------------------------------------ reading

    def _read(self, size: int) -> None:
        """Append about ``size`` more bytes' text, dropping what was consumed."""
        data = self._file.read(max(size, 3) if self._bytes_read == 0 else size)
        self._bytes_read += len(data)
        if self._bytes_read > self._limit:
            raise _too_big(self.name, self._limit)
        self._eof = not data
        if self._bytes_read == len(data) and data.startswith(_BOM):
            data, self._bom = data[len(_BOM) :], len(_BOM)
        elif self._bytes_read == len(data) and data.startswith(_UTF16_BOMS):
            # Windows PowerShell's Out-File writes UTF-16 with its mark: read as such (the
            # decoder takes the mark and the byte order from it)
            self._decoder = codecs.getincrementaldecoder("utf-16")()
            self._encoding = "UTF-16"
        pending = len(self._decoder.getstate()[0])  # the start of a character cut short
        try:
            text = self._decoder.decode(data, final=self._eof)
        except UnicodeDecodeError as error:
            at = self._bom + self._bytes_decoded - pending + error.start
            raise TranscriptError(
                f"{self.name} is not {self._encoding} text (byte {at}); nothing was imported"
            ) from error
        self._bytes_decoded += len(data)
        del data
        self._consume()
        rest, self._text = self._text[self._pos :], ""  # one copy of the text at a time
        self._text = rest + text
        self._pos = 0

    def _consume(self) -> None:
        """Forget the text before ``_pos``, keeping count of its lines for messages."""
        done = self._pos
        newlines = self._text.count("\n", 0, done)
        if newlines:
            self._line += newlines
            self._column = done - self._text.rfind("\n", 0, done) - 1
        else:
            self._column += done
        self._offset += done
        self._content_seen = self._content_seen or bool(self._text[:done].strip())

    def _skip_whitespace(self) -> None:
        while True:
            match = _WHITESPACE.match(self._text, self._pos)
            assert match is not None  # the pattern matches the empty string
            self._pos = match.end()
            if self._pos < len(self._text) or self._eof:
                return
            self._read(self._chunk)

    def peek(self) -> str:
        """The next character that is not whitespace; ``""`` at the end of the text."""
        self._skip_whitespace()
        return self._text[self._pos : self._pos + 1]

    @property
    def offset(self) -> int:
        """Characters consumed so far."""
        return self._offset + self._pos

    @property
    def bytes_read(self) -> int:
        """Bytes read from the file so far (ahead of what is decoded by at most a chunk)."""
        return self._bytes_read

    # ------------------------------------------------------------------ errors

    def _invalid(self, message: str, pos: int) -> TranscriptError:
        if self._eof and not self._content_seen and not self._text.strip():
            # nothing but (perhaps) blank lines: there is no JSON error to quote
            return TranscriptError(f"{self.name} is empty; nothing was imported")
        newlines = self._text.count("\n", 0, pos)
        if newlines:
            line = self._line + newlines + 1
            column = pos - self._text.rfind("\n", 0, pos)
        else:
            line, column = self._line + 1, self._column + pos + 1
        return TranscriptError(
            f"{self.name} is not valid JSON ({message} at line {line}, column {column}); "
            "nothing was imported"
        )

    def _expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            raise self._invalid(message, self._pos)
        self._pos += 1

    def _take(self, char: str) -> bool:
        if self.peek() != char:
            return False
        self._pos += 1
        return True

    # ------------------------------------------------------------------ values

    def value(self, what: str, limit: int | None = None) -> Any:
        """The next value, decoded whole. It may take ``limit`` characters (by default the
        stream's ``item_limit``); ``what`` names it when it is larger (e.g.
        ``conversation 3``): :class:`ValueTooLargeError`."""
        limit = self._item_limit if limit is None else limit
        self._skip_whitespace()
        while True:
            try:
                value, end = self._json.raw_decode(self._text, self._pos)
            except json.JSONDecodeError as error:
                if self._eof or not self._cut_short(error):
                    raise self._invalid(error.msg, error.pos) from error
                self._more(what, limit)
                continue
            except RecursionError as error:
                raise _too_deep(self.name, self._max_depth) from error
            except ValueError as error:  # NaN / Infinity, or a number of thousands of digits
                reason = "it holds a number too long to read" if "digits" in str(error) else error
                raise TranscriptError(f"{self.name}: {reason}; nothing was imported") from error
            if (
                not isinstance(value, dict | list)
                and end > len(self._text) - _TRUNCATION_MARGIN
                and not self._eof
            ):
                self._more(what, limit)  # a number may go on in the text not read yet
                continue
            break
        if end - self._pos > limit:
            raise self._too_large(what, limit)
        start, self._pos = self._pos, end
        check_depth(value, self.name, self._max_depth, self._depth)
        if _SURROGATE_ESCAPE.search(self._text, start, end):
            return mend_surrogates(value)
        return value

    def _cut_short(self, error: json.JSONDecodeError) -> bool:
        """Whether ``error`` may come from the end of what was read so far, not the file."""
        return (
            error.msg.startswith("Unterminated string")
            or error.pos >= len(self._text) - _TRUNCATION_MARGIN
        )

    def _more(self, what: str, limit: int) -> None:
        """Read on for the value starting at ``_pos``: as much again as read of it so far
        (a large value is decoded a few times at most), up to one character over ``limit``."""
        held = len(self._text) - self._pos
        if held > limit:
            raise self._too_large(what, limit)
        self._read(max(1, min(max(self._chunk, held), limit + 1 - held)))

    def _too_large(self, what: str, limit: int) -> ValueTooLargeError:
        return ValueTooLargeError(
            f"{self.name}: {what} is larger than {mb(limit)}, more than is read at once; "
            "nothing was imported"
        )

    def items(self, what: str = "item") -> Iterator[Any]:
        """The values of the array that comes next, one at a time (each as :meth:`value`,
        named ``what`` and its number when too large)."""
        self._expect("[", "Expecting value")
        self._depth += 1
        if not self._take("]"):
            number = 1
            while True:
                yield self.value(f"{what} {number}")
                number += 1
                if self._take("]"):
                    break
                self._expect(",", "Expecting ',' delimiter")
        self._depth -= 1

    def members(self) -> Iterator[str]:
        """The keys of the object that comes next. The caller reads each key's value (with
        :meth:`value` or :meth:`items`) before asking for the next key."""
        self._expect("{", "Expecting value")
        self._depth += 1
        if not self._take("}"):
            while True:
                if self.peek() != '"':
                    raise self._invalid(
                        "Expecting property name enclosed in double quotes", self._pos
                    )
                key = self.value("a key")
                self._expect(":", "Expecting ':' delimiter")
                yield key
                if self._take("}"):
                    break
                self._expect(",", "Expecting ',' delimiter")
        self._depth -= 1

    def end(self) -> None:
        """Check that nothing but whitespace follows."""
        if self.peek():
            raise self._invalid("Extra data", self._pos)


# "\ud800"-"\udfff" written as an escape: half of a character outside the BMP (an emoji),
# whole when its other half follows, alone where an export cut a text inside a character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def mend_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its texts (keys too) replaced by U+FFFD, as a
    decoder does with a broken character: such a text cannot be stored or written as UTF-8,
    and one cut emoji must not keep the rest of an export out."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [mend_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {mend_surrogates(k): mend_surrogates(v) for k, v in value.items()}
    return value


def check_depth(value: Any, name: str, max_depth: int = MAX_DEPTH, depth: int = 1) -> None:
    """Raise :class:`TranscriptError` when arrays/objects nest deeper than ``max_depth``
    (``value`` itself being at ``depth``). Level by level, never recursion."""
    level = [value] if isinstance(value, dict | list) else []
    while level:
        if depth > max_depth:
            raise _too_deep(name, max_depth)
        inner: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            inner += [child for child in children if isinstance(child, dict | list)]
        level = inner
        depth += 1
