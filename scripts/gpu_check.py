"""Every GPU figure in one run: parity, windows/s per precision and batch, and precision errors.

Runs each Keras backend (JAX, PyTorch; TensorFlow on request) in its own process with
``KERAS_BACKEND`` set, and prints, per backend:

1. Parity with OpenL3 0.4.2's reference outputs (``shared/reference``, as
   ``tests/reference_parity.py`` computes it): the largest error relative to each
   embedding's largest magnitude, per case. Tonal cases (``tones48k``, the chirp) are
   expected to differ on a GPU by the GPU FFT's rounding of pure tones (about 1e-4,
   against 1e-6 elsewhere): that is the spectrogram's float32 rounding, not a bug.
2. Windows/s of mel128 and mel256 (kapre frontend, random weights) at batch 256, 1024
   and 2048 in each precision ("faithful", "tf32", "bfloat16"; one the installed openl3
   refuses is reported "not available"): the model alone on pre-framed windows, and
   ``get_audio_embedding`` end to end (48 kHz input, hop 0.1 s: no resampling).
3. The error of each reduced precision against faithful on the same windows (a seeded
   sweep with noise; random weights): relative L2 per window (median, max), the smallest
   cosine, and the largest value error relative to the largest value.

Install a backend's GPU build first (``--install`` does it), then::

    python scripts/gpu_check.py                    # JAX and PyTorch (sized for 8 minutes)
    python scripts/gpu_check.py --quick --cpu-ok   # tiny sizes on a CPU: does it run?
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(os.environ.get("OPENL3_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
PRECISIONS = ("faithful", "tf32", "bfloat16")
INSTALL = {"jax": ["jax[cuda12]"], "torch": ["torch"], "tensorflow": ["tensorflow[and-cuda]"]}
TONAL = ("tones", "chirp")


def say(text: str) -> None:
    """Print one line of the report at once."""
    print(text, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=sorted(INSTALL))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (batches 2 and 4, few cases)")
    parser.add_argument(
        "--cpu-ok", action="store_true", help="run on a CPU too (else a backend without GPU stops)"
    )
    parser.add_argument(
        "--install", action="store_true", help="pip-install the GPU build of a missing backend"
    )
    parser.add_argument("--reference", type=Path, default=REFERENCE_DIR, help="the 0.4.2 reference folder")
    parser.add_argument("--timeout", type=float, default=330, help="seconds per backend (default 330)")
    parser.add_argument(
        "--input-reprs", nargs="+", default=["mel128", "mel256"], choices=["mel128", "mel256"]
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- the backend's process -------------------------------------------------------------------


def check_device(args: argparse.Namespace) -> bool:
    """Say which device the backend computes on; False if it is no GPU and that is not allowed."""
    import keras

    from openl3.models.precision import device_kind

    kind = device_kind(keras.backend.backend())
    say(f"device: {kind} (keras {keras.__version__}, backend {keras.backend.backend()})")
    if kind != "gpu" and not args.cpu_ok:
        say("no GPU seen by this backend: stopping (--cpu-ok runs on the CPU anyway)")
        return False
    return True


class _Subset:
    """The reference archive, limited to some keys (``--quick``)."""

    def __init__(self, archive, keep):
        self._archive, self.files = archive, [key for key in archive.files if keep(key)]

    def __getitem__(self, key: str) -> np.ndarray:
        return self._archive[key]


def parity(args: argparse.Namespace, workdir: Path) -> None:
    """Print the largest relative error against 0.4.2's outputs per audio case and image size."""
    if not (args.reference / "reference_0_4_2.npz").is_file():
        say(f"parity: skipped (no reference at {args.reference}; copy shared/reference there)")
        return
    spec = importlib.util.spec_from_file_location("reference_parity", REPO / "tests" / "reference_parity.py")
    reference_parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference_parity)
    archive, inputs, make_weights = reference_parity.load_reference(args.reference)
    weights = make_weights.write_all(str(workdir))
    if args.quick:
        archive = _Subset(
            archive, lambda key: ("|mel128|" in key and "|0.5|" in key) or key.startswith("image|512")
        )
    audio = reference_parity.audio_errors(archive, inputs, weights, ("kapre", "librosa"))
    by_case: dict[str, list[float]] = {}
    for key, (error, timestamps_equal) in audio.items():
        by_case.setdefault(key.split("|")[4], []).append(error if timestamps_equal else float("inf"))
    for case, errors in sorted(by_case.items()):
        note = (
            "  (tonal: on a GPU, its FFT's rounding of pure tones is expected here)"
            if case.startswith(TONAL)
            else ""
        )
        say(f"parity {case:18s} {len(errors):2d} keys: max relative error {max(errors):.2e}{note}")
    if not args.quick:
        image = reference_parity.image_errors(archive, inputs, weights)
        say(f"parity image {len(image):2d} keys: max relative error {max(image.values()):.2e}")


def signal(n_windows: int, hop: int = 4800) -> np.ndarray:
    """Return a seeded 48 kHz sweep with noise, of exactly ``n_windows`` centred windows."""
    length = 24_000 + (n_windows - 1) * hop
    t = np.arange(length) / 48_000
    rng = np.random.default_rng(0)
    sweep = np.sin(2 * np.pi * (100 + 40 * t) * t)
    return (0.3 * sweep + 0.05 * rng.normal(0, 1, length)).astype(np.float32)


def model_speed(predict, batch: np.ndarray, reps: int) -> float:
    """Return windows/s of ``predict`` on ``batch`` (after one call that compiles)."""
    predict(batch)
    start = time.perf_counter()
    for _ in range(reps):
        predict(batch)
    return reps * len(batch) / (time.perf_counter() - start)


def end_to_end(model, input_repr: str, precision: str, batch_size: int) -> tuple[float, np.ndarray]:
    """Return windows/s of ``get_audio_embedding`` on two batches' worth of audio, and the embeddings."""
    import openl3

    audio = signal(2 * batch_size)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedding, _ = openl3.get_audio_embedding(
            audio, 48_000, model=model, input_repr=input_repr, hop_size=0.1,
            batch_size=batch_size, precision=precision, verbose=False,
        )  # fmt: skip
    return len(embedding) / (time.perf_counter() - start), embedding


def errors(got: np.ndarray, faithful: np.ndarray) -> str:
    """Describe how far ``got`` is from ``faithful``, window by window."""
    norms = np.linalg.norm(faithful, axis=1)
    relative = np.linalg.norm(got - faithful, axis=1) / norms
    cosine = np.sum(got * faithful, axis=1) / (np.linalg.norm(got, axis=1) * norms)
    largest = np.abs(got - faithful).max() / np.abs(faithful).max()
    return (
        f"relative L2 median {np.median(relative):.2e} max {relative.max():.2e}, "
        f"min cosine {cosine.min():.6f}, largest value error {largest:.2e}"
    )


def speeds(args: argparse.Namespace) -> None:
    """Print windows/s per model, precision and batch size, and each reduced precision's error."""
    import openl3
    from openl3.models import build_audio_model

    batches, reps = ((2, 4), 1) if args.quick else ((256, 1024, 2048), 3)
    for input_repr in args.input_reprs:
        model, _ = build_audio_model(input_repr, 512, "kapre")
        faithful = None
        for precision in PRECISIONS:
            try:
                predict = openl3.models.batching.model_predictor(model, precision)
            except (openl3.OpenL3Error, ValueError, NotImplementedError) as error:
                say(f"speed {input_repr} {precision:8s}: not available ({error})")
                continue
            for batch_size in batches:
                window = signal(batch_size)[: batch_size * 48_000].reshape(1, 1, -1)
                alone = model_speed(predict, np.resize(window, (batch_size, 1, 48_000)), reps)
                whole, embedding = end_to_end(model, input_repr, precision, batch_size)
                say(
                    f"speed {input_repr} {precision:8s} batch {batch_size:4d}: model alone {alone:8.1f} "
                    f"windows/s, end to end {whole:8.1f} windows/s ({whole / alone:.0%} of the model)"
                )
                if batch_size == batches[0]:
                    faithful = embedding if precision == "faithful" else faithful
                    if precision != "faithful" and faithful is not None:
                        say(f"error {input_repr} {precision} against faithful: {errors(embedding, faithful)}")


def worker(args: argparse.Namespace) -> int:
    """Run every check on this process's backend; return the exit status."""
    import tempfile

    if not check_device(args):
        return 3
    with tempfile.TemporaryDirectory() as workdir:
        parity(args, Path(workdir))
    speeds(args)
    return 0


# -- the parent: one process per backend ----------------------------------------------------


def run_backend(args: argparse.Namespace, backend: str) -> str:
    """Run the checks of ``backend`` in a process of its own; return a one-line outcome."""
    if importlib.util.find_spec(backend) is None:
        if not args.install:
            return "not installed (--install installs its GPU build)"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *INSTALL[backend]], check=False)
    command = [sys.executable, __file__, "--worker", backend, "--reference", str(args.reference)]
    command += ["--quick"] * args.quick + ["--cpu-ok"] * args.cpu_ok + ["--input-reprs", *args.input_reprs]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    try:
        status = subprocess.run(command, env=environment, timeout=args.timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return f"stopped after {args.timeout:g} s (--timeout)"
    return f"exit status {status} in {time.perf_counter() - start:.0f} s"


def main(argv: list[str] | None = None) -> int:
    """Run every backend asked for and print a summary; return 0 if all of them ran through."""
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    outcomes = {}
    for backend in args.backends:
        say(f"=== {backend} ===")
        outcomes[backend] = run_backend(args, backend)
    say("=== summary === " + json.dumps(outcomes))
    return 0 if all(outcome.startswith("exit status 0 ") for outcome in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
