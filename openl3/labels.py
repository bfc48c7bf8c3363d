"""Labels of files (CSV or folder names); its home is :mod:`openl3.classify.labels`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .classify.labels import *  # noqa: F403
from .classify.labels import __all__  # noqa: F401
