"""Benchmark the ``openl3 audio`` command: many short files against one long file.

Writes a random-weights model file in the official layout, N generated files of 1-2 s,
and one file of their total length, then times ``openl3 audio`` on each (and on one
tiny file, to measure start-up: importing TensorFlow and building the model). Example::

    python scripts/bench_cli.py --files 200 --hop 0.5

Target: the many-files run reaches at least 85% of the single file's windows/s.

``--rerun N`` instead times a rerun over N inputs whose outputs all exist (no model work:
listing, planning and start-up only)::

    python scripts/bench_cli.py --rerun 100000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import soundfile as sf


def write_random_weights(path: str, input_repr: str) -> None:
    """Write a random-weights audio model in the official (Keras 2) weight-file layout."""
    from openl3.models import build_audio_model

    _, weighted = build_audio_model(input_repr, 512, frontend="librosa")
    names = [f"layer_{index}" for index in range(len(weighted))]
    with h5py.File(path, "w") as h5:
        h5.attrs["layer_names"] = np.array([n.encode() for n in names], dtype=object)
        for name, layer in zip(names, weighted, strict=True):
            group = h5.create_group(name)
            full = [f"{name}/{variable.name}:0" for variable in layer.weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in full], dtype=object)
            for variable, key in zip(layer.weights, full, strict=True):
                group.create_dataset(key, data=variable.numpy())


def run_cli(inputs: str, args: argparse.Namespace, output_dir: str, weights_dir: str) -> float:
    """Run ``openl3 audio`` quietly; return its wall time in seconds."""
    command = [sys.executable, "-m", "openl3", "audio", inputs, "-o", output_dir, "-q", "-i", args.input_repr]
    command += ["-as", "512", "-t", str(args.hop), "-ab", str(args.batch_size)]
    environment = {**os.environ, "OPENL3_WEIGHTS_DIR": weights_dir, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=environment)
    return time.perf_counter() - start


def count_windows(output_dir: str) -> tuple[int, int]:
    """Return (files, windows) written to ``output_dir``."""
    names = [n for n in os.listdir(output_dir) if n.endswith(".npz")]
    return len(names), sum(len(np.load(os.path.join(output_dir, n))["timestamps"]) for n in names)


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--sr", type=int, default=16000)
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-repr", default="mel128", choices=["linear", "mel128", "mel256"])
    parser.add_argument("--rerun", type=int, metavar="N", help="time a rerun over N existing outputs")
    return parser.parse_args()


def time_rerun(count: int) -> None:
    """Time ``openl3 audio`` over ``count`` inputs whose outputs all exist."""
    with tempfile.TemporaryDirectory() as root:
        for index in range(count):
            open(os.path.join(root, f"clip{index:06d}.wav"), "wb").close()
            open(os.path.join(root, f"clip{index:06d}.npz"), "wb").close()
        command = [sys.executable, "-m", "openl3", "audio", root]
        start = time.perf_counter()
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "openl3", "--version"], check=True, capture_output=True)
        startup = time.perf_counter() - start
    print(result.stderr.strip().splitlines()[-1])
    print(f"rerun over {count} existing outputs: {elapsed:.1f} s ({elapsed - startup:.1f} s beyond start-up)")


def main() -> None:
    """Run the benchmark described by the command line."""
    args = parse_args()
    if args.rerun:
        time_rerun(args.rerun)
        return
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        weights, many, single, tiny = (os.path.join(root, d) for d in ("weights", "many", "single", "tiny"))
        for directory in (weights, many, single, tiny):
            os.makedirs(directory)
        write_random_weights(
            os.path.join(weights, f"openl3_audio_{args.input_repr}_music.h5"), args.input_repr
        )
        durations = rng.uniform(1.0, 2.0, args.files)
        for index, seconds in enumerate(durations):
            sf.write(
                os.path.join(many, f"clip{index:04d}.wav"),
                rng.normal(0, 0.1, int(seconds * args.sr)),
                args.sr,
            )
        sf.write(
            os.path.join(single, "long.wav"), rng.normal(0, 0.1, int(durations.sum() * args.sr)), args.sr
        )
        sf.write(os.path.join(tiny, "tiny.wav"), rng.normal(0, 0.1, args.sr // 10), args.sr)
        startup = run_cli(tiny, args, os.path.join(root, "out_tiny"), weights)
        print(f"start-up (one 0.1 s file): {startup:.1f} s")
        rates = {}
        for label, inputs in (("many files", many), ("one file", single)):
            output_dir = os.path.join(root, "out_" + label.replace(" ", "_"))
            elapsed = run_cli(inputs, args, output_dir, weights)
            files, windows = count_windows(output_dir)
            work = elapsed - startup
            rates[label] = windows / work
            print(
                f"{label}: {files} files, {windows} windows, {durations.sum():.0f} s audio, {elapsed:.1f} s; "
                f"without start-up: {files / work:.2f} files/s, {windows / work:.2f} windows/s"
            )
        ratio = 100 * rates["many files"] / rates["one file"]
        print(f"many files at {ratio:.1f}% of the single file's windows/s")


if __name__ == "__main__":
    main()
