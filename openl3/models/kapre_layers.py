"""kapre, optional: its own spectrogram layers where asked for, and what a model or saved file holds.

The models compute their spectrogram with openl3's ``keras.ops`` twin of kapre's layers
(:class:`openl3.models.layers.Spectrogram`) on every backend. kapre's own layers (kapre
0.4, the last release, on TensorFlow only) are used where a user asks for them
(``spectrogram="kapre"``) and where a saved model holds them
(:func:`openl3.models.load.load_keras_model`); both need kapre installed (``pip install
'openl3[kapre]'``). Nothing here imports Keras or kapre when imported.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from typing import Any

from .._util.backends import installed
from .._util.exceptions import OpenL3Error

__all__ = [
    "KAPRE_CLASSES",
    "KAPRE_INSTALL",
    "kapre_classes_in",
    "kapre_layers",
    "missing_kapre",
    "spectrogram_of",
]

#: What installs kapre's layers, and what they run on.
KAPRE_INSTALL = (
    "pip install 'openl3[kapre]' (kapre 0.4.1 runs on the TensorFlow backend only, with "
    "TensorFlow < 2.21 and Keras < 3.14)"
)
#: The kapre layers OpenL3's models use.
KAPRE_CLASSES = ("STFT", "Magnitude", "ApplyFilterbank")


def missing_kapre() -> str | None:
    """Return why kapre's layers cannot be used here (None when they can)."""
    if not installed("kapre"):
        return f"kapre is not installed: {KAPRE_INSTALL}"
    import keras

    if keras.backend.backend() != "tensorflow":
        return f"kapre's layers run on TensorFlow only, and Keras runs on {keras.backend.backend()} here"
    return None


def kapre_layers() -> tuple[Any, Any, Any]:
    """Return kapre's ``STFT``, ``Magnitude`` and ``ApplyFilterbank`` classes.

    Raises
    ------
    OpenL3Error
        Where kapre is not installed or Keras does not run on TensorFlow, saying what to
        install, and that ``spectrogram="keras"`` gives the same numbers on every backend.

    Examples
    --------
    >>> STFT, Magnitude, ApplyFilterbank = kapre_layers()     # where openl3[kapre] is installed
    """
    why = missing_kapre()
    if why:
        raise OpenL3Error(
            f'spectrogram="kapre" asks for kapre\'s own layers, but {why}. spectrogram="keras" (the '
            "default) computes the same numbers on every backend."
        )
    from kapre.time_frequency import STFT, ApplyFilterbank, Magnitude

    return STFT, Magnitude, ApplyFilterbank


def _classes(config: Any) -> Iterator[tuple[str, str]]:
    """Yield (module, class name) of every serialised object in a Keras model configuration."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str):
            yield str(config.get("module") or ""), config["class_name"]
        for value in config.values():
            yield from _classes(value)
    elif isinstance(config, list):
        for value in config:
            yield from _classes(value)


def _model_config(path: str) -> Any:
    """Return the model configuration of a saved Keras model (``.keras`` or ``.h5``), or None."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "config.json" in archive.namelist():
                return json.loads(archive.read("config.json"))
        return None
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            text = handle.attrs.get("model_config")
    except OSError:
        return None
    return None if text is None else json.loads(text.decode() if isinstance(text, bytes) else text)


def kapre_classes_in(path: str) -> list[str]:
    """Return the names of kapre's layers a saved Keras model holds (sorted, each once).

    Examples
    --------
    >>> model = openl3.models.load_audio_embedding_model("mel128", "music", 512, spectrogram="kapre")
    >>> model.save("l3.keras")
    >>> kapre_classes_in("l3.keras")
    ['ApplyFilterbank', 'Magnitude', 'STFT']
    """
    config = _model_config(path)
    return sorted(
        {name for module, name in _classes(config) if module.startswith("kapre") or name in KAPRE_CLASSES}
    )


def spectrogram_of(model: Any) -> str | None:
    """Return what computes a model's in-graph spectrogram: "kapre", "keras" (openl3's twin) or None.

    Examples
    --------
    >>> spectrogram_of(openl3.models.load_audio_embedding_model("mel128", "music", 512))
    'keras'
    """
    found = None
    for layer in model._flatten_layers(include_self=False):
        kind = type(layer)
        if kind.__module__.startswith("kapre"):
            return "kapre"
        if kind.__name__ == "Spectrogram" and kind.__module__.startswith("openl3"):
            found = "keras"
    return found
