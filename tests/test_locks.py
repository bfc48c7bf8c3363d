"""Dataset locks: one writer lock per live run, stale rules, heartbeat, the short dataset lock."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pyarrow import fs

from helpers import wait_for
from openl3._util.exceptions import OpenL3Error
from openl3._util.owner import Owner, current
from openl3.dataset import locks
from openl3.dataset.locks import LockFolder, input_keys

HOST = current().host


@pytest.fixture
def folder(tmp_path):
    return LockFolder(fs.LocalFileSystem(), str(tmp_path / "_openl3"), str(tmp_path))


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def elsewhere(host="otherhost", pid=77, boot="another-boot"):
    """A process of another machine (another boot id)."""
    return Owner(host, boot, "pid:[1]", pid, "100")


def plant(folder, owner, heartbeat, paths, name="writer-planted.json"):
    """A writer record as another run leaves it, its heartbeat (the file's time) at ``heartbeat``.

    ``owner`` is an :class:`Owner`, or a (host, pid) pair: a record of an earlier version.
    """
    os.makedirs(folder.base, exist_ok=True)
    if isinstance(owner, Owner):
        record = {"host": owner.host, "pid": owner.pid, "owner": owner.record(), "token": "feedbeef"}
    else:
        record = {"host": owner[0], "pid": owner[1]}
    record.update({"started": heartbeat, "shard": None, "inputs": len(paths)})
    path = os.path.join(folder.base, name)
    with open(path, "w") as handle:
        json.dump(record, handle)
    os.utime(path, (heartbeat, heartbeat))
    with open(os.path.join(folder.base, name[:-5] + ".keys"), "wb") as handle:
        handle.write(np.unique(input_keys(paths)).astype("<u8").tobytes())
    return name


def heartbeat(folder, name):
    return os.stat(os.path.join(folder.base, name)).st_mtime


def lock_files(folder):
    return sorted(os.listdir(folder.base)) if os.path.isdir(folder.base) else []


def test_a_writer_lock_covers_its_inputs_until_released(folder):
    mine = folder.claim(input_keys(["a.wav", "b.wav"]), (1, 4), break_lock=False)
    assert len([n for n in lock_files(folder) if n.startswith("writer-")]) == 3  # record, keys, alive
    folder.claim(input_keys(["c.wav"]), None, break_lock=False).release()  # other inputs: fine
    with pytest.raises(OpenL3Error) as refused:
        folder.claim(input_keys(["c.wav", "b.wav"]), None, break_lock=False)
    message = str(refused.value)
    assert f"process {os.getpid()} on {HOST}" in message and "shard 1/4" in message
    assert "1 of this run's inputs" in message and "--break-lock" in message
    mine.release()
    assert not [n for n in lock_files(folder) if n.startswith("writer-")]
    folder.claim(input_keys(["b.wav"]), None, break_lock=False).release()


def here(pid, started=None):
    """A process of this kernel and pid namespace, as its record names it."""
    me = current()
    return Owner(me.host, me.boot, me.namespace, pid, started if started is not None else start_of(pid))


def start_of(pid):
    from openl3._util.owner import process_start

    return process_start(pid)


def test_stale_locks_are_removed_and_live_ones_refuse(folder, caplog):
    now = time.time()
    plant(folder, here(dead_pid(), "12345"), now, ["a.wav"], "writer-dead.json")
    plant(folder, elsewhere(pid=1), now - locks.STALE_S - 5, ["a.wav"], "writer-silent.json")
    with caplog.at_level("INFO", logger="openl3"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()
    assert "its process is gone" in caplog.text and "no heartbeat for" in caplog.text
    assert not [n for n in lock_files(folder) if n.startswith("writer-")]

    plant(folder, elsewhere(), now - 10, ["a.wav"], "writer-fresh.json")
    plant(folder, here(os.getppid()), now - 10 * locks.STALE_S, ["b.wav"], "writer-alive.json")
    for paths, who in (
        (["a.wav"], "process 77 on otherhost"),
        (["b.wav"], f"process {os.getppid()} on {HOST}"),
    ):
        with pytest.raises(OpenL3Error, match=who):  # this host: alive is alive, however old its heartbeat
            folder.claim(input_keys(paths), None, break_lock=False)


def test_a_pid_given_again_to_another_process_does_not_keep_a_dead_writer_alive(folder, caplog):
    """The writer's pid runs, but it is another process: its start time is not the recorded one."""
    plant(folder, here(os.getppid(), "1"), time.time(), ["a.wav"], "writer-reused.json")
    with caplog.at_level("WARNING", logger="openl3"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()
    assert "its process is gone" in caplog.text


def test_a_container_replacing_another_pid_1_is_not_refused_by_its_predecessor(folder, caplog):
    """Same host name, same kernel, another pid namespace: the predecessor's OS lock is gone."""
    me = current()
    predecessor = Owner(me.host, me.boot, "pid:[4026530000]", 1, "50")
    name = plant(folder, predecessor, time.time(), ["a.wav"], "writer-predecessor.json")
    open(os.path.join(folder.base, name[:-5] + ".alive"), "w").close()  # its lock file, unlocked
    with caplog.at_level("WARNING", logger="openl3"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()
    assert "its process is gone" in caplog.text


ALIVE_HOLDER = """
import fcntl, os, sys, time
handle = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.lockf(handle, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(600)
"""


def test_a_live_writer_in_another_container_of_this_machine_refuses(folder, tmp_path):
    """Its pid cannot be checked from here, but the kernel tells that its lock is held."""
    me = current()
    other = Owner(me.host, me.boot, "pid:[4026530000]", 1, "50")
    name = plant(folder, other, time.time() - 10 * locks.STALE_S, ["a.wav"], "writer-other.json")
    ready = str(tmp_path / "ready")
    holder = subprocess.Popen(
        [sys.executable, "-c", ALIVE_HOLDER, os.path.join(folder.base, name[:-5] + ".alive"), ready]
    )
    try:
        wait_for(lambda: os.path.exists(ready), what="the holder of the lock")
        with pytest.raises(OpenL3Error, match=f"process 1 on {HOST}"):
            folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    finally:
        holder.kill()
        holder.wait()
    folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()  # killed: its lock went with it


def test_a_machine_of_the_same_host_name_is_judged_by_its_heartbeat(folder):
    """Another boot id is another machine (or this one since a reboot): its pids mean nothing here."""
    me = current()
    twin = Owner(me.host, "another-boot", me.namespace, os.getpid(), current().started)
    plant(folder, twin, time.time(), ["a.wav"], "writer-twin.json")
    with pytest.raises(OpenL3Error, match="last heartbeat"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    old = time.time() - locks.STALE_S - 5
    os.utime(os.path.join(folder.base, "writer-twin.json"), (old, old))
    folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()


def test_records_of_earlier_versions_are_judged_by_their_heartbeat(folder):
    """(host, pid) only: a pid that runs may be another process's."""
    plant(folder, (HOST, os.getpid()), time.time(), ["a.wav"], "writer-old.json")
    with pytest.raises(OpenL3Error, match=f"process {os.getpid()}"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    old = time.time() - locks.STALE_S - 5
    os.utime(os.path.join(folder.base, "writer-old.json"), (old, old))
    folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()


def test_writer_names_never_collide():
    """Host names cleaned alike (a.b, a-b) stay apart, and two writers of one process too."""
    assert Owner("a.b", "", "", 5, "9").tag() != Owner("a-b", "", "", 5, "9").tag()


def test_two_writers_of_one_process_have_two_locks(folder):
    first = folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    second = folder.claim(input_keys(["b.wav"]), None, break_lock=False)
    assert first.name != second.name
    with pytest.raises(OpenL3Error, match="1 of this run's inputs"):  # this process's writers are alive
        folder.claim(input_keys(["b.wav"]), None, break_lock=False)
    first.release()
    second.release()


def test_break_lock_removes_the_locks_that_cover_these_inputs_only(folder, caplog):
    plant(folder, elsewhere(), time.time(), ["a.wav"], "writer-mine.json")
    plant(folder, elsewhere(pid=78), time.time(), ["z.wav"], "writer-other.json")
    with caplog.at_level("WARNING", logger="openl3"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=True).release()
    assert "process 77 on otherhost" in caplog.text and "--break-lock" in caplog.text
    assert [n for n in lock_files(folder) if n.startswith("writer-")] == [
        "writer-other.json",
        "writer-other.keys",
    ]


def test_unreadable_keys_cover_every_input(folder):
    name = plant(folder, elsewhere(), time.time(), ["a.wav"])
    os.unlink(os.path.join(folder.base, name[:-5] + ".keys"))
    with pytest.raises(OpenL3Error, match="process 77"):
        folder.claim(input_keys(["zzz.wav"]), None, break_lock=False)


def test_the_heartbeat_is_refreshed_while_the_run_lives(folder, monkeypatch):
    monkeypatch.setattr(locks, "HEARTBEAT_S", 0.01)
    writer = folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    path = os.path.join(folder.base, writer.name)
    os.utime(path, (1.0, 1.0))
    wait_for(lambda: heartbeat(folder, writer.name) > 1.0, 30, "a heartbeat")
    writer.release()
    assert not os.path.exists(path) and not writer._beat.is_alive()


def test_a_removed_lock_is_never_written_back_and_its_writer_knows_it(folder):
    """--break-lock between a heartbeat's read and write used to bring the lock back."""
    writer = folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    writer.check()
    folder.remove_record(writer.name)
    assert not writer.refresh()
    assert not os.path.exists(os.path.join(folder.base, writer.name))
    with pytest.raises(OpenL3Error, match="lock was removed"):
        writer.check()
    writer.release()
    folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()


def test_a_filesystem_error_of_one_heartbeat_is_not_a_lost_lock(folder, monkeypatch, caplog):
    writer = folder.claim(input_keys(["a.wav"]), None, break_lock=False)

    def failing(name):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(folder, "touch", failing)
    with caplog.at_level("WARNING", logger="openl3"):
        assert writer.refresh()
    assert "could not renew" in caplog.text and writer.lost is None
    writer.check()
    writer.release()
    assert not [n for n in lock_files(folder) if n.startswith("writer-")]


def test_an_unreadable_record_covers_every_input_until_its_file_is_stale(folder):
    name = plant(folder, elsewhere(), time.time(), ["a.wav"])
    with open(os.path.join(folder.base, name), "w") as handle:
        handle.write("{torn")
    with pytest.raises(OpenL3Error, match="an unknown host"):
        folder.claim(input_keys(["zzz.wav"]), None, break_lock=False)
    old = time.time() - locks.STALE_S - 5
    os.utime(os.path.join(folder.base, name), (old, old))
    folder.claim(input_keys(["zzz.wav"]), None, break_lock=False).release()


def test_on_an_object_store_any_live_writer_refuses_a_second(tmp_path):
    """No exclusive create there: one writer at a time, whatever the inputs."""
    (tmp_path / "store").mkdir()
    store = fs.SubTreeFileSystem(str(tmp_path / "store"), fs.LocalFileSystem())
    folder = LockFolder(store, "OUT/_openl3", "s3://bucket/OUT")
    first = folder.claim(input_keys(["a.wav"]), None, break_lock=False)
    with pytest.raises(OpenL3Error, match="one writer at a time"):
        folder.claim(input_keys(["b.wav"]), None, break_lock=False)
    first.release()
    folder.claim(input_keys(["b.wav"]), None, break_lock=False).release()


def test_a_stale_record_is_told_by_process_on_this_kernel_and_by_heartbeat_elsewhere(folder):
    now = time.time()

    def reason(owner, heartbeat):
        return folder.stale_reason("writer-x.json", {"owner": owner.record(), "heartbeat": heartbeat}, now)

    assert reason(current(), 0) is None
    assert reason(here(dead_pid(), "7"), now) == "its process is gone"
    assert reason(elsewhere(), now - locks.STALE_S + 1) is None
    assert "no heartbeat" in reason(elsewhere(), now - locks.STALE_S - 1)


HOLDER = """
import os, sys, time
from pyarrow import fs
from openl3.dataset.locks import LockFolder
folder = LockFolder(fs.LocalFileSystem(), sys.argv[1], "test")
with folder.exclusive():
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
"""


@pytest.mark.parametrize("ending", ["released", "killed"])
def test_the_dataset_lock_is_exclusive_and_dies_with_its_holder(folder, tmp_path, ending):
    held, release = str(tmp_path / "held"), str(tmp_path / "release")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, os.path.dirname(folder.base), held, release])
    wait_for(lambda: os.path.exists(held) or holder.poll() is not None, what="the holder")
    acquired = threading.Event()

    def take():
        with folder.exclusive():
            acquired.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not acquired.wait(0.5)  # held by the other process
    if ending == "released":
        open(release, "w").close()
    else:
        holder.send_signal(signal.SIGKILL)
    assert acquired.wait(60)
    thread.join()
    holder.wait()


def test_keys_are_each_inputs_file_and_name(tmp_path, monkeypatch):
    """Two names of one file (relative, absolute, a link) are one file; one name is one input."""
    from openl3._util.shard import path_hash

    (tmp_path / "a").write_bytes(b"")
    os.symlink(tmp_path / "a", tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    names = ["b", "a", str(tmp_path / "a"), "link", "s3://bucket/a"]
    keys = input_keys(names)
    files = [tmp_path / "b", tmp_path / "a", tmp_path / "a", tmp_path / "a", "s3://bucket/a"]
    assert keys.dtype == np.uint64 and keys.shape == (5, 2)
    assert keys[:, 0].tolist() == [path_hash(str(f)) for f in files]
    assert keys[:, 1].tolist() == [path_hash("name:" + n) for n in names]


def test_two_runs_naming_two_files_alike_from_two_folders_meet(folder, tmp_path):
    """A dataset holds one input per name: their rows would be taken for each other's."""
    for where in ("one", "two"):
        (tmp_path / where).mkdir()
        (tmp_path / where / "x.wav").write_bytes(where.encode())
    os.chdir(tmp_path / "one")
    try:
        first = folder.claim(input_keys(["x.wav"]), None, break_lock=False)
        os.chdir(tmp_path / "two")
        with pytest.raises(OpenL3Error, match="1 of this run's inputs"):
            folder.claim(input_keys(["x.wav"]), None, break_lock=False)
        first.release()
    finally:
        os.chdir(tmp_path)
