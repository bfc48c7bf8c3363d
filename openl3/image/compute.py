"""Image embeddings: OpenL3 0.4.2's preprocessing, quirks included, one batch at a time.

0.4.2 scales the frames of one input array by their common maximum magnitude, so the
frames are read twice: a first pass finds that maximum, the second feeds the model.
Only one batch of preprocessed frames is held at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from .._util.remote import is_uri, local_copy
from .._util.validation import (
    check_choice,
    check_numeric_array,
    check_positive_real,
    scan_array,
    warn_all_zeros,
)
from ..models import shared_image_model
from ..models.batching import model_predictor
from ..models.computation import Embedder
from ..models.specs import CONTENT_TYPES, IMAGE_SIZE, IMAGE_TOWER, input_repr_spec

#: Frames whose shorter side exceeds this are rescaled to it before cropping (0.4.2).
RESCALE_SIDE = 256
#: Sequences up to this many frames keep their first pass (about 38 MB) instead of a second.
KEPT_FRAMES = 64


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """Validate an image (H, W, 3) or frames (N, H, W, 3); return them as (N, H, W, 3)."""
    image = check_numeric_array(image, name)
    if image.ndim not in (3, 4):
        raise InvalidArgumentError(
            f"Invalid {name}: expected shape (H, W, 3) or (N, H, W, 3), got {image.shape}."
        )
    frames = image[np.newaxis] if image.ndim == 3 else image
    if frames.shape[-1] != 3:
        raise InvalidArgumentError(
            f"Invalid {name}: expected 3 (RGB) channels, got {frames.shape[-1]} in shape {image.shape}."
        )
    if frames.size == 0:
        raise InvalidArgumentError(f"Invalid {name}: the array is empty ({image.shape}).")
    all_finite, any_nonzero = scan_array(frames)
    if not any_nonzero:
        warn_all_zeros(name)
    if not all_finite:
        raise InvalidArgumentError(f"Invalid {name}: it contains NaN or infinite values.")
    if min(frames.shape[1:3]) < IMAGE_SIZE:
        raise InvalidArgumentError(
            f"Invalid {name}: frames of {frames.shape[1]}x{frames.shape[2]} pixels; "
            f"both sides must be at least {IMAGE_SIZE}."
        )
    return frames


def _center_crop(frame: np.ndarray) -> np.ndarray:
    top, left = (frame.shape[0] - IMAGE_SIZE) // 2, (frame.shape[1] - IMAGE_SIZE) // 2
    return frame[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]


def prepare_frame(frame: np.ndarray, already_224: bool) -> np.ndarray:
    """Preprocess one frame as 0.4.2 does, up to the final scaling by the maximum.

    Input arrays of exactly 224x224 frames are used as they are (unsigned integers mapped
    to [-1, 1]); other frames are rescaled when their shorter side exceeds 256 (to floats
    in [0, 1], as scikit-image does) and centre-cropped, keeping raw values otherwise.
    """
    if already_224:
        if frame.dtype.kind == "u":
            frame = 2 * (frame / np.iinfo(frame.dtype).max) - 1
        return frame.astype(np.float32)
    side = min(frame.shape[:2])
    if side > RESCALE_SIDE:
        from skimage.transform import rescale

        frame = rescale(frame, RESCALE_SIDE / side, mode="constant", anti_aliasing=False, channel_axis=-1)
    return _center_crop(frame).astype(np.float64).astype(np.float32)


class ImageFrames:
    """The preprocessed frames of one image sequence, produced in order.

    A first pass over the frames counts them and finds their largest magnitude, the
    divisor 0.4.2 applies to all of them; :meth:`read` then goes through them again
    (sequences of up to ``KEPT_FRAMES`` frames are kept from the first pass instead).
    A failure of the second pass (a decoder error, fewer frames than the first pass
    counted) raises :class:`OpenL3Error` naming the input.

    Parameters
    ----------
    open_frames : callable
        Returns a fresh iterator over the raw frames (H, W, 3); called twice.
    already_224 : bool
        Whether the input's frames are exactly 224x224 (0.4.2 decides this per input).
    name : str
        What the frames are, for error messages.
    """

    def __init__(
        self, open_frames: Callable[[], Iterator[np.ndarray]], already_224: bool, name: str = "image"
    ):
        self._open, self._already_224, self.name = open_frames, already_224, name
        self.n_items, peak = 0, 0.0
        kept: list[np.ndarray] | None = []
        for frame in self._prepared():
            self.n_items += 1
            peak = max(peak, float(np.abs(frame).max()))
            if kept is not None and len(kept) < KEPT_FRAMES:
                kept.append(frame)
            else:
                kept = None  # too long to keep: read() decodes again
        self.scale = np.float32(peak) if peak > 1 else np.float32(1)
        self._frames: Iterator[np.ndarray] | None = None if kept is None else iter(kept)
        self._position = 0

    def _prepared(self) -> Iterator[np.ndarray]:
        return (prepare_frame(frame, self._already_224) for frame in self._open())

    def read(self, start: int, count: int) -> np.ndarray:
        """Return preprocessed frames ``start`` to ``start + count``, (count, 224, 224, 3)."""
        try:
            if self._frames is None:
                self._frames = self._prepared()
            batch = []
            for _ in range(count):
                batch.append(next(self._frames))
                self._position += 1
        except StopIteration:
            raise OpenL3Error(
                f"Cannot decode {self.name}: its frames ended after {self._position} of the "
                f"{self.n_items} the first pass counted."
            ) from None
        except OpenL3Error:
            raise
        except Exception as exc:  # decoders raise what they raise
            raise OpenL3Error(f"Cannot decode {self.name} after frame {self._position}: {exc}") from exc
        stacked = np.stack(batch)
        return stacked / self.scale if self.scale != 1 else stacked


def array_frames(frames: np.ndarray, name: str = "image") -> ImageFrames:
    """Return an :class:`ImageFrames` over a validated (N, H, W, 3) array."""
    return ImageFrames(lambda: iter(frames), frames.shape[1:3] == (IMAGE_SIZE, IMAGE_SIZE), name)


def check_image_model(model: Any) -> Any:
    """Return ``model`` if it is a Keras model taking 224x224 RGB images."""
    import keras

    if not isinstance(model, keras.Model):
        raise InvalidArgumentError(f"Invalid model: expected a keras.Model, got {type(model).__name__}.")
    if tuple(model.input_shape[1:]) != IMAGE_TOWER.input_shape():
        raise InvalidArgumentError(
            "Invalid model: an image model takes (batch, 224, 224, 3) images, "
            f"this one takes {model.input_shape}."
        )
    return model


def frame_timestamps(n_frames: int, frame_rate: Any) -> np.ndarray:
    """Timestamps of ``n_frames`` frames at ``frame_rate``: ``arange(n) / frame_rate``."""
    return np.arange(n_frames) / check_positive_real(frame_rate, "frame_rate")


def _read_failure(exc: Exception) -> str:
    """Return why an image file that exists could not be read, in words that fit it.

    imageio says "Could not find a backend" of a file that none of its plugins decodes
    (a damaged PNG, a text file) and suggests installing more, which would not help.
    """
    if "Could not find a backend" in str(exc):
        return "it could not be decoded (damaged, or not in an image format the installed readers know)."
    return str(exc)


def read_image_file(path: str) -> np.ndarray:
    """Read an image file as (H, W, 3): alpha dropped, grayscale repeated to three channels."""
    if not is_uri(path) and not os.path.isfile(path):
        raise OpenL3Error(f"Image file not found: {path}")
    from skimage.io import imread

    try:
        with local_copy(path) as local:
            image = np.asarray(imread(local))
    except OpenL3Error:
        raise
    except Exception as exc:  # scikit-image raises what its plugins raise
        raise OpenL3Error(f"Cannot read image file {path}: {_read_failure(exc)}") from exc
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 2)):
        gray = image if image.ndim == 2 else image[..., 0]
        image = np.repeat(gray[..., np.newaxis], 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    return image


def open_image_file(path: str) -> ImageFrames:
    """Return the frame source of an image file: read, checked and prepared."""
    name = f"image file {path}"
    return array_frames(check_image(read_image_file(path), name), name)


class ImageComputation(Embedder):
    """An image embedding computation, its arguments checked once.

    The model is loaded on first use. Arguments as :func:`get_image_embedding`, and
    ``output`` and ``weights`` as :class:`openl3.ImageEmbedder`; ``prefix`` is prepended to
    the argument names in error messages.
    """

    unit = "frame"
    file_unit = "image"
    modality = "image"

    def __init__(
        self,
        model: Any = None,
        input_repr: str = "mel256",
        content_type: str = "music",
        embedding_size: int = 8192,
        batch_size: int = 32,
        verbose: bool = True,
        prefix: str = "",
        precision: str = "faithful",
        output: str | None = None,
        weights: Any = None,
    ):
        super().__init__(batch_size, verbose, precision, prefix)
        self.output = self.check_output(IMAGE_TOWER, output, model)
        self.weights_path = self.check_weights(weights, model)
        if model is None:  # checked now, before any file is read
            input_repr_spec(input_repr)
            check_choice(content_type, "content_type", CONTENT_TYPES)
            IMAGE_TOWER.final_pool(input_repr, embedding_size)
        else:
            check_image_model(model)
        self.model, self.user_model, self.input_repr = model, model, input_repr
        self.content_type, self.embedding_size = content_type, embedding_size

    def count_items(self, path: str) -> int:
        """Return the frames of image file ``path`` before it is read: one (an image)."""
        return 1

    def dimension(self) -> int:
        """Return the embedding size D (the model is loaded if it is not yet)."""
        if self.model is None:
            self.predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), np.float32))
        return int(self.model.output_shape[-1])

    def _predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        """Load the model if needed; return preprocessed frames -> embeddings."""
        if self.model is None:
            self.model = shared_image_model(
                self.input_repr,
                self.content_type,
                self.embedding_size,
                output=self.output,
                precision=self.precision,
                path=self.weights_path,
            )
        return model_predictor(self.model, self.precision)

    def open_file(self, path: str) -> ImageFrames:
        """Return the frame source of an image file (one frame)."""
        return open_image_file(path)

    def file_arrays(self, source: ImageFrames, embedding: np.ndarray) -> dict[str, np.ndarray]:
        """Return the arrays of an image file's output: its embedding."""
        return {"embedding": embedding}
