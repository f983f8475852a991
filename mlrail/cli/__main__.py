"""``python -m mlrail.cli``: the ``mlrail`` command."""

import sys

from mlrail.cli.program import main

sys.exit(main())
