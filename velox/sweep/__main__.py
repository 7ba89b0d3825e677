"""python -m velox.sweep: see velox.sweep._cli."""

import sys

from velox.sweep._cli import main

sys.exit(main())
