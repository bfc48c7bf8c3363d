"""Errors of this package against OpenL3 0.4.2's reference outputs, on the active Keras backend.

Used in-process by ``tests/test_reference.py`` (TensorFlow) and run as a script with
``KERAS_BACKEND`` set for the other backends (where TensorFlow is missing, importing
openl3 first chooses JAX, else PyTorch)::

    KERAS_BACKEND=jax python tests/reference_parity.py REFERENCE_DIR WEIGHTS_DIR SPECTROGRAM

which prints one JSON object: the largest relative error and the keys checked.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import numpy as np


def load_reference(reference_dir: Path) -> tuple:
    """Return the reference archive and its ``inputs`` and ``make_weights`` modules."""
    modules = {}
    for name in ("inputs", "make_weights"):
        spec = importlib.util.spec_from_file_location(f"reference_{name}", reference_dir / f"{name}.py")
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    return np.load(reference_dir / "reference_0_4_2.npz"), modules["inputs"], modules["make_weights"]


def audio_errors(archive, inputs, weights: dict, frontends: tuple, spectrogram: str = "auto") -> dict:
    """Return ``{key: (relative error, timestamps equal)}`` for every audio case of ``frontends``."""
    import openl3

    models, cases, errors = {}, inputs.audio_cases(), {}
    for key in sorted(k for k in archive.files if k.startswith("audio|") and k.endswith("|emb")):
        _, input_repr, frontend, size, case, center, hop, _ = key.split("|")
        if frontend not in frontends:
            continue
        if (input_repr, frontend, size) not in models:
            models[input_repr, frontend, size] = openl3.models.load_audio_embedding_model_from_path(
                weights[input_repr], input_repr, int(size), frontend=frontend, spectrogram=spectrogram
            )
        audio, sr = cases[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", openl3.OpenL3Warning)
            emb, ts = openl3.get_audio_embedding(
                audio,
                sr,
                model=models[input_repr, frontend, size],
                input_repr=input_repr,
                center=bool(int(center)),
                hop_size=float(hop),
                frontend=frontend,
                verbose=False,
            )
        expected = archive[key]
        error = (
            float(np.abs(emb - expected).max() / np.abs(expected).max())
            if emb.shape == expected.shape
            else 1.0
        )
        errors[key] = (error, bool(np.array_equal(ts, archive[key[: -len("emb")] + "ts"])))
    return errors


def image_errors(archive, inputs, weights: dict) -> dict:
    """Return ``{key: relative error}`` for every image case."""
    import openl3

    errors = {}
    for size in (512, 8192):
        model = openl3.models.load_image_embedding_model_from_path(weights["image"], size)
        for case, image in inputs.image_cases().items():
            expected = archive[f"image|{size}|{case}|emb"]
            emb = openl3.get_image_embedding(image, model=model, verbose=False)
            errors[f"image|{size}|{case}"] = float(np.abs(emb - expected).max() / np.abs(expected).max())
    return errors


def main() -> None:
    """Print the errors on the active backend as JSON."""
    import openl3  # noqa: F401 - first: where TensorFlow is missing, it chooses Keras' backend

    # isort: split
    import keras

    reference_dir, weights_dir, spectrogram = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    archive, inputs, make_weights = load_reference(reference_dir)
    weights = make_weights.write_all(weights_dir)
    audio = audio_errors(archive, inputs, weights, ("kapre", "librosa"), spectrogram)
    image = image_errors(archive, inputs, weights)
    print(  # noqa: T201 - a script: its output is the result
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "audio_keys": len(audio),
                "audio_max": max(e for e, _ in audio.values()),
                "kapre_max": max(e for k, (e, _) in audio.items() if "|kapre|" in k),
                "librosa_max": max(e for k, (e, _) in audio.items() if "|librosa|" in k),
                "timestamps_equal": all(t for _, t in audio.values()),
                "image_keys": len(image),
                "image_max": max(image.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
