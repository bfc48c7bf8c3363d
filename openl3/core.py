"""The functions OpenL3 0.4.2 documents under ``openl3.core``, re-exported."""

from .audio import get_audio_embedding, preprocess_audio, process_audio_file
from .files import get_output_path
from .image import get_image_embedding, process_image_file
from .video import process_video_file

__all__ = [
    "get_audio_embedding",
    "get_image_embedding",
    "get_output_path",
    "preprocess_audio",
    "process_audio_file",
    "process_image_file",
    "process_video_file",
]
