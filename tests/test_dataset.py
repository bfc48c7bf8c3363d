"""Parquet datasets: rows, resuming, failures, atomic parts (the local engine)."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import noise
from openl3.exceptions import OpenL3Error

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")

AUDIO = {"input_repr": "mel128", "embedding_size": 512, "hop_size": 0.5, "verbose": False}


def write_clips(folder, seconds, sr=16000):
    folder.mkdir(exist_ok=True)
    paths = []
    for k, length in enumerate(seconds):
        path = folder / f"clip{k:02d}.wav"
        sf.write(path, noise(length, sr, seed=k), sr)
        paths.append(str(path))
    return paths


def read_rows(folder):
    table = ds.dataset(str(folder)).to_table()
    return table.sort_by([("path", "ascending"), ("index", "ascending")])


def embeddings_of(table, path):
    rows = table.filter(pa.compute.equal(table["path"], path))
    return np.stack(rows["embedding"].to_numpy(zero_copy_only=False)), rows["timestamp"].to_numpy()


def parts(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith("part-"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return write_clips(folder, [0.5, 1.0, 1.7, 2.3])


def test_rows_equal_the_npz_outputs(clips, weights_env, tmp_path):
    openl3.process_audio_file(clips, output_dir=str(tmp_path / "npz"), **AUDIO)
    report = openl3.process_audio_file(
        clips, output_dir=str(tmp_path / "out"), output_format="parquet", **AUDIO
    )
    assert report.processed == clips
    table = read_rows(tmp_path / "out")
    assert table.schema.field("embedding").type == pa.list_(pa.field("element", pa.float32()), 512)
    assert table.schema.field("index").type == pa.int32()
    assert table.schema.field("timestamp").type == pa.float64()
    assert set(table["modality"].to_pylist()) == {"audio"}
    for path in clips:
        npz = np.load(tmp_path / "npz" / (os.path.basename(path)[:-4] + ".npz"))
        embedding, timestamps = embeddings_of(table, path)
        np.testing.assert_array_equal(embedding, npz["embedding"])
        np.testing.assert_array_equal(timestamps, npz["timestamps"])
        rows = table.filter(pa.compute.equal(table["path"], path))
        assert rows["index"].to_pylist() == list(range(len(npz["embedding"])))
    assert len(parts(tmp_path / "out")) == 1  # small runs: one part
    assert not os.path.exists(tmp_path / "out" / "_failures.parquet")


def test_float16_rows_are_the_float32_values_rounded(clips, weights_env, tmp_path):
    openl3.process_audio_file(clips[:2], output_dir=str(tmp_path / "f32"), output_format="parquet", **AUDIO)
    openl3.process_audio_file(
        clips[:2], output_dir=str(tmp_path / "f16"), output_format="parquet", dtype="float16", **AUDIO
    )
    half, full = read_rows(tmp_path / "f16"), read_rows(tmp_path / "f32")
    assert half.schema.field("embedding").type.value_type == pa.float16()
    h = np.stack(half["embedding"].to_numpy(zero_copy_only=False))
    f = np.stack(full["embedding"].to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(h, f.astype(np.float16))


def test_rerun_skips_complete_inputs_and_retries_failures(clips, weights_env, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    out = str(tmp_path / "out")
    inputs = [*clips[:2], str(bad)]
    first = openl3.process_audio_file(
        inputs, output_dir=out, output_format="parquet", errors="collect", **AUDIO
    )
    assert first.processed == clips[:2] and [p for p, _ in first.failed] == [str(bad)]
    failures = pq.read_table(os.path.join(out, "_failures.parquet")).to_pylist()
    assert [row["path"] for row in failures] == [str(bad)] and "Cannot read" in failures[0]["reason"]

    sf.write(bad, noise(1.2, 22050, seed=9), 22050)  # the bad input repaired
    second = openl3.process_audio_file(
        [*clips, str(bad)], output_dir=out, output_format="parquet", errors="collect", **AUDIO
    )
    assert second.skipped == clips[:2] and second.processed == [*clips[2:], str(bad)]
    assert pq.read_table(os.path.join(out, "_failures.parquet")).num_rows == 0
    table = read_rows(out)
    assert sorted(set(table["path"].to_pylist())) == sorted([*clips, str(bad)])
    pairs = list(zip(table["path"].to_pylist(), table["index"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs))  # every row once


def test_overwrite_replaces_rows_and_keeps_them_once(clips, weights_env, tmp_path):
    out = str(tmp_path / "out")
    openl3.process_audio_file(clips, output_dir=out, output_format="parquet", part_size_mb=1e-6, **AUDIO)
    before = read_rows(out)
    report = openl3.process_audio_file(
        clips[1:3], output_dir=out, output_format="parquet", overwrite=True, part_size_mb=1e-6, **AUDIO
    )
    assert report.processed == clips[1:3]
    after = read_rows(out)
    assert after.num_rows == before.num_rows
    assert after.select(["path", "index", "timestamp"]).equals(before.select(["path", "index", "timestamp"]))
    assert len(parts(out)) == 4  # two rewritten away, two new


def test_other_settings_are_refused(clips, weights_env, tmp_path):
    out = str(tmp_path / "out")
    openl3.process_audio_file(clips[:1], output_dir=out, output_format="parquet", **AUDIO)
    with pytest.raises(OpenL3Error, match=r"other settings: hop_size=0.5 \(now 0.25\)"):
        openl3.process_audio_file(
            clips[1:2], output_dir=out, output_format="parquet", **{**AUDIO, "hop_size": 0.25}
        )
    with pytest.raises(OpenL3Error, match="dtype='float32' \\(now 'float16'\\)"):
        openl3.process_audio_file(
            clips[1:2], output_dir=out, output_format="parquet", dtype="float16", **AUDIO
        )


def test_part_files_hold_whole_inputs_at_the_size_asked(clips, weights_env, tmp_path):
    out = tmp_path / "out"
    openl3.process_audio_file(
        clips, output_dir=str(out), output_format="parquet", part_size_mb=0.005, **AUDIO
    )
    names = parts(out)
    assert 1 < len(names) < len(clips)
    seen = []
    for name in names:
        paths = set(pq.read_table(out / name)["path"].to_pylist())
        seen += paths
    assert sorted(seen) == sorted(clips)  # no input split between parts


def test_arguments_are_checked(clips, weights_env, tmp_path):
    with pytest.raises(OpenL3Error, match="needs an output directory"):
        openl3.process_audio_file(clips[:1], output_format="parquet", **AUDIO)
    with pytest.raises(OpenL3Error, match="suffix"):
        openl3.process_audio_file(
            clips[:1], output_dir=str(tmp_path), suffix="x", output_format="parquet", **AUDIO
        )
    with pytest.raises(OpenL3Error, match="dtype"):
        openl3.process_audio_file(
            clips[:1], output_dir=str(tmp_path), output_format="parquet", dtype="int8", **AUDIO
        )
    with pytest.raises(OpenL3Error, match="output_format"):
        openl3.process_audio_file(clips[:1], output_dir=str(tmp_path), output_format="csv", **AUDIO)
    with pytest.raises(OpenL3Error, match="engine='ray' writes a Parquet"):
        openl3.process_audio_file(clips[:1], output_dir=str(tmp_path), engine="ray", **AUDIO)
    with pytest.raises(OpenL3Error, match="part_size_mb"):
        openl3.process_audio_file(
            clips[:1], output_dir=str(tmp_path), output_format="parquet", part_size_mb=0, **AUDIO
        )
    with pytest.raises(OpenL3Error, match="twice"):
        openl3.process_audio_file(
            [clips[0], clips[0]], output_dir=str(tmp_path), output_format="parquet", **AUDIO
        )


def test_image_rows_have_no_timestamp(weights_env, tmp_path):
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        path = tmp_path / f"im{k}.png"
        imsave(path, rng.integers(0, 256, (230 + k, 250, 3), dtype=np.uint8))
        paths.append(str(path))
    settings = {"input_repr": "mel256", "embedding_size": 512, "verbose": False}
    openl3.process_image_file(paths, output_dir=str(tmp_path / "npz"), **settings)
    openl3.process_image_file(paths, output_dir=str(tmp_path / "out"), output_format="parquet", **settings)
    table = read_rows(tmp_path / "out")
    assert table["modality"].to_pylist() == ["image", "image"] and table["timestamp"].null_count == 2
    for path in paths:
        embedding, _ = embeddings_of(table, path)
        npz = np.load(tmp_path / "npz" / (os.path.basename(path)[:-4] + ".npz"))
        np.testing.assert_array_equal(embedding, npz["embedding"])


def test_a_newer_part_wins_over_an_older_one(clips, weights_env, tmp_path):
    """A run stopped between committing an input's new rows and removing its old ones."""
    from openl3.dataset import PartFolder

    out = str(tmp_path / "out")
    openl3.process_audio_file(clips[:2], output_dir=out, output_format="parquet", **AUDIO)
    table = read_rows(out)
    newer = table.filter(pa.compute.equal(table["path"], clips[1]))
    changed = newer.set_column(3, "timestamp", pa.array(np.full(newer.num_rows, 7.0)))
    PartFolder(out).commit(
        [changed.replace_schema_metadata(pq.read_schema(os.path.join(out, parts(out)[0])).metadata)]
    )
    assert len(read_rows(out)) == table.num_rows + newer.num_rows  # duplicated for now

    report = openl3.process_audio_file(clips[:2], output_dir=out, output_format="parquet", **AUDIO)
    assert report.skipped == clips[:2]
    repaired = read_rows(out)
    assert repaired.num_rows == table.num_rows
    _, timestamps = embeddings_of(repaired, clips[1])
    assert (timestamps == 7.0).all()  # the newer rows were kept


def test_stale_temporaries_are_removed_and_a_live_writers_kept(clips, weights_env, tmp_path):
    from test_atomic import _dead_pid

    from openl3 import atomic

    out = tmp_path / "out"
    out.mkdir()
    live = os.path.basename(atomic.temporary_name(str(out / "part-x.parquet")))
    dead = live.replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    (out / live).write_bytes(b"being written")
    (out / dead).write_bytes(b"killed")
    openl3.process_audio_file(clips[:1], output_dir=str(out), output_format="parquet", **AUDIO)
    names = sorted(os.listdir(out))
    assert live in names and dead not in names


def test_video_rows_go_to_an_audio_and_an_image_dataset(weights_env, tmp_path):
    from test_video import write_video

    path = write_video(tmp_path / "v.mp4", seconds=2.0, fps=2)
    settings = {"input_repr": "mel256", "audio_embedding_size": 512, "image_embedding_size": 512}
    settings.update(audio_hop_size=0.5, verbose=False)
    openl3.process_video_file(path, output_dir=str(tmp_path / "npz"), **settings)
    openl3.process_video_file(path, output_dir=str(tmp_path / "out"), output_format="parquet", **settings)
    for modality in ("audio", "image"):
        table = read_rows(tmp_path / "out" / modality)
        npz = np.load(tmp_path / "npz" / f"v_{modality}.npz")
        embedding, timestamps = embeddings_of(table, path)
        np.testing.assert_array_equal(embedding, npz["embedding"])
        np.testing.assert_array_equal(timestamps, npz["timestamps"])
        assert set(table["modality"].to_pylist()) == {modality}


def test_an_interrupted_run_keeps_the_inputs_it_finished(clips, weights_env, tmp_path, monkeypatch):
    from openl3 import batching

    calls = []
    real = batching.model_predictor

    def interrupting(model, precision="faithful"):
        predict = real(model, precision)

        def counted(batch):
            calls.append(len(batch))
            if len(calls) == 4:
                raise KeyboardInterrupt
            return predict(batch)

        return counted

    monkeypatch.setattr("openl3.audio.model_predictor", interrupting)
    out = str(tmp_path / "out")
    with pytest.raises(KeyboardInterrupt):
        openl3.process_audio_file(clips, output_dir=out, output_format="parquet", batch_size=1, **AUDIO)
    done = set(read_rows(out)["path"].to_pylist())
    assert done == set(clips[:2])  # their 1 + 2 windows were embedded before the fourth call
    assert not [n for n in os.listdir(out) if n.startswith(".")]


def _cli(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "openl3", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_sigkill_at_any_moment_then_rerun_gives_every_row_once(weights_env, tmp_path):
    lengths = np.random.default_rng(3).uniform(0.3, 3.0, 16).round(2)
    clip_paths = write_clips(tmp_path / "in", lengths)
    expected = tmp_path / "expected"
    settings = {**AUDIO, "hop_size": 0.25}
    openl3.process_audio_file(clip_paths, output_dir=str(expected), output_format="parquet", **settings)
    out = tmp_path / "out"
    args = ["audio", str(tmp_path / "in"), "-i", "mel128", "-as", "512", "-t", "0.25", "-ab", "2"]
    args += ["--output-format", "parquet", "-o", str(out), "--part-size-mb", "1e-6", "-q"]
    env = {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_env)}
    rng = random.Random(7)
    kills = 0
    for _ in range(4):  # kill each run at a random moment after its first new part
        before = len(parts(out)) if out.exists() else 0
        process = _cli(args, env)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            if out.exists() and len(parts(out)) > before:
                time.sleep(rng.uniform(0, 0.8))
                break
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        assert process.returncode in (0, -signal.SIGKILL), process.stderr.read().decode()
    assert kills >= 2
    final = _cli(args, env)
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    assert not [n for n in os.listdir(out) if n.startswith(".")]  # no temporary left
    got, want = read_rows(out), read_rows(expected)
    assert got.select(["path", "index", "timestamp"]).equals(want.select(["path", "index", "timestamp"]))
    # Reruns batch windows differently (a batch spans files), and the model's CPU kernels
    # round small batches differently: equal to that rounding, far below a misplaced row.
    got_embedding = np.stack(got["embedding"].to_numpy(zero_copy_only=False))
    want_embedding = np.stack(want["embedding"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(
        got_embedding, want_embedding, rtol=0, atol=1e-5 * np.abs(want_embedding).max()
    )


def test_readers_see_one_table(clips, weights_env, tmp_path):
    """The documented ways to read a dataset: pyarrow, pandas, Polars, DuckDB."""
    out = str(tmp_path / "out")
    openl3.process_audio_file(clips, output_dir=out, output_format="parquet", part_size_mb=0.005, **AUDIO)
    n_rows = read_rows(out).num_rows
    pd = pytest.importorskip("pandas")
    frame = pd.read_parquet(out)
    assert len(frame) == n_rows and np.stack(frame["embedding"]).shape == (n_rows, 512)
    pl = pytest.importorskip("polars")
    lazy = pl.scan_parquet(os.path.join(out, "part-*.parquet"))
    assert lazy.select(pl.len()).collect().item() == n_rows
    duckdb = pytest.importorskip("duckdb")
    [(count,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/part-*.parquet')").fetchall()
    assert count == n_rows
