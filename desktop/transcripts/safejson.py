"""Reading untrusted JSON within limits: size before parsing, nesting depth, plain types.

The size is checked before a byte is parsed (the file's size, then a bounded read, so a file
that grows or a zip member that lies about its size cannot get past it). Python's decoder
stops at the interpreter's recursion limit, which is far deeper than any transcript needs;
:func:`check_depth` then enforces :data:`MAX_DEPTH` with an explicit stack, never recursion.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from desktop.transcripts.errors import TranscriptError

MAX_BYTES = 64 * 1024 * 1024
"""Default import limit. ChatGPT exports of heavy users can be larger; the CLI's
``--max-size`` raises it."""
MAX_DEPTH = 64
"""Arrays and objects inside each other. ChatGPT's format needs about 10, Parley's 6."""
MAX_ZIP_MEMBERS = 100_000

JSON_NAMES = ("conversations.json", "parley.json")
"""What an import looks for inside a zip, in this order of preference (then any *.json)."""


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _too_big(name: str, limit: int) -> TranscriptError:
    return TranscriptError(
        f"{name} is larger than the import limit of {_mb(limit)}; nothing was imported"
    )


def read_bounded(path: Path, limit: int = MAX_BYTES) -> tuple[bytes, str]:
    """The JSON bytes of ``path`` (a .json file, or a zip holding one) and a display name.
    Raises :class:`TranscriptError` for a missing, unreadable or too large file."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise TranscriptError(f"{path} is a folder, not a transcript file")
        if zipfile.is_zipfile(path):
            return _read_zip(path, limit)
        if size > limit:
            raise _too_big(path.name, limit)
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as error:
        raise TranscriptError(f"cannot read {path}: {error.strerror or error}") from error
    if len(data) > limit:
        raise _too_big(path.name, limit)
    return data, path.name


def _read_zip(path: Path, limit: int) -> tuple[bytes, str]:
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
            name = f"{path.name}:{chosen.filename}"
            if chosen.file_size > limit:
                raise _too_big(name, limit)
            with archive.open(chosen) as member:
                data = member.read(limit + 1)  # the header's size may lie
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise TranscriptError(f"{path.name} is a damaged zip file ({error})") from error
    if len(data) > limit:
        raise _too_big(name, limit)
    return data, name


def parse(data: bytes, name: str, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON text (UTF-8, a byte-order mark allowed). Raises :class:`TranscriptError`."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TranscriptError(
            f"{name} is not UTF-8 text (byte {error.start}); nothing was imported"
        ) from error
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise TranscriptError(
            f"{name} is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}); nothing was imported"
        ) from error
    except RecursionError as error:
        raise _too_deep(name, max_depth) from error
    except ValueError as error:  # NaN / Infinity
        raise TranscriptError(f"{name}: {error}; nothing was imported") from error
    check_depth(value, name, max_depth)
    return value


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not allowed in a transcript")


def _too_deep(name: str, max_depth: int) -> TranscriptError:
    return TranscriptError(
        f"{name} is nested more than {max_depth} levels deep, which no transcript is; "
        "nothing was imported"
    )


def check_depth(value: Any, name: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`TranscriptError` when arrays/objects nest deeper than ``max_depth``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise _too_deep(name, max_depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def load(path: Path, limit: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> tuple[Any, str]:
    """Read and decode ``path`` within the limits: ``(value, display name)``."""
    data, name = read_bounded(path, limit)
    return parse(data, name, max_depth), name
