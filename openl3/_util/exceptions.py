"""The error and warning classes shared by the whole library."""


class OpenL3Error(Exception):
    """Raised for invalid input, unreadable files and unusable weight files.

    Examples
    --------
    >>> try:
    ...     openl3.process_audio_file("missing.wav", output_dir="out")
    ... except openl3.OpenL3Error as error:
    ...     print(error)
    Audio file not found: missing.wav
    """


class InvalidArgumentError(OpenL3Error, ValueError):
    """Raised for an argument that is not valid: an :class:`OpenL3Error` that is also a ``ValueError``.

    So ``except ValueError`` catches it, as it catches scikit-learn's and numpy's errors for
    bad arguments. The message names the argument and its value.

    Examples
    --------
    >>> try:
    ...     openl3.get_audio_embedding(audio, 16000, hop_size=-1)
    ... except ValueError as error:
    ...     print(error)
    Invalid hop_size -1: expected a positive number.
    """


class OpenL3Warning(UserWarning):
    """Warned for input that is processed but probably not what was meant.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", openl3.OpenL3Warning)   # short clips are padded, silently
    ...     embedding, timestamps = openl3.get_audio_embedding(short_clip, 16000)
    """


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
