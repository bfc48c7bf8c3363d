"""``python -m openl3.cli``: the ``openl3`` command, as when the command was one module."""

import sys

from . import main

sys.exit(main())
