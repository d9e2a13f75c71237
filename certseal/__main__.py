"""``python -m certseal``: the CLI."""

import sys

from certseal.cli import main

sys.exit(main())
