"""Who writes a dataset: one lock per live writer, and a short dataset-wide lock.

The locks of a dataset folder ``OUT`` live in ``OUT/_openl3/locks/``:

- ``dataset.lock``: the **dataset lock**, held for a moment while a run starts (it checks
  the writer locks, takes a generation) and while it rewrites what writers share (older
  parts under ``overwrite``, the failures table). It is an OS file lock (``fcntl.lockf``),
  which the system releases when its process dies, on this host and on network
  filesystems that support POSIX locks (NFSv4: when the dead client's lease ends).
- ``writer-<host>-<pid>-<id>.json`` (and ``.keys``): the **writer lock** of a live run:
  its host, process id, start, heartbeat, shard and the 64-bit hashes of the inputs it
  embeds (:func:`openl3.shard.path_hash`). A run whose inputs meet a live writer's is
  refused at start, naming that writer.

A writer lock is stale when its writer is gone: on this host, when its process is gone;
on another host (whose processes cannot be checked), when its heartbeat, refreshed every
:data:`HEARTBEAT_S` seconds while the run lives, is older than :data:`STALE_S`. Stale
locks are removed by the next run; ``break_lock`` (``--break-lock``) removes the locks of
writers the user knows are dead. A writer checks that its lock is still there before
each commit and stops if it was removed, so it never writes rows another run now writes.

Object stores (``s3://``, ``gs://``) have neither exclusive creation nor file locks:
there, writer locks are still written and checked (which catches a run started earlier),
but two runs started at the same moment are not told apart; run one writer at a time.
"""

from __future__ import annotations

import contextlib
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

from .atomic import HOST, owner_alive, remove_stale_temporaries, temporary_name
from .exceptions import OpenL3Error
from .shard import Shard, describe, path_hash

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


def input_keys(paths: Iterable[str]) -> np.ndarray:
    """Return the sorted, unique 64-bit hashes of input paths (what a writer lock covers)."""
    return np.unique(np.fromiter((path_hash(p) for p in paths), dtype=np.uint64))


def _is_local(filesystem: Any) -> bool:
    from pyarrow import fs

    return isinstance(filesystem, fs.LocalFileSystem)


class WriterLock:
    """The lock of one live writer: its record, refreshed by a heartbeat thread until released."""

    def __init__(self, folder: LockFolder, name: str, record: dict[str, Any]):
        self.folder, self.name, self.record = folder, name, record
        self.lost: str | None = None
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="openl3-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if not self.refresh():
                return

    def refresh(self) -> bool:
        """Write a new heartbeat; False (and :attr:`lost` set) if the lock was removed meanwhile."""
        found = self.folder.read_record(self.name)
        if found is None or found.get("token") != self.record["token"]:
            self.lost = "its lock was removed (by --break-lock, or as stale by another run)"
            logger.warning("%s: %s.", self.folder.location, self.lost)
            return False
        self.record["heartbeat"] = time.time()
        self.folder.write_record(self.name, self.record)
        return True

    def check(self) -> None:
        """Raise if this writer's lock is gone: another run may now write its inputs."""
        found = self.folder.read_record(self.name)
        if self.lost is None and (found is None or found.get("token") != self.record["token"]):
            self.lost = "its lock was removed (by --break-lock, or as stale by another run)"
        if self.lost is not None:
            raise OpenL3Error(
                f"This run stopped writing to {self.folder.location}: {self.lost}. Another run may be "
                "writing its inputs; rerun when that run has ended, to complete the dataset."
            )

    def release(self) -> None:
        """Stop the heartbeat and remove the lock (if it is still this writer's)."""
        self._stop.set()
        if self._beat is not threading.current_thread():
            self._beat.join()
        if self.lost is None:
            self.folder.remove_record(self.name)


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
        self.local = _is_local(fs)

    def _path(self, name: str) -> str:
        return f"{self.base}/{name}"

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the dataset lock (waiting for another writer that holds it)."""
        with _PROCESS_LOCK:
            if not self.local:
                yield
                return
            import fcntl

            os.makedirs(self.base, exist_ok=True)
            handle = os.open(self._path(DATASET_LOCK), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                try:
                    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    logger.info("%s: waiting for another writer's update of the dataset.", self.location)
                    fcntl.lockf(handle, fcntl.LOCK_EX)
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
        temporary = temporary_name(self._path(name))
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(json.dumps(record, sort_keys=True).encode())
        self.fs.move(temporary, self._path(name))

    def remove_record(self, name: str) -> None:
        """Remove writer record ``name`` and its keys."""
        for each in (name, _keys_name(name)):
            with contextlib.suppress(OSError):
                self.fs.delete_file(self._path(each))

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """Return the writer records in the folder (name, record)."""
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(self.base, allow_not_found=True))
        names = sorted(i.base_name for i in infos if i.base_name.startswith(_WRITER_PREFIX))
        found = [(n, self.read_record(n)) for n in names if n.endswith(".json")]
        return [(n, r) for n, r in found if r is not None]

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
        of these inputs are removed too. Raises if a live writer covers any of them.
        """
        if self.local and os.path.isdir(self.base):
            remove_stale_temporaries(self.base)
        conflicts = []
        for name, record in self.records():
            reason = stale_reason(record)
            covered = self._overlap(name, keys)
            if reason is not None or (covered and break_lock):
                what = reason or "--break-lock"
                log = logger.info if reason else logger.warning
                log("%s: removed the lock of %s (%s).", self.location, describe_writer(record), what)
                self.remove_record(name)
            elif covered:
                conflicts.append((record, covered))
        if conflicts:
            raise OpenL3Error(self._conflict_message(conflicts))
        return self._create(keys, shard)

    def _overlap(self, name: str, keys: np.ndarray) -> int:
        theirs = self.keys(name)
        if theirs is None:
            return len(keys)
        return len(np.intersect1d(theirs, keys, assume_unique=True))

    def _conflict_message(self, conflicts: list[tuple[dict[str, Any], int]]) -> str:
        runs = "; ".join(f"{describe_writer(r)}, which embeds {n} of this run's inputs" for r, n in conflicts)
        return (
            f"{self.location} is being written by another run: {runs}. Wait for it to end, or give "
            "each run other inputs (--shard K/N, shard=(K, N)). If you know that run is dead, rerun "
            "with --break-lock (break_lock=True)."
        )

    def _create(self, keys: np.ndarray, shard: Shard | None) -> WriterLock:
        name = f"{_WRITER_PREFIX}{HOST}-{os.getpid()}-{secrets.token_hex(4)}.json"
        now = time.time()
        record = {
            "host": HOST,
            "pid": os.getpid(),
            "started": now,
            "heartbeat": now,
            "shard": None if shard is None else list(shard),
            "inputs": len(keys),
            "token": secrets.token_hex(8),
        }
        self.fs.create_dir(self.base, recursive=True)
        with self.fs.open_output_stream(self._path(_keys_name(name))) as stream:
            stream.write(keys.astype("<u8").tobytes())
        self.write_record(name, record)
        return WriterLock(self, name, record)


def _keys_name(name: str) -> str:
    return name[: -len(".json")] + ".keys"


def stale_reason(record: dict[str, Any], now: float | None = None) -> str | None:
    """Return why a writer record is stale ("its process is gone", ...), or None if it may be live."""
    now = time.time() if now is None else now
    host, pid = str(record.get("host")), int(record.get("pid", 0))
    if host == HOST:
        return None if owner_alive(host, pid) else "its process is gone"
    age = now - float(record.get("heartbeat", 0))
    return f"no heartbeat for {age:.0f} s" if age > STALE_S else None


def describe_writer(record: dict[str, Any]) -> str:
    """Return a writer as a message names it: process, host, shard, start, heartbeat."""
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(record.get("started", 0))))
    shard = record.get("shard")
    age = time.time() - float(record.get("heartbeat", 0))
    return (
        f"process {record.get('pid')} on {record.get('host')} "
        f"({describe(tuple(shard) if shard else None)}, started {started}, last heartbeat {age:.0f} s ago)"
    )
