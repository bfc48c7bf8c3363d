"""Reading a dataset's rows; its home is :mod:`openl3.dataset.rows`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .dataset.rows import *  # noqa: F403
from .dataset.rows import __all__  # noqa: F401
