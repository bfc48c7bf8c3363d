"""The Ray engine on a local Ray instance of 2 CPUs: the same rows as the local engine."""

import os
import sys

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import (
    AUDIO,
    assert_close_to_faithful,
    assert_intact,
    noise,
    parts,
    read_rows,
    users_files,
    write_clips,
)
from openl3._util.exceptions import OpenL3Error
from openl3.dataset.rows import DatasetRows

ray = pytest.importorskip("ray")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def ray_session(weights_dir):
    env = {"OPENL3_WEIGHTS_DIR": str(weights_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ray_inputs")
    write_clips(folder, [0.6, 1.4, 2.2, 1.0, 3.1])
    sf.write(folder / "stereo44.wav", noise(1.7, 44100, seed=5, channels=2), 44100)
    (folder / "bad.wav").write_bytes(b"not audio at all")
    return folder


def assert_same_embeddings(got, want, rounding=1e-5):
    """Equal, to the rounding of the model's CPU kernels in other batch sizes (Ray batches per call).

    ``rounding``: of the largest magnitude; bfloat16's is 2**-8 a step, of which a few add up.
    """
    got_embedding = np.stack(got["embedding"].to_numpy(zero_copy_only=False))
    want_embedding = np.stack(want["embedding"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(
        got_embedding, want_embedding, rtol=0, atol=rounding * np.abs(want_embedding).max()
    )


def model_stage(settings, log, weights=None):
    """The model stage of a Ray job of ``settings``, in this process."""
    from openl3._util.identity import NamedFrom
    from openl3.dataset.parts import part_metadata
    from openl3.runs.ray_engine import EmbedFiles

    metadata = part_metadata({**settings.record(), "dtype": "float32"}, NamedFrom("/"))
    return EmbedFiles(openl3.AudioEmbedder, settings, weights, 8, "float32", metadata, log)


def inputs_of(folder):
    return sorted(str(folder / name) for name in os.listdir(folder))


def test_the_same_rows_as_the_local_engine_and_a_failures_table(ray_session, weights_env, folder, tmp_path):
    inputs = inputs_of(folder)
    bad = str(folder / "bad.wav")
    local = openl3.process_audio_file(
        inputs, output_dir=str(tmp_path / "local"), output_format="parquet", errors="collect", **AUDIO
    )
    report = openl3.process_audio_file(
        inputs,
        output_dir=str(tmp_path / "ray"),
        output_format="parquet",
        engine="ray",
        errors="collect",
        **AUDIO,
    )
    assert sorted(report.processed) == sorted(local.processed) and len(report.processed) == 6
    assert [path for path, _ in report.failed] == [bad] and "Cannot read audio file" in report.failed[0][1]
    want, got = read_rows(tmp_path / "local"), read_rows(tmp_path / "ray")
    assert got.select(["path", "modality", "index", "timestamp"]).equals(
        want.select(["path", "modality", "index", "timestamp"])
    )
    assert_same_embeddings(got, want)
    assert got.schema.metadata == want.schema.metadata  # the settings, recorded the same way
    failures = pq.read_table(tmp_path / "ray" / "_failures.parquet").to_pylist()
    assert [row["path"] for row in failures] == [bad]
    names = os.listdir(tmp_path / "ray")
    assert not [name for name in names if not name.startswith(("part-", "_failures", "_openl3"))]


def test_a_rerun_skips_completed_inputs(ray_session, weights_env, folder, tmp_path, capsys):
    from openl3.cli import main

    out = tmp_path / "out"
    inputs = inputs_of(folder)
    good = [path for path in inputs if not path.endswith("bad.wav")]
    openl3.process_audio_file(good[:3], output_dir=str(out), output_format="parquet", **AUDIO)
    first_parts = parts(out)
    args = ["audio", str(folder), "-i", "mel128", "-as", "512", "-t", "0.5", "--output-format", "parquet"]
    assert main([*args, "-o", str(out), "--engine", "ray", "-q"]) == 1  # the bad file
    assert "openl3 audio: 3 processed, 3 skipped (outputs exist), 1 failed" in capsys.readouterr().err
    table = read_rows(out)
    assert sorted(set(table["path"].to_pylist())) == good
    pairs = list(zip(table["path"].to_pylist(), table["index"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs))
    assert set(first_parts) < set(parts(out))  # the first parts kept, new ones added

    second = parts(out)
    assert main([*args, "-o", str(out), "--engine", "ray", "-q"]) == 1  # only the bad file is tried
    assert "0 processed, 6 skipped" in capsys.readouterr().err
    assert parts(out) == second


def test_image_files_on_ray(ray_session, weights_env, tmp_path):
    from skimage.io import imsave

    rng = np.random.default_rng(1)
    paths = []
    for k in range(3):
        path = tmp_path / f"im{k}.png"
        imsave(path, rng.integers(0, 256, (224 + 7 * k, 240, 3), dtype=np.uint8))
        paths.append(str(path))
    settings = {"input_repr": "mel256", "embedding_size": 512, "verbose": False}
    openl3.process_image_file(paths, output_dir=str(tmp_path / "local"), output_format="parquet", **settings)
    openl3.process_image_file(
        paths, output_dir=str(tmp_path / "ray"), output_format="parquet", engine="ray", **settings
    )
    want, got = read_rows(tmp_path / "local"), read_rows(tmp_path / "ray")
    assert got.select(["path", "modality", "index"]).equals(want.select(["path", "modality", "index"]))
    assert got["timestamp"].null_count == 3 and got.schema == want.schema
    assert_same_embeddings(got, want)


def test_what_the_ray_engine_refuses(ray_session, weights_env, folder, tmp_path, mel128_model):
    inputs = inputs_of(folder)[:1]
    with pytest.raises(OpenL3Error, match="pass no model object"):
        openl3.process_audio_file(
            inputs, model=mel128_model, output_dir=str(tmp_path), output_format="parquet", engine="ray"
        )
    with pytest.raises(OpenL3Error, match="audio or image files"):
        openl3.process_video_file(inputs, output_dir=str(tmp_path), output_format="parquet", engine="ray")


def test_uri_inputs_and_dataset_on_ray(ray_session, weights_env, folder, tmp_path):
    inputs = ["file://" + path for path in inputs_of(folder) if not path.endswith("bad.wav")][:3]
    out = "file://" + str(tmp_path / "out")
    report = openl3.process_audio_file(inputs, output_dir=out, output_format="parquet", engine="ray", **AUDIO)
    assert sorted(report.processed) == sorted(inputs)
    assert sorted(set(read_rows(tmp_path / "out")["path"].to_pylist())) == sorted(inputs)


def test_without_ray_the_error_says_how_to_install_it(weights_env, folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    inputs = inputs_of(folder)[:1]
    with pytest.raises(OpenL3Error, match=r"pip install 'openl3\[ray\]'"):
        openl3.process_audio_file(
            inputs, output_dir=str(tmp_path), output_format="parquet", engine="ray", **AUDIO
        )


def test_a_users_files_survive_ray_runs(ray_session, weights_env, folder, tmp_path):
    inputs = [path for path in inputs_of(folder) if not path.endswith("bad.wav")]
    out = tmp_path / "out"
    files = users_files(out, inputs)
    settings = {"output_dir": str(out), "output_format": "parquet", "engine": "ray", **AUDIO}
    assert sorted(openl3.process_audio_file(inputs, **settings).processed) == sorted(inputs)
    assert_intact(files)
    assert sorted(openl3.process_audio_file(inputs, overwrite=True, **settings).processed) == sorted(inputs)
    assert_intact(files)
    pairs = list(zip(read_rows(out)["path"].to_pylist(), read_rows(out)["index"].to_pylist(), strict=True))
    assert len(pairs) == len(set(pairs)) and {p for p, _ in pairs} == set(inputs)


def test_an_input_that_fails_on_overwrite_is_failed_not_processed(ray_session, weights_env, folder, tmp_path):
    import shutil

    inputs = [str(tmp_path / name) for name in ("a.wav", "b.wav")]
    good = [path for path in inputs_of(folder) if not path.endswith("bad.wav")]
    for path, source in zip(inputs, good, strict=False):
        shutil.copy(source, path)
    out = str(tmp_path / "out")
    settings = {"output_dir": out, "output_format": "parquet", "engine": "ray", "errors": "collect", **AUDIO}
    openl3.process_audio_file(inputs, **settings)
    with open(inputs[1], "wb") as handle:
        handle.write(b"not audio any more")
    report = openl3.process_audio_file(inputs, overwrite=True, **settings)
    assert report.processed == [inputs[0]] and [p for p, _ in report.failed] == [inputs[1]]


def test_a_files_error_fails_the_file_and_a_models_error_stops_the_job(ray_session, weights_env, tmp_path):
    """The model stage retried any error file by file: an out-of-memory error failed every file."""
    from openl3.runs.ray_engine import FailureLog

    log = ray.remote(FailureLog).remote()
    stage = model_stage(openl3.AudioEmbedder(**AUDIO).settings(), log)
    good = noise(1.2, 48000, seed=1).astype(np.float32)
    batch = {"path": np.array(["good.wav", "nan.wav"]), "data": [good, np.full(48000, np.nan, np.float32)]}
    rows = stage(batch)
    assert set(rows["path"].to_pylist()) == {"good.wav"}
    assert [path for path, _ in ray.get(log.items.remote())] == ["nan.wav"]

    def out_of_memory(sources, bar=None):
        raise MemoryError("the model ran out of memory")

    stage.embedder.embed_sources = out_of_memory
    with pytest.raises(MemoryError, match="ran out of memory"):
        stage({"path": np.array(["good.wav"]), "data": [good]})
    assert len(ray.get(log.items.remote())) == 1  # no file was blamed


def test_the_model_stage_computes_in_the_datasets_precision(ray_session, weights_env):
    from openl3.runs.ray_engine import FailureLog

    audio = noise(2.4, 48000, seed=2).astype(np.float32)
    batch = {"path": np.array(["a.wav"]), "data": [audio]}
    log = ray.remote(FailureLog).remote()
    settings = openl3.AudioEmbedder(**AUDIO).settings()
    rows = {p: model_stage(settings.replace(precision=p), log)(batch) for p in ("faithful", "bfloat16")}
    embedding = {p: np.stack(rows[p]["embedding"].to_numpy(zero_copy_only=False)) for p in rows}
    assert_close_to_faithful(embedding["bfloat16"], embedding["faithful"])


def test_a_layer_a_precision_and_a_weight_file_reach_every_actor(ray_session, weights_env, folder, tmp_path):
    """The actors build their computation from the dataset's settings: none is dropped.

    Ray's actors once rebuilt the embedder from a few settings: rows recorded as pool2 held the
    final embedding (8 x 512 through Ray, 8 x 128 locally).
    """
    import shutil

    inputs = [path for path in inputs_of(folder) if not path.endswith("bad.wav")][:3]
    mine = tmp_path / "mine.h5"
    shutil.copyfile(weights_env / "openl3_audio_mel128_music.h5", mine)
    settings = {**AUDIO, "output": "pool2", "precision": "bfloat16", "weights": str(mine)}
    for engine in ("local", "ray"):
        openl3.AudioEmbedder(**settings).embed_files(
            inputs, output_dir=str(tmp_path / engine), output_format="parquet", engine=engine
        )
    want, got = read_rows(tmp_path / "local"), read_rows(tmp_path / "ray")
    assert got["embedding"].type.list_size == want["embedding"].type.list_size == 128  # pool2's channels
    assert got.select(["path", "index", "timestamp"]).equals(want.select(["path", "index", "timestamp"]))
    assert_same_embeddings(got, want, rounding=4 * 2.0**-8)  # bfloat16: batches round otherwise
    recorded = DatasetRows(str(tmp_path / "ray")).settings
    assert recorded == openl3.AudioEmbedder(**settings).settings()
    assert (recorded.output, recorded.precision, recorded.weights.startswith("sha256:")) == (
        "pool2",
        "bfloat16",
        True,
    )


def test_only_staging_folders_of_gone_drivers_are_removed(tmp_path):
    """The rule of temporaries (owner.is_stale): gone is stale; unknown from here, once a day old."""
    import time
    from types import SimpleNamespace

    from pyarrow import fs

    from helpers import dead_pid
    from openl3._util.owner import UNJUDGED_STALE_S, Owner, current
    from openl3.runs.ray_engine import STAGING_PREFIX, remove_stale_staging

    me = current()
    elsewhere = Owner(me.host, me.boot, "pid:[4026530000]", 1, "5")  # another container
    names = {
        "live": f"{STAGING_PREFIX}{me.tag()}-aaaa",
        "dead": f"{STAGING_PREFIX}{Owner(me.host, me.boot, me.namespace, dead_pid(), '9').tag()}-bbbb",
        "elsewhere": f"{STAGING_PREFIX}{elsewhere.tag()}-cccc",
        "untagged": f"{STAGING_PREFIX}not-a-tag",
        "users": "mine",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    staging = SimpleNamespace(fs=fs.LocalFileSystem(), base=str(tmp_path))
    remove_stale_staging(staging)
    assert sorted(os.listdir(tmp_path)) == sorted(v for k, v in names.items() if k != "dead")
    old = time.time() - UNJUDGED_STALE_S - 60
    for name in os.listdir(tmp_path):
        os.utime(tmp_path / name, (old, old))
    remove_stale_staging(staging)
    assert sorted(os.listdir(tmp_path)) == sorted([names["live"], names["untagged"], names["users"]])
