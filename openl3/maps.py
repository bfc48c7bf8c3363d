"""Maps of a collection; its home is :mod:`openl3.search.maps`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .search.maps import *  # noqa: F403
from .search.maps import __all__  # noqa: F401
