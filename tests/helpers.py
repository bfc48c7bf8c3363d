"""Test helpers: weight files in the official OpenL3 layout, generated signals, thread races."""

from __future__ import annotations

import gzip
import shutil
import threading
from collections.abc import Callable

import h5py
import numpy as np

FILTERS = (64, 64, 128, 128, 256, 256, 512, 512)


def official_layout(modality: str) -> list[tuple[str, list[tuple[str, tuple[int, ...]]]]]:
    """Layers of an official weight file, weightless ones included, in model order.

    Names are offset from a fresh model's auto-generated names, as in the published
    files, so that only loading by order can work.
    """
    channels = 1 if modality == "audio" else 3
    counters = {"batch_normalization": 40, "conv2d": 60, "activation": 80, "max_pooling2d": 20}

    def name(kind: str) -> str:
        counters[kind] += 1
        return f"{kind}_{counters[kind]}"

    def norm(c: int) -> tuple[str, list]:
        return name("batch_normalization"), [
            (v, (c,)) for v in ("gamma", "beta", "moving_mean", "moving_variance")
        ]

    layers = [("input_1", []), norm(channels)]
    for i, filters in enumerate(FILTERS):
        conv = [("kernel", (3, 3, channels, filters)), ("bias", (filters,))]
        channels = filters
        if i == len(FILTERS) - 1:
            layers.append((f"{modality if modality == 'audio' else 'vision'}_embedding_layer", conv))
            break
        layers.append((name("conv2d"), conv))
        after = [norm(filters), (name("activation"), [])]
        if modality == "image" and i == 1:
            after.reverse()
        layers += after
        if i % 2 == 1:
            layers.append((name("max_pooling2d"), []))
    return layers


def weight_values(modality: str, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Seeded weights with realistic scales for every weight-bearing layer."""
    rng = np.random.default_rng(seed)
    values = {}
    for index, (layer, variables) in enumerate(e for e in official_layout(modality) if e[1]):
        values[layer] = {}
        for var, shape in variables:
            if var == "kernel":
                value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:3])), shape)
            elif var == "bias":
                value = rng.normal(0, 0.02, shape)
            elif var == "gamma":
                value = rng.uniform(0.7, 1.3, shape)
            elif var == "beta":
                value = rng.normal(0, 0.1, shape)
            elif var == "moving_mean":
                value = rng.normal(-40 if index == 0 and modality == "audio" else 0, 0.2, shape)
            else:
                value = (
                    rng.uniform(300, 400, shape)
                    if index == 0 and modality == "audio"
                    else rng.uniform(0.5, 2, shape)
                )
            values[layer][var] = value.astype(np.float32)
    return values


def write_weight_file(path, modality: str = "audio", seed: int = 0, layout=None, values=None) -> str:
    """Write a Keras-2 ``save_weights`` file as the official ones; ``.gz`` paths are gzipped."""
    layout = official_layout(modality) if layout is None else layout
    values = weight_values(modality, seed) if values is None else values
    plain = str(path)[:-3] if str(path).endswith(".gz") else str(path)
    with h5py.File(plain, "w") as h5:
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["keras_version"] = "2.15.0"
        h5.attrs["layer_names"] = np.array([n.encode() for n, _ in layout], dtype=object)
        for layer, variables in layout:
            group = h5.create_group(layer)
            names = [f"{layer}/{var}:0" for var, _ in variables]
            encoded = np.array([n.encode() for n in names], dtype=object)
            group.attrs["weight_names"] = encoded if names else np.array([], dtype=np.float64)
            for (var, _), full in zip(variables, names, strict=True):
                group.create_dataset(full, data=values[layer][var])
    if str(path).endswith(".gz"):
        with open(plain, "rb") as source, gzip.open(str(path), "wb") as target:
            shutil.copyfileobj(source, target)
    return str(path)


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
from openl3 import audio
from openl3.exceptions import OpenL3Error

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
