"""Files that appear whole or not at all: the one atomic-write helper of the package.

Every file openl3 writes (outputs, parts, manifests, locks, indexes, cached weights) is
written to a temporary beside its final path, then renamed into place: :func:`replacing`
for local files (several at once, the old ones put back if a rename fails), and
:func:`write_whole` (or :func:`stage` then :func:`place`, for several parts that must all
land) for a path of any pyarrow filesystem, local folders and object stores alike. Either
removes its temporaries when the write fails, and flushes the data to disk before the
rename where the filesystem is local.

A temporary's name says it is one and whose it is: ``.<name>.<owner>.<random>.tmp``, the
owner as :meth:`openl3._util.owner.Owner.tag` writes it. :func:`remove_stale_temporaries`
removes those whose owner is gone (judged on this kernel and pid namespace, so a pid given
again to another process does not keep a dead writer's temporary), and those of owners it
cannot judge (another host, another container) once they are a day old; never those of a
run still writing. Temporaries are created with mode 0666 less the umask, as ``open``
creates files, so the renamed file gets the mode a plain write would give.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .owner import TAG_PATTERN, Owner, current, is_stale, pid_runs

__all__ = [
    "discard",
    "place",
    "remove_stale_temporaries",
    "rename_into_place",
    "replacing",
    "stage",
    "write_whole",
]

_TEMPORARY = re.compile(rf"^\.(?P<name>.+)\.(?P<tag>{TAG_PATTERN})\.[0-9a-f]{{8}}\.tmp$")
#: Temporaries named by openl3 before owners had tags: ``.<name>.<host>.<pid>.<random>.tmp``.
_OLD_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")

logger = logging.getLogger("openl3")


def temporary_name(path: str) -> str:
    """Return a fresh temporary path beside ``path``, named after this process.

    Examples
    --------
    >>> name = temporary_name("/data/out/a.npz")
    >>> name.startswith("/data/out/.a.npz.") and name.endswith(".tmp") and is_temporary(name)
    True
    """
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.{current().tag()}.{secrets.token_hex(4)}.tmp")


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


def sync_folder(path: str) -> None:
    """Flush a folder's entries to disk (a rename into it survives a crash); a no-op where unsupported."""
    try:
        handle = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # filesystems and platforms that cannot flush a folder
    finally:
        os.close(handle)


def rename_into_place(temporary: str, path: str) -> None:
    """Rename a finished local temporary (a file, or a folder a writer made) over ``path``, on disk.

    A file is flushed first; the folder holding ``path`` after the rename.
    """
    if os.path.isfile(temporary):
        sync_file(temporary)
    os.replace(temporary, path)
    sync_folder(os.path.dirname(os.path.abspath(path)))


def discard(temporary: str) -> None:
    """Remove a temporary of this process (a file or a folder), if it is there."""
    if os.path.isdir(temporary) and not os.path.islink(temporary):
        shutil.rmtree(temporary, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


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
        for folder in {os.path.dirname(os.path.abspath(path)) for path in paths}:
            sync_folder(folder)
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


def _judge(name: str, age: Callable[[], float]) -> bool:
    """Whether the temporary ``name`` is stale: its owner is gone, or cannot be judged and it is old."""
    match = _TEMPORARY.match(name)
    if match is not None:
        owner = Owner.from_tag(match["tag"])
        alive = owner.alive() if owner is not None else None
    else:
        old = _OLD_TEMPORARY.match(name)
        if old is None:
            return False
        same_host = old["host"] == current().tag_host
        alive = pid_runs(int(old["pid"])) if same_host else None  # the old rule: the pid alone
    return is_stale(alive, age)


def remove_stale_temporaries(directory: str, names: list[str] | None = None, filesystem: Any = None) -> int:
    """Remove the temporaries in ``directory`` whose owner is gone; return how many.

    Temporaries may be files or folders (an export's). A temporary whose owner cannot be
    judged from here (another host or container) is removed once it is
    :data:`~openl3._util.owner.UNJUDGED_STALE_S` old (:func:`~openl3._util.owner.is_stale`).
    One that cannot be removed is logged and left: cleaning up never stops a run. ``names``
    is the directory's listing when the caller already has it; ``filesystem`` a pyarrow
    filesystem holding ``directory`` (default: the local one).
    """
    if filesystem is not None and not is_local(filesystem):
        return _remove_stale_in(filesystem, directory)
    try:
        listing = os.listdir(directory) if names is None else names
    except FileNotFoundError:
        return 0
    removed = 0
    for name in listing:
        path = os.path.join(directory, name)
        if is_temporary(name) and _judge(name, lambda path=path: time.time() - _mtime(path)):
            removed += _remove_stale(path)
    return removed


def _mtime(path: str) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return time.time()


def _remove_stale_in(filesystem: Any, directory: str) -> int:
    """:func:`remove_stale_temporaries` on a filesystem that is not local (files only)."""
    from pyarrow import fs

    removed = 0
    for info in filesystem.get_file_info(fs.FileSelector(directory, allow_not_found=True)):
        if info.type != fs.FileType.File or not is_temporary(info.base_name):
            continue
        modified = info.mtime.timestamp() if info.mtime else time.time()
        if _judge(info.base_name, lambda modified=modified: time.time() - modified):
            with contextlib.suppress(OSError):
                filesystem.delete_file(info.path)
                removed += 1
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
    """Whether ``name`` (a file name or path) is the name of a temporary made by openl3.

    Examples
    --------
    >>> is_temporary(".a.npz.lab-0f1e2d3c-4242-17.0123abcd.tmp"), is_temporary(".hidden")
    (True, False)
    """
    base = os.path.basename(name)
    return _TEMPORARY.match(base) is not None or _OLD_TEMPORARY.match(base) is not None


def is_local(filesystem: Any) -> bool:
    """Whether ``filesystem`` (pyarrow) is the local one: renames are atomic, owners can be judged."""
    from pyarrow import fs

    return isinstance(filesystem, fs.LocalFileSystem)


def stage(filesystem: Any, path: str, write: Callable[[Any], Any]) -> str:
    """Write a temporary beside ``path`` of a pyarrow filesystem; return its path.

    ``write(stream)`` writes the content to an output stream of ``filesystem``. The data is
    flushed to disk where the filesystem is local. If writing fails, the temporary is
    removed and the error raised. :func:`place` moves it into place.
    """
    temporary = temporary_name(path)
    try:
        filesystem.create_dir(os.path.dirname(path) or ".", recursive=True)
        with filesystem.open_output_stream(temporary) as stream:
            write(stream)
        if is_local(filesystem):
            sync_file(temporary)
    except BaseException:
        with contextlib.suppress(OSError):
            filesystem.delete_file(temporary)
        raise
    return temporary


def place(filesystem: Any, temporary: str, path: str) -> None:
    """Rename a temporary of :func:`stage` over ``path`` (removing it if the rename fails)."""
    try:
        filesystem.move(temporary, path)
        if is_local(filesystem):
            sync_folder(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(OSError):
            filesystem.delete_file(temporary)
        raise


def write_whole(path: str, write: Callable[[Any], Any], filesystem: Any = None) -> None:
    """Write ``path`` whole or not at all, on a pyarrow filesystem (default: the local one).

    ``write(stream)`` writes the content to a binary output stream. The file is a
    temporary until it is complete (and on disk, where the filesystem is local), then is
    renamed over ``path``; on failure the temporary is removed and ``path`` is untouched.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_whole(f"{folder}/note.txt", lambda stream: stream.write(b"whole"))
    >>> open(f"{folder}/note.txt").read(), os.listdir(folder)
    ('whole', ['note.txt'])
    """
    if filesystem is None:
        from pyarrow import fs

        filesystem = fs.LocalFileSystem()
    place(filesystem, stage(filesystem, path, write), path)


def _remove(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
        return 0
