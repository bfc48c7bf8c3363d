"""Measure the error of the reduced precisions against faithful float32, per model.

Two reduced precisions are measured on the same windows:

- ``tf32``: with a GPU the Keras backend can see, ``precision="tf32"`` on that GPU.
  Without one (CPUs have no TF32), TensorFlow computes it with its convolution and
  matrix-product operands rounded to TF32 (``openl3.models.precision.simulated_tf32``), once
  rounding to nearest and once truncating, and both sides run eagerly so that the
  rounding is the only difference.
- ``bfloat16``: ``precision="bfloat16"`` computed for real (the tower in bfloat16, on any
  device; emulated, so slow, on CPUs without native bfloat16).

Examples::

    python scripts/precision_error.py --weights DIR --embedding-size 512 --windows 24
    python scripts/precision_error.py --weights official --windows 256 --image    # on a GPU

``DIR`` holds weight files in the official layout (``../shared/reference/make_weights.py``
writes seeded random ones). The windows are generated 48 kHz audio of four real-like kinds
(:data:`KINDS`: speech-like formant-filtered pulse trains, music-like chords, noise, and
quiet audio near silence) and, with ``--image``, generated images. For each model and mode
it prints, over the windows: the relative L2 error ``|reduced - faithful| / |faithful|``
(median and max), the largest error of one value relative to its window's largest value
(median and max), and the cosine similarity (min and median); ``--per-kind`` adds a row
per kind of signal.

``--downstream`` adds a check of what the error changes for a user: a generated labelled
set (:data:`CLASSES`, ``--clips`` one-second clips each) is embedded in faithful and in
bfloat16, and the script prints how often the nearest neighbour of each clip (cosine,
among the others) and the predictions of a scikit-learn logistic regression (5-fold
cross-validated, fixed seed) are the same in both modes.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The kinds of generated audio windows, cycled through.
KINDS = ("speech-like", "music-like", "noise", "quiet")

#: The classes of the generated labelled set of ``--downstream``.
CLASSES = ("speech-like", "music-like", "noise", "chirp")

#: What each mode is measured as: ``tf32`` is simulated without a GPU.
MODES = ("tf32", "bfloat16")


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
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--per-kind", action="store_true", help="also a row per kind of signal")
    parser.add_argument(
        "--downstream",
        action="store_true",
        help="nearest neighbours and logistic regression, faithful vs bfloat16",
    )
    parser.add_argument("--clips", type=int, default=20, help="clips per class for --downstream")
    return parser.parse_args()


def _resonate(x: np.ndarray, freq: float, bandwidth: float, sr: int = 48000) -> np.ndarray:
    """Return ``x`` through a two-pole resonator at ``freq`` Hz (a formant)."""
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bandwidth / sr)
    return lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq / sr), r * r], x)


def generated_audio(kind: str, rng: np.random.Generator, sr: int = 48000) -> np.ndarray:
    """Return one second of generated audio of ``kind`` (:data:`KINDS` or :data:`CLASSES`)."""
    t = np.arange(sr) / sr
    if kind == "speech-like":  # glottal pulse train, jittered pitch, three formants, syllables
        f0 = rng.uniform(90, 250) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
        pulses = np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0.0)
        formants = zip(rng.uniform([300, 900, 2200], [900, 2300, 3200]), (80, 120, 160), strict=True)
        x = sum(_resonate(pulses, f, bw) for f, bw in formants)
        x *= 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6))
    elif kind == "music-like":  # a chord of harmonic notes with decays
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        notes = [root * 2 ** (k / 12) for k in (0, rng.choice([3, 4]), 7)]
        x = sum(
            np.exp(-h * rng.uniform(1, 3) * t) * np.sin(2 * np.pi * h * f * t + rng.uniform(0, 6)) / h
            for f in notes
            for h in range(1, 6)
        )
    elif kind == "noise":  # noise with a random spectral tilt
        spectrum = np.fft.rfft(rng.normal(0, 1, sr))
        spectrum[1:] /= np.arange(1, len(spectrum)) ** rng.uniform(0, 1)
        x = np.fft.irfft(spectrum, sr)
    elif kind == "chirp":
        f0, f1 = rng.uniform(50, 500), rng.uniform(2000, 16000)
        x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 2))
    elif kind == "quiet":  # near silence: faint hiss and a faint hum, around -75 dBFS
        x = rng.normal(0, 1e-4, sr) + 1e-4 * np.sin(2 * np.pi * rng.choice([50, 60]) * t)
        return x
    else:
        raise ValueError(f"Unknown kind of audio {kind!r}.")
    return x * (rng.uniform(0.05, 0.3) / np.abs(x).max())


def audio_windows(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Return ``count`` one-second 48 kHz windows cycling through :data:`KINDS`, and their kinds."""
    rng = np.random.default_rng(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    windows = [generated_audio(kind, rng) for kind in kinds]
    return np.asarray(windows, np.float32)[:, None, :], kinds


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


def measure(
    model, inputs: np.ndarray, batch_size: int, on_gpu: bool, modes: list[str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Return (how the mode was computed, its outputs, the faithful outputs) per mode, for one model."""
    from openl3.models.batching import model_predictor

    faithful = outputs_of(model_predictor(model, "faithful"), inputs, batch_size)
    rows = []
    for mode in modes:
        if mode == "bfloat16" or on_gpu:
            reduced = outputs_of(model_predictor(model, mode), inputs, batch_size)
            rows.append((f"{mode} on the {'GPU' if on_gpu else 'CPU'}", reduced, faithful))
            continue
        from openl3.models.precision import TF32_ROUNDINGS, simulated_tf32

        def run_eagerly(batch: np.ndarray):
            return model(batch, training=False)

        eager = outputs_of(run_eagerly, inputs, batch_size)
        for rounding in TF32_ROUNDINGS:
            with simulated_tf32(rounding):
                reduced = outputs_of(run_eagerly, inputs, batch_size)
            rows.append((f"tf32 simulated ({rounding})", reduced, eager))
    return rows


def nearest_neighbours(embeddings: np.ndarray) -> np.ndarray:
    """Return, for each row, the index of the most cosine-similar other row."""
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity.argmax(axis=1)


def cross_validated_predictions(embeddings: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Return 5-fold cross-validated predictions of a standardised logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_predict(classifier, embeddings, labels, cv=folds)


def downstream(model, clips: int, batch_size: int, seed: int) -> dict[str, float]:
    """Return how often faithful and bfloat16 embeddings give the same downstream answers."""
    from openl3.models.batching import model_predictor

    rng = np.random.default_rng(seed + 1)
    labels = np.repeat(np.arange(len(CLASSES)), clips)
    inputs = np.asarray([generated_audio(CLASSES[k], rng) for k in labels], np.float32)[:, None, :]
    faithful, reduced = (
        outputs_of(model_predictor(model, mode), inputs, batch_size) for mode in ("faithful", "bfloat16")
    )
    neighbours = [nearest_neighbours(e) for e in (faithful, reduced)]
    predictions = [cross_validated_predictions(e, labels, seed) for e in (faithful, reduced)]
    return {
        "clips": len(labels),
        "same nearest neighbour": float(np.mean(neighbours[0] == neighbours[1])),
        "nearest neighbour's class right, faithful": float(np.mean(labels[neighbours[0]] == labels)),
        "nearest neighbour's class right, bfloat16": float(np.mean(labels[neighbours[1]] == labels)),
        "same logistic regression prediction": float(np.mean(predictions[0] == predictions[1])),
        "logistic regression accuracy, faithful": float(np.mean(predictions[0] == labels)),
        "logistic regression accuracy, bfloat16": float(np.mean(predictions[1] == labels)),
    }


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


def load_models(args: argparse.Namespace) -> list[tuple[str, object, np.ndarray, list[str]]]:
    """Return (name, model, inputs, kind of each input) for each model to measure."""
    size = args.embedding_size
    windows, kinds = audio_windows(args.windows, args.seed)
    models = [
        (f"audio {r}/{size}", load_model("audio", r, args, size), windows, kinds) for r in args.input_repr
    ]
    if args.image:
        image_size = 8192 if size == 6144 else 512
        model = load_model("image", args.input_repr[-1], args, image_size)
        models.append(
            (f"image {image_size}", model, images(args.windows, args.seed), ["image"] * args.windows)
        )
    return models


def format_figures(figures: dict[str, float]) -> str:
    """Return the error figures on one line."""
    return ", ".join(
        f"{key} {value:.7f}" if key.startswith("cosine") else f"{key} {value:.2e}"
        for key, value in figures.items()
    )


def main() -> None:
    """Measure and print the error figures of every model the command line names."""
    args = parse_args()
    import keras

    keras.utils.set_random_seed(args.seed)
    from openl3.models.batching import has_accelerator

    on_gpu = has_accelerator()
    if not on_gpu and "tf32" in args.modes and keras.backend.backend() != "tensorflow":
        raise SystemExit(
            "Without a GPU, TF32 is simulated with TensorFlow: run with KERAS_BACKEND=tensorflow."
        )
    print(
        f"keras backend {keras.backend.backend()}, {'GPU' if on_gpu else 'CPU (TF32 simulated)'}, "
        f"{args.weights} weights, {args.windows} inputs per model ({', '.join(KINDS)} for audio)"
    )
    models = load_models(args)
    for name, model, inputs, kinds in models:
        for how, reduced, faithful in measure(model, inputs, args.batch_size, on_gpu, args.modes):
            print(f"{name:<18} {how:<26} all   {format_figures(error_figures(reduced, faithful))}")
            if not args.per_kind or name.startswith("image"):
                continue
            for kind in dict.fromkeys(kinds):
                rows = np.array([k == kind for k in kinds])
                figures = error_figures(reduced[rows], faithful[rows])
                print(f"{'':<18} {'':<26} {kind:<11} {format_figures(figures)}")
    if args.downstream:
        name, model = next((n, m) for n, m, _, _ in models if n.startswith("audio"))
        figures = downstream(model, args.clips, args.batch_size, args.seed)
        print(
            f"downstream, {name}, {', '.join(CLASSES)}: "
            + ", ".join(f"{k} {v:.3g}" for k, v in figures.items())
        )


if __name__ == "__main__":
    main()
