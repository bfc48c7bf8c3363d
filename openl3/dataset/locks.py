"""Who writes a dataset: one lock per live writer, and a short dataset-wide lock.

The locks of a dataset folder ``OUT`` live in ``OUT/_openl3/locks/``:

- ``dataset.lock``: the **dataset lock**, held for a moment while a run starts (it checks
  the dataset's settings and the writer locks, takes a generation) and while it rewrites
  what writers share (older parts under ``overwrite``, the failures table). It is an OS
  file lock (``fcntl.lockf``), which the system releases when its process dies, on this
  host and on network filesystems that support POSIX locks (NFSv4: when the dead client's
  lease ends).
- ``writer-<owner>-<token>.json`` (with ``.keys`` and ``.alive``): the **writer lock** of
  a live run: who it is (:class:`openl3._util.owner.Owner`: host, boot id, pid namespace,
  pid and the process's start time, and a random token), its start and shard, and the
  64-bit hashes of the identities of the inputs it embeds (:func:`openl3._util.shard.path_hash`).
  A run whose inputs meet a live writer's is refused at start, naming that writer. The
  lock's **heartbeat** is its file's modification time, renewed in place every
  :data:`HEARTBEAT_S` seconds while the run lives (a lock removed meanwhile is never written
  back), and on a local folder the writer holds an OS lock on its ``.alive`` file while it
  lives.

A writer lock is stale when its writer is gone, judged by the surest rule that applies:

1. a writer of this process is alive while its lock object is (its token);
2. a writer of this kernel and pid namespace is alive while its pid runs *with the recorded
   start time* (a pid given again to another process does not keep a dead writer alive);
3. a writer of this kernel in another pid namespace (another container on this machine,
   or the container this one replaced, both pid 1) is alive while its ``.alive`` lock is
   held, which the kernel releases when its process dies;
4. any other writer (another host, or no file lock) is alive until its heartbeat is older
   than :data:`STALE_S`.

A lock file that cannot be read is an unknown writer covering every input until it is that
old. Stale locks are removed by the next run, with a warning; ``break_lock``
(``--break-lock``) removes the locks of writers the user knows are dead. A writer checks
that its lock is still there before each commit and stops if it was removed, so it never
writes rows that another run now writes. Records of earlier versions (a host and a pid,
which a new process may have again) are judged by their heartbeat.

Object stores (``s3://``, ``gs://``) have neither exclusive creation nor file locks:
there a run is refused while any live writer lock is there, whatever its inputs, but two
runs started at the same moment are not told apart: run one writer at a time.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._util.atomic import is_local, remove_stale_temporaries, write_whole
from .._util.console import warn_once
from .._util.exceptions import OpenL3Error
from .._util.identity import file_identity
from .._util.owner import Owner, current, hold, is_held
from .._util.shard import Shard, describe, path_hash

logger = logging.getLogger("openl3")

#: Seconds between two refreshes of a live writer's heartbeat.
HEARTBEAT_S = 30.0
#: A writer lock of another host is stale when its heartbeat is older than this.
STALE_S = 300.0
LOCKS_FOLDER = "locks"
DATASET_LOCK = "dataset.lock"
_WRITER_PREFIX = "writer-"

#: fcntl locks belong to a process, not a thread: threads of one process take turns here.
_PROCESS_LOCK = threading.Lock()
#: The tokens of this process's live writer locks (rule 1 of the module's description).
_LIVE_TOKENS: set[str] = set()


def input_keys(paths: Iterable[str]) -> np.ndarray:
    """Return what a writer lock covers of each input: the 64-bit hashes of its file and its name.

    An array of shape ``(n_inputs, 2)``. Two names of one file (a relative path and an
    absolute one, a link) are one file (:func:`openl3._util.identity.file_identity`); and a
    name is covered too, since a dataset holds one input per name: two runs in two folders
    naming two files ``x.wav`` meet.
    """
    keys = [key for p in paths for key in (path_hash(file_identity(p)), path_hash("name:" + p))]
    return np.fromiter(keys, dtype=np.uint64, count=len(keys)).reshape(-1, 2)


class WriterLock:
    """The lock of one live writer: its record, kept fresh by a heartbeat thread until released."""

    def __init__(self, folder: LockFolder, name: str, record: dict[str, Any], alive: int | None = None):
        self.folder, self.name, self.record = folder, name, record
        self.lost: str | None = None
        self._alive = alive  # the open, locked .alive file (rule 3), closed at release
        _LIVE_TOKENS.add(record["token"])
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="openl3-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if not self.refresh():
                return

    def refresh(self) -> bool:
        """Renew the heartbeat; False (and :attr:`lost` set) if the lock is gone.

        The heartbeat is the record file's modification time, renewed in place: a lock
        removed meanwhile is never written back. An error of the filesystem is logged and
        the next beat tries again.
        """
        try:
            alive = self.folder.touch(self.name)
        except OSError as exc:
            logger.warning(
                "%s: could not renew this run's lock (%s); trying again.", self.folder.location, exc
            )
            return True
        if not alive:
            self.lost = "its lock was removed (by --break-lock, or as stale by another run)"
            logger.warning("%s: %s.", self.folder.location, self.lost)
        return alive

    def check(self) -> None:
        """Raise if this writer's lock is gone: another run may now write its inputs."""
        if self.lost is None and not self.folder.exists(self.name):
            self.lost = "its lock was removed (by --break-lock, or as stale by another run)"
        if self.lost is not None:
            raise OpenL3Error(
                f"This run stopped writing to {self.folder.location}: {self.lost}. Another run may be "
                "writing its inputs; rerun when that run has ended, to complete the dataset."
            )

    def release(self) -> None:
        """Stop the heartbeat and remove the lock (if it is still there)."""
        self._stop.set()
        if self._beat is not threading.current_thread():
            self._beat.join()
        if self.lost is None:
            self.folder.remove_record(self.name)
        if self._alive is not None:
            os.close(self._alive)  # releases the OS lock
            self._alive = None
        _LIVE_TOKENS.discard(self.record["token"])


class LockFolder:
    """The locks of the dataset folder ``base`` (see the module's description).

    Parameters
    ----------
    fs : pyarrow.fs.FileSystem
        The dataset's filesystem.
    base : str
        The dataset folder's ``_openl3`` folder, in ``fs``.
    location : str
        The dataset folder as the user named it (for messages).
    """

    def __init__(self, fs: Any, base: str, location: str):
        self.fs, self.location = fs, location
        self.base = f"{base.rstrip('/')}/{LOCKS_FOLDER}"
        self.local = is_local(fs)

    def _path(self, name: str) -> str:
        return f"{self.base}/{name}"

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the dataset lock (waiting while another writer holds it)."""
        with _PROCESS_LOCK:
            if not self.local:
                yield
                return
            try:
                import fcntl
            except ImportError:  # no POSIX file locks (Windows)
                warn_once(f"{self.location}: this system has no file locks: run one writer at a time.")
                yield
                return
            os.makedirs(self.base, exist_ok=True)
            handle = os.open(self._path(DATASET_LOCK), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                _lock(fcntl, handle, self.location)
                yield
            finally:
                os.close(handle)  # releases the lock

    def read_record(self, name: str) -> dict[str, Any] | None:
        """Return the writer record ``name`` (None if it is gone or unreadable)."""
        try:
            with self.fs.open_input_stream(self._path(name)) as stream:
                record = json.loads(stream.read())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write_record(self, name: str, record: dict[str, Any]) -> None:
        """Write writer record ``name`` whole (a temporary renamed into place)."""
        data = json.dumps(record, sort_keys=True).encode()
        write_whole(self._path(name), lambda stream: stream.write(data), self.fs)

    def exists(self, name: str) -> bool:
        """Whether writer record ``name`` is there (an error other than its absence says yes)."""
        from pyarrow import fs

        try:
            return self.fs.get_file_info(self._path(name)).type != fs.FileType.NotFound
        except OSError:
            return True

    def touch(self, name: str) -> bool:
        """Renew the modification time of record ``name`` in place; False if it is gone."""
        if self.local:
            try:
                os.utime(self._path(name))
            except FileNotFoundError:
                return False
            return True
        record = self.read_record(name)  # object stores: one writer at a time, rewrite it
        if record is None:
            return self.exists(name)
        self.write_record(name, record)
        return True

    def remove_record(self, name: str) -> None:
        """Remove writer record ``name`` and its keys."""
        for each in (name, _keys_name(name), _alive_name(name)):
            with contextlib.suppress(OSError):
                self.fs.delete_file(self._path(each))

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """Return the writer records in the folder (name, record), each with its heartbeat.

        A record that cannot be read is an unknown writer that covers every input, until
        its file is older than :data:`STALE_S`.
        """
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(self.base, allow_not_found=True))
        found = []
        for info in infos:
            if info.base_name.startswith(_WRITER_PREFIX) and info.base_name.endswith(".json"):
                record = self.read_record(info.base_name) or {
                    "host": "an unknown host",
                    "pid": "?",
                    "unreadable": True,
                }
                record["heartbeat"] = info.mtime.timestamp() if info.mtime else 0.0
                found.append((info.base_name, record))
        return sorted(found, key=lambda item: item[0])

    def keys(self, name: str) -> np.ndarray | None:
        """Return the input hashes of writer ``name`` (None if unreadable: it covers everything)."""
        try:
            with self.fs.open_input_stream(self._path(_keys_name(name))) as stream:
                return np.frombuffer(stream.read(), dtype="<u8").astype(np.uint64)
        except (OSError, ValueError):
            return None

    def claim(self, keys: np.ndarray, shard: Shard | None, break_lock: bool) -> WriterLock:
        """Lock the inputs of ``keys`` for this run; call it under :meth:`exclusive`.

        Stale locks are removed on the way; with ``break_lock`` the locks that cover any
        of these inputs are removed too. Raises if a live writer covers any of them (on
        object stores, if there is any live writer at all).
        """
        if self.local and os.path.isdir(self.base):
            remove_stale_temporaries(self.base)
        conflicts = []
        for name, record in self.records():
            reason = self.stale_reason(name, record)
            covered = self._overlap(name, record, keys)
            if reason is not None or (covered and break_lock):
                logger.warning(
                    "%s: removed the lock of %s (%s).",
                    self.location,
                    describe_writer(record),
                    reason or "--break-lock",
                )
                self.remove_record(name)
            elif covered:
                conflicts.append((record, covered))
        if conflicts:
            raise OpenL3Error(self._conflict_message(conflicts))
        return self._create(keys, shard)

    def _overlap(self, name: str, record: dict[str, Any], keys: np.ndarray) -> int:
        """Return how many inputs of ``keys`` writer ``name`` covers (all, on object stores or unreadable)."""
        theirs = self.keys(name) if self.local and not record.get("unreadable") else None
        if theirs is None:
            return max(1, len(keys))
        return int(np.isin(keys, theirs).any(axis=1).sum())

    def _conflict_message(self, conflicts: list[tuple[dict[str, Any], int]]) -> str:
        runs = "; ".join(f"{describe_writer(r)}, which embeds {n} of this run's inputs" for r, n in conflicts)
        rule = "" if self.local else " (object stores take one writer at a time)"
        return (
            f"{self.location} is being written by another run{rule}: {runs}. Wait for it to end, or "
            "give each run other inputs (--shard K/N, shard=(K, N)). If you know that run is dead, "
            "rerun with --break-lock (break_lock=True)."
        )

    def _create(self, keys: np.ndarray, shard: Shard | None) -> WriterLock:
        owner, token = current(), secrets.token_hex(4)
        name = f"{_WRITER_PREFIX}{owner.tag()}-{token}.json"
        record = {
            "host": owner.host,
            "pid": owner.pid,
            "owner": owner.record(),
            "token": token,
            "started": time.time(),
            "shard": None if shard is None else list(shard),
            "inputs": len(keys),
        }
        self.fs.create_dir(self.base, recursive=True)
        alive = hold(self._path(_alive_name(name))) if self.local else None
        try:
            data = np.unique(keys).astype("<u8").tobytes()
            write_whole(self._path(_keys_name(name)), lambda stream: stream.write(data), self.fs)
            self.write_record(name, record)
        except BaseException:
            if alive is not None:
                os.close(alive)
            self.remove_record(name)
            raise
        return WriterLock(self, name, record, alive)

    def stale_reason(self, name: str, record: dict[str, Any], now: float | None = None) -> str | None:
        """Return why writer ``name`` is gone ("its process is gone", ...), or None if it may be live.

        The rules of the module's description, in order; ``record["heartbeat"]`` is the
        time its file was last renewed.
        """
        if record.get("token") in _LIVE_TOKENS:
            return None
        owner = Owner.from_record(record.get("owner") or {})
        if owner is not None:
            alive = owner.alive()
            if alive is not None:
                return None if alive else "its process is gone"
            if self.local and owner.same_kernel(current()):
                held = is_held(self._path(_alive_name(name)))
                if held is not None:
                    return None if held else "its process is gone (its lock on this machine was released)"
        return heartbeat_reason(record, now)


def _lock(fcntl: Any, handle: int, location: str) -> None:
    """Take the POSIX lock of ``handle``, waiting for its holder; raise where locks do not work."""
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise OpenL3Error(
                f"{location}: its filesystem does not support file locks ({exc.strerror}), which "
                "writers of a dataset need (Lustre: mount with -o flock; NFS: not with nolock)."
            ) from exc
    logger.info("%s: waiting for another writer's update of the dataset.", location)
    fcntl.lockf(handle, fcntl.LOCK_EX)


def _keys_name(name: str) -> str:
    return name[: -len(".json")] + ".keys"


def _alive_name(name: str) -> str:
    return name[: -len(".json")] + ".alive"


def heartbeat_reason(record: dict[str, Any], now: float | None = None) -> str | None:
    """Return why a writer that cannot be checked is stale (its heartbeat is too old), or None."""
    now = time.time() if now is None else now
    age = now - float(record.get("heartbeat", 0))
    return f"no heartbeat for {age:.0f} s" if age > STALE_S else None


def describe_writer(record: dict[str, Any]) -> str:
    """Return a writer as a message names it: process, host, shard, start, heartbeat."""
    started = record.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(started))) if started else "unknown"
    shard = record.get("shard")
    age = time.time() - float(record.get("heartbeat", 0))
    return (
        f"process {record.get('pid')} on {record.get('host')} "
        f"({describe(tuple(shard) if shard else None)}, started {when}, last heartbeat {age:.0f} s ago)"
    )
