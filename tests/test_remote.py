"""Inputs and datasets named by URI (tested with file:// URIs, which pyarrow opens like s3://)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import openl3
from helpers import AUDIO, read_rows, write_clips
from openl3 import OpenL3Error
from openl3._util import remote
from openl3.cli import main

pytest.importorskip("pyarrow")


def uri(path) -> str:
    return "file://" + os.path.abspath(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("remote_clips"), [0.8, 1.6])


def test_a_local_copy_holds_the_bytes_and_is_removed(tmp_path):
    source = tmp_path / "a.wav"
    source.write_bytes(b"RIFF-bytes")
    with remote.local_copy(uri(source)) as local:
        assert local != str(source) and Path(local).read_bytes() == b"RIFF-bytes"
    assert not os.path.exists(local)
    with remote.local_copy(str(source)) as local:  # a local path is used as it is
        assert local == str(source)
    with (
        pytest.raises(OpenL3Error, match="Cannot read file://"),
        remote.local_copy(uri(tmp_path / "missing.wav")),
    ):
        pass


def test_uri_inputs_into_a_uri_dataset_give_the_same_rows(clips, weights_env, tmp_path):
    openl3.process_audio_file(clips, output_dir=str(tmp_path / "local"), output_format="parquet", **AUDIO)
    inputs = [uri(p) for p in clips]
    report = openl3.process_audio_file(
        inputs, output_dir=uri(tmp_path / "remote"), output_format="parquet", **AUDIO
    )
    assert report.processed == inputs
    got, want = read_rows(tmp_path / "remote"), read_rows(tmp_path / "local")
    assert got["path"].to_pylist() == [uri(p) for p in want["path"].to_pylist()]
    np.testing.assert_array_equal(
        np.stack(got["embedding"].to_numpy(zero_copy_only=False)),
        np.stack(want["embedding"].to_numpy(zero_copy_only=False)),
    )
    again = openl3.process_audio_file(
        inputs, output_dir=uri(tmp_path / "remote"), output_format="parquet", **AUDIO
    )
    assert again.skipped == inputs  # resumable through the URI too


def test_the_command_lists_a_folder_uri(clips, weights_env, tmp_path, capsys):
    folder = uri(os.path.dirname(clips[0]))
    args = ["audio", folder, uri(tmp_path / "missing.wav"), "-i", "mel128", "-as", "512", "-t", "0.5"]
    assert (
        main([*args, "--output-format", "parquet", "-o", str(tmp_path / "out"), "-q"]) == 1
    )  # the missing one
    assert "missing.wav: no such file" in capsys.readouterr().err
    assert sorted(set(read_rows(tmp_path / "out")["path"].to_pylist())) == sorted(uri(p) for p in clips)


def test_npz_outputs_of_uri_inputs_need_a_local_folder(clips, weights_env, tmp_path):
    with pytest.raises(OpenL3Error, match="local folder"):
        openl3.process_audio_file(uri(clips[0]), **AUDIO)
    openl3.process_audio_file(uri(clips[0]), output_dir=str(tmp_path), **AUDIO)
    assert os.listdir(tmp_path) == [os.path.basename(clips[0])[:-4] + ".npz"]


def test_image_uri(weights_env, tmp_path):
    from skimage.io import imsave

    from openl3.image.compute import read_image_file

    image = np.random.default_rng(0).integers(0, 256, (230, 240, 3), dtype=np.uint8)
    imsave(tmp_path / "im.png", image)
    np.testing.assert_array_equal(read_image_file(uri(tmp_path / "im.png")), image)
