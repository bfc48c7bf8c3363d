"""The ``openl3`` command: in-process through ``main([...])``, one subprocess run per subcommand."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import noise, tone, wait_for, write_video
from openl3 import OpenL3Error, cli
from openl3.cli import embed
from openl3.dataset.rows import DatasetRows

COMMAND = shutil.which("openl3", path=str(Path(sys.executable).parent)) or shutil.which("openl3")
AUDIO_FLAGS = ("-i", "mel128", "-as", "512", "-t", "0.5")
TF_NOISE = (
    "cuInit",
    "external/local_xla",
    "tensorflow/core",
    "cuda_",
    "oneDNN",
    "WARNING:tensorflow",
    "AutoGraph",
)


def command(*args, env=None, **kwargs):
    """Run the installed command as a subprocess."""
    if COMMAND is None:
        pytest.fail("the openl3 command is not installed (pip install -e .)")
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [COMMAND, *args],
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=300,
        **kwargs,
    )


def run_main(capsys, *args):
    """Run ``main`` in this process; return (status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


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


# --- one subprocess run per subcommand ----------------------------------------------------------


#: Prints the help of the command and of a subcommand, then the heavy packages imported.
HELP_IMPORTS = """
import sys
from openl3 import cli
statuses = [cli.main(["--help"]), cli.main(["audio", "--help"])]
heavy = ("tensorflow", "keras", "kapre", "jax", "torch")
print(statuses, sorted(name for name in heavy if name in sys.modules))
"""


def test_help_does_not_import_tensorflow_or_keras():
    result = command("--help")
    assert result.returncode == 0 and "models" in result.stdout
    helps = subprocess.run([sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, timeout=300)
    assert "--audio-batch-size" in helps.stdout, helps.stderr
    assert helps.stdout.splitlines()[-1] == "[0, 0] []"  # both helps shown, no model package imported


def test_audio_command(tmp_path, weights_dir, mel128_model):
    sf.write(tmp_path / "long.wav", tone(1.5, 48000), 48000)
    sf.write(tmp_path / "short1.wav", tone(0.3, 16000), 16000)
    sf.write(tmp_path / "short2.wav", tone(0.4, 16000), 16000)
    result = command("audio", str(tmp_path), *AUDIO_FLAGS, env={"OPENL3_WEIGHTS_DIR": str(weights_dir)})
    assert result.returncode == 0, result.stderr
    assert "openl3 audio: 3 processed, 0 skipped (outputs exist), 0 failed" in result.stderr
    for name in ("short1.wav", "short2.wav"):  # the short-audio warning names the file, once
        assert result.stderr.count(f"warning: Duration of audio file {tmp_path / name} is shorter") == 1
    assert "long.wav" not in result.stderr
    assert ".py:" not in result.stderr and "warnings.warn" not in result.stderr  # no source lines
    assert not [word for word in TF_NOISE if word in result.stderr], result.stderr
    expected, _ = openl3.get_audio_embedding(
        *sf.read(tmp_path / "long.wav"), model=mel128_model, hop_size=0.5
    )
    # The command batches the three files' windows together: float32 rounding of other batch sizes.
    np.testing.assert_allclose(
        np.load(tmp_path / "long.npz")["embedding"], expected, rtol=0, atol=1e-5 * np.abs(expected).max()
    )


def test_image_command(tmp_path, weights_dir):
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    imsave(tmp_path / "p.png", rng.integers(0, 256, (240, 300, 3), dtype=np.uint8))
    imsave(tmp_path / "small.png", rng.integers(0, 256, (100, 100, 3), dtype=np.uint8))
    result = command("image", str(tmp_path), "-is", "512", env={"OPENL3_WEIGHTS_DIR": str(weights_dir)})
    assert result.returncode == 1 and "small.png" in result.stderr and "at least 224" in result.stderr
    assert np.load(tmp_path / "p.npz")["embedding"].shape == (1, 512)
    assert not (tmp_path / "small.npz").exists()


def test_video_command(tmp_path, weights_dir):
    write_video(tmp_path / "v.mp4", seconds=2.0, fps=5)  # moviepy 2 cannot read audio of clips <= ~1 s
    flags = ("-i", "mel256", "-as", "512", "-t", "0.5", "-is", "512", "-x", "s")
    result = command("video", str(tmp_path), *flags, env={"OPENL3_WEIGHTS_DIR": str(weights_dir)})
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "v_image_s.npz")["embedding"].shape == (10, 512)
    assert np.load(tmp_path / "v_audio_s.npz")["embedding"].shape == (4, 512)


def test_models_command(weights_dir):
    result = command("models", "list", "--modality", "audio", env={"OPENL3_WEIGHTS_DIR": str(weights_dir)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    found = [line for line in lines if line.startswith("weights-dir")]
    assert len(lines) == 6 and len(found) == 3  # the three music models of the test weights
    assert all(str(weights_dir) in line for line in found)
    assert command("models", "bogus").returncode == 2


def test_python_m_openl3():
    result = subprocess.run([sys.executable, "-m", "openl3", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"openl3 {openl3.__version__}"


# --- runs that a person interrupts ---------------------------------------------------------------


def _wait_for_outputs(process, folder: Path, count: int, timeout: float = 240) -> list[str]:
    """Poll until ``count`` outputs exist (each complete when seen); return their names."""
    seen = set()

    def enough():
        if folder.is_dir():
            for name in [n for n in os.listdir(folder) if n.endswith(".npz")]:
                with np.load(folder / name) as data:  # every visible output is complete
                    assert data["embedding"].shape[1] == 512
                seen.add(name)
        return len(seen) >= count or process.poll() is not None

    wait_for(enough, timeout, f"{count} outputs")
    return sorted(seen)


@pytest.fixture
def slow_folder(tmp_path):
    """Four short files, then one long enough that a run is still busy long after the first outputs."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        sf.write(folder / f"f{i}.wav", tone(1.0, 16000, 200 + 100 * i), 16000)
    sf.write(folder / "z_long.wav", noise(20.0, 16000), 16000)
    return folder


FLAGS = ("-i", "mel128", "-as", "512", "-t", "0.2", "-ab", "2")


def test_killed_run_leaves_no_partial_output_and_resumes(slow_folder, tmp_path, weights_dir):
    out, reference = tmp_path / "out", tmp_path / "reference"
    environment = {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_dir)}
    process = subprocess.Popen(
        [COMMAND, "audio", str(slow_folder), "-o", str(out), *FLAGS, "-q"], env=environment
    )
    seen = _wait_for_outputs(process, out, 2)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(seen) >= 2 and "z_long.npz" not in os.listdir(out)
    env = {"OPENL3_WEIGHTS_DIR": str(weights_dir)}
    resumed = command("audio", str(slow_folder), "-o", str(out), *FLAGS, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(os.listdir(out)) - len(seen)} processed, {len(seen)} skipped" in resumed.stderr
    assert sorted(os.listdir(out)) == ["f0.npz", "f1.npz", "f2.npz", "f3.npz", "z_long.npz"]  # no temporary
    assert command("audio", str(slow_folder), "-o", str(reference), *FLAGS, "-q", env=env).returncode == 0
    for name in os.listdir(reference):
        got, expected = np.load(out / name), np.load(reference / name)
        np.testing.assert_allclose(got["embedding"], expected["embedding"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got["timestamps"], expected["timestamps"])


def test_ctrl_c_stops_with_a_summary_and_exit_130(slow_folder, tmp_path, weights_dir):
    sf.write(slow_folder / "z_long.wav", noise(300.0, 16000), 16000)  # 1500 windows: many batches
    out = tmp_path / "out"
    environment = {**os.environ, "OPENL3_WEIGHTS_DIR": str(weights_dir)}
    process = subprocess.Popen(
        [COMMAND, "audio", str(slow_folder), "-o", str(out), *FLAGS],
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test run started in the background inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = _wait_for_outputs(process, out, 4)  # the short files are done: the run is in the long one
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=240)[1]  # a guard against a hang, not a measure
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("openl3 audio:")]
    assert lines[0] == "openl3 audio: interrupted"
    assert lines[1].startswith("openl3 audio: 4 processed, 0 skipped")
    # Stopped between two batches of the long file, not at its end: no output, no temporary.
    assert seen == sorted(os.listdir(out)) == ["f0.npz", "f1.npz", "f2.npz", "f3.npz"]
    for name in os.listdir(out):
        assert np.load(out / name)["embedding"].shape[1] == 512


# --- in process ------------------------------------------------------------------------------------


@pytest.fixture
def weights(weights_dir, monkeypatch):
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))


def test_version(capsys):
    assert run_main(capsys, "--version") == (0, f"openl3 {openl3.__version__}\n", "")


def test_usage_errors_exit_2(capsys, tmp_path):
    for args in (
        ("models", "bogus"),
        ("models", "list", "--modality", "video"),
        (),
        ("audio", tmp_path, "-t", "-1"),
        ("audio", tmp_path, "-t", "nan"),
        ("audio", tmp_path, "-t", "inf"),
        ("audio", tmp_path, "-t", "1e-6"),  # shorter than one sample at 48 kHz
        ("audio", tmp_path, "-ab", "0"),
        ("image", tmp_path, "-is", "6144"),
        ("audio", tmp_path, "--shard", "2/2"),
        ("audio", tmp_path, "--shard", "1"),
    ):
        status, _, err = run_main(capsys, *args)
        assert status == 2, args
        assert "usage:" in err
    assert "--shard" in err and "0 <= K < N" in err


def test_shard_and_break_lock_reach_the_run(monkeypatch, tmp_path):
    """The command passes --shard and --break-lock on as shard=(K, N) and break_lock=True."""
    seen = {}

    def recording(embedder, inputs, options, report):
        seen.update(vars(options), inputs=inputs)
        return report

    monkeypatch.setattr(embed, "run_files", recording)
    (tmp_path / "a.wav").write_bytes(b"")
    args = ["audio", str(tmp_path / "a.wav"), "--output-format", "parquet", "-o", str(tmp_path / "out")]
    cli.main([*args, "--shard", "1/3", "--break-lock", "-q"])
    assert seen["shard"] == (1, 3) and seen["break_lock"] is True
    cli.main([*args, "-q"])
    assert seen["shard"] is None and seen["break_lock"] is False


def test_folder_outputs_and_summary(capsys, audio_folder, weights, tmp_path, mel128_model):
    out = tmp_path / "out"
    status, _, err = run_main(capsys, "audio", audio_folder, "-o", out, "-x", "l3", *AUDIO_FLAGS)
    assert status == 0, err
    assert sorted(os.listdir(out)) == ["a_l3.npz", "b_l3.npz", "c_l3.npz"]  # not recursive
    assert "openl3 audio: 3 processed, 0 skipped (outputs exist), 0 failed" in err
    audio, sr = sf.read(audio_folder / "b.flac")
    expected, ts = openl3.get_audio_embedding(audio, sr, model=mel128_model, hop_size=0.5, verbose=False)
    data = np.load(out / "b_l3.npz")
    np.testing.assert_allclose(data["embedding"], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_array_equal(data["timestamps"], ts)
    status, _, err = run_main(capsys, "audio", audio_folder, "-o", out, "-x", "l3", "-r", "-q", *AUDIO_FLAGS)
    assert status == 0 and err == ""
    assert sorted(os.listdir(out)) == ["a_l3.npz", "b_l3.npz", "c_l3.npz", "sub"]
    assert os.listdir(out / "sub") == ["d_l3.npz"]


def test_recursive_outputs_keep_folders_and_collisions_fail(capsys, tmp_path, weights):
    folder, out = tmp_path / "in", tmp_path / "out"
    for sub in ("a", "b"):
        (folder / sub).mkdir(parents=True)
        sf.write(folder / sub / "x.wav", tone(1.0, 16000, 300), 16000)
    sf.write(folder / "x.wav", tone(1.0, 16000, 500), 16000)
    sf.write(folder / "x.flac", tone(1.0, 16000, 700), 16000)
    status, _, err = run_main(capsys, "audio", folder, "--recursive", "-o", out, *AUDIO_FLAGS)
    assert status == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npz")) == ["a/x.npz", "b/x.npz", "x.npz"]
    assert f"error: {folder / 'x.wav'}: its output {out / 'x.npz'} is also the output of" in err
    assert "openl3 audio: 3 processed, 0 skipped (outputs exist), 1 failed" in err
    status, _, err = run_main(capsys, "audio", folder, "--recursive", "-o", out, *AUDIO_FLAGS)
    assert status == 1 and "0 processed, 3 skipped (outputs exist), 1 failed" in err


def test_outputs_beside_inputs_and_no_centering(capsys, tmp_path, weights):
    sf.write(tmp_path / "x.wav", tone(2.0, 48000), 48000)
    status, _, err = run_main(capsys, "audio", tmp_path / "x.wav", "-n", *AUDIO_FLAGS)
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "x.npz")["timestamps"], [0.0, 0.5, 1.0])


def test_faulty_files_do_not_stop_the_run(capsys, audio_folder, weights, tmp_path):
    (audio_folder / "corrupt.wav").write_bytes(b"RIFF\x00\x10\x00\x00WAVEfmt " + os.urandom(500))
    (audio_folder / "empty.wav").write_bytes(b"")
    (audio_folder / "text.wav").write_text("hello")
    sf.write(audio_folder / "short.wav", tone(0.1, 16000), 16000)  # valid: padded, with a warning
    (audio_folder / "zz_last.wav").write_text("the last file fails too")
    out = tmp_path / "out"
    missing = tmp_path / "missing.wav"
    status, _, err = run_main(capsys, "audio", audio_folder, missing, "-o", out, *AUDIO_FLAGS)
    assert status == 1
    assert sorted(os.listdir(out)) == ["a.npz", "b.npz", "c.npz", "short.npz"]
    for name in ("corrupt.wav", "empty.wav", "text.wav", "zz_last.wav", "missing.wav"):
        assert name in err
    assert "4 processed, 0 skipped (outputs exist), 5 failed" in err
    assert np.load(out / "short.npz")["embedding"].shape == (1, 512)


def test_fail_fast_stops_at_the_first_failure(capsys, tmp_path, weights):
    (tmp_path / "a_bad.wav").write_text("bad")
    sf.write(tmp_path / "b_good.wav", tone(1.0, 48000), 48000)
    status, _, err = run_main(capsys, "audio", tmp_path, "--fail-fast", *AUDIO_FLAGS)
    assert status == 1 and "a_bad.wav" in err
    assert not (tmp_path / "b_good.npz").exists()


def test_empty_inputs_and_unwritable_output_dir(capsys, tmp_path, monkeypatch):
    status, _, err = run_main(capsys, "audio", tmp_path)
    assert status == 1 and f"error: {tmp_path}: a folder with no audio files in it" in err
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", "/nowhere")
    status, _, err = run_main(capsys, "audio", tmp_path / "x.wav", "-o", blocker / "out")
    assert status == 1 and "Cannot create output directory" in err


def test_overwrite_and_librosa_frontend_flags(capsys, tmp_path, weights, weights_dir):
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    (tmp_path / "x.npz").write_bytes(b"old")
    status, _, err = run_main(capsys, "audio", tmp_path / "x.wav", *AUDIO_FLAGS)
    assert status == 0 and "0 processed, 1 skipped" in err
    assert (tmp_path / "x.npz").read_bytes() == b"old"
    status, _, err = run_main(
        capsys, "audio", tmp_path / "x.wav", "-ow", "-af", "librosa", "-ab", "1", *AUDIO_FLAGS
    )
    assert status == 0, err
    model = openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512, frontend="librosa"
    )
    audio, sr = sf.read(tmp_path / "x.wav")
    expected, _ = openl3.get_audio_embedding(
        audio, sr, model=model, frontend="librosa", hop_size=0.5, verbose=False
    )
    got = np.load(tmp_path / "x.npz")["embedding"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_content_type_flag_selects_the_env_model(capsys, tmp_path, weights):
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    status, _, err = run_main(capsys, "audio", tmp_path / "x.wav", "-c", "env", *AUDIO_FLAGS)
    assert status == 1  # the test weights hold music models only: env must be fetched
    assert "openl3_audio_mel128_env-v0_4_0.h5.gz" in err


def test_ctrl_c_in_process_keeps_outputs_and_temporaries_clean(capsys, tmp_path, weights, monkeypatch):
    from openl3.audio.compute import AudioComputation as AudioEmbedder

    for i in range(3):
        sf.write(tmp_path / f"f{i}.wav", tone(1.0, 16000), 16000)
    real_predict, calls = AudioEmbedder.predict, []

    def interrupted_predict(self, windows):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_predict(self, windows)

    monkeypatch.setattr(AudioEmbedder, "predict", interrupted_predict)
    status, _, err = run_main(
        capsys, "audio", tmp_path, "-i", "mel128", "-as", "512", "-t", "0.5", "-ab", "2"
    )
    assert status == 130
    assert err.splitlines()[-2:] == [
        "openl3 audio: interrupted",
        "openl3 audio: 2 processed, 0 skipped (outputs exist), 0 failed",
    ]  # two windows a file, two a batch: the third model call is interrupted
    assert sorted(n for n in os.listdir(tmp_path) if not n.endswith(".wav")) == ["f0.npz", "f1.npz"]


# --- the command speaks clearly (issue 17) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--output-format", "parquet"), "--output-format parquet needs --output-dir (-o)"),
        (("--dtype", "float16"), "--dtype float16 is the type of Parquet values: add --output-format"),
        (("--output-format", "parquet", "-o", "out", "-x", "s"), "--suffix (-x) names .npz outputs"),
        (("--engine", "ray"), "--engine ray writes a Parquet dataset: add --output-format parquet"),
    ],
)
def test_output_flags_that_do_not_go_together_are_usage_errors(capsys, tmp_path, flags, message):
    status, _, err = run_main(capsys, "audio", tmp_path / "x.wav", *flags)
    assert status == 2 and err.startswith("usage: openl3 audio ")
    assert f"openl3 audio: error: {message}" in err


def test_an_unknown_flag_shows_the_command_s_usage_and_the_flag_meant(capsys, tmp_path):
    status, _, err = run_main(capsys, "audio", tmp_path / "f.wav", "--hop-size", "0.5")
    assert status == 2 and err.startswith("usage: openl3 audio ")
    assert "unrecognized arguments: --hop-size 0.5 (--hop-size: did you mean --audio-hop-size?)" in err
    status, _, err = run_main(capsys, "image", tmp_path / "f.png", "--batch-size", "8")
    assert status == 2 and err.startswith("usage: openl3 image ")
    assert "did you mean --audio-batch-size or --image-batch-size?" in err
    status, _, err = run_main(capsys, "models", "list", "--format")
    assert status == 2 and err.startswith("usage: openl3 models list ")


def test_a_missing_file_is_one_error(capsys, tmp_path):
    status, _, err = run_main(capsys, "audio", tmp_path / "nosuch.wav")
    assert status == 1
    assert err.splitlines() == [f"error: {tmp_path / 'nosuch.wav'}: no such file or directory"]


def test_a_folder_given_by_name_that_gives_no_file_is_named(capsys, monkeypatch, tmp_path):
    runs = []

    def recording(embedder, inputs, options, report):
        runs.append([path for path, _ in inputs])
        return report

    monkeypatch.setattr(embed, "run_files", recording)
    folder = tmp_path / "x.wav"  # a folder named like a file
    folder.mkdir()
    status, _, err = run_main(capsys, "audio", folder, "-q")
    assert status == 1 and runs == []
    line = f"{folder}: a folder with no audio files in it (--recursive takes those of its subfolders)"
    assert err.splitlines() == [f"error: {line}"]
    sf.write(tmp_path / "y.wav", tone(1.0, 16000), 16000)
    status, _, err = run_main(capsys, "audio", folder, tmp_path / "y.wav")
    assert status == 0 and runs == [[str(tmp_path / "y.wav")]]
    assert err.splitlines()[0] == f"warning: {line}"


def _help_of(text: str, flag: str) -> str:
    """Return the help entry of ``flag`` in ``--help`` output (up to the next flag or section)."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.lstrip().startswith(flag + " "))
    end = next(
        (k for k in range(start + 1, len(lines)) if not lines[k].startswith(" " * 6) or not lines[k].strip()),
        len(lines),
    )
    return " ".join(line.strip() for line in lines[start:end])


def test_help_shows_the_defaults_and_sets_image_options_apart(capsys):
    status, text, _ = run_main(capsys, "audio", "--help")
    assert status == 0
    for flag, default in (
        ("--content-type", "music"),
        ("--audio-embedding-size", "6144"),
        ("--audio-hop-size", "0.1"),
        ("--audio-frontend", "kapre"),
        ("--input-repr", "mel256"),
        ("--image-embedding-size", "8192"),
    ):
        assert f"default: {default}" in _help_of(text, flag), flag
    sections = {part.splitlines()[0]: part for part in text.split("\n\n") if part.strip()}
    [image] = [part for title, part in sections.items() if title.startswith("image options")]
    assert "--image-embedding-size" in image and "--image-batch-size" in image and "--audio-" not in image
    assert "--image-" not in sections["options:"]


def test_the_progress_line_shows_the_windows_to_come(capsys, tmp_path, weights):
    from openl3.audio.windows import AudioWindows

    for name, seconds in (("a.wav", 2.0), ("b.wav", 3.1)):
        sf.write(tmp_path / name, tone(seconds, 16000), 16000)
    total = sum(AudioWindows(np.ones(int(s * 16000)), 16000, 0.5, True).n_items for s in (2.0, 3.1))
    status, _, err = run_main(capsys, "audio", tmp_path / "a.wav", tmp_path / "b.wav", *AUDIO_FLAGS)
    assert status == 0
    lines = err.replace("\r", "\n").splitlines()
    assert f"  0%|          | 0/{total} windows [00:00<?, ? windows/s]" in lines  # known before decoding
    assert "openl3 audio: 2 processed, 0 skipped (outputs exist), 0 failed" in lines
    status, _, err = run_main(capsys, "audio", tmp_path / "a.wav", tmp_path / "b.wav", *AUDIO_FLAGS)
    assert status == 0 and "window" not in err  # nothing to do: no bar


def test_errors_are_lines_of_their_own_above_the_progress_bar(capsys, tmp_path, weights):
    sf.write(tmp_path / "a.wav", tone(2.0, 16000), 16000)
    (tmp_path / "b.wav").write_text("not audio")
    status, _, err = run_main(capsys, "audio", tmp_path, *AUDIO_FLAGS)
    assert status == 1
    segments = err.replace("\r", "\n").splitlines()  # what a terminal shows: the bar is redrawn
    assert [s for s in segments if "Cannot read audio file" in s] == [
        f"error: Cannot read audio file {tmp_path / 'b.wav'}: Format not recognised."
    ]


def test_models_verify_says_which_of_the_user_s_files_are_bad(capsys, tmp_path, weights_dir, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(weights_dir / "openl3_audio_mel128_music.h5", folder)
    (tmp_path / "notes.txt").write_text("not HDF5")
    os.symlink(tmp_path / "notes.txt", folder / "openl3_audio_linear_music.h5")
    whole = (weights_dir / "openl3_audio_mel256_music.h5").read_bytes()
    (folder / "openl3_audio_mel256_music.h5").write_bytes(whole[: len(whole) // 2])
    shutil.copy(weights_dir / "openl3_image_mel256_music.h5", folder / "openl3_audio_mel256_env.h5")
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(folder))
    status, out, _ = run_main(capsys, "models", "verify", "--modality", "audio")
    assert status == 1
    verdicts = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    assert verdicts == {
        str(folder / "openl3_audio_mel128_music.h5"): "unchecked",
        str(folder / "openl3_audio_linear_music.h5"): "BAD",  # a link to a text file
        str(folder / "openl3_audio_mel256_music.h5"): "BAD",  # truncated
        str(folder / "openl3_audio_mel256_env.h5"): "BAD",  # an image model's weights
    }


def test_models_export_prints_only_its_result(capfd, weights_env, tmp_path):
    path = tmp_path / "image.tflite"
    args = ["models", "export", "--modality", "image", "--embedding-size", "512", "--format", "tflite"]
    assert cli.main([*args, "-o", str(path)]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == (f"exported    {path}\n", "")  # no Keras message, no absl or grappler log


# --- models ----------------------------------------------------------------------------------------


def test_models_list_and_path(capsys):
    status, out, _ = run_main(capsys, "models", "list")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 12 and all(line.startswith("missing") for line in lines)
    _, out, _ = run_main(capsys, "models", "list", "--modality", "image", "--content-type", "env")
    filtered = out.splitlines()
    assert len(filtered) == 3 and all("openl3_image_" in x and "_env-v0_4_0.h5.gz" in x for x in filtered)
    status, out, _ = run_main(capsys, "models", "path")
    assert status == 0 and f"cache: {os.environ['OPENL3_CACHE_DIR']}" in out


def test_models_list_shows_the_weights_dir(capsys, weights, weights_dir):
    _, out, _ = run_main(capsys, "models", "list", "--input-repr", "mel128")
    states = sorted(line.split()[0] for line in out.splitlines())
    assert states == ["missing", "missing", "missing", "weights-dir"]  # audio mel128 music is there
    assert str(weights_dir / "openl3_audio_mel128_music.h5") in out


def test_models_download_offline_fails_with_the_remedies(capsys):
    status, _, err = run_main(
        capsys, "models", "download", "--modality", "audio", "--input-repr", "mel128", "-q"
    )
    assert status == 1
    assert err.count("error: Could not download the OpenL3 weight file openl3_audio_mel128_") == 2
    assert "OPENL3_WEIGHTS_DIR" in err and "openl3 models import PATH" in err


def test_models_download_replaces_a_corrupt_cached_file(capsys, weight_server, published):
    from openl3.models import store

    cached = Path(os.environ["OPENL3_CACHE_DIR"]) / published[0].name
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"corrupt")
    status, out, _ = run_main(capsys, "models", "download", "-q")
    assert status == 0 and out.startswith("downloaded")
    assert store.git_blob_id(str(cached)) == published[1].blob_id


def test_models_import_and_verify(capsys, published, tmp_path, weights_dir, monkeypatch):
    path, _ = published  # a well-formed file that is not the official one
    status, _, err = run_main(capsys, "models", "import", path)
    assert status == 1 and "does not match the published" in err
    assert run_main(capsys, "models", "verify")[0] == 0  # nothing cached, nothing to contradict
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    (folder / "notes.txt").write_text("ignored")
    status, out, _ = run_main(capsys, "models", "import", "--no-verify", folder)
    assert status == 0 and out.startswith("imported")
    _, out, _ = run_main(
        capsys, "models", "list", "--input-repr", "mel128", "--modality", "audio", "--content-type", "music"
    )
    assert out.startswith("unverified")  # imported, and known not to be the published file
    monkeypatch.setenv("OPENL3_WEIGHTS_DIR", str(weights_dir))
    status, out, _ = run_main(capsys, "models", "verify")
    assert status == 1 and "MISMATCH" in out and "unchecked" in out


# --- OpenL3 0.4.2's openl3.cli ---------------------------------------------------------------------


def test_positive_float_and_int_as_0_4_2():
    assert cli.positive_float("0.1") == 0.1 and cli.positive_float(2) == 2.0
    for bad in (-5, -1.0, 0, None, "hello", "nan", "inf", float("nan")):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.positive_float(bad)
    assert cli.positive_int("3") == 3 and cli.positive_int(1.5) == 1  # int(), as 0.4.2
    for bad in (-1, 0, None, "hello", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.positive_int(bad)


def test_get_file_list_as_0_4_2(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.wav", "b.txt", "sub/c.wav"):
        (tmp_path / name).write_text("x")
    assert cli.get_file_list([str(tmp_path / "a.wav")]) == [str(tmp_path / "a.wav")]
    assert sorted(cli.get_file_list([str(tmp_path)])) == [str(tmp_path / "a.wav"), str(tmp_path / "b.txt")]
    with pytest.raises(OpenL3Error, match="Could not find"):
        cli.get_file_list([str(tmp_path / "missing")])
    with pytest.raises(argparse.ArgumentTypeError):
        cli.get_file_list(str(tmp_path))


def test_parse_args_as_0_4_2():
    args = cli.parse_args(["audio", "x.wav"])
    assert (args.modality, args.inputs, args.output_dir, args.suffix) == ("audio", ["x.wav"], None, None)
    assert (args.input_repr, args.content_type, args.audio_embedding_size) == ("mel256", "music", 6144)
    assert (args.no_audio_centering, args.audio_hop_size, args.audio_batch_size) == (False, 0.1, 32)
    assert (args.image_embedding_size, args.image_batch_size, args.audio_frontend) == (8192, 32, "kapre")
    assert (args.overwrite, args.quiet) == (False, False)
    flags = ["image", "a.png", "b.png", "-o", "/tmp/x", "-x", "s", "-i", "linear", "-c", "env", "-as", "512"]
    flags += ["-n", "-t", "0.5", "-ab", "4", "-is", "512", "-ib", "8", "-af", "librosa", "-ow", "-q"]
    args = cli.parse_args(flags)
    assert (args.modality, args.inputs, args.output_dir, args.suffix) == (
        "image",
        ["a.png", "b.png"],
        "/tmp/x",
        "s",
    )
    assert (args.input_repr, args.content_type, args.audio_embedding_size, args.no_audio_centering) == (
        "linear",
        "env",
        512,
        True,
    )
    assert (args.audio_hop_size, args.audio_batch_size, args.image_embedding_size, args.image_batch_size) == (
        0.5,
        4,
        512,
        8,
    )
    assert (args.audio_frontend, args.overwrite, args.quiet) == ("librosa", True, True)
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(["audio", "x.wav", "-t", "0"])
    assert exit_info.value.code == 2


def test_run_as_0_4_2(tmp_path, weights, capsys, mel128_model):
    for bad in (None, 5, 1.0):
        with pytest.raises(OpenL3Error):
            cli.run(bad, bad)
    with pytest.raises(OpenL3Error, match="Invalid modality 'sound'"):
        cli.run("sound", [str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        cli.run("audio", [str(tmp_path)], verbose=True)
    assert exit_info.value.code == -1
    assert capsys.readouterr().out == f"openl3: No files found in {[str(tmp_path)]}. Aborting.\n"
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    cli.run("audio", str(tmp_path / "x.wav"), input_repr="mel128", audio_embedding_size=512, verbose=False)
    expected, _ = openl3.get_audio_embedding(*sf.read(tmp_path / "x.wav"), model=mel128_model, verbose=False)
    np.testing.assert_allclose(np.load(tmp_path / "x.npz")["embedding"], expected, rtol=1e-5, atol=1e-6)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "bad.wav").write_text("not audio")
    with pytest.raises(OpenL3Error, match="bad.wav"):
        cli.run("audio", [str(folder)], input_repr="mel128", audio_embedding_size=512)
    # 0.4.2 takes every file of a folder, outputs included: x.npz would be its own output.
    with pytest.raises(OpenL3Error, match="x.npz: its output is the input itself"):
        cli.run("audio", [str(tmp_path)], input_repr="mel128", audio_embedding_size=512, overwrite=True)


def test_main_reads_sys_argv(tmp_path, weights, monkeypatch):
    sf.write(tmp_path / "x.wav", tone(1.0, 48000), 48000)
    monkeypatch.setattr(sys, "argv", ["openl3", "audio", str(tmp_path / "x.wav"), *AUDIO_FLAGS, "-q"])
    assert cli.main() == 0
    assert np.load(tmp_path / "x.npz")["embedding"].shape == (2, 512)  # 72000 centred samples, hop 0.5


def test_cli_and_api_defaults_agree():
    import inspect

    args = vars(cli.build_parser().parse_args(["video", "x.mp4"]))
    video = inspect.signature(openl3.process_video_file).parameters
    audio = inspect.signature(openl3.get_audio_embedding).parameters
    image = inspect.signature(openl3.get_image_embedding).parameters
    run = inspect.signature(cli.run).parameters
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
        assert args[flag] == value == run[flag].default, flag
    assert args["no_audio_centering"] is (not audio["center"].default) is (not run["audio_center"].default)
    for name in ("content_type", "embedding_size", "batch_size", "hop_size", "center", "frontend"):
        assert inspect.signature(openl3.process_audio_file).parameters[name].default == audio[name].default, (
            name
        )
    for name in ("input_repr", "content_type", "embedding_size", "batch_size"):
        assert inspect.signature(openl3.process_image_file).parameters[name].default == image[name].default
    from openl3.models.specs import AUDIO_TOWER, DEFAULT_INPUT_REPR, IMAGE_TOWER

    assert args["input_repr"] == DEFAULT_INPUT_REPR
    assert AUDIO_TOWER.default_embedding_size == args["audio_embedding_size"]
    assert IMAGE_TOWER.default_embedding_size == args["image_embedding_size"]


def test_batch_sizes_default_per_device(monkeypatch):
    from openl3.models import batching

    args = cli.parse_args(["audio", "x.wav"])
    assert args.audio_batch_size == 32 and args.image_batch_size == 32  # 0.4.2's parse_args defaults
    assert embed._settings(args)["audio_batch_size"] == 32  # this machine has no GPU
    monkeypatch.setattr(batching, "has_accelerator", lambda: True)
    settings = embed._settings(args)
    assert settings["audio_batch_size"] == settings["image_batch_size"] == batching.ACCELERATOR_BATCH_SIZE
    chosen = embed._settings(cli.parse_args(["audio", "x.wav", "-ab", "32", "-ib", "8"]))
    assert (chosen["audio_batch_size"], chosen["image_batch_size"]) == (32, 8)  # the user's, on any device


def claiming_rate(path, rate):
    """Rewrite a WAV file's header so that it claims ``rate`` Hz (its samples are left as they are)."""
    data = bytearray(Path(path).read_bytes())
    data[24:28] = int(rate).to_bytes(4, "little")  # the fmt chunk's sample rate
    Path(path).write_bytes(bytes(data))


@pytest.mark.parametrize("output_format", ["npz", "parquet"])
def test_a_file_claiming_a_billion_hertz_fails_alone(capsys, tmp_path, weights, output_format):
    """It stopped the run with a raw ZeroDivisionError, and the good files beside it were not written."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.wav", "huge.wav", "z.wav"):
        sf.write(folder / name, tone(1.2, 16000), 16000)
    claiming_rate(folder / "huge.wav", 1_000_000_000)
    out = tmp_path / "out"
    status, _, err = run_main(
        capsys, "audio", folder, "-o", out, "--output-format", output_format, *AUDIO_FLAGS
    )
    assert status == 1
    assert "huge.wav has a sample rate of 1000000000 Hz" in err and "Traceback" not in err
    assert "2 processed" in err and "1 failed" in err
    if output_format == "npz":
        assert sorted(os.listdir(out)) == ["a.npz", "z.npz"]
    else:
        assert sorted(set(DatasetRows(str(out)).rows().paths)) == [
            str(folder / "a.wav"),
            str(folder / "z.wav"),
        ]


def test_an_array_at_a_billion_hertz_is_a_clear_error(weights):
    with pytest.raises(
        ValueError, match="sample rate of 1000000000 Hz: openl3 resamples to 48 kHz from at most"
    ):
        openl3.get_audio_embedding(np.zeros(16000), 1e9, input_repr="mel128", embedding_size=512)
    with pytest.raises(OpenL3Error, match="at most 24576000 Hz"):
        openl3.AudioStream(1e9, input_repr="mel128", embedding_size=512)


def test_a_decoders_own_error_fails_its_file_and_the_run_goes_on(capsys, tmp_path, weights, monkeypatch):
    """Only our errors and the system's were failures of the file: any other stopped the run."""
    from openl3.audio import decode

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.wav", "odd.wav", "z.wav"):
        sf.write(folder / name, tone(1.2, 16000), 16000)
    real = decode.AudioFile.__init__

    def odd(self, path, *args, **kwargs):
        if path.endswith("odd.wav"):
            raise IndexError("the decoder's own error")
        real(self, path, *args, **kwargs)

    monkeypatch.setattr(decode.AudioFile, "__init__", odd)
    status, _, err = run_main(capsys, "audio", folder, "-o", tmp_path / "out", *AUDIO_FLAGS)
    assert status == 1 and "odd.wav: IndexError: the decoder's own error" in err
    assert sorted(os.listdir(tmp_path / "out")) == ["a.npz", "z.npz"]


def test_a_rerun_says_how_many_inputs_it_skips_in_one_line(capsys, tmp_path, weights):
    """42 files skipped printed 42 lines; one summary is what a progress-bar user expects."""
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(6):
        sf.write(folder / f"f{k}.wav", tone(1.1, 16000, 300 + 50 * k), 16000)
    out = tmp_path / "out"
    assert run_main(capsys, "audio", folder, "-o", out, *AUDIO_FLAGS)[0] == 0
    status, _, err = run_main(capsys, "audio", folder, "-o", out, *AUDIO_FLAGS)
    assert status == 0 and "skipping" not in err
    assert err.strip().splitlines()[-1] == "openl3 audio: 0 processed, 6 skipped (outputs exist), 0 failed"
    status, _, err = run_main(capsys, "audio", folder, "-o", out, *AUDIO_FLAGS, "-v")
    assert err.count("exists, skipping") == 6


def test_a_shard_whose_machine_resolves_fast_otherwise_is_refused_naming_both(
    capsys, tmp_path, weights, monkeypatch
):
    from openl3.models import precision

    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(2):
        sf.write(folder / f"f{k}.wav", tone(1.1, 16000, 300 + 50 * k), 16000)
    flags = ["--output-format", "parquet", "-o", tmp_path / "DS", "--precision", "fast", *AUDIO_FLAGS]
    monkeypatch.setattr(precision, "device_kind", lambda backend=None: "cpu-bf16")
    assert run_main(capsys, "audio", folder / "f0.wav", *flags)[0] == 0
    monkeypatch.setattr(precision, "device_kind", lambda backend=None: "cpu")
    status, _, err = run_main(capsys, "audio", folder / "f1.wav", *flags, "--shard", "0/1")
    assert status == 1 and "precision='bfloat16' (now 'faithful')" in err


def test_a_containers_predecessor_of_the_same_name_does_not_lock_the_dataset(
    capsys, tmp_path, weights, caplog
):
    """A restarted container (pid 1, fixed host name) was refused until --break-lock."""
    import json as json_module

    from openl3._util.owner import Owner, current

    sf.write(tmp_path / "a.wav", tone(1.1, 16000), 16000)
    locks = tmp_path / "DS" / "_openl3" / "locks"
    locks.mkdir(parents=True)
    me = current()
    predecessor = Owner(me.host, me.boot, "pid:[4026530001]", 1, "77")
    record = {"host": me.host, "pid": 1, "owner": predecessor.record(), "token": "0badc0de", "shard": None}
    (locks / "writer-old.json").write_text(json_module.dumps(record))
    (locks / "writer-old.keys").write_bytes(b"")
    (locks / "writer-old.alive").write_bytes(b"")  # its lock went with its process
    flags = ["--output-format", "parquet", "-o", tmp_path / "DS", *AUDIO_FLAGS]
    status, _, err = run_main(capsys, "audio", tmp_path / "a.wav", *flags)
    assert status == 0, err
    assert "its process is gone" in err and not (locks / "writer-old.json").exists()
