"""Test helpers: weight files in the official OpenL3 layout, generated signals and files,
dataset readers, processes, thread races.

Test modules import what they share from here (fixtures live in ``conftest.py``); no test
module imports another (``tests/test_tests.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable

import numpy as np
import soundfile as sf

from openl3._util.exceptions import OpenL3Warning

# The weight files of the tests: the package's own seeded random weights in the official layout.
from openl3.models.random_weights import official_layout, weight_values, write_weight_file  # noqa: F401


def skip_without_kapre() -> None:
    """Skip the calling test where kapre's own layers cannot run (kapre missing, or not TensorFlow).

    kapre is optional (openl3[kapre]): CI's oldest-versions environment installs it and runs
    these tests (requirements/oldest.txt).
    """
    import importlib.util

    import keras
    import pytest

    if importlib.util.find_spec("kapre") is None or keras.backend.backend() != "tensorflow":
        pytest.skip("kapre's layers need openl3[kapre] on TensorFlow (CI's oldest-versions environment)")


#: Settings of a small, cheap audio model (mel128, 512) with two windows a second.
AUDIO = {"input_repr": "mel128", "embedding_size": 512, "hop_size": 0.5, "verbose": False}


def tone(
    seconds: float, sr: int, freq: float = 440.0, channels: int = 0, amplitude: float = 0.5
) -> np.ndarray:
    """A sine tone, mono (channels=0) or (n, channels) with a different phase per channel."""
    t = np.arange(round(seconds * sr)) / sr
    if channels == 0:
        return amplitude * np.sin(2 * np.pi * freq * t)
    return np.stack([amplitude * np.sin(2 * np.pi * freq * t + c) for c in range(channels)], axis=1)


def noise(seconds: float, sr: int, seed: int = 0, channels: int = 0) -> np.ndarray:
    """Seeded Gaussian noise, mono or (n, channels)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    return rng.normal(0, 0.2, n if channels == 0 else (n, channels))


def framed_like_0_4_2(audio: np.ndarray, sr: int, hop_size: float, center: bool) -> np.ndarray:
    """Frame a whole signal as SPEC.md describes 0.4.2 doing it: pad, then stride (a view)."""
    import resampy

    if audio.ndim == 2:
        audio = np.mean(audio, axis=1)
    if sr != 48000:
        audio = resampy.resample(audio, sr, 48000, filter="kaiser_best")
    hop = int(hop_size * 48000)
    if center:
        audio = np.concatenate([np.zeros(24000), audio])
    pad = 48000 - len(audio) if len(audio) < 48000 else -(len(audio) - 48000) % hop
    audio = np.concatenate([audio, np.zeros(pad)])
    n = 1 + (len(audio) - 48000) // hop
    return np.lib.stride_tricks.sliding_window_view(audio, 48000)[::hop][:n]


def quiet(function: Callable, *args, **kwargs):
    """Return ``function(*args, **kwargs)``, with OpenL3's warnings (short audio...) ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OpenL3Warning)
        return function(*args, **kwargs)


def write_clips(folder, seconds, sr: int = 16000) -> list[str]:
    """Write seeded noise clips ``clipNN.wav`` of the given lengths into ``folder``; return their paths."""
    folder.mkdir(exist_ok=True)
    paths = []
    for k, length in enumerate(seconds):
        path = folder / f"clip{k:02d}.wav"
        sf.write(path, noise(length, sr, seed=k), sr)
        paths.append(str(path))
    return paths


#: Settings of the collection of :func:`write_collection`. Without centring, no window is
#: half padding: with the tests' random weights, half-silent first windows look alike.
COLLECTION_SETTINGS = {**AUDIO, "center": False}


def write_collection(root, sr: int = 16000) -> list[str]:
    """Write a small collection of tones in noise, in two folders; return the paths.

    ``low/tone00.wav`` (220 Hz, 3 s), ``low/tone01.wav`` (330 Hz, 2.5 s), ``high/tone02.wav``
    (1760 Hz, 3 s), ``high/tone03.wav`` (2640 Hz, 2 s), and last ``high/copy.wav``, a
    byte-for-byte copy of the first.
    """
    paths = []
    for k, (folder, freq, seconds) in enumerate(
        [("low", 220, 3.0), ("low", 330, 2.5), ("high", 1760, 3.0), ("high", 2640, 2.0)]
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        path = root / folder / f"tone{k:02d}.wav"
        sf.write(path, tone(seconds, sr, freq, amplitude=0.4) + 0.3 * noise(seconds, sr, seed=k), sr)
        paths.append(str(path))
    shutil.copyfile(paths[0], root / "high" / "copy.wav")
    return [*paths, str(root / "high" / "copy.wav")]


def write_video(path, seconds: float = 2.0, fps: float = 10, audio: bool = True, size=(320, 240)) -> str:
    """Write a video whose brightness rises over time, with a stereo tone, by moviepy; return its path."""
    from moviepy import AudioArrayClip, VideoClip

    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    pattern = np.stack([xx / width, yy / height, (xx + yy) / (width + height)], -1)

    def frame(t):
        return (255 * pattern * (0.2 + 0.8 * t / seconds)).astype(np.uint8)

    clip = VideoClip(frame, duration=seconds).with_fps(fps)
    if audio:
        t = np.arange(int(seconds * 44100)) / 44100
        tone = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1)
        clip = clip.with_audio(AudioArrayClip(tone, fps=44100))
    clip.write_videofile(str(path), codec="libx264", audio_codec="aac" if audio else None, logger=None)
    return str(path)


def parts(folder) -> list[str]:
    """Return the names of a dataset's part files (by name: a user's "part-0001.parquet" is not one)."""
    from openl3.dataset.manifest import part_order

    return sorted(n for n in os.listdir(folder) if part_order(n))


def read_rows(folder):
    """Return the rows of the dataset in ``folder`` (a pyarrow Table) sorted by path and index.

    Only its part files are read: a user's own files may be there too.
    """
    import pyarrow.dataset as ds

    files = sorted(os.path.join(folder, name) for name in parts(folder))
    table = ds.dataset(files, format="parquet").to_table()
    return table.sort_by([("path", "ascending"), ("index", "ascending")])


def users_files(out, clips: list[str]) -> dict:
    """Put a user's own files in a dataset folder; return their contents by path.

    A Parquet table naming inputs, a CSV, a subfolder, and a Parquet file named like a part.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(exist_ok=True)
    pq.write_table(pa.table({"path": clips[:2], "label": ["dog", "cat"]}), out / "manifest.parquet")
    (out / "notes.csv").write_text("path,label\nclip00.wav,dog\n")
    (out / "mine").mkdir()
    (out / "mine" / "keep.txt").write_text("mine")
    pq.write_table(pa.table({"x": [1, 2]}), out / "part-0001.parquet")  # named like a part, not ours
    return {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def assert_intact(files: dict) -> None:
    """Fail unless every file of :func:`users_files` holds the bytes it had."""
    for path, content in files.items():
        assert path.read_bytes() == content, path


def dead_temporary(path) -> str:
    """Return the name of a temporary beside ``path`` (a path) whose owner, of this machine, is gone."""
    import os

    from openl3._util.owner import Owner, current

    me = current()
    owner = Owner(me.host, me.boot, me.namespace, dead_pid(), "9")
    folder, name = os.path.split(str(path))
    return os.path.join(folder, f".{name}.{owner.tag()}.0123abcd.tmp")


def dead_pid() -> int:
    """Return the process id of a process that has ended (the owner of a stale temporary)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class CountingBuilder:
    """Wrap a cache's builder to count its calls, holding the first one open for a second.

    The first call waits (up to ``patience`` seconds) for another call to start before it
    builds, so a cache that checks and fills without a lock lets a second thread build the
    same entry. A locked cache makes the first call wait the whole ``patience`` alone.
    """

    def __init__(self, build: Callable, patience: float = 1.0):
        self.build, self.patience, self.calls = build, patience, 0
        self._count_lock, self._second_call = threading.Lock(), threading.Event()

    def __call__(self, *args, **kwargs):
        with self._count_lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self._second_call.wait(self.patience)
        else:
            self._second_call.set()
        return self.build(*args, **kwargs)


def race(call: Callable, n_threads: int = 4) -> list:
    """Return the results of ``call()`` made by ``n_threads`` threads released at once.

    The first exception a thread raised is raised here.
    """
    start, results, errors = threading.Barrier(n_threads), [None] * n_threads, []

    def worker(k: int) -> None:
        try:
            start.wait(timeout=30)
            results[k] = call()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


#: A dataset writer in its own process (``python -c WRITER_SCRIPT JSON``): runs
#: ``process_audio_file`` into a Parquet dataset and prints its report as JSON (exit 0), or
#: the error (exit 3). With ``"go"``, it creates the file ``"ready"`` at its first model
#: call and waits there until the file ``"go"`` exists: the test decides when it goes on.
WRITER_SCRIPT = """
import json, os, sys, time
import openl3
from openl3.audio import compute as audio
from openl3._util.exceptions import OpenL3Error

args = json.loads(sys.argv[1])
if args.get("go"):
    real = audio.model_predictor

    def gated(model, precision="faithful"):
        predict = real(model, precision)

        def call(batch):
            open(args["ready"], "w").close()
            while not os.path.exists(args["go"]):
                time.sleep(0.01)
            return predict(batch)

        return call

    audio.model_predictor = gated
options = {"output_format": "parquet", "errors": "collect", **args["options"]}
try:
    report = openl3.process_audio_file(args["paths"], output_dir=args["out"], **options)
except OpenL3Error as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(3)
failed = [path for path, _ in report.failed]
print(json.dumps({"processed": report.processed, "skipped": report.skipped, "failed": failed}))
"""


def start_writer(paths, out, options, go=None, ready=None, env=None):
    """Start a :data:`WRITER_SCRIPT` process; return its ``subprocess.Popen``."""
    import json
    import subprocess
    import sys

    args = {"paths": list(paths), "out": str(out), "options": options, "go": go, "ready": ready}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, json.dumps(args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def writer_result(process, timeout=300):
    """Return ``(exit status, report or error as a dict)`` of a finished writer process."""
    import json

    out, err = process.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    assert lines, f"writer printed nothing; stderr:\n{err}"
    return process.returncode, json.loads(lines[-1])


def wait_for(condition, timeout=180.0, what="a condition"):
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds (a hang, not a measure)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def assert_close_to_faithful(reduced, faithful):
    """bfloat16 keeps 8 significant bits: the issue measured 5.9e-3 median relative L2 error."""
    assert reduced.dtype == np.float32 and reduced.shape == faithful.shape
    assert np.linalg.norm(reduced - faithful) / np.linalg.norm(faithful) < 2e-2
    cosine = (
        np.sum(reduced * faithful, 1) / np.linalg.norm(reduced, axis=1) / np.linalg.norm(faithful, axis=1)
    )
    assert cosine.min() > 0.999
    assert not np.array_equal(reduced, faithful)  # the tower did run in bfloat16
