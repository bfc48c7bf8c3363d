"""OpenL3: deep audio and image embeddings with the L3-Net models.

Importing the package is cheap: TensorFlow, Keras, kapre and librosa load on first use.
"""

from . import core, models
from .audio import get_audio_embedding, preprocess_audio
from .exceptions import OpenL3Error, OpenL3Warning
from .image import get_image_embedding
from .outputs import get_output_path, process_audio_file, process_image_file, process_video_file
from .version import version as __version__

__all__ = [
    "OpenL3Error",
    "OpenL3Warning",
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
