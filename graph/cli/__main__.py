"""`python -m graph.cli ...` is `pioneer ...`."""

import sys

from graph.cli import main

sys.exit(main())
