"""Finding, downloading, verifying and importing weight files (loopback server, test registry)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import openl3
from helpers import dead_temporary, write_weight_file
from openl3 import OpenL3Error
from openl3.models import registry, store

OFFICIAL_FILES = Path(__file__).resolve().parent / "data" / "official_weight_files.tsv"


def test_registry_matches_the_12_published_files():
    # The published names and git blob ids (SPEC.md's table), kept as test data.
    published = dict(line.split("\t") for line in OFFICIAL_FILES.read_text().split("\n") if line)
    assert len(published) == 12
    assert {e.filename: e.blob_id for e in registry.REGISTRY.values()} == published
    for entry in registry.REGISTRY.values():
        assert entry.url == "https://github.com/marl/openl3/raw/models/" + entry.filename


def test_git_blob_id_is_git_s(tmp_path):
    path = tmp_path / "hello"
    path.write_bytes(b"hello\n")
    assert store.git_blob_id(str(path)) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object


def _cache_files():
    directory = os.environ["OPENL3_CACHE_DIR"]
    return (
        sorted(n for n in os.listdir(directory) if not n.endswith(".lock"))
        if os.path.isdir(directory)
        else []
    )


def test_first_use_downloads_and_verifies_second_makes_no_request(weight_server, published):
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    assert weight_server.requests == [published[0].name]
    assert _cache_files() == [published[0].name]
    cached = os.path.join(os.environ["OPENL3_CACHE_DIR"], published[0].name)
    assert store.git_blob_id(cached) == published[1].blob_id
    again = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    assert len(weight_server.requests) == 1
    for a, b in zip(model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_partial_files_of_killed_downloads_are_cleaned(weight_server, published):

    directory = Path(os.environ["OPENL3_CACHE_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    killed = Path(dead_temporary(directory / published[0].name))
    killed.write_bytes(b"half a file")
    openl3.models.get_audio_embedding_model_path("mel128", "music")
    assert sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock")) == [published[0].name]


def test_download_replaces_a_corrupt_cached_file(weight_server, published):
    directory = Path(os.environ["OPENL3_CACHE_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    cached = directory / published[0].name
    cached.write_bytes(b"corrupt")
    assert store.cache_status(published[1]) == ("corrupt", str(cached))
    assert store.download(published[1], progress=False) == str(cached)
    assert store.git_blob_id(str(cached)) == published[1].blob_id
    assert weight_server.requests == [published[0].name]
    store.download(published[1], progress=False)  # verified now: no second request
    assert len(weight_server.requests) == 1


def test_cached_files_get_the_mode_the_umask_gives(weight_server, published):
    import stat

    previous = os.umask(0o027)
    try:
        path = openl3.models.get_audio_embedding_model_path("mel128", "music")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize("mode", ["corrupt", "truncate"])
def test_bad_bodies_are_rejected_and_leave_nothing(weight_server, mode):
    weight_server.mode = mode
    with pytest.raises(OpenL3Error, match="Could not download the OpenL3 weight file"):
        openl3.models.get_audio_embedding_model_path("mel128", "music")
    assert _cache_files() == []


def test_offline_error_text(weight_server, published):
    weight_server.mode = "missing"
    name = published[0].name
    expected = (
        f"Could not download the OpenL3 weight file {name} from {weight_server.url}{name}: "
        f"the server answered HTTP 404. It is not in $OPENL3_WEIGHTS_DIR (not set) and "
        f"{os.environ['OPENL3_CACHE_DIR']} (the cache). To work offline, put the file in a directory "
        "named by the environment variable OPENL3_WEIGHTS_DIR, or copy it into the cache with `openl3 "
        "models import PATH`; to try openl3 without it, `openl3 models random DIR` writes random weights."
    )
    with pytest.raises(OpenL3Error) as error:
        openl3.models.get_audio_embedding_model_path("mel128", "music")
    assert str(error.value) == expected


def test_unreachable_server_names_file_url_and_remedies():
    with pytest.raises(OpenL3Error) as error:
        openl3.models.get_audio_embedding_model_path("linear", "env")
    message = str(error.value)
    assert "openl3_audio_linear_env-v0_4_0.h5.gz from http://127.0.0.1:9/openl3_audio_linear_env" in message
    assert (
        "ConnectionError" in message and "OPENL3_WEIGHTS_DIR" in message and "openl3 models import" in message
    )


CHILD = """
import sys
from openl3.models import registry, store
entry = registry.WeightFile("audio", "mel128", "music", sys.argv[1])
registry.REGISTRY = {("audio", "mel128", "music"): entry}
print(store.resolve(entry, progress=False))
"""


def test_two_processes_download_one_intact_file(weight_server, published):
    weight_server.mode = "slow"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, published[1].blob_id], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120)[0].strip() for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert outputs[0] == outputs[1] == os.path.join(os.environ["OPENL3_CACHE_DIR"], published[0].name)
    assert store.git_blob_id(outputs[0]) == published[1].blob_id
    assert len(weight_server.requests) == 1
    assert _cache_files() == [published[0].name]


def test_weights_dir_needs_no_server(weights_dir, monkeypatch):
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512)
    assert model.output_shape == (None, 512)
    assert _cache_files() == []


def test_import_verifies_then_serves_offline(published, monkeypatch):
    path, entry = published
    monkeypatch.setattr(registry, "REGISTRY", {("audio", "mel128", "music"): entry})
    cached = store.import_file(str(path))
    assert _cache_files() == [path.name] and store.git_blob_id(cached) == entry.blob_id
    assert openl3.models.get_audio_embedding_model_path("mel128", "music") == cached


def test_import_refuses_what_it_cannot_verify(published, tmp_path, weights_dir):
    path, _ = published  # its id is not the official one
    with pytest.raises(OpenL3Error, match="does not match the published"):
        store.import_file(str(path))
    with pytest.raises(OpenL3Error, match="decompressed"):
        store.import_file(str(weights_dir / "openl3_audio_mel128_music.h5"))
    other = tmp_path / "weights.h5.gz"
    other.write_bytes(b"x")
    with pytest.raises(OpenL3Error, match="not named as an official"):
        store.import_file(str(other))
    assert _cache_files() == []
    store.import_file(str(path), verify=False)
    assert store.status(registry.REGISTRY[("audio", "mel128", "music")]) == (
        "unverified",
        os.path.join(os.environ["OPENL3_CACHE_DIR"], path.name),
    )


def test_a_file_imported_unverified_stays_marked_until_replaced(published, weight_server, tmp_path, caplog):
    path, entry = published
    other = tmp_path / path.name  # well-formed, named as the published file, and not it
    write_weight_file(other, "audio", seed=7)
    target = store.import_file(str(other), verify=False)
    assert store.cache_status(entry) == ("unverified", target)
    with caplog.at_level("WARNING", logger="openl3"):
        assert store.resolve(entry) == target
    assert f"Using {target}, imported unverified" in caplog.text
    store.download(entry, progress=False)  # a download replaces it with the published file
    assert store.cache_status(entry) == ("cached", target)
    caplog.clear()
    with caplog.at_level("WARNING", logger="openl3"):
        store.resolve(entry)
    assert caplog.text == ""
    store.import_file(str(other), verify=False)
    store.import_file(str(path))  # so does a verified import
    assert store.cache_status(entry) == ("cached", target)
    assert _cache_files() == [path.name]  # no mark left behind


def test_a_files_identity_is_judged_against_the_entry_asked_for(tmp_path):
    """The identity cache was keyed by the file alone: the first answer served every entry.

    A file is the official one for the entry whose SHA-256 it has, and a user's file
    (``sha256:...``) to no entry or another entry, in whichever order they are asked.
    """
    import dataclasses
    import hashlib

    path = tmp_path / "w.h5"
    write_weight_file(path, "audio", seed=3)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entries = list(registry.REGISTRY.values())
    its_own = dataclasses.replace(entries[0], decompressed_sha256=digest)
    other = dataclasses.replace(entries[1], decompressed_sha256="0" * 64)
    asked = [None, its_own, other, its_own, None]
    users = "sha256:" + digest
    expected = [users, its_own.filename, users, its_own.filename, users]
    assert [store.weights_identity(str(path), entry) for entry in asked] == expected
