"""Output names, atomic writing, and process_audio_file."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import dead_temporary, noise, tone
from openl3 import OpenL3Error
from openl3.runs.driver import get_output_path
from openl3.runs.npz import save_npz


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
    save_npz(str(target), embedding=np.ones((2, 3)))
    with pytest.raises(TypeError):
        save_npz(str(target), embedding=object.__new__(_Unsaveable))
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


def test_existing_outputs_need_no_model(audio_files, weights_env, monkeypatch):
    from openl3 import models

    loaded, load = [], models.load_audio_embedding_model_from_path
    monkeypatch.setattr(
        models, "load_audio_embedding_model_from_path", lambda *a, **k: loaded.append(a) or load(*a, **k)
    )
    models.clear_model_cache()  # a model built by an earlier test would hide a load
    for path in audio_files:
        np.savez(os.path.splitext(path)[0] + ".npz", embedding=np.ones(1))
    report = openl3.process_audio_file(audio_files, model=None, input_repr="mel128", verbose=False)
    assert report.skipped == audio_files and report.processed == [] and report.failed == []
    assert loaded == []  # the weights are at hand, yet no model was built
    for path in audio_files:
        np.testing.assert_array_equal(np.load(os.path.splitext(path)[0] + ".npz")["embedding"], np.ones(1))


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


def test_inputs_sharing_a_stem_never_share_an_output(tmp_path, mel128_model):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "x.wav", tone(1.0, 16000, 300), 16000)
    sf.write(tmp_path / "x.wav", tone(1.0, 16000, 500), 16000)
    sf.write(tmp_path / "x.flac", tone(1.0, 16000, 700), 16000)
    inputs = [str(tmp_path / p) for p in ("a/x.wav", "b/x.wav", "x.wav", "x.flac")]
    out = tmp_path / "out"
    with pytest.raises(OpenL3Error, match=r"b/x.wav: its output .*x.npz is also the output of .*a/x.wav"):
        openl3.process_audio_file(inputs, output_dir=str(out), model=mel128_model, verbose=False)
    assert os.listdir(out) == []  # refused before any work
    report = openl3.process_audio_file(
        inputs, output_dir=str(out), model=mel128_model, verbose=False, errors="collect"
    )
    assert report.processed == inputs[:1]
    assert [path for path, _ in report.failed] == inputs[1:]
    expected, _ = openl3.get_audio_embedding(*sf.read(inputs[0]), model=mel128_model, verbose=False)
    np.testing.assert_allclose(np.load(out / "x.npz")["embedding"], expected, rtol=1e-5, atol=1e-6)
    again = openl3.process_audio_file(
        inputs, output_dir=str(out), model=mel128_model, verbose=False, errors="collect"
    )
    assert again.skipped == inputs[:1] and len(again.failed) == 3  # still refused, not skipped


def test_planning_lists_each_output_folder_once(tmp_path, monkeypatch):
    from openl3.runs import local_engine, npz

    names = [f"f{i}.wav" for i in range(500)]
    for name in names:
        (tmp_path / (name[:-4] + ".npz")).write_bytes(b"done")
    calls = []
    real_listdir = os.listdir
    monkeypatch.setattr(npz.os, "listdir", lambda path: calls.append(path) or real_listdir(path))
    run = local_engine.FileRun(
        [(str(tmp_path / n), None) for n in names], npz.NpzOutputs(None, [None]), False, "raise"
    )
    assert run.jobs == [] and len(run.report.skipped) == 500
    assert calls == [str(tmp_path)]


def test_planning_keeps_live_temporaries_and_removes_dead_ones(tmp_path):
    from openl3._util import atomic
    from openl3.runs import local_engine, npz

    live = os.path.basename(atomic.temporary_name(str(tmp_path / "x.npz")))
    dead = os.path.basename(dead_temporary(tmp_path / "x.npz"))
    (tmp_path / live).write_bytes(b"a run still writing")
    (tmp_path / dead).write_bytes(b"a killed run's")
    local_engine.FileRun([(str(tmp_path / "x.wav"), None)], npz.NpzOutputs(None, [None]), False, "raise")
    assert sorted(os.listdir(tmp_path)) == [live]


def test_a_killed_exports_temporary_folder_is_removed_and_the_run_goes_on(tmp_path, mel128_model):
    from openl3._util import atomic

    out = tmp_path / "out"
    dead = out / os.path.basename(dead_temporary(out / "model"))  # what `models export` leaves
    live = out / os.path.basename(atomic.temporary_name(str(out / "model")))  # an export running
    for folder in (dead, live):
        (folder / "variables").mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"graph")
    assert atomic.remove_stale_temporaries(str(out)) == 1
    assert os.listdir(out) == [live.name]
    (dead / "variables").mkdir(parents=True)
    sf.write(tmp_path / "one.wav", tone(1.2, 44100), 44100)
    report = openl3.process_audio_file(
        str(tmp_path / "one.wav"), output_dir=str(out), model=mel128_model, verbose=False
    )
    assert report.failed == [] and sorted(os.listdir(out)) == sorted([live.name, "one.npz"])


def test_a_file_failing_mid_read_is_collected_and_the_rest_is_written(tmp_path, mel128_model, monkeypatch):
    from openl3.audio import signal

    monkeypatch.setattr(signal, "BLOCK_SAMPLES", 20_000)  # decoded in many blocks
    good = [tmp_path / "a.wav", tmp_path / "c.wav"]
    for path in good:
        sf.write(path, tone(3.0, 48000), 48000)
    truncated = tmp_path / "b_truncated.flac"  # its header declares 144000 frames; decoding fails midway
    sf.write(truncated, noise(3.0, 48000), 48000)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    nan = tmp_path / "b_nan.wav"
    late_nan = noise(3.0, 48000)
    late_nan[100_000] = np.nan
    sf.write(nan, late_nan, 48000, subtype="FLOAT")
    inputs = [str(good[0]), str(truncated), str(nan), str(good[1])]
    report = openl3.process_audio_file(
        inputs, model=mel128_model, hop_size=0.5, batch_size=4, verbose=False, errors="collect"
    )
    assert report.processed == [str(p) for p in good]
    reasons = dict(report.failed)
    assert reasons[str(truncated)].startswith(f"Cannot decode audio file {truncated} after frame")
    assert "NaN or infinite" in reasons[str(nan)]
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith((".npz", ".tmp"))) == ["a.npz", "c.npz"]
    for path in good:
        expected, _ = openl3.get_audio_embedding(
            *sf.read(path), model=mel128_model, hop_size=0.5, verbose=False
        )
        np.testing.assert_allclose(
            np.load(path.with_suffix(".npz"))["embedding"],
            expected,
            rtol=1e-5,
            atol=1e-5 * np.abs(expected).max(),
        )
    with pytest.raises(OpenL3Error, match="b_truncated.flac"):
        openl3.process_audio_file(inputs, model=mel128_model, verbose=False, overwrite=True)


@pytest.mark.parametrize(
    ("subtype", "channels", "sr"), [("PCM_16", 2, 44100), ("PCM_24", 0, 16000), ("FLOAT", 4, 48000)]
)
def test_files_decoded_in_blocks_equal_whole_reads(tmp_path, monkeypatch, subtype, channels, sr):
    from openl3.audio import signal
    from openl3.audio.decode import AudioFile

    monkeypatch.setattr(signal, "BLOCK_SAMPLES", 7_001)
    path = tmp_path / "x.wav"
    sf.write(path, noise(4.1, sr, channels=channels), sr, subtype=subtype)
    whole, _ = sf.read(path)
    for hop_size in (0.1, 1.7):
        from_file = openl3.audio.windows.AudioWindows(AudioFile(str(path)), sr, hop_size, True)
        from_array = openl3.audio.windows.AudioWindows(whole, sr, hop_size, True)
        assert from_file.n_items == from_array.n_items
        for start in range(0, from_file.n_items, 5):
            count = min(5, from_file.n_items - start)
            np.testing.assert_array_equal(from_file.read(start, count), from_array.read(start, count))


def test_memory_does_not_grow_with_file_length(tmp_path, mel128_model):
    import tracemalloc

    def peak(seconds: float, hop_size: float) -> int:
        path = tmp_path / f"{seconds}.wav"
        sf.write(path, noise(seconds, 16000), 16000)
        tracemalloc.start()
        openl3.process_audio_file(str(path), model=mel128_model, hop_size=hop_size, verbose=False)
        result = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result

    peak(30, 1.0)  # warm up: compiled kernels and traced model are not what is measured
    short, long = peak(150, 5.0), peak(600, 20.0)  # 31 windows each: only the length differs
    # Reading the longer file whole would take (600 - 150) * 16000 * 8 bytes = 57.6 MB more.
    assert long - short < 4e6, (short, long)


# --- the progress line, and arguments that are refused (issue 17) -----------------------------------


@pytest.fixture
def recorded_bars(monkeypatch):
    """The progress bars the runs make, kept to be looked at once they are done."""
    from openl3.runs import local_engine

    bars, original = [], local_engine.progress_bar

    def recording(total, enabled, unit):
        bars.append(original(total, enabled, unit))
        bars[-1].shown = enabled  # (a bar closed is disabled)
        return bars[-1]

    monkeypatch.setattr(local_engine, "progress_bar", recording)
    return bars


def test_the_progress_total_comes_from_the_headers_and_counts_files(tmp_path, mel128_model, recorded_bars):
    from openl3.audio.windows import AudioWindows

    inputs = []
    for name, seconds, sr in (("a.wav", 2.0, 22050), ("bad.wav", 0, 0), ("c.flac", 3.3, 16000)):
        path = tmp_path / name
        if sr:
            sf.write(path, tone(seconds, sr), sr)
        else:
            path.write_text("not audio: counted as nothing, and it fails when opened")
        inputs.append(str(path))
    expected = sum(
        AudioWindows(np.ones(n), sr, 0.5, True).n_items for n, sr in ((44100, 22050), (52800, 16000))
    )
    report = openl3.process_audio_file(
        inputs, model=mel128_model, hop_size=0.5, batch_size=4, errors="collect", verbose=True
    )
    assert len(report.processed) == 2 and len(report.failed) == 1
    [bar] = recorded_bars
    assert bar.total == bar.n == expected  # known before any decoding, reached at the end
    line = str(bar)
    assert f"| {expected}/{expected} windows [" in line and "3/3 files" in line and "windows/s" in line


def test_a_file_failing_mid_read_leaves_the_total_of_what_was_read(tmp_path, mel128_model, recorded_bars):
    good, truncated = tmp_path / "a.wav", tmp_path / "b.flac"
    sf.write(good, tone(2.0, 48000), 48000)
    sf.write(truncated, noise(30.0, 48000), 48000)  # its header declares 30 s: 296 windows
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    report = openl3.process_audio_file(
        [str(truncated), str(good)], model=mel128_model, hop_size=0.1, errors="collect", verbose=True
    )
    assert [path for path, _ in report.failed] == [str(truncated)]
    [bar] = recorded_bars
    assert bar.n <= bar.total < (296 + 16) / 2  # the windows it will not give were taken off
    assert bar.total - bar.n < 32  # at most a batch, read and dropped with the failing file


def test_no_progress_bar_when_every_input_is_skipped(audio_files, mel128_model, recorded_bars, capsys):
    for path in audio_files:
        np.savez(os.path.splitext(path)[0] + ".npz", embedding=np.ones(1))
    report = openl3.process_audio_file(audio_files, model=mel128_model, verbose=True)
    assert report.skipped == audio_files
    assert [bar.shown for bar in recorded_bars] == [False]
    assert "window" not in capsys.readouterr().err


@pytest.mark.parametrize("overwrite", ["yes", None, 2, "False"])
def test_overwrite_is_a_flag(audio_files, overwrite):
    with pytest.raises(OpenL3Error, match=f"Invalid overwrite {overwrite!r}: expected True, False, 0 or 1"):
        openl3.process_audio_file(audio_files, overwrite=overwrite, verbose=False)


@pytest.mark.parametrize("suffix", ["../../escape", "sub/name", os.sep + "abs"])
def test_a_suffix_cannot_name_another_folder(tmp_path, audio_files, suffix):
    out = tmp_path / "deep" / "out"
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(OpenL3Error, match="Invalid suffix .*path separator"):
        openl3.process_audio_file(audio_files, output_dir=str(out), suffix=suffix, verbose=False)
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written, no folder made


def test_a_damaged_mp3_is_said_to_be_undecodable(tmp_path):
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + np.random.default_rng(0).bytes(3000))
    with pytest.raises(OpenL3Error) as error:
        openl3.process_audio_file(str(damaged), verbose=False)
    assert "damaged.mp3: it could not be decoded" in str(error.value)
    assert "does not exist" not in str(error.value)
