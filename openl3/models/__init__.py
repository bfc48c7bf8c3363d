"""L3-Net embedding models: OpenL3 0.4.2's loaders, the official weights, and what computes.

- :mod:`~openl3.models.load`: the loaders (``load_audio_embedding_model``...) and builders;
- :mod:`~openl3.models.shared`: models built once per process;
- :mod:`~openl3.models.specs`, :mod:`~openl3.models.tower`, :mod:`~openl3.models.layers`,
  :mod:`~openl3.models.frontends`: the towers and the spectrogram frontends;
- :mod:`~openl3.models.registry`, :mod:`~openl3.models.store`,
  :mod:`~openl3.models.weights`: the official weight files, finding and verifying them;
- :mod:`~openl3.models.precision`, :mod:`~openl3.models.reduced`: model precision;
- :mod:`~openl3.models.batching`: the batch runner; :mod:`~openl3.models.computation`: what
  every modality's computation shares; :mod:`~openl3.models.settings`: what makes embeddings;
- :mod:`~openl3.models.export`: models for other runtimes; :mod:`~openl3.models.kapre_layers`:
  kapre's own layers (optional), and what a model or a saved file holds.

Keras (and its backend) is imported only when a model is built; kapre only where its
layers are asked for. Every loader takes
``output``: None for the embedding of OpenL3 0.4.2, or the name of a layer of the tower
(``AUDIO_TOWER.layers`` / ``IMAGE_TOWER.layers`` in :mod:`openl3.models.specs`), whose
activations max-pooled over frequency and time (height and width for images) become the
embedding, one value per channel of that layer.
"""

from __future__ import annotations

from .frontends import kapre_v0_1_4_magnitude_to_decibel
from .load import build_audio_model as build_audio_model  # models of random weights (docs/api.md)
from .load import build_image_model as build_image_model
from .load import (
    get_audio_embedding_model_path,
    get_image_embedding_model_path,
    load_audio_embedding_model,
    load_audio_embedding_model_from_path,
    load_image_embedding_model,
    load_image_embedding_model_from_path,
    load_keras_model,
)
from .reduced import model_for_precision
from .shared import clear_model_cache, shared_audio_model, shared_image_model

__all__ = [
    "clear_model_cache",
    "get_audio_embedding_model_path",
    "get_image_embedding_model_path",
    "kapre_v0_1_4_magnitude_to_decibel",
    "load_audio_embedding_model",
    "load_audio_embedding_model_from_path",
    "load_image_embedding_model",
    "load_image_embedding_model_from_path",
    "load_keras_model",
    "model_for_precision",
    "shared_audio_model",
    "shared_image_model",
]
