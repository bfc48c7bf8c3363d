"""OpenL3: deep audio and image embeddings with the L3-Net models.

Importing the package is cheap: TensorFlow, Keras, kapre and librosa load on first use.
TensorFlow's native log stays off unless ``TF_CPP_MIN_LOG_LEVEL`` is set
(:mod:`openl3.console`).
"""

from . import console, core, models
from .audio import get_audio_embedding, preprocess_audio, process_audio_file
from .embedders import AudioEmbedder, ImageEmbedder, VideoEmbedder
from .exceptions import OpenL3Error, OpenL3Warning
from .files import Report, get_output_path
from .image import get_image_embedding, process_image_file
from .stream import AudioStream
from .version import version as __version__
from .video import process_video_file

console.quiet_tensorflow()  # importing openl3 imports no TensorFlow: this comes before it

__all__ = [
    "AudioEmbedder",
    "AudioStream",
    "ImageEmbedder",
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
