"""Benchmark collections: ``.npz`` outputs, a Parquet dataset, and the Ray engine.

Writes a random-weights mel128 model in the official layout and N clips of 1-10 s
(44.1 kHz stereo noise, seeded), then times the ``openl3 audio`` command on the folder,
once per output (each run a fresh process: start-up, model loading, and for Ray its
local instance included)::

    python scripts/bench_collection.py --clips 200

Prints windows/s of each run and its fraction of the npz run (targets: Parquet at least
95%, Ray local at least 75%), and the size on disk of each output per 10,000 windows.
The local Ray instance takes every CPU of the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
from bench_cli import write_random_weights

RUNS = {
    "npz": [],
    "parquet": ["--output-format", "parquet"],
    "parquet-float16": ["--output-format", "parquet", "--dtype", "float16"],
    "ray": ["--output-format", "parquet", "--engine", "ray"],
}


def parse_args() -> argparse.Namespace:
    """Parse the benchmark's arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--hop", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    return parser.parse_args()


def write_clips(folder: str, count: int) -> float:
    """Write ``count`` clips of 1-10 s; return their total duration in seconds."""
    rng = np.random.default_rng(0)
    total = 0.0
    for index in range(count):
        seconds = rng.uniform(1.0, 10.0)
        audio = 0.1 * rng.standard_normal((int(seconds * 44100), 2)).astype(np.float32)
        sf.write(os.path.join(folder, f"clip{index:04d}.wav"), audio, 44100)
        total += seconds
    return total


def folder_bytes(folder: str) -> int:
    """Return the bytes of the files under ``folder``."""
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(folder) for n in names)


def count_windows(folder: str, run: str) -> int:
    """Return the windows written to ``folder``."""
    if run == "npz":
        return sum(
            len(np.load(os.path.join(folder, n))["timestamps"])
            for n in os.listdir(folder)
            if n.endswith(".npz")
        )
    import pyarrow.dataset as ds

    return ds.dataset(folder).count_rows()


def run_command(run: str, inputs: str, output: str, weights: str, args: argparse.Namespace) -> float:
    """Run ``openl3 audio`` for one output kind; return its wall time in seconds."""
    command = [sys.executable, "-m", "openl3", "audio", inputs, "-o", output, "-q", "-i", "mel128"]
    command += ["-as", "512", "-t", str(args.hop), "-ab", str(args.batch_size), *RUNS[run]]
    environment = {**os.environ, "OPENL3_WEIGHTS_DIR": weights, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=environment)
    return time.perf_counter() - start


def float16_error(work: str) -> None:
    """Print the error of the float16 rows against the float32 rows of the same inputs."""
    import pyarrow.dataset as ds

    def rows(run: str) -> np.ndarray:
        table = (
            ds.dataset(os.path.join(work, run))
            .to_table()
            .sort_by([("path", "ascending"), ("index", "ascending")])
        )
        return np.stack(table["embedding"].to_numpy(zero_copy_only=False)).astype(np.float64)

    full, half = rows("parquet"), rows("parquet-float16")
    nonzero = full != 0
    relative = np.abs(half - full)[nonzero] / np.abs(full[nonzero])
    cosine = np.sum(full * half, 1) / (np.linalg.norm(full, axis=1) * np.linalg.norm(half, axis=1))
    print(
        f"float16 against float32: relative error max {relative.max():.2e}, "
        f"median {np.median(relative):.2e}; "
        f"cosine similarity min {cosine.min():.9f} (1 - cos: max {1 - cosine.min():.1e})"
    )


def main() -> None:
    """Run the benchmark and print its figures."""
    args = parse_args()
    with tempfile.TemporaryDirectory() as work:
        weights, inputs = os.path.join(work, "weights"), os.path.join(work, "inputs")
        os.makedirs(weights)
        os.makedirs(inputs)
        write_random_weights(os.path.join(weights, "openl3_audio_mel128_music.h5"), "mel128")
        seconds = write_clips(inputs, args.clips)
        print(
            f"{args.clips} clips, {seconds:.0f} s of 44.1 kHz stereo; mel128/512, hop {args.hop}, "
            f"batch {args.batch_size}, {os.cpu_count()} CPUs"
        )
        rates = {}
        for run in args.runs:
            output = os.path.join(work, run)
            elapsed = run_command(run, inputs, output, weights, args)
            windows = count_windows(output, run)
            rates[run] = windows / elapsed
            fraction = f"{rates[run] / rates['npz']:6.1%} of npz" if "npz" in rates else ""
            size = folder_bytes(output) / windows * 10_000 / 1e6
            print(
                f"{run:16s} {windows:6d} windows in {elapsed:6.1f} s: {rates[run]:6.2f} windows/s "
                f"{fraction}   {size:6.2f} MB per 10,000 windows"
            )
        if {"parquet", "parquet-float16"} <= set(rates):
            float16_error(work)


if __name__ == "__main__":
    main()
