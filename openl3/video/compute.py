"""Video files: the audio track and every frame, embedded as OpenL3 0.4.2 does.

A video is opened with moviepy at 0.4.2's settings (frames resized to 256x256, audio at
48 kHz). Its audio track is decoded in moviepy's chunks as its windows are read (the
samples of 0.4.2's whole decode, never the whole track at once) and goes through an
:class:`~openl3.audio.compute.AudioComputation`; its frames go through an
:class:`~openl3.image.compute.ImageComputation`. The two outputs are written together or not at all,
and an output that exists is kept (unless ``overwrite``) while the other is written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._util.exceptions import OpenL3Error
from .._util.jobs import Arrays, FileJob
from .._util.remote import is_uri, local_copy
from ..audio.compute import AudioComputation
from ..audio.decode import ForwardSamples
from ..audio.windows import AudioWindows
from ..image.compute import ImageComputation, ImageFrames
from ..models.settings import EmbeddingSettings
from ..models.specs import DEFAULT_INPUT_REPR, IMAGE_SIZE, TARGET_SR

#: Frame size (height, width) at which videos are read, as in 0.4.2.
VIDEO_RESOLUTION = (256, 256)
#: moviepy's ``to_soundarray`` default ``buffersize``: the chunks in which it decodes a track.
SOUNDARRAY_CHUNK = 50000


@contextmanager
def open_video(path: str) -> Iterator[Any]:
    """Open a video as 0.4.2 does: frames resized to 256x256, audio at 48 kHz."""
    if not is_uri(path) and not os.path.isfile(path):
        raise OpenL3Error(f"Video file not found: {path}")
    from moviepy import VideoFileClip

    with local_copy(path) as local:  # ffmpeg reads the file by name: a URI's copy stays until closed
        try:
            clip = VideoFileClip(local, target_resolution=VIDEO_RESOLUTION, audio_fps=TARGET_SR)
        except Exception as exc:  # moviepy raises OSError, KeyError, IndexError... on bad files
            raise OpenL3Error(f"Cannot read video file {path}: {exc}") from exc
        try:
            yield clip
        finally:
            clip.close()


class VideoAudio(ForwardSamples):
    """The audio track of an open video at 48 kHz, decoded forward in chunks as it is sliced.

    The samples are those of ``clip.audio.to_soundarray(fps=48000)``, 0.4.2's whole
    decode, bit for bit: for a track longer than one chunk (about 1.04 s), moviepy's
    ``to_soundarray`` stacks ``iter_chunks(fps=48000, chunksize=50000)``, the chunks taken
    here one at a time; a shorter track is one chunk, read whole. Only the chunk being
    sliced is held (and moviepy's own read buffer).

    Parameters
    ----------
    clip : moviepy.VideoFileClip
        The open video (with an audio track).
    path : str
        The video, for messages.
    """

    def __init__(self, clip: Any, path: str):
        self.path, audio = path, clip.audio
        self._pending = np.zeros((0, audio.nchannels))
        if audio.duration > SOUNDARRAY_CHUNK / TARGET_SR:
            length = int(TARGET_SR * audio.duration)  # iter_chunks' total size
            self._chunks = audio.iter_chunks(chunksize=SOUNDARRAY_CHUNK, fps=TARGET_SR)
        else:
            whole = self._decoded(lambda: audio.to_soundarray(fps=TARGET_SR))
            length, self._chunks = len(whole), iter([whole])
        super().__init__(f"audio of {path}", length, audio.nchannels)

    def _read(self, count: int) -> np.ndarray:
        pieces, wanted = [], count
        while wanted > 0:
            if not len(self._pending):
                self._pending = self._decoded(lambda: next(self._chunks, None))
                if self._pending is None:
                    raise OpenL3Error(
                        f"Cannot decode the audio of video file {self.path}: it ended after "
                        f"{self._position + count - wanted} of its {len(self)} samples."
                    )
            pieces.append(self._pending[:wanted])
            self._pending, wanted = self._pending[wanted:], wanted - len(pieces[-1])
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def _decoded(self, decode: Callable[[], Any]) -> Any:
        """Return ``decode()``, moviepy's errors raised as :class:`OpenL3Error`."""
        try:
            return decode()
        except Exception as exc:  # moviepy and ffmpeg raise OSError, IndexError...
            raise OpenL3Error(f"Cannot decode the audio of video file {self.path}: {exc}") from exc


def frame_rate(clip: Any, path: str) -> int:
    """Return ``int(fps)``, the rate of 0.4.2's frame timestamps, or raise if it is below 1."""
    fps = clip.fps
    if fps is None or not math.isfinite(fps) or fps < 1:
        raise OpenL3Error(
            f"Video file {path} has a frame rate of {fps} fps; below 1 fps its frame timestamps "
            "(frame index / int(fps)) are undefined."
        )
    return int(fps)


def audio_embedder(
    audio_model: Any = None,
    input_repr: str | None = None,
    content_type: str = "music",
    audio_embedding_size: int = 6144,
    audio_center: bool = True,
    audio_hop_size: float = 0.1,
    audio_batch_size: int = 32,
    audio_frontend: str = "kapre",
    verbose: bool = True,
    precision: str = "faithful",
    audio_weights: Any = None,
    **image_options: Any,
) -> AudioComputation:
    """Return the audio embedder of the options of :func:`process_video_file` and the command.

    The one place that makes an audio embedder from them: argument names in its errors
    are the options' (``audio_hop_size``). The image half's options are ignored.
    """
    return AudioComputation(
        audio_model,
        input_repr,
        content_type,
        audio_embedding_size,
        audio_center,
        audio_hop_size,
        audio_batch_size,
        audio_frontend,
        verbose,
        prefix="audio_",
        precision=precision,
        weights=audio_weights,
    )


def image_embedder(
    image_model: Any = None,
    input_repr: str | None = None,
    content_type: str = "music",
    image_embedding_size: int = 8192,
    image_batch_size: int = 32,
    verbose: bool = True,
    precision: str = "faithful",
    image_weights: Any = None,
    **audio_options: Any,
) -> ImageComputation:
    """Return the image embedder of the options of :func:`process_video_file` and the command.

    The audio half's options are ignored.
    """
    return ImageComputation(
        image_model,
        input_repr or DEFAULT_INPUT_REPR,
        content_type,
        image_embedding_size,
        image_batch_size,
        verbose,
        prefix="image_",
        precision=precision,
        weights=image_weights,
    )


class VideoComputation:
    """Audio and image embeddings of video files, arguments as :func:`process_video_file`."""

    output_modalities = ("audio", "image")
    unit = "item"

    def __init__(
        self,
        *,
        audio_model: Any = None,
        image_model: Any = None,
        input_repr: str | None = None,
        content_type: str = "music",
        audio_embedding_size: int = 6144,
        audio_center: bool = True,
        audio_hop_size: float = 0.1,
        image_embedding_size: int = 8192,
        audio_batch_size: int = 32,
        image_batch_size: int = 32,
        audio_frontend: str = "kapre",
        verbose: bool = True,
        precision: str = "faithful",
        audio_weights: Any = None,
        image_weights: Any = None,
    ):
        self.verbose = verbose
        common = {
            "input_repr": input_repr,
            "content_type": content_type,
            "verbose": verbose,
            "precision": precision,
        }
        self.audio = audio_embedder(
            audio_model=audio_model,
            audio_embedding_size=audio_embedding_size,
            audio_center=audio_center,
            audio_hop_size=audio_hop_size,
            audio_batch_size=audio_batch_size,
            audio_frontend=audio_frontend,
            audio_weights=audio_weights,
            **common,
        )
        self.image = image_embedder(
            image_model=image_model,
            image_embedding_size=image_embedding_size,
            image_batch_size=image_batch_size,
            image_weights=image_weights,
            **common,
        )

    def row_settings(self) -> dict[str | None, EmbeddingSettings]:
        """Return the settings of the audio rows and of the image rows."""
        return {"audio": self.audio.settings(), "image": self.image.settings()}

    def row_weights(self) -> dict[str | None, str | None]:
        """Return the weight files of the user's of the audio and the image rows (None: official)."""
        return {"audio": self.audio.weights_path, "image": self.image.weights_path}

    def _audio_windows(self, clip: Any, path: str) -> AudioWindows:
        return self.audio.windows(VideoAudio(clip, path), TARGET_SR, f"audio of {path}")

    def embed_file(self, job: FileJob, bar: Any = None) -> Arrays:
        """Return the arrays of each output of ``job`` that is to be written."""
        arrays = {}
        with open_video(job.path) as clip:
            if clip.audio is None:
                raise OpenL3Error(f"Video file {job.path} has no audio track.")
            rate = frame_rate(clip, job.path)
            if "audio" in job.outputs:
                windows = self._audio_windows(clip, job.path)
                [embedding] = self.audio.embed_sources([windows], bar)
                arrays["audio"] = {"embedding": embedding, "timestamps": windows.timestamps}
            if "image" in job.outputs:
                already_224 = tuple(clip.size) == (IMAGE_SIZE, IMAGE_SIZE)
                frames = ImageFrames(clip.iter_frames, already_224, f"video file {job.path}")
                if frames.n_items == 0:
                    raise OpenL3Error(f"Video file {job.path} has no frames.")
                [embedding] = self.image.embed_sources([frames], bar)
                arrays["image"] = {"embedding": embedding, "timestamps": np.arange(frames.n_items) / rate}
        return arrays
