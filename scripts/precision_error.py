"""Measure the error of ``precision="fast"`` (TF32) against faithful float32, per model.

With a GPU the Keras backend can see, the same windows go through the model under
``precision="faithful"`` and ``precision="fast"`` on that GPU. Without one (CPUs have no
TF32), TensorFlow computes the "fast" side with its convolution and matrix-product
operands rounded to TF32 (``openl3.precision.simulated_tf32``), once rounding to nearest
and once truncating, and both sides run eagerly so that the rounding is the only
difference. Examples::

    python scripts/precision_error.py --input-repr linear mel128 mel256 --image
    python scripts/precision_error.py --weights official --windows 256    # on a GPU

The windows are generated 48 kHz audio of five kinds (white and pink noise, chords,
chirps, quiet noise) and, with ``--image``, generated images. For each model it prints,
over the windows: the relative L2 error ``|fast - faithful| / |faithful|`` (median and
max), the largest error of one value relative to its window's largest value (median and
max), and the cosine similarity (min and median).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

KINDS = ("white noise", "pink noise", "chord", "chirp", "quiet noise")


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--input-repr",
        nargs="+",
        default=["linear", "mel128", "mel256"],
        choices=["linear", "mel128", "mel256"],
    )
    parser.add_argument("--content-type", default="music", choices=["music", "env"])
    parser.add_argument("--embedding-size", type=int, default=6144, choices=[512, 6144])
    parser.add_argument("--image", action="store_true", help="also measure the image model")
    parser.add_argument("--windows", type=int, default=40, help="audio windows (or images) per model")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--weights",
        default="random",
        help="'random', 'official', or a folder of weight files named as published (or without the version)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def audio_windows(count: int, seed: int) -> np.ndarray:
    """Return ``count`` one-second 48 kHz windows, cycling through :data:`KINDS`."""
    rng = np.random.default_rng(seed)
    t = np.arange(48000) / 48000
    windows = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        if kind in ("white noise", "quiet noise"):
            x = rng.normal(0, 0.1 if kind == "white noise" else 1e-4, 48000)
        elif kind == "pink noise":
            spectrum = np.fft.rfft(rng.normal(0, 1, 48000))
            spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
            x = np.fft.irfft(spectrum, 48000)
            x *= 0.1 / x.std()
        elif kind == "chord":
            freqs = rng.uniform(80, 4000, 3)
            x = sum(0.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in freqs)
        else:
            f0, f1 = rng.uniform(50, 500), rng.uniform(2000, 20000)
            x = 0.3 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 2))
        windows.append(x)
    return np.asarray(windows, np.float32)[:, None, :]


def images(count: int, seed: int) -> np.ndarray:
    """Return ``count`` prepared 224x224 images: smooth gradients with noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:224, 0:224] / 224
    batch = []
    for _ in range(count):
        a, b, c = rng.uniform(-1, 1, (3, 3))
        rgb = np.stack([a[k] * x + b[k] * y + c[k] * x * y for k in range(3)], axis=-1)
        batch.append(np.clip(rgb + rng.normal(0, 0.2, rgb.shape), -1, 1))
    return np.asarray(batch, np.float32)


def error_figures(fast: np.ndarray, faithful: np.ndarray) -> dict[str, float]:
    """Return the error statistics of ``fast`` against ``faithful`` (rows are embeddings)."""
    diff = fast.astype(np.float64) - faithful
    norms = np.linalg.norm(faithful, axis=1)
    relative_l2 = np.linalg.norm(diff, axis=1) / norms
    of_largest = np.abs(diff).max(axis=1) / np.abs(faithful).max(axis=1)
    cosine = np.sum(fast.astype(np.float64) * faithful, axis=1) / (np.linalg.norm(fast, axis=1) * norms)
    return {
        "relative L2 median": float(np.median(relative_l2)),
        "relative L2 max": float(relative_l2.max()),
        "largest value error median": float(np.median(of_largest)),
        "largest value error max": float(of_largest.max()),
        "cosine min": float(cosine.min()),
        "cosine median": float(np.median(cosine)),
    }


def outputs_of(call, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """Return ``call``'s float64 outputs for ``inputs``, called batch by batch."""
    parts = [np.asarray(call(inputs[i : i + batch_size])) for i in range(0, len(inputs), batch_size)]
    return np.concatenate(parts).astype(np.float64)


def measure(model, inputs: np.ndarray, batch_size: int, on_gpu: bool) -> list[tuple[str, dict[str, float]]]:
    """Return (how "fast" was computed, error figures) for one model."""
    if on_gpu:
        from openl3.batching import model_predictor

        faithful, fast = (
            outputs_of(model_predictor(model, p), inputs, batch_size) for p in ("faithful", "fast")
        )
        return [("fast on the GPU", error_figures(fast, faithful))]
    from openl3.precision import TF32_ROUNDINGS, simulated_tf32

    def run_eagerly(batch: np.ndarray):
        return model(batch, training=False)

    faithful = outputs_of(run_eagerly, inputs, batch_size)
    rows = []
    for rounding in TF32_ROUNDINGS:
        with simulated_tf32(rounding):
            fast = outputs_of(run_eagerly, inputs, batch_size)
        rows.append((f"simulated TF32 ({rounding})", error_figures(fast, faithful)))
    return rows


def load_model(modality: str, input_repr: str, args: argparse.Namespace, embedding_size: int):
    """Return one model with the weights ``args.weights`` names."""
    from pathlib import Path

    from openl3 import models
    from openl3.models.registry import weight_file

    if args.weights == "random":
        build = models.build_audio_model if modality == "audio" else models.build_image_model
        return (build(input_repr, embedding_size) if modality == "audio" else build(embedding_size))[0]
    if args.weights == "official":
        load = models.load_audio_embedding_model if modality == "audio" else models.load_image_embedding_model
        return load(input_repr, args.content_type, embedding_size)
    names = weight_file(modality, input_repr, args.content_type).candidate_names()
    path = next((Path(args.weights) / n for n in names if (Path(args.weights) / n).exists()), None)
    if path is None:
        raise SystemExit(f"No {modality} weights for {input_repr} in {args.weights} (looked for {names}).")
    if modality == "audio":
        return models.load_audio_embedding_model_from_path(str(path), input_repr, embedding_size)
    return models.load_image_embedding_model_from_path(str(path), embedding_size)


def load_models(args: argparse.Namespace) -> list[tuple[str, object, np.ndarray]]:
    """Return (name, model, inputs) for each model to measure."""
    size = args.embedding_size
    models = [
        (f"audio {r}/{size}", load_model("audio", r, args, size), audio_windows(args.windows, args.seed))
        for r in args.input_repr
    ]
    if args.image:
        image_size = 8192 if size == 6144 else 512
        model = load_model("image", args.input_repr[-1], args, image_size)
        models.append((f"image {image_size}", model, images(args.windows, args.seed)))
    return models


def main() -> None:
    """Measure and print the error figures of every model the command line names."""
    args = parse_args()
    import keras

    keras.utils.set_random_seed(args.seed)
    from openl3.batching import has_accelerator

    on_gpu = has_accelerator()
    if not on_gpu and keras.backend.backend() != "tensorflow":
        raise SystemExit(
            "Without a GPU, TF32 is simulated with TensorFlow: run with KERAS_BACKEND=tensorflow."
        )
    print(
        f"keras backend {keras.backend.backend()}, {'GPU' if on_gpu else 'CPU (TF32 simulated)'}, "
        f"{args.weights} weights, {args.windows} inputs per model ({', '.join(KINDS)} for audio)"
    )
    for name, model, inputs in load_models(args):
        for how, figures in measure(model, inputs, args.batch_size, on_gpu):
            values = ", ".join(
                f"{key} {value:.8f}" if key.startswith("cosine") else f"{key} {value:.2e}"
                for key, value in figures.items()
            )
            print(f"{name:<18} {how:<26} {values}")


if __name__ == "__main__":
    main()
