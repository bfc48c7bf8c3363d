"""Pooling a file's windows into one vector; its home is :mod:`openl3.classify.pooling`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .classify.pooling import *  # noqa: F403
from .classify.pooling import __all__  # noqa: F401
