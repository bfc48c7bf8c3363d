"""Files that appear whole or not at all: the one atomic-write helper of the package.

Outputs and cached weight files are written to a temporary file beside their final path,
then renamed into place. A temporary's name records its owner (host and process id), so
that a later run removes only the temporaries of owners that are gone, never those of a
run still writing (files or folders: a model export writes a folder). Temporaries are
created with mode 0666 less the umask, as ``open`` creates files, so the renamed file gets
the same mode a plain write would give. Files being replaced are kept aside (hard-linked,
or copied) until every new file is in place, so a failed rename puts them all back.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Host name as written in temporary names (characters that could confuse parsing replaced).
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")

logger = logging.getLogger("openl3")


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
    raises (Ctrl-C included), every temporary is removed and no path is touched. When a
    rename fails, the paths already replaced get their previous files back (those that
    did not exist are removed). So the paths appear together, complete, or not at all.
    """
    temporaries: list[str] = []
    try:
        for path in paths:
            temporaries.append(_create_temporary(path))
        yield list(temporaries)
        for temporary in temporaries:
            sync_file(temporary)
        _replace_all(temporaries, paths)
    except BaseException:
        for temporary in temporaries:  # those renamed into place are gone already
            _remove(temporary)
        raise


def _replace_all(temporaries: list[str], paths: tuple[str, ...]) -> None:
    """Rename each temporary over its path: all of them, or none (the old files restored)."""
    backups: list[str | None] = []
    replaced = 0
    try:
        for path in paths:
            backups.append(_keep_aside(path))
        for temporary, path in zip(temporaries, paths, strict=True):
            os.replace(temporary, path)
            replaced += 1
    except BaseException:
        for index in range(replaced):
            if not _restore(paths[index], backups[index]):
                backups[index] = None  # the only copy left of what the path held: kept
        raise
    finally:
        for backup in backups:  # those restored are gone already
            if backup is not None:
                _remove(backup)


def _keep_aside(path: str) -> str | None:
    """Hard-link ``path`` (a copy where links fail) to a fresh temporary; None if it is absent.

    The backup holds the file's bytes until the new file is safely in place; its name is a
    temporary's, so a backup left by a killed process is removed as stale by a later run.
    """
    while True:
        backup = temporary_name(path)
        try:
            os.link(path, backup, follow_symlinks=False)
            return backup
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None
        except (OSError, NotImplementedError):  # no hard links here (file system, platform): copy
            break
    try:
        shutil.copy2(path, backup, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return backup


def _restore(path: str, backup: str | None) -> bool:
    """Put back what ``path`` held before it was replaced (remove it if it did not exist).

    Returns False, having logged where the previous content is, if that failed.
    """
    try:
        if backup is None:
            _remove(path)
        else:
            os.replace(backup, path)
        return True
    except OSError as exc:
        logger.error("Could not restore %s (its previous content is in %s): %s", path, backup, exc)
        return False


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

    Temporaries may be files or folders (an export's). One that cannot be removed is
    logged and left: cleaning up never stops a run. ``names`` is the directory's listing
    when the caller already has it.
    """
    removed = 0
    for name in os.listdir(directory) if names is None else names:
        match = _TEMPORARY.match(name)
        if match and not owner_alive(match["host"], int(match["pid"])):
            removed += _remove_stale(os.path.join(directory, name))
    return removed


def _remove_stale(path: str) -> int:
    """Remove a dead owner's temporary, file or folder; return 1 if removed, else 0."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
            return 1
        return _remove(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # another run removed it first
            return 0
        logger.warning("Cannot remove the stale temporary %s: %s", path, exc)
        return 0


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
