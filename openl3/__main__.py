"""``python -m openl3``: the ``openl3`` command."""

import sys

from .cli import main

sys.exit(main())
