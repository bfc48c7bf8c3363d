"""The object API: load a model once, then embed arrays, files and streams with it.

OpenL3 0.4.2's functions load the model (or take it as ``model=``) at every call. An
embedder holds its checked settings and its model: build it once, then call
:meth:`~AudioEmbedder.embed` on arrays, :meth:`~AudioEmbedder.embed_files` on files (to
``.npz`` outputs or a Parquet dataset, on the local or Ray engine) and
:meth:`~AudioEmbedder.stream` for audio that arrives in chunks. The 0.4.2 functions are
thin callers of these classes and give the same numbers bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util.jobs import Arrays, FileJob
from ._util.validation import pair_inputs
from .audio.compute import AudioComputation, checked_audio
from .audio.stream import AudioStream
from .image.compute import ImageComputation, array_frames, check_image, frame_timestamps
from .models.settings import EmbeddingSettings
from .runs.driver import Report, RunOptions, run_paths
from .video.compute import VideoComputation

__all__ = ["AudioEmbedder", "ImageEmbedder", "VideoEmbedder", "embedder_for"]


class FileRuns:
    """What every embedder does with files: :meth:`embed_files`."""

    def embed_files(
        self,
        filepath: Any,
        output_dir: str | None = None,
        suffix: str | None = None,
        overwrite: bool = False,
        errors: str = "raise",
        output_format: str = "npz",
        dtype: str = "float32",
        part_size_mb: float | None = None,
        engine: str = "local",
        ray_address: str | None = None,
        shard: tuple[int, int] | None = None,
        break_lock: bool = False,
    ) -> Report:
        """Embed files and save their outputs; the arguments as :func:`openl3.process_audio_file`.

        Returns
        -------
        report : Report
            The inputs processed, skipped (existing outputs) and failed.
        """
        return run_paths(self, filepath, RunOptions.of(locals()))


class AudioEmbedder(FileRuns, AudioComputation):
    """Audio embeddings with one model, loaded once (on first use when named by its settings).

    Parameters
    ----------
    model : keras.Model or None
        A loaded model (as ``model=`` of :func:`openl3.get_audio_embedding`).
    input_repr, content_type, embedding_size, hop_size, center, frontend, precision, batch_size
        As :func:`openl3.get_audio_embedding`.
    weights : str or None
        A weight file in the official layout (``openl3_audio_<repr>_<content>.h5``),
        loaded with ``input_repr``, ``embedding_size`` and ``frontend``.
    output : str or None
        A layer of the tower (``"conv5"``, ``"pool3"``... see :mod:`openl3.models`) whose
        activations, max-pooled over frequency and time, are the embedding: one vector of
        that layer's channel count per window. None (default): the embedding.
    spectrogram : "auto", "keras" or "kapre"
        What computes the kapre frontend's spectrogram: openl3's ``keras.ops`` twin of
        kapre's layers ("auto", "keras": every backend) or kapre's own layers ("kapre":
        ``pip install 'openl3[kapre]'``, TensorFlow only). The same numbers within float32
        rounding; recorded in datasets, not compared.
    verbose : bool
        Whether to show progress.

    Examples
    --------
    >>> embedder = openl3.AudioEmbedder(input_repr="mel128", embedding_size=512, hop_size=0.5)
    >>> embedding, timestamps = embedder.embed(audio, sr)           # (T, 512), (T,)
    >>> report = embedder.embed_files(["a.wav", "b.flac"], output_dir="out")
    >>> stream = embedder.stream(16000)                             # shares the model
    """

    def __init__(
        self,
        *,
        model: Any = None,
        input_repr: str | None = None,
        content_type: str = "music",
        embedding_size: int = 6144,
        hop_size: float = 0.1,
        center: bool = True,
        frontend: str = "kapre",
        precision: str = "faithful",
        batch_size: int = 32,
        weights: Any = None,
        output: str | None = None,
        spectrogram: str = "auto",
        verbose: bool = True,
    ):
        super().__init__(
            model,
            input_repr,
            content_type,
            embedding_size,
            center,
            hop_size,
            batch_size,
            frontend,
            verbose,
            precision=precision,
            output=output,
            weights=weights,
            spectrogram=spectrogram,
        )

    def embed(self, audio: Any, sr: Any) -> tuple[Any, Any]:
        """Return the embeddings and timestamps of audio, as :func:`openl3.get_audio_embedding`.

        Parameters
        ----------
        audio : np.ndarray [shape=(N,) or (N, C)] or list[np.ndarray]
            Audio, or a list of audio arrays.
        sr : int or list[int]
            Its sample rate, or one per array.

        Returns
        -------
        embedding : np.ndarray [shape=(T, D)] or list[np.ndarray]
        timestamps : np.ndarray [shape=(T,)] or list[np.ndarray]
        """
        return self.embed_checked(*checked_audio(audio, sr))

    def embed_checked(self, arrays: list[np.ndarray], rates: list[float], is_list: bool) -> tuple[Any, Any]:
        """Embed arrays already checked by :func:`openl3.audio.compute.checked_audio`."""
        sources = [self.windows(a, r) for a, r in zip(arrays, rates, strict=True)]
        embeddings = self.embed_sources(sources)
        timestamps = [source.timestamps for source in sources]
        return (embeddings, timestamps) if is_list else (embeddings[0], timestamps[0])

    def stream(self, sr: Any, exact_batches: bool = False) -> AudioStream:
        """Return an :class:`openl3.AudioStream` of audio at ``sr`` that shares this model."""
        return AudioStream(sr, exact_batches, embedder=self)


class ImageEmbedder(FileRuns, ImageComputation):
    """Image embeddings with one model, loaded once (on first use when named by its settings).

    Parameters
    ----------
    model : keras.Model or None
        A loaded image model (as ``model=`` of :func:`openl3.get_image_embedding`).
    input_repr, content_type, embedding_size, precision, batch_size
        As :func:`openl3.get_image_embedding`.
    weights : str or None
        An image weight file in the official layout, loaded with ``embedding_size``.
    output : str or None
        A layer of the image tower whose activations, max-pooled, are the embedding (as
        for :class:`AudioEmbedder`).
    verbose : bool
        Whether to show progress.

    Examples
    --------
    >>> embedder = openl3.ImageEmbedder(embedding_size=512)
    >>> embedding = embedder.embed(image)                        # (1, 512)
    >>> embedding, timestamps = embedder.embed(frames, frame_rate=30)
    >>> report = embedder.embed_files(["a.png", "b.jpg"], output_dir="out")
    """

    def __init__(
        self,
        *,
        model: Any = None,
        input_repr: str = "mel256",
        content_type: str = "music",
        embedding_size: int = 8192,
        precision: str = "faithful",
        batch_size: int = 32,
        weights: Any = None,
        output: str | None = None,
        verbose: bool = True,
    ):
        super().__init__(
            model,
            input_repr,
            content_type,
            embedding_size,
            batch_size,
            verbose,
            precision=precision,
            output=output,
            weights=weights,
        )

    def embed(self, image: Any, frame_rate: Any = None) -> Any:
        """Return the embeddings of images, as :func:`openl3.get_image_embedding`.

        Parameters
        ----------
        image : np.ndarray [shape=(H, W, C) or (N, H, W, C)] or list[np.ndarray]
            An image, frames, or a list of them.
        frame_rate : float, list[float] or None
            If given, timestamps are returned too.

        Returns
        -------
        embedding : np.ndarray [shape=(N, D)] or list[np.ndarray]
        timestamps : np.ndarray [shape=(N,)] or list[np.ndarray]
            Only when ``frame_rate`` is given.
        """
        images, rates, is_list = pair_inputs(image, frame_rate, "image", "frame_rate")
        names = [f"image[{i}]" for i in range(len(images))] if is_list else ["image"]
        frames = [check_image(array, name) for array, name in zip(images, names, strict=True)]
        timestamps = (
            None
            if frame_rate is None
            else [frame_timestamps(len(f), r) for f, r in zip(frames, rates, strict=True)]
        )
        embeddings = self.embed_sources([array_frames(f, n) for f, n in zip(frames, names, strict=True)])
        if not is_list:
            return embeddings[0] if timestamps is None else (embeddings[0], timestamps[0])
        return embeddings if timestamps is None else (embeddings, timestamps)


class VideoEmbedder(FileRuns, VideoComputation):
    """Audio and image embeddings of video files, with two models loaded once.

    Parameters are those of :func:`openl3.process_video_file` that say how to embed,
    keywords only (:class:`openl3.video.compute.VideoComputation` takes them).

    Examples
    --------
    >>> embedder = openl3.VideoEmbedder(audio_embedding_size=512, image_embedding_size=512)
    >>> arrays = embedder.embed("clip.mp4")      # {"audio": {...}, "image": {...}}
    >>> report = embedder.embed_files(["a.mp4", "b.mkv"], output_dir="out")
    """

    def embed(self, path: str) -> Arrays:
        """Return the arrays of a video file: ``{"audio": {...}, "image": {...}}``.

        Each holds ``embedding`` and ``timestamps``, as the ``.npz`` outputs of
        :func:`openl3.process_video_file`.
        """
        return self.embed_file(FileJob(str(path), {"audio": "", "image": ""}))


def embedder_for(settings: EmbeddingSettings, weights: str | None = None, **options: Any) -> Any:
    """Return the embedder that makes the embeddings of ``settings`` (its model loads on first use).

    The one way classifiers, search queries and datasets build an embedder from recorded
    settings (:meth:`openl3.models.computation.Embedder.from_settings`).

    Parameters
    ----------
    settings : EmbeddingSettings
        A dataset's, an index's or a classifier's settings.
    weights : str, optional
        The weight file, for settings made with weights that are not the official ones.
    **options
        ``batch_size``, ``verbose``.

    Returns
    -------
    AudioEmbedder or ImageEmbedder

    Examples
    --------
    >>> rows = openl3.rows.DatasetRows("clips.l3")
    >>> embedder = embedder_for(rows.settings, batch_size=64)
    >>> embedding, timestamps = embedder.embed(audio, sr)       # as the dataset's rows were made
    """
    kinds = {"audio": AudioEmbedder, "image": ImageEmbedder}
    return kinds[settings.modality].from_settings(settings, weights, **options)
