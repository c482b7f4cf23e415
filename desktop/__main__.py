"""``python -m desktop``: the same entry point as the ``parley`` script."""

from desktop.cli import main

raise SystemExit(main())
