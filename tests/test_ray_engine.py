"""The Ray engine on a local Ray instance of 2 CPUs: the same rows as the local engine."""

import os
import sys

import numpy as np
import pytest
import soundfile as sf
from test_dataset import AUDIO, parts, read_rows, write_clips

import openl3
from helpers import noise
from openl3.exceptions import OpenL3Error

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


def assert_same_embeddings(got, want):
    """Equal, to the rounding of the model's CPU kernels in other batch sizes (Ray batches per call)."""
    got_embedding = np.stack(got["embedding"].to_numpy(zero_copy_only=False))
    want_embedding = np.stack(want["embedding"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(
        got_embedding, want_embedding, rtol=0, atol=1e-5 * np.abs(want_embedding).max()
    )


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
    assert not [name for name in os.listdir(tmp_path / "ray") if not name.startswith(("part-", "_failures"))]


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
