"""``parley export`` and ``parley import``: transcripts on the command line.

    parley export --list                          ids and titles of the conversations
    parley export 3 7 --format html -o chats.zip  two conversations, one zip of HTML pages
    parley export --all --format json -o backup.parley.json
    parley import conversations.json              ChatGPT's export (the .json or the .zip)
    parley import backup.parley.json

Every failure a user can cause is one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from desktop.store import KnownError, Store
from desktop.store.transcripts import read_conversations
from desktop.terminal import ProgressBar, output_path
from desktop.transcripts import FORMATS, MAX_BYTES, Format, export_conversations, import_file
from desktop.transcripts.export import EXTENSIONS, JSON_FORMATS, export_bytes

EXIT_ERROR = 1

ALIASES: dict[str, Format] = {
    "md": "markdown",
    "txt": "text",
    "json": "parley-json",
    "parley": "parley-json",
    "chatgpt": "chatgpt-json",
    **{f: f for f in FORMATS},
}


def add_commands(sub: Any) -> None:
    """Register ``export`` and ``import`` on ``parley``'s subcommand parser."""
    export = sub.add_parser(
        "export",
        help="export conversations (Markdown, HTML, text, PDF, Parley JSON, ChatGPT JSON)",
        description="Export conversations. Several conversations in a per-conversation format "
        "give a zip; the JSON formats hold them all in one file.",
    )
    export.add_argument("ids", nargs="*", type=int, help="conversation ids (see --list)")
    export.add_argument("--all", action="store_true", help="every conversation (not the trash)")
    export.add_argument("--list", action="store_true", help="list conversation ids and titles")
    export.add_argument(
        "--format",
        "-f",
        default=None,
        choices=sorted(ALIASES),
        metavar="FORMAT",
        help="markdown (md), html, text (txt), pdf, parley-json (json), chatgpt-json (chatgpt); "
        "default: as the -o file's extension says, else markdown",
    )
    export.add_argument(
        "--output",
        "-o",
        help="file, or folder (existing, or ending in /) to put it in (default: current "
        "folder); '-': standard output (one conversation, or a JSON format)",
    )
    export.set_defaults(func=cmd_export)

    imp = sub.add_parser(
        "import",
        help="import ChatGPT's conversations.json (or its export zip) or a Parley JSON file",
    )
    imp.add_argument(
        "file",
        type=Path,
        help="ChatGPT's conversations.json or its export zip, or a .parley.json of "
        "parley export -f json; all or nothing",
    )
    imp.add_argument(
        "--max-size",
        type=int,
        default=MAX_BYTES // (1024 * 1024),
        metavar="MB",
        help=f"refuse larger files (default {MAX_BYTES // (1024 * 1024)} MB)",
    )
    imp.set_defaults(func=cmd_import)


def _fail(message: str) -> int:
    print(f"parley: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _format_of(args: argparse.Namespace) -> Format:
    """-f, or what the -o file's extension names (".parley.json" before ".json")."""
    if args.format is not None:
        return ALIASES[args.format]
    name = (args.output or "").lower()
    for fmt, suffix in sorted(EXTENSIONS.items(), key=lambda item: -len(item[1])):
        if name.endswith(suffix):
            return fmt
    return "markdown"


def _wrong_extension(output: Path, fmt: Format, several: bool) -> str | None:
    """Why ``output`` (a file) is the wrong name for what is written: a known extension of
    another format, or not .zip for a zip. None when it fits, or names no known format."""
    name = output.name.lower()
    zipped = several and fmt not in JSON_FORMATS
    wanted = ".zip" if zipped else EXTENSIONS[fmt]
    if name.endswith(wanted) and not (wanted == ".json" and name.endswith(".parley.json")):
        return None
    known = {*EXTENSIONS.values(), ".zip"}
    if not any(name.endswith(suffix) for suffix in known):
        return None  # a name of the user's own ("notes", "chat.bak"): written as asked
    what = f"a zip of {fmt} files" if zipped else f"{fmt}"
    return f"{output.name} does not fit {what}: name it …{wanted}, or give a folder"


def cmd_export(args: argparse.Namespace) -> int:
    fmt = _format_of(args)
    if args.output == "-":
        return _export_to_stdout(args, fmt)
    output = Path(args.output) if args.output else Path.cwd()
    if args.output and args.output.endswith(("/", os.sep)) and not output.exists():
        try:  # "-o exports/": a folder, as a shell user means it (Path drops the slash)
            output.mkdir(parents=True)
        except OSError as error:
            return _fail(f"cannot create the folder {output}: {error.strerror or error}")
    output = output_path(output, folder_ok=True)
    try:
        with Store.open() as store:
            if args.list:
                for c in store.list_conversations():
                    print(f"{c.id:>6}  {c.updated_at.astimezone():%Y-%m-%d %H:%M}  {c.title}")
                return 0
            ids, problem = _chosen(store, args)
            if problem is not None:
                return _fail(problem)
            if not output.is_dir() and (wrong := _wrong_extension(output, fmt, len(ids) > 1)):
                return _fail(wrong)
            renderer = None
            app = None
            if fmt == "pdf":
                from desktop.ui.pdf_export import html_to_pdf, offscreen_application

                app = offscreen_application()  # kept alive while the PDFs are written
                renderer = html_to_pdf
            bar = ProgressBar() if sys.stderr.isatty() and len(ids) > 1 else None
            try:
                target = export_conversations(
                    store, ids, fmt, output, pdf_renderer=renderer, progress=bar
                )
            finally:
                if bar is not None:
                    bar.done()
            del app
    except KnownError as error:
        return _fail(str(error))
    count = f"{len(ids)} conversation{'s' if len(ids) != 1 else ''}"
    print(f"Exported {count} to {target}")
    return 0


def _chosen(store: Store, args: argparse.Namespace) -> tuple[list[int], str | None]:
    """The conversations to export (--all, or the ids given, each once), or why there are
    none to (none named, no such conversation, one in the trash, which --list leaves out)."""
    ids = [c.id for c in reversed(store.list_conversations())] if args.all else list(args.ids)
    if not ids:
        what = "no conversations to export" if args.all else "name conversation ids"
        return [], f"{what} (see: parley export --list; or --all)"
    for conversation_id in ids:
        try:
            conversation = store.get_conversation(conversation_id)
        except LookupError:
            return [], f"no conversation {conversation_id} (see: parley export --list)"
        if conversation.deleted_at is not None:
            return [], f"conversation {conversation_id} was deleted (see: parley export --list)"
    return list(dict.fromkeys(ids)), None  # "export 1 1": once


def _export_to_stdout(args: argparse.Namespace, fmt: Format) -> int:
    """``-o -``: the export's bytes on standard output, for a pipe (one conversation in a
    text format, or any number in a JSON format: never a zip or a PDF)."""
    if fmt == "pdf":
        return _fail("a PDF is not written to standard output: give -o FILE.pdf")
    try:
        with Store.open() as store:
            ids, problem = _chosen(store, args)
            if problem is not None:
                return _fail(problem)
            if len(ids) > 1 and fmt not in JSON_FORMATS:
                return _fail(
                    f"several conversations in {fmt} make a zip, which is not written to "
                    "standard output: give -o FILE.zip, or -f json"
                )
            conversations = read_conversations(store, ids)
    except KnownError as error:
        return _fail(str(error))
    # every format written here is UTF-8 text: through the command's own output, which
    # tells a reader that went away (| head) from an error of the export
    sys.stdout.write(export_bytes(conversations, fmt).decode("utf-8"))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    if args.max_size < 1:
        return _fail("--max-size must be at least 1 (MB)")
    # a large export takes minutes: a bar on a terminal (Ctrl-C stops it, importing nothing)
    bar = ProgressBar() if sys.stderr.isatty() else None
    try:
        with Store.open() as store:
            result = import_file(store, args.file, args.max_size * 1024 * 1024, progress=bar)
    except KnownError as error:
        return _fail(str(error))
    finally:
        if bar is not None:
            bar.done()
    parts = [f"{result.added} new conversation{'s' if result.added != 1 else ''}"]
    if result.merged:
        parts.append(f"{result.merged} with new messages")
    if result.unchanged:
        parts.append(f"{result.unchanged} already present")
    added = f"{result.messages} message{'' if result.messages == 1 else 's'} added"
    print(f"Imported {args.file.name}: {', '.join(parts)} ({added})")
    for warning in result.warnings:  # what was left out or replaced, e.g. tool steps, images
        print(f"  note: {warning}")
    return 0
