"""Inputs and outputs named by URI: object stores and other filesystems pyarrow opens.

A path with ``://`` (``s3://bucket/clips/a.wav``, ``gs://...``, ``file:///data/a.wav``)
is opened with pyarrow's filesystems. Inputs are copied to a local temporary file while
they are decoded (decoders need a local file), and the copy is removed as soon as the
decoder has it open. Parquet datasets are written through the same filesystems
(:mod:`openl3.dataset`). Credentials come from the environment, as pyarrow reads them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .exceptions import OpenL3Error


def is_uri(path: str) -> bool:
    """Whether ``path`` names a file through a filesystem URI rather than a local path."""
    return "://" in str(path)


def resolve(location: str) -> tuple[Any, str]:
    """Return the pyarrow filesystem of a local path or URI, and the path within it."""
    from pyarrow import fs

    if is_uri(location):
        try:
            return fs.FileSystem.from_uri(location)
        except (OSError, ValueError) as exc:
            raise OpenL3Error(f"Cannot open {location}: {exc}") from exc
    return fs.LocalFileSystem(), os.path.abspath(location)


@contextmanager
def local_copy(path: str) -> Iterator[str]:
    """Yield a local path holding the input ``path``: itself, or a temporary copy of a URI's file.

    The copy is removed when the block ends (a decoder that opened it keeps reading it on
    POSIX systems).
    """
    if not is_uri(path):
        yield path
        return
    filesystem, inner = resolve(path)
    handle, local = tempfile.mkstemp(prefix="openl3-", suffix=os.path.splitext(inner)[1])
    try:
        try:
            with os.fdopen(handle, "wb") as target, filesystem.open_input_stream(inner) as source:
                shutil.copyfileobj(source, target, 1 << 20)
        except (OSError, ValueError) as exc:
            raise OpenL3Error(f"Cannot read {path}: {exc}") from exc
        yield local
    finally:
        os.unlink(local)


def kind(path: str) -> str | None:
    """Return "file", "directory" or None (missing) for a URI."""
    from pyarrow import fs

    filesystem, inner = resolve(path)
    info = filesystem.get_file_info(inner)
    return {fs.FileType.File: "file", fs.FileType.Directory: "directory"}.get(info.type)


def list_files(folder: str, extensions: tuple[str, ...], recursive: bool) -> list[str]:
    """Return the URIs of the files of ``extensions`` in the folder URI ``folder``, sorted."""
    from pyarrow import fs

    filesystem, inner = resolve(folder)
    scheme = folder.split("://", 1)[0] + "://"
    infos = filesystem.get_file_info(fs.FileSelector(inner, recursive=recursive))
    names = [i.path for i in infos if i.type == fs.FileType.File and i.base_name.lower().endswith(extensions)]
    return sorted(scheme + name for name in names)
