"""python -m velox.backtest: see velox.backtest._cli."""

import sys

from velox.backtest._cli import main

sys.exit(main())
