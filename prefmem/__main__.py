"""``python -m prefmem``: the same command line as the ``prefmem`` console script."""

import sys

from prefmem.cli import main

sys.exit(main())
