"""``python -m services``: the ``certseal`` CLI (the same as the ``certseal`` script)."""

import sys

from services.cli import main

sys.exit(main())
