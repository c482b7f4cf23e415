"""``parley feedback ...``: export the feedback data and look at the outbox, headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from desktop.feedback.export import FORMATS, export
from desktop.feedback.repository import FeedbackStore
from desktop.feedback.validate import VALIDATORS, ExportFormatError
from desktop.store import KnownError, Store
from desktop.terminal import output_path

FORMAT_HELP = {
    "dpo": "preference pairs JSONL (prompt, chosen, rejected) for DPO / reward models",
    "sft": "supervised examples JSONL from ideal answers",
    "ratings": "every rating and content-filter report, JSONL",
    "chatgpt": "ChatGPT-style message_feedback.json",
}


def cmd_feedback(args: argparse.Namespace) -> int:
    # checked before the history is opened; through a link, the file it names gets the export
    target = output_path(Path(args.output)) if args.action == "export" else Path()
    try:
        with Store.open(recover=False) as store:
            feedback = FeedbackStore(store)
            try:
                if args.action == "export":
                    return _export(feedback, args.format, Path(args.output), target)
                return _outbox(feedback)
            finally:
                feedback.close()
    except KnownError as error:
        print(f"parley: error: {error}", file=sys.stderr)
        return 1


def _export(feedback: FeedbackStore, fmt: Any, output: Path, target: Path) -> int:
    """``output`` as the user named it, ``target`` the file written (see ``output_path``)."""
    try:
        count = export(feedback, fmt, target)
    except OSError as error:
        print(f"parley: error: cannot write {output} ({error.strerror or error})", file=sys.stderr)
        return 1
    try:
        VALIDATORS[fmt](target)
    except ExportFormatError as error:  # our bug, but say so plainly rather than hide it
        print(f"parley: error: the export failed its own check: {error}", file=sys.stderr)
        return 1
    print(f"Exported {count} {'record' if count == 1 else 'records'} ({fmt}) to {output}")
    return 0


def _outbox(feedback: FeedbackStore) -> int:
    counts = feedback.outbox.counts()
    print(
        f"{counts['review']} to review, {counts['pending']} pending, {counts['held']} held, "
        f"{counts['sent']} sent"
    )
    for item in feedback.outbox.items():
        why = f" — {item.last_error}" if item.last_error else ""
        print(f"  #{item.id} {item.kind} {item.state}, {item.attempts} attempts{why}")
    return 0


def register(sub: Any) -> None:
    """Add ``feedback`` to the ``parley`` command's subparsers."""
    parser = sub.add_parser("feedback", help="export feedback data, show the outbox")
    actions = parser.add_subparsers(dest="action", required=True)
    exporter = actions.add_parser("export", help="write ratings, pairs or examples to a file")
    exporter.add_argument(
        "--format",
        choices=FORMATS,
        required=True,
        help="; ".join(f"{name}: {text}" for name, text in FORMAT_HELP.items()),
    )
    exporter.add_argument("-o", "--output", required=True, help="the file to write")
    actions.add_parser("outbox", help="what waits to be submitted, and why")
    parser.set_defaults(func=cmd_feedback)
