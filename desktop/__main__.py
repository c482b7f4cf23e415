"""``python -m desktop``: the same entry point as the ``parley`` script."""

import sys

from desktop.main import main

sys.exit(main())
