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
from openl3._util.atomic import HOST
from openl3._util.exceptions import OpenL3Error
from openl3.dataset import locks
from openl3.dataset.locks import LockFolder, input_keys, stale_reason


@pytest.fixture
def folder(tmp_path):
    return LockFolder(fs.LocalFileSystem(), str(tmp_path / "_openl3"), str(tmp_path))


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def plant(folder, host, pid, heartbeat, paths, name="writer-planted.json"):
    """A writer record as another run leaves it, its heartbeat (the file's time) at ``heartbeat``."""
    os.makedirs(folder.base, exist_ok=True)
    record = {"host": host, "pid": pid, "started": heartbeat, "shard": None, "inputs": len(paths)}
    path = os.path.join(folder.base, name)
    with open(path, "w") as handle:
        json.dump(record, handle)
    os.utime(path, (heartbeat, heartbeat))
    with open(os.path.join(folder.base, name[:-5] + ".keys"), "wb") as handle:
        handle.write(input_keys(paths).astype("<u8").tobytes())
    return name


def heartbeat(folder, name):
    return os.stat(os.path.join(folder.base, name)).st_mtime


def lock_files(folder):
    return sorted(os.listdir(folder.base)) if os.path.isdir(folder.base) else []


def test_a_writer_lock_covers_its_inputs_until_released(folder):
    mine = folder.claim(input_keys(["a.wav", "b.wav"]), (1, 4), break_lock=False)
    assert len([n for n in lock_files(folder) if n.startswith("writer-")]) == 2  # record and keys
    folder.claim(input_keys(["c.wav"]), None, break_lock=False).release()  # other inputs: fine
    with pytest.raises(OpenL3Error) as refused:
        folder.claim(input_keys(["c.wav", "b.wav"]), None, break_lock=False)
    message = str(refused.value)
    assert f"process {os.getpid()} on {HOST}" in message and "shard 1/4" in message
    assert "1 of this run's inputs" in message and "--break-lock" in message
    mine.release()
    assert not [n for n in lock_files(folder) if n.startswith("writer-")]
    folder.claim(input_keys(["b.wav"]), None, break_lock=False).release()


def test_stale_locks_are_removed_and_live_ones_refuse(folder, caplog):
    now = time.time()
    plant(folder, HOST, dead_pid(), now, ["a.wav"], "writer-dead.json")
    plant(folder, "otherhost", 1, now - locks.STALE_S - 5, ["a.wav"], "writer-silent.json")
    with caplog.at_level("INFO", logger="openl3"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=False).release()
    assert "its process is gone" in caplog.text and "no heartbeat for" in caplog.text
    assert not [n for n in lock_files(folder) if n.startswith("writer-")]

    plant(folder, "otherhost", 77, now - 10, ["a.wav"], "writer-fresh.json")
    plant(folder, HOST, os.getppid(), now - 10 * locks.STALE_S, ["b.wav"], "writer-alive.json")
    for paths, who in (
        (["a.wav"], "process 77 on otherhost"),
        (["b.wav"], f"process {os.getppid()} on {HOST}"),
    ):
        with pytest.raises(OpenL3Error, match=who):  # this host: alive is alive, however old its heartbeat
            folder.claim(input_keys(paths), None, break_lock=False)


def test_break_lock_removes_the_locks_that_cover_these_inputs_only(folder, caplog):
    plant(folder, "otherhost", 77, time.time(), ["a.wav"], "writer-mine.json")
    plant(folder, "otherhost", 78, time.time(), ["z.wav"], "writer-other.json")
    with caplog.at_level("WARNING", logger="openl3"):
        folder.claim(input_keys(["a.wav"]), None, break_lock=True).release()
    assert "process 77 on otherhost" in caplog.text and "--break-lock" in caplog.text
    assert [n for n in lock_files(folder) if n.startswith("writer-")] == [
        "writer-other.json",
        "writer-other.keys",
    ]


def test_unreadable_keys_cover_every_input(folder):
    name = plant(folder, "otherhost", 77, time.time(), ["a.wav"])
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
    name = plant(folder, "otherhost", 77, time.time(), ["a.wav"])
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


def test_a_stale_record_is_told_by_process_on_this_host_and_by_heartbeat_elsewhere():
    now = time.time()
    assert stale_reason({"host": HOST, "pid": os.getpid(), "heartbeat": 0}, now) is None
    assert stale_reason({"host": HOST, "pid": dead_pid(), "heartbeat": now}, now) == "its process is gone"
    assert stale_reason({"host": "b", "pid": 1, "heartbeat": now - locks.STALE_S + 1}, now) is None
    assert "no heartbeat" in stale_reason({"host": "b", "pid": 1, "heartbeat": now - locks.STALE_S - 1}, now)


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


def test_keys_are_the_sorted_unique_path_hashes():
    from openl3._util.shard import path_hash

    keys = input_keys(["b", "a", "b"])
    assert keys.dtype == np.uint64 and list(keys) == sorted({path_hash("a"), path_hash("b")})
