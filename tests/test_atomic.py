"""Atomic files: whole or absent, the umask's mode, and cleanup of dead owners' temporaries."""

from __future__ import annotations

import os
import re
import stat
import time

import numpy as np
import pytest

from helpers import dead_pid
from openl3._util import atomic
from openl3._util.owner import UNJUDGED_STALE_S, Owner, current
from openl3.runs.npz import save_npz, write_npz


@pytest.fixture
def umask():
    """Set a umask for the test, restored afterwards."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    save_npz(str(tmp_path / "out.npz"), embedding=np.ones(3))
    plain = tmp_path / "plain.npz"
    np.savez(plain, embedding=np.ones(3))  # what np.savez, and 0.4.2, give
    assert stat.S_IMODE(os.stat(tmp_path / "out.npz").st_mode) == mode == stat.S_IMODE(plain.stat().st_mode)


def test_all_or_none(tmp_path):
    first, second = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    with pytest.raises(RuntimeError), atomic.replacing(first, second) as (one, _):
        write_npz(one, embedding=np.ones(2))
        raise RuntimeError("the second output fails")
    assert os.listdir(tmp_path) == []
    with atomic.replacing(first, second) as temporaries:
        for temporary in temporaries:
            write_npz(temporary, embedding=np.zeros(2))
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]


def _fail_second_rename(patch):
    """Make the second call of ``os.replace`` fail (the first, and any later, succeed)."""
    real_replace, calls = os.replace, []

    def replace(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk gone")
        real_replace(source, target)

    patch.setattr(os, "replace", replace)


def test_a_failed_rename_takes_back_the_earlier_ones(tmp_path, monkeypatch):
    first, second = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    _fail_second_rename(monkeypatch)
    with pytest.raises(OSError, match="disk gone"), atomic.replacing(first, second) as temporaries:
        for temporary in temporaries:
            write_npz(temporary, embedding=np.ones(1))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "copies"])
def test_a_failed_rename_keeps_the_files_it_was_replacing(tmp_path, monkeypatch, links):
    first, second = tmp_path / "a_audio.npz", tmp_path / "a_image.npz"
    first.write_bytes(b"the old audio output")
    second.write_bytes(b"the old image output")
    with monkeypatch.context() as patch:
        if not links:  # a file system without hard links: the old files are copied aside
            patch.setattr(os, "link", _no_hard_links)
        _fail_second_rename(patch)
        with pytest.raises(OSError, match="disk gone"), atomic.replacing(str(first), str(second)) as temps:
            for temporary in temps:
                write_npz(temporary, embedding=np.ones(1))
    assert sorted(os.listdir(tmp_path)) == ["a_audio.npz", "a_image.npz"]  # no temporary or backup left
    assert first.read_bytes() == b"the old audio output"
    assert second.read_bytes() == b"the old image output"
    with atomic.replacing(str(first), str(second)) as temps:  # a rename that succeeds drops the backups
        for temporary in temps:
            write_npz(temporary, embedding=np.zeros(2))
    assert sorted(os.listdir(tmp_path)) == ["a_audio.npz", "a_image.npz"]
    np.testing.assert_array_equal(np.load(first)["embedding"], np.zeros(2))


def _no_hard_links(*args, **kwargs):
    raise PermissionError(1, "Operation not permitted")


def temporary_of(owner, name="y.npz"):
    return f".{name}.{owner.tag()}.0123abcd.tmp"


def test_only_temporaries_of_dead_owners_are_removed(tmp_path):
    me = current()
    live = os.path.basename(atomic.temporary_name(str(tmp_path / "x.npz")))  # this process: alive
    dead = temporary_of(Owner(me.host, me.boot, me.namespace, dead_pid(), "123"))
    reused = temporary_of(Owner(me.host, me.boot, me.namespace, os.getpid(), "1"), "r.npz")  # pid given again
    elsewhere = temporary_of(Owner("other-host", "other-boot", "", dead_pid(), "5"), "z.npz")  # cannot tell
    older = (
        f".o.npz.{re.sub('[^A-Za-z0-9-]', '-', me.host)}.{dead_pid()}.0123abcd.tmp"  # an earlier version's
    )
    for name in (live, dead, reused, elsewhere, older, "x.npz", ".hidden"):
        (tmp_path / name).write_bytes(b"")
    assert all(atomic.is_temporary(n) for n in (live, dead, reused, older)) and not atomic.is_temporary(
        ".hidden"
    )
    assert atomic.remove_stale_temporaries(str(tmp_path)) == 3
    assert sorted(os.listdir(tmp_path)) == sorted([live, elsewhere, "x.npz", ".hidden"])


def test_a_temporary_whose_owner_cannot_be_judged_is_removed_when_a_day_old(tmp_path):
    """Another host's, or another container's: its pid means nothing here."""
    me = current()
    other = temporary_of(Owner(me.host, me.boot, "pid:[4026530000]", 1, "5"))
    (tmp_path / other).write_bytes(b"")
    assert atomic.remove_stale_temporaries(str(tmp_path)) == 0
    old = time.time() - UNJUDGED_STALE_S - 60
    os.utime(tmp_path / other, (old, old))
    assert atomic.remove_stale_temporaries(str(tmp_path)) == 1


def test_whole_writes_on_a_pyarrow_filesystem_leave_nothing_when_they_fail(tmp_path):
    from pyarrow import fs

    store = fs.SubTreeFileSystem(str(tmp_path), fs.LocalFileSystem())

    def failing(stream):
        stream.write(b"half")
        raise OSError(28, "No space left on device")

    atomic.write_whole("kept.txt", lambda stream: stream.write(b"old"), store)
    with pytest.raises(OSError, match="No space"):
        atomic.write_whole("kept.txt", failing, store)
    assert os.listdir(tmp_path) == ["kept.txt"] and (tmp_path / "kept.txt").read_bytes() == b"old"


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.arange(5, dtype=np.float64) / 3,
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.zeros((0, 512), np.float32),
        np.float64(2.5),
    ],
)
def test_npz_files_read_back_as_np_savez_writes_them(tmp_path, array):
    ours, theirs = tmp_path / "ours.npz", tmp_path / "theirs.npz"
    write_npz(str(ours), embedding=array, timestamps=np.arange(3) * 0.1)
    np.savez(theirs, embedding=array, timestamps=np.arange(3) * 0.1)
    with np.load(ours) as got, np.load(theirs) as expected:
        assert got.files == expected.files == ["embedding", "timestamps"]
        for key in got.files:
            assert got[key].dtype == expected[key].dtype and got[key].shape == expected[key].shape
            np.testing.assert_array_equal(got[key], expected[key])
    with pytest.raises(TypeError):
        write_npz(str(tmp_path / "objects.npz"), embedding=np.array([object()]))
