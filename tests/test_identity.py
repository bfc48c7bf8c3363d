"""File identity: every form of a path to one file maps to one identity, another file to another."""

import os
from pathlib import Path

import pytest

from openl3._util.identity import NamedFrom, file_identity, same_file


@pytest.fixture
def tree(tmp_path):
    """data/clips/a.wav, a link to it, a linked folder, and a second a.wav elsewhere."""
    clips = tmp_path / "data" / "clips"
    clips.mkdir(parents=True)
    (clips / "a.wav").write_bytes(b"a")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.wav").write_bytes(b"another a")
    os.symlink(clips / "a.wav", tmp_path / "link.wav")
    os.symlink(clips, tmp_path / "linked")
    return tmp_path


def forms(tree):
    """Every way of naming data/clips/a.wav, from the folder ``tree``."""
    target = tree / "data" / "clips" / "a.wav"
    return [
        str(target),
        "data/clips/a.wav",
        "./data/clips/../clips/a.wav",
        "data//clips/a.wav",
        "link.wav",
        "linked/a.wav",
        str(tree / "linked" / "a.wav"),
        target.as_uri(),
        Path("data/clips/a.wav"),
        os.path.relpath(target, tree / "other"),  # relative from another folder: with base=
    ]


def test_every_form_of_a_path_is_one_identity_the_real_path(tree, monkeypatch):
    monkeypatch.chdir(tree)
    oracle = os.path.realpath(tree / "data" / "clips" / "a.wav")
    for form in forms(tree)[:-1]:
        assert file_identity(form) == oracle, form
    assert file_identity(forms(tree)[-1], base=str(tree / "other")) == oracle
    assert file_identity("a.wav", base=str(tree / "other")) != oracle  # the other a.wav
    assert file_identity("other/a.wav") == os.path.realpath(tree / "other" / "a.wav")


def test_a_relative_path_names_the_file_of_the_folder_it_is_taken_from(tree, monkeypatch):
    """The same text from two folders: two files (the reproduction of a query run elsewhere)."""
    monkeypatch.chdir(tree / "data")
    here = file_identity("clips/a.wav")
    monkeypatch.chdir(tree)
    assert file_identity("clips/a.wav") != here
    assert file_identity("clips/a.wav", base=str(tree / "data")) == here


def test_uris_of_other_filesystems_are_their_own_identity():
    for uri in ("s3://bucket/clips/a.wav", "gs://b/x y.wav", "hdfs://host:9000/a.wav"):
        assert file_identity(uri) == uri
        assert file_identity(uri, base="/somewhere") == uri
    assert not same_file("s3://bucket/a.wav", "s3://other/a.wav")
    assert file_identity("s3://bkt/x.wav") != os.path.join(os.getcwd(), "s3:/bkt/x.wav")


def test_a_file_uri_with_escapes_is_the_local_file(tree):
    spaced = tree / "a b#c.wav"
    spaced.write_bytes(b"")
    assert file_identity(spaced.as_uri()) == os.path.realpath(spaced)


def test_named_from_gives_each_input_the_identity_its_writer_resolved(tree, monkeypatch):
    monkeypatch.chdir(tree)
    names = [str(f) for f in forms(tree)[:-1]] + ["other/a.wav", "s3://bucket/a.wav", "missing.wav"]
    named = NamedFrom.here(names)
    monkeypatch.chdir(tree / "other")  # a reader elsewhere: the record, not the cwd
    for name in names:
        assert named.identity(name) == file_identity(name, base=str(tree)), name
    assert NamedFrom.from_record(named.record()) == named and NamedFrom.from_record({"links": {}}) is None
    # the linked folder is one rule; only the link to a file is recorded by name
    assert list(named.prefixes) == [os.path.join(os.path.realpath(tree), "linked")]
    assert list(named.links) == ["link.wav"]


def test_many_inputs_under_a_linked_folder_are_one_rule_not_one_entry_each(tmp_path, monkeypatch):
    """A cluster's /home -> /gpfs/home: every input's real path differs from its name."""
    real = tmp_path / "gpfs" / "home"
    real.mkdir(parents=True)
    os.symlink(real, tmp_path / "home")
    names = [str(tmp_path / "home" / f"clip{k}.wav") for k in range(1000)]
    for name in names[:3]:
        Path(name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    named = NamedFrom.here(names)
    assert len(named.prefixes) == 1 and named.links == {}
    assert [named.identity(n) for n in names] == [file_identity(n) for n in names]
    assert named.only(names[:2]).links == {} and len(str(named.record())) < 300
