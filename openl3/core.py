"""The functions OpenL3 0.4.2 documents under ``openl3.core``, re-exported."""

from .audio import get_audio_embedding, preprocess_audio
from .outputs import get_output_path, process_audio_file

__all__ = ["get_audio_embedding", "get_output_path", "preprocess_audio", "process_audio_file"]
