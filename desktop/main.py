"""The ``parley`` entry point: a subcommand runs headless (``parley ask …``), anything else
opens the window (``parley``, ``parley --quick-ask``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from desktop.cli import command_names

    if args and (args[0] in command_names() or args[0] in ("-h", "--help", "--self-test")):
        from desktop.cli import main as cli_main

        return cli_main(args)
    from desktop.app import run_app

    return run_app([sys.argv[0], *args])


if __name__ == "__main__":
    sys.exit(main())
