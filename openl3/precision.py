"""Model precision; its home is :mod:`openl3.models.precision`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .models.precision import *  # noqa: F403
from .models.precision import __all__  # noqa: F401
