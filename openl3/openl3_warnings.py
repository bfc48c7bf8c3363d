"""OpenL3 0.4.2's module of the warning class: ``from openl3.openl3_warnings import OpenL3Warning``."""

from ._util.exceptions import OpenL3Warning

__all__ = ["OpenL3Warning"]
