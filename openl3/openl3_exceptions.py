"""OpenL3 0.4.2's module of the error class: ``from openl3.openl3_exceptions import OpenL3Error``."""

from ._util.exceptions import OpenL3Error

__all__ = ["OpenL3Error"]
