"""``python -m velox.pipeline``: the pipeline command (see velox.pipeline._cli.main)."""

import sys

from velox.pipeline._cli import main

if __name__ == "__main__":
    sys.exit(main())
