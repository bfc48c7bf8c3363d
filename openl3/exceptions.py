"""The error and warning classes shared by the whole library."""


class OpenL3Error(Exception):
    """Raised for invalid input, unreadable files and unusable weight files."""


class OpenL3Warning(UserWarning):
    """Warned for input that is processed but probably not what was meant."""
