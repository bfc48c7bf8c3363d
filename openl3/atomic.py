"""Files that appear whole or not at all: the one atomic-write helper of the package.

Outputs and cached weight files are written to a temporary file beside their final path,
then renamed into place. A temporary's name records its owner (host and process id), so
that a later run removes only the temporaries of owners that are gone, never those of a
run still writing. Temporaries are created with mode 0666 less the umask, as ``open``
creates files, so the renamed file gets the same mode a plain write would give.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Host name as written in temporary names (characters that could confuse parsing replaced).
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")


def temporary_name(path: str) -> str:
    """Return a fresh temporary path beside ``path``, named after this process."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _create_temporary(path: str) -> str:
    """Create an empty temporary file beside ``path`` (mode 0666 less the umask)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    while True:
        temporary = temporary_name(path)
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temporary
        except FileExistsError:
            continue


def sync_file(path: str) -> None:
    """Flush a file's data to disk before it is renamed into place."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def replacing(*paths: str) -> Iterator[list[str]]:
    """Yield one temporary path per path in ``paths``; move them all into place at the end.

    Write each file to its temporary path inside the ``with`` block. When the block ends
    normally, every temporary is flushed to disk and renamed over its path; when it
    raises (Ctrl-C included), every temporary is removed and no path is touched. So the
    paths appear together, complete, or not at all.
    """
    temporaries: list[str] = []
    moved: list[str] = []
    try:
        for path in paths:
            temporaries.append(_create_temporary(path))
        yield list(temporaries)
        for temporary in temporaries:
            sync_file(temporary)
        for temporary, path in zip(temporaries, paths, strict=True):
            os.replace(temporary, path)
            moved.append(path)
    except BaseException:
        for leftover in temporaries[len(moved) :]:
            _remove(leftover)
        for path in moved:  # a later rename failed: take back the earlier ones (all or none)
            _remove(path)
        raise


def save_npz(path: str, **arrays: Any) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` file, atomically (see :func:`replacing`)."""
    with replacing(path) as [temporary]:
        write_npz(temporary, **arrays)


def write_npz(path: str, **arrays: Any) -> None:
    """Write ``arrays`` to exactly ``path`` as ``np.savez`` does, without copying them.

    The file is the archive ``np.savez`` writes (uncompressed zip of ``.npy`` entries,
    read back by ``np.load``), but each array goes from its own memory to the file:
    ``np.savez`` passes arrays through a 16 MB buffer and a copy of it, which doubled or
    tripled the peak memory of saving a long file's embedding.
    """
    import zipfile

    import numpy as np

    with (
        open(path, "wb") as stream,
        zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for name, value in arrays.items():
            array = np.asarray(value)
            array = array if array.flags.c_contiguous else array.copy(order="C")
            if array.dtype.hasobject:
                raise TypeError(f"{name}: arrays of Python objects are not written")
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array_header_1_0(entry, np.lib.format.header_data_from_array_1_0(array))
                entry.write(memoryview(array.reshape(-1)).cast("B"))


def owner_alive(host: str, pid: int) -> bool:
    """Whether the process that named a temporary may still be writing it."""
    if host != HOST:
        return True  # another machine's process (shared folder): cannot tell, leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def remove_stale_temporaries(directory: str, names: list[str] | None = None) -> int:
    """Remove the temporaries in ``directory`` whose owner process is gone; return how many.

    ``names`` is the directory's listing when the caller already has it.
    """
    removed = 0
    for name in os.listdir(directory) if names is None else names:
        match = _TEMPORARY.match(name)
        if match and not owner_alive(match["host"], int(match["pid"])):
            removed += _remove(os.path.join(directory, name))
    return removed


def is_temporary(name: str) -> bool:
    """Whether ``name`` is the name of a temporary made by :func:`replacing`."""
    return _TEMPORARY.match(name) is not None


def _remove(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        return 0
