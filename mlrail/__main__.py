"""``python -m mlrail``: the ``mlrail`` command (useful where the script is not on ``PATH``)."""

import sys

from mlrail.cli import main

if __name__ == "__main__":
    sys.exit(main())
