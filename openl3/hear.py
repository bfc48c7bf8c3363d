"""The HEAR 2021 API (``hear-validator openl3.audio.hear``); its home is :mod:`openl3.audio.hear`.

A path the documentation names, kept: it re-exports the public names of its home.
"""

from .audio.hear import *  # noqa: F403
from .audio.hear import __all__  # noqa: F401
