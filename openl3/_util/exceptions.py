"""The error and warning classes shared by the whole library."""


class OpenL3Error(Exception):
    """Raised for invalid input, unreadable files and unusable weight files."""


class OpenL3Warning(UserWarning):
    """Warned for input that is processed but probably not what was meant."""


class CommitError(OpenL3Error):
    """Raised when buffered outputs cannot be committed: every input of the commit failed.

    Attributes
    ----------
    paths : list of str
        The inputs whose outputs were in the failed commit (none of them was written).
    cause : BaseException
        Why the commit failed.
    fatal : bool
        Whether the run must stop, whatever its error policy (its lock was taken away).
    """

    def __init__(self, paths: list[str], cause: BaseException, fatal: bool = False):
        super().__init__(f"Cannot commit the outputs of {len(paths)} inputs: {cause}")
        self.paths, self.cause, self.fatal = list(paths), cause, fatal
