"""OpenL3: deep audio and image embeddings with the L3-Net models.

Importing the package is cheap: TensorFlow (or another Keras backend) and Keras load on first
use; where TensorFlow is not installed and no backend is chosen, Keras runs on JAX or PyTorch
(:mod:`openl3._util.backends`).
TensorFlow's native log stays off unless ``TF_CPP_MIN_LOG_LEVEL`` is set
(:mod:`openl3._util.console`).

The packages, from the ground up (docs/architecture.md): :mod:`openl3.models` (towers,
weights, precision, the batch runner, embedding settings); :mod:`openl3.audio`,
:mod:`openl3.image`, :mod:`openl3.video` (the computation of each modality);
:mod:`openl3.dataset` (Parquet datasets); :mod:`openl3.runs` (runs over files);
:mod:`openl3.core` and :mod:`openl3.embedders` (the public functions and objects);
:mod:`openl3.classify` and :mod:`openl3.search` (answers from embeddings); :mod:`openl3.cli`.
"""

from . import core, models
from ._util import backends, console
from ._util.exceptions import InvalidArgumentError, OpenL3Error, OpenL3Warning
from ._util.jobs import Report
from .audio.stream import AudioStream
from .core import (
    get_audio_embedding,
    get_image_embedding,
    get_output_path,
    preprocess_audio,
    process_audio_file,
    process_image_file,
    process_video_file,
)
from .embedders import AudioEmbedder, ImageEmbedder, VideoEmbedder
from .models.settings import EmbeddingSettings
from .version import version as __version__

console.quiet_tensorflow()  # importing openl3 imports no TensorFlow: this comes before it
backends.choose_backend()  # JAX or PyTorch where TensorFlow is not installed and none is chosen

__all__ = [
    "AudioEmbedder",
    "AudioStream",
    "EmbeddingSettings",
    "ImageEmbedder",
    "InvalidArgumentError",
    "OpenL3Error",
    "OpenL3Warning",
    "Report",
    "VideoEmbedder",
    "__version__",
    "core",
    "get_audio_embedding",
    "get_image_embedding",
    "get_output_path",
    "models",
    "preprocess_audio",
    "process_audio_file",
    "process_image_file",
    "process_video_file",
]
