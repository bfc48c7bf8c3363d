"""The installed ``openl3`` command, run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMMAND = shutil.which("openl3", path=str(Path(sys.executable).parent)) or shutil.which("openl3")


def openl3(*args, env=None):
    if COMMAND is None:
        pytest.fail("the openl3 command is not installed (pip install -e .)")
    environment = {**os.environ, **(env or {})}
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, env=environment, timeout=300)


def test_help_is_fast_and_does_not_load_tensorflow():
    start = time.perf_counter()
    result = openl3("--help")
    assert result.returncode == 0 and "models" in result.stdout
    assert time.perf_counter() - start < 5  # well under a second on a warm machine; generous for CI
    code = "import sys; from openl3 import cli; cli.build_parser(); print('tensorflow' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_version():
    import openl3 as package

    result = openl3("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"openl3 {package.__version__}"


def test_usage_errors_exit_2():
    assert openl3("models", "bogus").returncode == 2
    assert openl3("models", "list", "--modality", "video").returncode == 2
    assert openl3().returncode == 2


def test_models_list_and_path():
    result = openl3("models", "list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 12 and all(line.startswith("missing") for line in lines)
    filtered = openl3("models", "list", "--modality", "image", "--content-type", "env").stdout.splitlines()
    assert len(filtered) == 3 and all(
        "openl3_image_" in line and "_env-v0_4_0.h5.gz" in line for line in filtered
    )
    path = openl3("models", "path")
    assert path.returncode == 0 and f"cache: {os.environ['OPENL3_CACHE_DIR']}" in path.stdout


def test_models_download_offline_fails_with_the_remedies():
    result = openl3("models", "download", "--modality", "audio", "--input-repr", "mel128", "-q")
    assert result.returncode == 1
    assert result.stderr.count("error: Could not download the OpenL3 weight file openl3_audio_mel128_") == 2
    assert "OPENL3_WEIGHTS_DIR" in result.stderr and "openl3 models import PATH" in result.stderr


def test_models_import_and_verify(published, tmp_path, weights_dir):
    path, _ = published  # a well-formed file that is not the official one
    refused = openl3("models", "import", str(path))
    assert refused.returncode == 1 and "does not match the published" in refused.stderr
    assert openl3("models", "verify").returncode == 0  # nothing cached, nothing to contradict
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    (folder / "notes.txt").write_text("ignored")
    forced = openl3("models", "import", "--no-verify", str(folder))
    assert forced.returncode == 0 and forced.stdout.startswith("imported")
    listed = openl3(
        "models", "list", "--input-repr", "mel128", "--modality", "audio", "--content-type", "music"
    )
    assert listed.stdout.startswith("corrupt")
    verified = openl3("models", "verify", env={"OPENL3_WEIGHTS_DIR": str(weights_dir)})
    assert verified.returncode == 1
    assert "MISMATCH" in verified.stdout and "unchecked" in verified.stdout


# --- openl3 audio | image | video -------------------------------------------------------------

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from helpers import noise, tone  # noqa: E402

AUDIO_FLAGS = ("-i", "mel128", "-as", "512", "-t", "0.5")


@pytest.fixture
def weights(weights_dir):
    return {"OPENL3_WEIGHTS_DIR": str(weights_dir)}


@pytest.fixture
def audio_folder(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "a.wav", tone(1.3, 44100), 44100)
    sf.write(folder / "b.flac", noise(1.0, 16000, channels=2), 16000)
    sf.write(folder / "c.ogg", tone(1.1, 22050, 880), 22050)
    sf.write(folder / "sub" / "d.wav", tone(1.0, 48000), 48000)
    (folder / "notes.txt").write_text("not audio, and not taken from a folder")
    return folder


def test_audio_folder_outputs_and_summary(audio_folder, weights, tmp_path, mel128_model):
    out = tmp_path / "out"
    result = openl3("audio", str(audio_folder), "-o", str(out), "-x", "l3", *AUDIO_FLAGS, env=weights)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["a_l3.npz", "b_l3.npz", "c_l3.npz"]  # not recursive
    assert "openl3 audio: 3 processed, 0 skipped (outputs exist), 0 failed" in result.stderr
    import openl3 as package

    audio, sr = sf.read(audio_folder / "b.flac")
    expected, ts = package.get_audio_embedding(audio, sr, model=mel128_model, hop_size=0.5, verbose=False)
    data = np.load(out / "b_l3.npz")
    np.testing.assert_allclose(data["embedding"], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_array_equal(data["timestamps"], ts)
    again = openl3(
        "audio", str(audio_folder), "-o", str(out), "-x", "l3", "-r", "-q", *AUDIO_FLAGS, env=weights
    )
    assert again.returncode == 0 and again.stderr == ""
    assert sorted(os.listdir(out)) == ["a_l3.npz", "b_l3.npz", "c_l3.npz", "d_l3.npz"]


def test_no_centering_flag_and_outputs_beside_inputs(tmp_path, weights):
    sf.write(tmp_path / "x.wav", tone(2.0, 48000), 48000)
    result = openl3("audio", str(tmp_path / "x.wav"), "-n", *AUDIO_FLAGS, env=weights)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "x.npz")["timestamps"], [0.0, 0.5, 1.0])


def test_faulty_files_do_not_stop_the_run(audio_folder, weights, tmp_path):
    (audio_folder / "corrupt.wav").write_bytes(b"RIFF\x00\x10\x00\x00WAVEfmt " + os.urandom(500))
    (audio_folder / "empty.wav").write_bytes(b"")
    (audio_folder / "text.wav").write_text("hello")
    sf.write(audio_folder / "short.wav", tone(0.1, 16000), 16000)  # valid: padded, with a warning
    (audio_folder / "zz_last.wav").write_text("the last file fails too")
    out = tmp_path / "out"
    missing = str(tmp_path / "missing.wav")
    result = openl3("audio", str(audio_folder), missing, "-o", str(out), *AUDIO_FLAGS, env=weights)
    assert result.returncode == 1
    assert sorted(os.listdir(out)) == ["a.npz", "b.npz", "c.npz", "short.npz"]
    for name in ("corrupt.wav", "empty.wav", "text.wav", "zz_last.wav", "missing.wav"):
        assert name in result.stderr
    assert "4 processed, 0 skipped (outputs exist), 5 failed" in result.stderr
    assert np.load(out / "short.npz")["embedding"].shape == (1, 512)


def test_fail_fast_stops_at_the_first_failure(tmp_path, weights):
    (tmp_path / "a_bad.wav").write_text("bad")
    sf.write(tmp_path / "b_good.wav", tone(1.0, 48000), 48000)
    result = openl3("audio", str(tmp_path), "--fail-fast", *AUDIO_FLAGS, env=weights)
    assert result.returncode == 1 and "a_bad.wav" in result.stderr
    assert not (tmp_path / "b_good.npz").exists()


def test_usage_and_empty_inputs(tmp_path):
    assert openl3("audio", str(tmp_path), "-t", "-1").returncode == 2
    assert openl3("audio", str(tmp_path), "-ab", "0").returncode == 2
    assert openl3("image", str(tmp_path), "-is", "6144").returncode == 2
    empty = openl3("audio", str(tmp_path))
    assert empty.returncode == 1 and "no audio files found" in empty.stderr


def test_unwritable_output_dir_fails_before_model_work(tmp_path, weights):
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = openl3(
        "audio", str(tmp_path / "x.wav"), "-o", str(blocker / "out"), env={"OPENL3_WEIGHTS_DIR": "/nowhere"}
    )
    assert result.returncode == 1 and "Cannot create output directory" in result.stderr


def test_image_command(tmp_path, weights):
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    imsave(tmp_path / "p.png", rng.integers(0, 256, (240, 300, 3), dtype=np.uint8))
    imsave(tmp_path / "q.jpg", rng.integers(0, 256, (300, 260, 3), dtype=np.uint8))
    imsave(tmp_path / "small.png", rng.integers(0, 256, (100, 100, 3), dtype=np.uint8))
    result = openl3("image", str(tmp_path), "-is", "512", "-ib", "2", env=weights)
    assert result.returncode == 1 and "small.png" in result.stderr and "at least 224" in result.stderr
    assert np.load(tmp_path / "p.npz")["embedding"].shape == (1, 512)
    assert np.load(tmp_path / "q.npz")["embedding"].shape == (1, 512)
    assert not (tmp_path / "small.npz").exists()


def test_video_command(tmp_path, weights):
    from test_video import write_video

    write_video(tmp_path / "v.mp4", seconds=2.0, fps=5)  # moviepy 2 cannot read audio of clips <= ~1 s
    flags = ("-i", "mel256", "-as", "512", "-t", "0.5", "-is", "512", "-x", "s")
    result = openl3("video", str(tmp_path), *flags, env=weights)
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "v_image_s.npz")["embedding"].shape == (10, 512)
    assert np.load(tmp_path / "v_audio_s.npz")["embedding"].shape == (4, 512)


def test_cli_and_api_defaults_agree():
    import inspect

    import openl3 as package
    from openl3 import cli

    parser = cli.build_parser()
    args = vars(parser.parse_args(["video", "x.mp4"]))
    video = inspect.signature(package.process_video_file).parameters
    audio = inspect.signature(package.get_audio_embedding).parameters
    image = inspect.signature(package.get_image_embedding).parameters
    for flag, value in (
        ("content_type", video["content_type"].default),
        ("audio_embedding_size", audio["embedding_size"].default),
        ("audio_hop_size", audio["hop_size"].default),
        ("audio_batch_size", audio["batch_size"].default),
        ("audio_frontend", audio["frontend"].default),
        ("image_embedding_size", image["embedding_size"].default),
        ("image_batch_size", image["batch_size"].default),
        ("input_repr", image["input_repr"].default),
    ):
        assert args[flag] == value, flag
    assert args["no_audio_centering"] is (not audio["center"].default)
    for name in ("content_type", "embedding_size", "batch_size", "hop_size", "center", "frontend"):
        process = inspect.signature(package.process_audio_file).parameters[name].default
        assert process == audio[name].default, name
    for name in ("input_repr", "content_type", "embedding_size", "batch_size"):
        assert inspect.signature(package.process_image_file).parameters[name].default == image[name].default
    from openl3.audio import DEFAULT_INPUT_REPR

    assert args["input_repr"] == DEFAULT_INPUT_REPR


def test_killed_run_leaves_no_partial_output_and_resumes(tmp_path, weights):
    import signal

    folder, out, reference = tmp_path / "in", tmp_path / "out", tmp_path / "reference"
    folder.mkdir()
    for i in range(6):
        sf.write(folder / f"f{i}.wav", tone(2.0, 16000, 200 + 100 * i), 16000)
    flags = ("-i", "mel128", "-as", "512", "-t", "0.2", "-ab", "4", "-q")
    environment = {**os.environ, **weights}
    process = subprocess.Popen([COMMAND, "audio", str(folder), "-o", str(out), *flags], env=environment)
    seen_complete = set()
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if out.is_dir():
            for name in [n for n in os.listdir(out) if n.endswith(".npz")]:
                with np.load(out / name) as data:  # every visible output is complete
                    assert data["embedding"].shape[1] == 512
                seen_complete.add(name)
        if len(seen_complete) >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()
    assert 2 <= len(seen_complete) < 6, "the run was not killed midway"
    assert sorted(n for n in os.listdir(out) if n.endswith(".npz")) == sorted(seen_complete)
    resumed = openl3("audio", str(folder), "-o", str(out), *flags, env=weights)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(os.listdir(out)) == [f"f{i}.npz" for i in range(6)]  # no temporary file left either
    assert openl3("audio", str(folder), "-o", str(reference), *flags, env=weights).returncode == 0
    for i in range(6):
        got, expected = np.load(out / f"f{i}.npz"), np.load(reference / f"f{i}.npz")
        scale = np.abs(expected["embedding"]).max()
        np.testing.assert_allclose(got["embedding"], expected["embedding"], rtol=1e-5, atol=1e-5 * scale)
        np.testing.assert_array_equal(got["timestamps"], expected["timestamps"])


def test_overwrite_and_librosa_frontend_flags(tmp_path, weights, weights_dir):
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    (tmp_path / "x.npz").write_bytes(b"old")
    skipped = openl3("audio", str(tmp_path / "x.wav"), *AUDIO_FLAGS, env=weights)
    assert skipped.returncode == 0 and "0 processed, 1 skipped" in skipped.stderr
    assert (tmp_path / "x.npz").read_bytes() == b"old"
    result = openl3(
        "audio", str(tmp_path / "x.wav"), "-ow", "-af", "librosa", "-ab", "1", *AUDIO_FLAGS, env=weights
    )
    assert result.returncode == 0, result.stderr
    import openl3 as package

    model = package.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512, frontend="librosa"
    )
    audio, sr = sf.read(tmp_path / "x.wav")  # 16-bit PCM, as written
    expected, _ = package.get_audio_embedding(
        audio, sr, model=model, frontend="librosa", hop_size=0.5, verbose=False
    )
    got = np.load(tmp_path / "x.npz")["embedding"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_content_type_flag_selects_the_env_model(tmp_path, weights):
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    result = openl3("audio", str(tmp_path / "x.wav"), "-c", "env", *AUDIO_FLAGS, env=weights)
    assert result.returncode == 1  # the test weights hold music models only: env must be fetched
    assert "openl3_audio_mel128_env-v0_4_0.h5.gz" in result.stderr
