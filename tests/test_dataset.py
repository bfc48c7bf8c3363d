"""Parquet datasets: rows, resuming, failures, atomic parts (the local engine)."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import (
    AUDIO,
    assert_intact,
    dead_pid,
    noise,
    parts,
    read_rows,
    start_writer,
    users_files,
    wait_for,
    write_clips,
    write_video,
    writer_result,
)
from openl3._util.exceptions import OpenL3Error
from openl3._util.owner import Owner, current
from openl3.models.settings import EmbeddingSettings
from openl3.runs.driver import RunOptions

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pyarrow.dataset")  # read_rows


def embeddings_of(table, path):
    rows = table.filter(pa.compute.equal(table["path"], path))
    return np.stack(rows["embedding"].to_numpy(zero_copy_only=False)), rows["timestamp"].to_numpy()


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
    from openl3.dataset.manifest import Manifest, PartNamer
    from openl3.dataset.parts import PartFolder

    out = str(tmp_path / "out")
    openl3.process_audio_file(clips[:2], output_dir=out, output_format="parquet", **AUDIO)
    table = read_rows(out)
    newer = table.filter(pa.compute.equal(table["path"], clips[1]))
    changed = newer.set_column(3, "timestamp", pa.array(np.full(newer.num_rows, 7.0)))
    folder = PartFolder(out)
    namer = PartNamer(Manifest(folder.fs, folder.base, out).next_generation())
    folder.write(
        changed.replace_schema_metadata(pq.read_schema(os.path.join(out, parts(out)[0])).metadata),
        namer.next(),
    )
    assert len(read_rows(out)) == table.num_rows + newer.num_rows  # duplicated for now

    report = openl3.process_audio_file(clips[:2], output_dir=out, output_format="parquet", **AUDIO)
    assert report.skipped == clips[:2]
    repaired = read_rows(out)
    assert repaired.num_rows == table.num_rows
    _, timestamps = embeddings_of(repaired, clips[1])
    assert (timestamps == 7.0).all()  # the newer rows were kept


def test_stale_temporaries_are_removed_and_a_live_writers_kept(clips, weights_env, tmp_path):
    from openl3._util import atomic

    out = tmp_path / "out"
    out.mkdir()
    live = os.path.basename(atomic.temporary_name(str(out / "part-x.parquet")))
    me = current()
    dead = f".part-y.parquet.{Owner(me.host, me.boot, me.namespace, dead_pid(), '9').tag()}.0123abcd.tmp"
    (out / live).write_bytes(b"being written")
    (out / dead).write_bytes(b"killed")
    openl3.process_audio_file(clips[:1], output_dir=str(out), output_format="parquet", **AUDIO)
    names = sorted(os.listdir(out))
    assert live in names and dead not in names


def test_video_rows_go_to_an_audio_and_an_image_dataset(weights_env, tmp_path):
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
    from openl3.models import batching

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

    monkeypatch.setattr("openl3.audio.compute.model_predictor", interrupting)
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


def _kill_between_its_first_parts(args, env, out, delay: float) -> subprocess.Popen:
    """Run the command; SIGKILL it ``delay`` s after its first new part, or at its second.

    Each run commits at most two or three parts (one per input), so a run given more
    inputs than that is always killed in the middle, however fast the machine.
    """
    before = len(parts(out)) if out.exists() else 0

    def new_parts() -> int:
        return len(parts(out)) - before if out.exists() else 0

    process = _cli(args, env)
    wait_for(lambda: new_parts() >= 1 or process.poll() is not None, what="a first part")
    kill_at = time.monotonic() + delay
    wait_for(lambda: new_parts() >= 2 or time.monotonic() > kill_at, what="a moment to kill")
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process


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
    for _ in range(4):  # 4 runs, killed at random moments, commit about 12 parts of the 16
        process = _kill_between_its_first_parts(args, env, out, rng.uniform(0, 0.8))
        assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()  # killed, not done
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


# Ownership: the dataset touches only what it wrote.


def assert_rows_once(out, paths, expected_rows):
    rows = read_rows(out)
    counts = pa.compute.value_counts(rows["path"]).to_pylist()
    assert {c["values"]: c["counts"] for c in counts} == {p: expected_rows[p] for p in paths}


def test_a_users_files_survive_runs_reruns_overwrite_and_a_killed_run(clips, weights_env, tmp_path, caplog):
    out = tmp_path / "out"
    files = users_files(out, clips)
    expected = tmp_path / "expected"
    openl3.process_audio_file(clips, output_dir=str(expected), output_format="parquet", **AUDIO)
    windows = {
        c["values"]: c["counts"] for c in pa.compute.value_counts(read_rows(expected)["path"]).to_pylist()
    }
    settings = {"output_dir": str(out), "output_format": "parquet", **AUDIO}

    with caplog.at_level("WARNING", logger="openl3"):
        report = openl3.process_audio_file(clips, **settings)
    assert report.processed == clips
    assert "manifest.parquet" in caplog.text and "part-0001.parquet" in caplog.text  # named, left alone
    assert_intact(files)
    assert openl3.process_audio_file(clips, **settings).skipped == clips
    assert_intact(files)
    assert openl3.process_audio_file(clips, overwrite=True, **settings).processed == clips
    assert_intact(files)
    assert_rows_once(out, clips, windows)

    # A run killed after its first commit, then a rerun.
    args = ["audio", *clips, "-i", "mel128", "-as", "512", "-t", "0.5", "-ab", "1", "--overwrite"]
    args += ["--output-format", "parquet", "-o", str(out), "--part-size-mb", "1e-6", "-q"]
    before = set(parts(out))
    process = _cli(args, {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_env)})
    wait_for(lambda: set(parts(out)) - before or process.poll() is not None, what="a first commit")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert openl3.process_audio_file(clips, **settings).skipped == clips
    assert_intact(files)
    assert_rows_once(out, clips, windows)


def test_a_folder_with_a_users_parquet_files_is_not_refused_for_settings(clips, weights_env, tmp_path):
    """A user's table was read as a part: "made with other settings: center=None", which misled."""
    out = tmp_path / "out"
    users_files(out, clips)
    report = openl3.process_audio_file(clips[:1], output_dir=str(out), output_format="parquet", **AUDIO)
    assert report.processed == clips[:1]


def test_a_legacy_dataset_is_opened_as_it_is_and_marked_without_rewriting_rows(clips, weights_env, tmp_path):
    """Datasets of the previous version: parts named part-<16 hex>-<writer>, no manifest."""
    from openl3.dataset.manifest import OWN_FOLDER, Manifest
    from openl3.dataset.parts import PartFolder

    out = tmp_path / "out"
    openl3.process_audio_file(clips[:2], output_dir=str(out), output_format="parquet", **AUDIO)
    legacy = "part-0000018a2b3c4d5e-oldhost-42.parquet"
    [current] = parts(out)
    os.replace(out / current, out / legacy)
    for name in os.listdir(out / OWN_FOLDER):
        if os.path.isfile(out / OWN_FOLDER / name):
            os.unlink(out / OWN_FOLDER / name)
    content = (out / legacy).read_bytes()

    report = openl3.process_audio_file(clips, output_dir=str(out), output_format="parquet", **AUDIO)
    assert report.skipped == clips[:2] and report.processed == clips[2:]
    assert (out / legacy).read_bytes() == content
    folder = PartFolder(str(out))
    assert Manifest(folder.fs, folder.base, str(out)).read()["generation"] == 1
    assert folder.parts()[0] == legacy  # generation 0: older than every new part


def test_the_newest_rows_win_by_generation_not_by_the_clock(clips, weights_env, tmp_path, monkeypatch):
    """A clock stepped back during an overwrite must not make the old rows win."""
    out = str(tmp_path / "out")
    settings = {"output_dir": out, "output_format": "parquet", **AUDIO}
    openl3.process_audio_file(clips[:2], **settings)
    real = openl3.audio.compute.model_predictor

    def shifted(model, precision="faithful"):
        predict = real(model, precision)
        return lambda batch: predict(batch) + 1.0

    monkeypatch.setattr("openl3.audio.compute.model_predictor", shifted)
    first = read_rows(out)
    openl3.process_audio_file(clips[:1], overwrite=True, **settings)
    openl3.process_audio_file(clips[:2], **settings)  # the next run repairs, if anything is left twice
    rows = read_rows(out)
    assert rows.num_rows == first.num_rows
    new, _ = embeddings_of(rows, clips[0])
    old, _ = embeddings_of(first, clips[0])
    # new rows: the old ones + 1 (to the model's rounding in other batch sizes), not the old ones
    np.testing.assert_allclose(new, old + 1.0, rtol=0, atol=1e-4)


def test_a_lost_manifest_does_not_restart_the_generations(clips, weights_env, tmp_path):
    """Without its manifest a dataset counted from 1 again: an overwrite's fresh rows were dropped."""
    import shutil

    from openl3.dataset.manifest import OWN_FOLDER

    out = tmp_path / "out"
    settings = {"output_dir": str(out), "output_format": "parquet", **AUDIO}
    for _ in range(3):
        openl3.process_audio_file(clips[:1], overwrite=True, **settings)
    first = read_rows(out)
    shutil.rmtree(out / OWN_FOLDER)
    real = openl3.audio.compute.model_predictor

    def shifted(model, precision="faithful"):
        predict = real(model, precision)
        return lambda batch: predict(batch) + 1.0

    openl3.audio.compute.model_predictor = shifted
    try:
        openl3.process_audio_file(clips[:1], overwrite=True, **settings)
    finally:
        openl3.audio.compute.model_predictor = real
    new, _ = embeddings_of(read_rows(out), clips[0])
    old, _ = embeddings_of(first, clips[0])
    np.testing.assert_allclose(new, old + 1.0, rtol=0, atol=1e-4)


# Writers that never double a row.


def test_a_second_run_on_the_same_inputs_is_refused_naming_the_live_one(clips, weights_env, tmp_path):
    out = tmp_path / "out"
    go, ready = str(tmp_path / "go"), str(tmp_path / "ready")
    env = {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_env)}
    first = start_writer(clips, out, AUDIO, go=go, ready=ready, env=env)
    wait_for(lambda: os.path.exists(ready) or first.poll() is not None, what="the first writer")
    second = start_writer(clips[1:3], out, AUDIO, env=env)
    status, result = writer_result(second)
    open(go, "w").close()
    first_status, first_result = writer_result(first)
    assert first_status == 0 and first_result["processed"] == clips
    assert status == 3, result
    assert f"process {first.pid} on {current().host}" in result["error"] and "--break-lock" in result["error"]
    rows = read_rows(out)
    assert rows.num_rows == len(rows.group_by(["path", "index"]).aggregate([]))  # no row twice


def test_two_runs_of_other_settings_on_a_new_folder_cannot_both_commit(clips, weights_env, tmp_path):
    """The settings were checked before the dataset lock was taken: disjoint inputs both committed."""
    out = tmp_path / "out"
    go, ready = str(tmp_path / "go"), str(tmp_path / "ready")
    env = {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_env)}
    first = start_writer(clips[:2], out, AUDIO, go=go, ready=ready, env=env)
    wait_for(lambda: os.path.exists(ready) or first.poll() is not None, what="the first writer")
    assert not parts(out)  # the first run has started and written no row yet
    second = start_writer(clips[2:], out, {**AUDIO, "hop_size": 0.25}, env=env)
    status, result = writer_result(second)
    open(go, "w").close()
    assert writer_result(first)[0] == 0
    assert status == 3 and "other settings: hop_size=0.5 (now 0.25)" in result["error"], result
    assert set(read_rows(out)["path"].to_pylist()) == set(clips[:2])


def test_three_shards_at_once_then_a_plain_rerun_that_finds_nothing_to_do(weights_env, tmp_path):
    from openl3._util.shard import select_shard

    written = write_clips(tmp_path / "in", [0.4, 1.1, 2.0, 0.9, 1.6, 2.4, 0.7, 1.3, 3.0])
    names = [str(tmp_path / "in" / f"named{k:02d}.wav") for k in range(60)]
    clip_paths = [select_shard(names, (k % 3, 3))[k // 3] for k in range(len(written))]
    for old, new in zip(written, clip_paths, strict=True):  # the shards depend on tmp_path: choose
        os.rename(old, new)
    candidates = [str(tmp_path / "in" / f"bad{k}.wav") for k in range(60)]
    bad = [select_shard(candidates, (k, 3))[0] for k in (0, 1)]  # failures in two shards
    for path in bad:
        Path(path).write_bytes(b"not audio")
    inputs = [*clip_paths, *bad]
    assert all(select_shard(clip_paths, (k, 3)) for k in range(3))  # every shard has work
    expected = tmp_path / "expected"
    openl3.process_audio_file(clip_paths, output_dir=str(expected), output_format="parquet", **AUDIO)

    out, go = tmp_path / "out", str(tmp_path / "go")
    env = {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_env)}
    ready = [str(tmp_path / f"ready{k}") for k in range(3)]
    writers = [
        start_writer(inputs, out, {**AUDIO, "shard": [k, 3]}, go=go, ready=ready[k], env=env)
        for k in range(3)
    ]
    for writer, flag in zip(writers, ready, strict=True):  # all three hold their locks at once
        wait_for(lambda w=writer, f=flag: os.path.exists(f) or w.poll() is not None, what="a shard")
    open(go, "w").close()
    results = [writer_result(w) for w in writers]
    for k, (_, result) in enumerate(results):
        assert sorted(result["processed"] + result["failed"]) == sorted(select_shard(inputs, (k, 3))), result
    assert sorted(p for _, r in results for p in r["failed"]) == sorted(bad)

    got, want = read_rows(out), read_rows(expected)
    assert got.select(["path", "index", "timestamp"]).equals(want.select(["path", "index", "timestamp"]))
    failures = pq.read_table(out / "_failures.parquet")  # both shards' entries: no update lost
    assert sorted(failures["path"].to_pylist()) == sorted(bad)

    report = openl3.process_audio_file(
        inputs, output_dir=str(out), output_format="parquet", errors="collect", **AUDIO
    )
    assert report.processed == [] and report.skipped == clip_paths
    assert sorted(p for p, _ in report.failed) == sorted(bad)
    assert read_rows(out).equals(got)


def test_a_run_whose_lock_was_broken_stops_before_its_next_commit(clips, weights_env, tmp_path, monkeypatch):
    from openl3.dataset.locks import LOCKS_FOLDER
    from openl3.dataset.manifest import OWN_FOLDER

    out = tmp_path / "out"
    locks = out / OWN_FOLDER / LOCKS_FOLDER
    real = openl3.audio.compute.model_predictor

    def breaking(model, precision="faithful"):
        predict = real(model, precision)

        def call(batch):
            for name in os.listdir(locks):  # what --break-lock by another run does
                if name.startswith("writer-"):
                    os.unlink(locks / name)
            return predict(batch)

        return call

    monkeypatch.setattr("openl3.audio.compute.model_predictor", breaking)
    with pytest.raises(OpenL3Error, match="lock was removed"):
        openl3.process_audio_file(clips, output_dir=str(out), output_format="parquet", **AUDIO)
    assert parts(out) == []
    report = openl3.Report()  # collect: the run still stops, and every input it held is failed
    with pytest.raises(OpenL3Error, match="lock was removed"):
        openl3.runs.driver.run_files(
            openl3.audio.compute.AudioComputation(
                None, "mel128", "music", 512, True, 0.5, 32, "kapre", False
            ),
            [(path, str(out)) for path in clips],
            RunOptions(output_dir=str(out), errors="collect", output_format="parquet", part_size_mb=1e-6),
            report,
        )
    failed = [path for path, _ in report.failed]
    assert report.processed == [] and failed and set(failed) <= set(clips)
    assert all("lock was removed" in reason for _, reason in report.failed)
    assert parts(out) == []


# Every input is processed or failed, never both, never neither.


def test_a_failed_commit_fails_every_input_in_it_and_keeps_no_rows(clips, weights_env, tmp_path, monkeypatch):
    from openl3.dataset.parts import PartFolder

    real, calls = PartFolder.move_into_place, []

    def failing_first(self, temporary, name):
        calls.append(name)
        if len(calls) == 1:
            raise OpenL3Error(f"Cannot write {name}: [Errno 28] No space left on device")
        return real(self, temporary, name)

    monkeypatch.setattr(PartFolder, "move_into_place", failing_first)
    out = tmp_path / "out"
    report = openl3.process_audio_file(
        clips, output_dir=str(out), output_format="parquet", errors="collect", part_size_mb=0.011, **AUDIO
    )
    failed = [path for path, _ in report.failed]
    assert len(calls) >= 2 and len(failed) >= 2  # a commit of several inputs failed; a later one did not
    assert sorted(report.processed + failed) == sorted(clips) and not set(report.processed) & set(failed)
    assert set(read_rows(out)["path"].to_pylist()) == set(report.processed)
    assert sorted(pq.read_table(out / "_failures.parquet")["path"].to_pylist()) == sorted(failed)
    assert all("No space left" in reason for _, reason in report.failed)


def test_a_failed_commit_of_a_video_removes_the_part_already_placed(weights_env, tmp_path, monkeypatch):
    """A video's commit writes an audio part and an image part: both or neither."""
    from openl3._util.jobs import FileJob, Report
    from openl3.dataset.outputs import ParquetOutputs
    from openl3.dataset.parts import PartFolder

    settings = EmbeddingSettings("audio", embedding_size=4)
    outputs = ParquetOutputs(
        str(tmp_path / "out"), {"audio": settings, "image": settings.replace(modality="image")}
    )
    outputs.begin(["v.mp4"])
    real = PartFolder.move_into_place

    def failing_image(self, temporary, name):
        if self.location.endswith("image"):
            raise OpenL3Error("Cannot write: permission denied")
        return real(self, temporary, name)

    monkeypatch.setattr(PartFolder, "move_into_place", failing_image)
    arrays = {
        m: {"embedding": np.ones((2, 4), np.float32), "timestamps": np.arange(2.0)}
        for m in ("audio", "image")
    }
    job = FileJob("v.mp4", {m: f"rows of v.mp4 in {m}" for m in ("audio", "image")})
    assert outputs.save(job, arrays) == []
    with pytest.raises(openl3._util.exceptions.CommitError) as failure:
        outputs.flush()
    assert failure.value.paths == ["v.mp4"]
    for modality in ("audio", "image"):
        assert not [n for n in os.listdir(tmp_path / "out" / modality) if not n.startswith("_")]
    outputs.close(Report(failed=[("v.mp4", "commit")]), ["v.mp4"])


def test_damaged_files_of_the_dataset_are_named_with_what_to_do(clips, weights_env, tmp_path):
    out = tmp_path / "out"
    settings = {"output_dir": str(out), "output_format": "parquet", "errors": "collect", **AUDIO}
    openl3.process_audio_file([*clips[:2], str(tmp_path / "missing.wav")], **settings)
    failures = out / "_failures.parquet"
    failures.write_bytes(failures.read_bytes()[:40])
    with pytest.raises(OpenL3Error, match="_failures.parquet is damaged.*Remove that table"):
        openl3.process_audio_file(clips, **settings)
    failures.unlink()
    [part] = parts(out)
    (out / part).write_bytes((out / part).read_bytes()[:-100])
    with pytest.raises(OpenL3Error, match=f"{part} is damaged.*Remove that part"):
        openl3.process_audio_file(clips, **settings)


def test_a_failures_table_of_the_users_is_refused_not_overwritten(clips, weights_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"x": [1]}), out / "_failures.parquet")
    with pytest.raises(OpenL3Error, match="not an openl3 failures table"):
        openl3.process_audio_file(clips[:1], output_dir=str(out), output_format="parquet", **AUDIO)
    assert pq.read_table(out / "_failures.parquet").column_names == ["x"]


READ_ONLY_RUN = """
import sys
import openl3
from openl3._util.exceptions import OpenL3Error

def no_model(*args, **kwargs):
    raise AssertionError("the model was used")

openl3.audio.compute.model_predictor = no_model
try:
    openl3.process_audio_file(sys.argv[1], output_dir=sys.argv[2], output_format="parquet",
                              input_repr="mel128", embedding_size=512, verbose=False)
except OpenL3Error as exc:
    print("refused:", exc)
"""


def test_a_read_only_dataset_folder_is_refused_before_any_model_work(clips, weights_env, tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    mount = f'mount -t tmpfs -o ro tmpfs {out} && exec {sys.executable} -c "$0" "$1" "$2"'
    command = ["unshare", "-rm", "sh", "-c", mount, READ_ONLY_RUN, clips[0], str(out)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except FileNotFoundError:
        pytest.skip("unshare is not installed: no read-only folder can be made")
    if "mount" in result.stderr and result.returncode:
        pytest.skip(f"no read-only mount here: {result.stderr.strip()}")
    assert "refused:" in result.stdout and str(out) in result.stdout, result.stdout + result.stderr
    assert "not writable" in result.stdout
