"""Models exported for other runtimes; its home is :mod:`openl3.models.export`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .models.export import *  # noqa: F403
from .models.export import __all__  # noqa: F401
