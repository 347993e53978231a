"""``python -m mcmcadapt``: the command line (see :mod:`mcmcadapt.cli`)."""

import sys

from .cli import main

sys.exit(main())
