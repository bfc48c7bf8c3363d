"""Speed of the precisions side by side, interleaved: faithful, fast, the model alone, and OpenL3 0.4.2.

Every measurement runs in a fresh process, and the runs are interleaved (round after round,
the order rotated), so that a machine that slows down or speeds up during the benchmark
does not favour one configuration. Each process loads the same weight file, embeds the same
generated audio once to warm up (tracing every batch shape), then times
``get_audio_embedding``; openl3's processes then time the model alone on pre-framed
batches of the same size (float32, and the precision's own predictor).

OpenL3 0.4.2's own code is timed when ``--openl3-042`` names a folder holding its
``openl3`` package (the source distribution unpacked: ``openl3-0.4.2/``), run on this
venv's TensorFlow, Keras and kapre. The weight files are ``openl3_audio_<repr>_music.h5``
in ``--weights-dir`` (official files, or seeded ones written by
``../shared/reference/make_weights.py DIR``). Example::

    python scripts/bench_precision.py --weights-dir W --openl3-042 openl3-0.4.2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: What each worker measures: openl3 0.4.2's code, or this openl3 at a precision.
CONFIGS = ("0.4.2", "faithful", "fast")


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights-dir", required=True, help="folder of openl3_audio_<repr>_music.h5 files")
    parser.add_argument("--openl3-042", help="folder holding OpenL3 0.4.2's openl3 package (optional)")
    parser.add_argument("--input-repr", nargs="+", default=["mel128", "mel256"])
    parser.add_argument("--embedding-size", type=int, default=6144, choices=[512, 6144])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the generated audio")
    parser.add_argument("--hop", type=float, default=0.1, help="hop size in seconds")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-repr", help=argparse.SUPPRESS)
    return parser.parse_args()


def generated_audio(seconds: float, sr: int = 44100) -> np.ndarray:
    """Return seeded stereo noise: the same input in every process."""
    return np.random.default_rng(0).normal(0, 0.1, (round(seconds * sr), 2))


def time_call(embed, audio: np.ndarray, sr: int) -> tuple[int, float]:
    """Warm up on two seconds, then time one call; return (windows, seconds)."""
    embed(audio[: 2 * sr])
    embed(audio)  # every batch shape of the measured call is traced before it is timed
    start = time.perf_counter()
    embedding = embed(audio)
    return len(embedding), time.perf_counter() - start


def model_alone(predict, batch: np.ndarray, windows: int) -> float:
    """Return windows/s of ``predict`` on one pre-framed batch run as often as the call's windows."""
    predict(batch)
    runs = max(1, windows // len(batch))
    start = time.perf_counter()
    for _ in range(runs):
        predict(batch)
    return runs * len(batch) / (time.perf_counter() - start)


def worker_042(args: argparse.Namespace, weights: str) -> dict[str, float]:
    """Time OpenL3 0.4.2's ``get_audio_embedding`` (its own code, this venv's libraries)."""
    sys.path.insert(0, os.path.abspath(args.openl3_042))
    import openl3

    if openl3.__version__ != "0.4.2":
        raise SystemExit(f"{args.openl3_042} holds openl3 {openl3.__version__}, not 0.4.2")
    model = openl3.models.load_audio_embedding_model_from_path(
        weights, args.worker_repr, args.embedding_size, frontend="kapre"
    )
    sr, audio = 44100, generated_audio(args.seconds)

    def embed(x):
        options = {"hop_size": args.hop, "batch_size": args.batch_size, "verbose": 0, "frontend": "kapre"}
        return openl3.get_audio_embedding(x, sr, model=model, **options)[0]

    windows, elapsed = time_call(embed, audio, sr)
    return {"pipeline": windows / elapsed}


def worker_openl3(args: argparse.Namespace, weights: str) -> dict[str, float | str]:
    """Time this openl3's ``get_audio_embedding`` at a precision, then its model alone."""
    import openl3
    from openl3.models.batching import model_predictor
    from openl3.models.precision import describe

    precision = args.worker
    model = openl3.models.load_audio_embedding_model_from_path(
        weights, args.worker_repr, args.embedding_size, frontend="kapre"
    )
    sr, audio = 44100, generated_audio(args.seconds)

    def embed(x):
        options = {"hop_size": args.hop, "batch_size": args.batch_size, "verbose": False, "frontend": "kapre"}
        return openl3.get_audio_embedding(x, sr, model=model, precision=precision, **options)[0]

    windows, elapsed = time_call(embed, audio, sr)
    batch = np.random.default_rng(1).normal(0, 0.1, (args.batch_size, 1, 48000)).astype(np.float32)
    return {
        "pipeline": windows / elapsed,
        "model_float32": model_alone(model_predictor(model, "faithful"), batch, windows),
        "model_own": model_alone(model_predictor(model, precision), batch, windows),
        "picked": describe(precision),
    }


def run_worker(args: argparse.Namespace) -> None:
    """Measure one configuration and print its figures as one JSON line."""
    weights = os.path.join(args.weights_dir, f"openl3_audio_{args.worker_repr}_music.h5")
    work = worker_042 if args.worker == "0.4.2" else worker_openl3
    print("RESULT " + json.dumps(work(args, weights)))


def measure(args: argparse.Namespace, config: str, input_repr: str) -> dict[str, float | str]:
    """Run one worker process; return its figures."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", config, "--worker-repr", input_repr]
    command += ["--weights-dir", args.weights_dir, "--seconds", str(args.seconds), "--hop", str(args.hop)]
    command += ["--batch-size", str(args.batch_size), "--embedding-size", str(args.embedding_size)]
    if args.openl3_042:
        command += ["--openl3-042", args.openl3_042]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{config} {input_repr} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def report(input_repr: str, results: dict[str, list[dict]]) -> None:
    """Print the medians of one representation's rounds and the ratios the targets name."""

    def median(config: str, key: str) -> float:
        return statistics.median(r[key] for r in results[config])

    def spread(config: str, key: str) -> str:
        values = [r[key] for r in results[config]]
        return f"{min(values):.2f}-{max(values):.2f}"

    print(f"\n{input_repr}: windows/s, median of {len(results['faithful'])} interleaved rounds (min-max)")
    for config in results:
        print(f"  {config:9s} end to end {median(config, 'pipeline'):6.2f} ({spread(config, 'pipeline')})")
    alone32 = median("faithful", "model_float32")
    fast_alone = median("fast", "model_own")
    print(f"  model alone float32 {alone32:6.2f}; model alone as 'fast' computes it {fast_alone:6.2f}")
    print(f"  'fast' picked: {results['fast'][0]['picked']}")
    faithful, fast = median("faithful", "pipeline"), median("fast", "pipeline")
    print(f"  fast / faithful end to end: {fast / faithful:.2f}x (target >= 1.6x)")
    print(f"  faithful / float32 model alone: {100 * faithful / alone32:.1f}% (target >= 95%)")
    if "0.4.2" in results:
        old = median("0.4.2", "pipeline")
        print(f"  fast / 0.4.2: {fast / old:.2f}x (target >= 1.9x); faithful / 0.4.2: {faithful / old:.2f}x")


def main() -> None:
    """Run the interleaved rounds and print the medians."""
    args = parse_args()
    if args.worker:
        run_worker(args)
        return
    configs = [c for c in CONFIGS if c != "0.4.2" or args.openl3_042]
    print(
        f"{args.seconds:g} s of 44.1 kHz stereo noise, hop {args.hop:g} s, batch {args.batch_size}, ", end=""
    )
    print(f"embedding size {args.embedding_size}, kapre frontend, {os.cpu_count()} CPUs")
    for input_repr in args.input_repr:
        results: dict[str, list[dict]] = {config: [] for config in configs}
        for round_ in range(args.rounds):
            order = configs[round_ % len(configs) :] + configs[: round_ % len(configs)]
            for config in order:
                results[config].append(measure(args, config, input_repr))
                print(f"  round {round_ + 1} {input_repr} {config}: {results[config][-1]['pipeline']:.2f}")
        report(input_repr, results)


if __name__ == "__main__":
    main()
