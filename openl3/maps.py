"""Maps of a collection; their homes are :mod:`openl3.search.maps` and :mod:`openl3.search.pages`.

A path the documentation names, kept: it re-exports the public names of its homes.
"""

from .search.maps import *  # noqa: F403
from .search.maps import __all__ as _points
from .search.pages import *  # noqa: F403
from .search.pages import __all__ as _pages

__all__ = [*_points, *_pages]
