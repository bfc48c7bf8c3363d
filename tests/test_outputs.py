"""Output names, atomic writing, and process_audio_file."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import noise, tone
from openl3 import OpenL3Error
from openl3.outputs import get_output_path, save_npz_atomic


@pytest.mark.parametrize(
    ("filepath", "suffix", "output_dir", "expected"),
    [
        ("/a/b/file.wav", ".npz", None, "/a/b/file.npz"),
        ("/a/b/file.wav", "x.npz", None, "/a/b/file_x.npz"),
        ("/a/b/file.tar.wav", "audio_x.npz", "/c", "/c/file.tar_audio_x.npz"),
        ("file.wav", ".npz", None, "file.npz"),
    ],
)
def test_output_path_rules_of_0_4_2(filepath, suffix, output_dir, expected):
    assert get_output_path(filepath, suffix, output_dir) == expected
    assert openl3.core.get_output_path is get_output_path


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npz"
    save_npz_atomic(str(target), embedding=np.ones((2, 3)))
    with pytest.raises(TypeError):
        save_npz_atomic(str(target), embedding=object.__new__(_Unsaveable))
    assert sorted(os.listdir(tmp_path)) == ["out.npz"]
    np.testing.assert_array_equal(np.load(target)["embedding"], np.ones((2, 3)))


class _Unsaveable:
    def __array__(self, *args, **kwargs):
        raise TypeError("cannot be saved")


@pytest.fixture
def audio_files(tmp_path):
    paths = []
    for name, audio, sr in (
        ("one.wav", tone(1.2, 44100), 44100),
        ("two.flac", noise(0.7, 16000, channels=2), 16000),
    ):
        sf.write(tmp_path / name, audio, sr)
        paths.append(str(tmp_path / name))
    return paths


def test_process_audio_file_writes_what_get_audio_embedding_returns(audio_files, mel128_model):
    with pytest.warns(openl3.OpenL3Warning, match="shorter than window size"):  # two.flac is 0.7 s
        openl3.process_audio_file(audio_files, model=mel128_model, hop_size=0.5, batch_size=3, verbose=False)
    for path in audio_files:
        data = np.load(os.path.splitext(path)[0] + ".npz")
        assert sorted(data.files) == ["embedding", "timestamps"]
        audio, sr = sf.read(path)
        with pytest.warns(openl3.OpenL3Warning) if len(audio) < sr else contextlib.nullcontext():
            emb, ts = openl3.get_audio_embedding(audio, sr, model=mel128_model, hop_size=0.5, verbose=False)
        assert data["embedding"].dtype == np.float32 and data["timestamps"].dtype == np.float64
        np.testing.assert_allclose(data["embedding"], emb, rtol=1e-5, atol=1e-5 * np.abs(emb).max())
        np.testing.assert_array_equal(data["timestamps"], ts)


def test_suffix_output_dir_skip_and_overwrite(audio_files, mel128_model, tmp_path):
    out = tmp_path / "new" / "dir"
    openl3.process_audio_file(
        audio_files[0], output_dir=str(out), suffix="s", model=mel128_model, verbose=False
    )
    target = out / "one_s.npz"
    assert sorted(os.listdir(out)) == ["one_s.npz"]
    target.write_bytes(b"old")
    openl3.process_audio_file(
        audio_files[0], output_dir=str(out), suffix="s", model=mel128_model, verbose=False
    )
    assert target.read_bytes() == b"old"
    openl3.process_audio_file(
        audio_files[0], output_dir=str(out), suffix="s", model=mel128_model, overwrite=True, verbose=False
    )
    assert np.load(target)["embedding"].shape == (8, 512)  # 57600 samples + 24000 centring


def test_existing_outputs_need_no_model(audio_files, tmp_path):
    for path in audio_files:
        np.savez(os.path.splitext(path)[0] + ".npz", embedding=np.ones(1))
    openl3.process_audio_file(
        audio_files, model=None, input_repr="mel128", verbose=False
    )  # no weights needed


def test_missing_and_unreadable_files_are_named(tmp_path, mel128_model):
    missing = str(tmp_path / "missing.wav")
    with pytest.raises(OpenL3Error, match="not found: .*missing.wav"):
        openl3.process_audio_file(missing, model=mel128_model, verbose=False)
    fake = tmp_path / "fake.wav"
    fake.write_text("not audio")
    with pytest.raises(OpenL3Error, match="Cannot read audio file .*fake.wav"):
        openl3.process_audio_file(str(fake), model=mel128_model, verbose=False)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    with pytest.raises(OpenL3Error, match="empty.wav: the array is empty"):
        openl3.process_audio_file(str(empty), model=mel128_model, verbose=False)
    assert not [name for name in os.listdir(tmp_path) if name.endswith((".npz", ".tmp"))]


def test_bad_process_arguments_fail_before_any_work(tmp_path, audio_files):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(OpenL3Error, match="Cannot create output directory"):
        openl3.process_audio_file(audio_files, output_dir=str(blocker / "sub"), verbose=False)
    with pytest.raises(OpenL3Error, match="hop_size -1"):
        openl3.process_audio_file(audio_files, hop_size=-1, verbose=False)
    with pytest.raises(OpenL3Error, match="Invalid filepath 3"):
        openl3.process_audio_file(3, verbose=False)
