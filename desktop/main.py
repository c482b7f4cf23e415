"""The ``parley`` entry point: a subcommand runs headless (``parley ask …``); ``parley`` alone,
``parley --quick-ask`` and Qt's own options (``-platform offscreen``, ``-style fusion``) open
the window. Anything else is the command line's to refuse: a mistyped ``parley aks hi`` says
what the commands are instead of opening a window."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

EXIT_CANCELLED = 130
WINDOW_OPTIONS = ("--quick-ask",)


def for_window(args: Sequence[str]) -> bool:
    """Whether ``args`` ask for the window rather than a command."""
    if not args:
        return True
    first = args[0]
    if first in WINDOW_OPTIONS:
        return True
    # Qt's options are written with one dash (-platform, -style, -reverse, -session)
    return first.startswith("-") and not first.startswith("--") and first != "-h"


def no_display(args: Sequence[str], environ: os._Environ[str] | dict[str, str]) -> str | None:
    """Why the window cannot open here (Linux with no display), or None. Qt itself would abort
    with a core dump and a list of platform plugins."""
    if not sys.platform.startswith("linux") or "-platform" in args:
        return None
    if any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return (
        "there is no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is "
        "set); in a terminal, talk to the model with parley chat or parley ask"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if for_window(args):
            problem = no_display(args, os.environ)
            if problem is not None:
                print(f"parley: error: {problem}", file=sys.stderr)
                return 1
            from desktop.app import run_app

            return run_app([sys.argv[0], *args])
        from desktop.cli import main as cli_main

        return cli_main(args)
    except KeyboardInterrupt:  # Ctrl-C while Python was still importing: no traceback
        print("parley: cancelled", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
