"""Reduced-precision copies of a model: the tower in bfloat16, the frontend and the output in float32.

A copy has the original's graph and weights; the layers of its tower (convolutions,
batch normalisations, activations and max-poolings: :data:`TOWER_CLASSES`) get their
own Keras dtype policy (``mixed_bfloat16``: float32 weights, bfloat16 compute), not
Keras' global one. The spectrogram frontend keeps float32, so the windows and the
spectrogram keep 0.4.2's numbers, and the layers after the tower (the final flatten or
global pooling, float32) cast the embedding back to float32.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

#: Keras layer classes of the L3-Net tower, whose computations a reduced precision changes.
TOWER_CLASSES = ("Conv2D", "BatchNormalization", "Activation", "MaxPooling2D")

#: The Keras dtype policy of the tower for each precision that needs a copy of the model.
TOWER_POLICIES = {"bfloat16": "mixed_bfloat16"}

_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()


def is_tower_layer(layer: Any) -> bool:
    """Whether ``layer`` is one of the tower's kinds (:data:`TOWER_CLASSES`)."""
    return type(layer).__name__ in TOWER_CLASSES


def has_policy(model: Any, policy: str) -> bool:
    """Whether some layer of ``model`` computes under the dtype policy named ``policy``."""
    return any(
        getattr(layer, "dtype_policy", None) is not None and layer.dtype_policy.name == policy
        for layer in model.layers
    )


def reduced_copy(model: Any, precision: str) -> Any:
    """Return a copy of ``model`` whose tower computes in ``precision``, with the same weights.

    Parameters
    ----------
    model : keras.Model
        A functional model (what openl3 builds, or a user's model of the same kind).
    precision : str
        A computed precision: "faithful", "tf32" (no copy needed: ``model`` is returned)
        or "bfloat16".

    Returns
    -------
    keras.Model
        ``model`` itself when ``precision`` needs no copy or ``model`` already computes in
        it, else the copy.
    """
    policy = TOWER_POLICIES.get(precision)
    if policy is None or has_policy(model, policy):
        return model
    import keras

    def clone(layer: Any) -> Any:
        if not is_tower_layer(layer):
            return layer.__class__.from_config(layer.get_config())
        return layer.__class__.from_config({**layer.get_config(), "dtype": keras.DTypePolicy(policy)})

    copy = keras.models.clone_model(model, clone_function=clone)
    for original, layer in zip(model.layers, copy.layers, strict=True):
        if original.weights:
            layer.set_weights(original.get_weights())
    return copy


def model_for_precision(model: Any, precision: str) -> Any:
    """Return ``model``'s copy for ``precision`` (:func:`reduced_copy`), made once per model.

    The copies are kept while ``model`` lives (a weak dictionary keyed by the model), so a
    model given by the user is copied on its first use only.
    """
    if TOWER_POLICIES.get(precision) is None or has_policy(model, TOWER_POLICIES[precision]):
        return model
    with _COPIES_LOCK:
        copies = _COPIES.setdefault(model, {})
        if precision not in copies:
            copies[precision] = reduced_copy(model, precision)
        return copies[precision]
