"""Who a process is, and whether it still runs: the one answer for writer locks and temporaries.

A process is named by its host, the kernel it runs on (the boot id: no two machines, and no
two boots of one machine, share it), its pid namespace (containers have their own), its pid
and its start time. The pid alone tells nothing once the process is gone: the system gives
pids again (a new container's first process is pid 1, as its predecessor's was), so a
process counts as the one recorded only when its start time is the recorded one too.

Whether a recorded process still runs can be told only from the same kernel and pid
namespace (:meth:`Owner.alive` answers None elsewhere). There, a writer lock falls back on
its file lock, which the kernel releases when its process dies, whatever the namespace
(:mod:`openl3.dataset.locks`), then on its heartbeat; a temporary, on its age.

Host names are kept as they are in records, and cleaned only for file names, where a short
hash of the whole name, the kernel and the namespace keeps cleaned names apart
(``a.b`` and ``a-b`` give two names).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["UNJUDGED_STALE_S", "Owner", "current", "hold", "is_held", "is_stale"]

#: What a tag looks like in a file name: cleaned host, key, pid, start time.
TAG_PATTERN = r"[A-Za-z0-9-]+-[0-9a-f]{8}-\d+-\d+"
_TAG = re.compile(r"^(?P<host>[A-Za-z0-9-]+)-(?P<key>[0-9a-f]{8})-(?P<pid>\d+)-(?P<started>\d+)$")


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def boot_id() -> str:
    """Return this kernel's boot id ("" where the system has none: then the host name stands for it)."""
    return _read("/proc/sys/kernel/random/boot_id")


def pid_namespace() -> str:
    """Return this process's pid namespace (``pid:[4026531836]``), or "" where unknown."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """Return when process ``pid`` started (clock ticks since boot), "" if it does not run or is unknown.

    Read from ``/proc/<pid>/stat`` (field 22, after the command name, which may hold spaces).
    """
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def pid_runs(pid: int) -> bool:
    """Whether a process ``pid`` runs in this pid namespace (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pids the platform cannot signal
        return False
    return True


def _short_hash(*texts: str) -> str:
    return hashlib.blake2b("\0".join(texts).encode(), digest_size=4).hexdigest()


@dataclass(frozen=True)
class Owner:
    """A process as records and file names name it (see the module's description).

    Attributes
    ----------
    host : str
        Its host name, as the system gives it.
    boot : str
        Its kernel's boot id ("" if unknown).
    namespace : str
        Its pid namespace ("" if unknown).
    pid : int
        Its process id in that namespace.
    started : str
        Its start time in clock ticks since boot ("" if unknown).

    Examples
    --------
    >>> owner = Owner("lab.example", "b1", "pid:[1]", 1, "5000")
    >>> owner.tag().startswith("lab-example-") and owner.tag().endswith("-1-5000")
    True
    >>> Owner.from_tag(owner.tag()).pid
    1
    """

    host: str
    boot: str
    namespace: str
    pid: int
    started: str

    @property
    def kernel(self) -> str:
        """What tells its kernel apart: the boot id, else the host name."""
        return f"boot:{self.boot}" if self.boot else f"host:{self.host}"

    @property
    def key(self) -> str:
        """A short hash of its kernel and pid namespace, the two that make a pid meaningful."""
        return _short_hash(self.kernel, self.namespace)

    @property
    def tag_host(self) -> str:
        """Its host name as a file name holds it: letters, digits and ``-``."""
        return re.sub(r"[^A-Za-z0-9-]", "-", self.host) or "host"

    def tag(self) -> str:
        """Return the owner as a file name holds it: ``<host>-<key>-<pid>-<start>``."""
        return f"{self.tag_host}-{self.key}-{self.pid}-{self.started or 0}"

    @classmethod
    def from_tag(cls, tag: str) -> TaggedOwner | None:
        """Return what a tag of :meth:`tag` says of its owner (None if ``tag`` is none)."""
        match = _TAG.match(tag)
        if match is None:
            return None
        started = match["started"] if match["started"] != "0" else ""
        return TaggedOwner(match["key"], int(match["pid"]), started)

    def record(self) -> dict[str, Any]:
        """Return the owner as a writer lock records it."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Owner | None:
        """Return the owner a record of :meth:`record` names (None if it is not one)."""
        try:
            return cls(
                str(record["host"]),
                str(record.get("boot", "")),
                str(record.get("namespace", "")),
                int(record["pid"]),
                str(record.get("started", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def same_kernel(self, other: Owner) -> bool:
        """Whether ``other`` runs on this owner's kernel (same boot id; the host name where unknown)."""
        return self.kernel == other.kernel

    def alive(self) -> bool | None:
        """Whether this process still runs: True, False, or None where this process cannot tell.

        Only a process of this kernel and pid namespace can be checked: it runs when its pid
        runs with the recorded start time (a pid given again to another process does not
        count). Where start times are unknown, a running pid counts.
        """
        return TaggedOwner(self.key, self.pid, self.started).alive()


@dataclass(frozen=True)
class TaggedOwner:
    """What a file name's tag says of its owner: its key, pid and start time."""

    key: str
    pid: int
    started: str

    def alive(self) -> bool | None:
        """As :meth:`Owner.alive`: None when the tag is of another kernel or pid namespace."""
        if self.key != current().key:
            return None
        return _runs(self.pid, self.started)


#: What a process of another kernel or pid namespace left is stale when it is this old.
UNJUDGED_STALE_S = 24 * 3600.0


def is_stale(alive: bool | None, age: Callable[[], float]) -> bool:
    """Whether what a process left (a temporary, a staging folder) may be removed.

    ``alive`` is what :meth:`Owner.alive` says of its owner: gone (False) makes it stale;
    running (True) never; unknown from here (None) once ``age()`` (seconds) passes
    :data:`UNJUDGED_STALE_S`.

    Examples
    --------
    >>> is_stale(False, lambda: 0.0), is_stale(True, lambda: 1e9), is_stale(None, lambda: 60.0)
    (True, False, False)
    """
    if alive is None:
        return age() > UNJUDGED_STALE_S
    return not alive


def _runs(pid: int, started: str) -> bool:
    if not pid_runs(pid):
        return False
    now = process_start(pid)
    return not (started and now) or now == started


@functools.lru_cache(maxsize=4)
def _current(pid: int) -> Owner:
    return Owner(socket.gethostname() or "host", boot_id(), pid_namespace(), pid, process_start(pid))


def current() -> Owner:
    """Return this process (computed once per process: a forked child is another one).

    Examples
    --------
    >>> import os
    >>> current().pid == os.getpid() and current().alive()
    True
    """
    return _current(os.getpid())


def hold(path: str) -> int | None:
    """Open ``path`` and hold its OS lock while this process lives; return the open file (to close).

    The kernel releases the lock when the process dies, however it dies and whatever its pid
    namespace: :func:`is_held` from any process of this machine then says so. None where
    the system has no such locks (the caller falls back on other rules).
    """
    try:
        import fcntl
    except ImportError:
        return None
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        return None
    return handle


def is_held(path: str) -> bool | None:
    """Whether another process holds the OS lock of ``path`` (:func:`hold`); None if this cannot be told.

    Never ask this of a file this process holds: POSIX locks belong to processes, so the
    answer would be False, and closing the file asked with would release the lock.
    """
    try:
        import fcntl
    except ImportError:
        return None
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.lockf(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in (errno.EAGAIN, errno.EACCES) else None
    finally:
        os.close(handle)  # releases the shared lock just taken, if any
    return False
