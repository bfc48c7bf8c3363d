"""Image embeddings: parity with OpenL3 0.4.2, each preprocessing rule, files and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import openl3
from openl3 import OpenL3Error, OpenL3Warning
from openl3.image.compute import KEPT_FRAMES, ImageFrames, array_frames, check_image

RTOL = 1e-5  # float32 rounding through 16 layers, as for audio (tests/test_reference.py)


@pytest.fixture(scope="module")
def image_model(weights_dir):
    return openl3.models.load_image_embedding_model_from_path(
        str(weights_dir / "openl3_image_mel256_music.h5"), 512
    )


@pytest.mark.parametrize("size", [512, 8192])
def test_image_embeddings_match_openl3_0_4_2(reference, reference_weights, size):
    archive, inputs, _ = reference
    model = openl3.models.load_image_embedding_model_from_path(reference_weights["image"], size)
    for case, image in inputs.image_cases().items():
        emb = openl3.get_image_embedding(image, model=model, verbose=False)
        expected = archive[f"image|{size}|{case}|emb"]
        assert emb.shape == expected.shape and emb.dtype == np.float32, case
        assert np.abs(emb - expected).max() / np.abs(expected).max() < RTOL, case
    _, ts = openl3.get_image_embedding(
        inputs.image_cases()["seq2_224_f64"], frame_rate=25, model=model, verbose=False
    )
    np.testing.assert_array_equal(ts, archive[f"image|{size}|seq2_224_f64_fr25|ts"])


def prepared(image):
    source = array_frames(check_image(image))
    return source.read(0, source.n_items)


def test_224_uint8_maps_to_minus_one_one():
    image = np.zeros((224, 224, 3), np.uint8)
    image[0, 0] = 255
    batch = prepared(image)
    assert batch.shape == (1, 224, 224, 3) and batch.dtype == np.float32
    assert batch.min() == -1.0 and batch.max() == 1.0


def test_larger_uint8_is_rescaled_to_zero_one_and_cropped():
    yy, xx = np.mgrid[0:512, 0:300]
    image = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    batch = prepared(image)
    assert batch.shape == (1, 224, 224, 3)
    assert batch.min() >= 0 and batch.max() <= 1  # skimage floats in [0, 1], no [-1, 1] mapping


def test_224_to_256_is_cropped_raw_then_divided_by_its_maximum():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 200, (250, 240, 3)).astype(np.uint8)
    batch = prepared(image)
    top, left = (250 - 224) // 2, (240 - 224) // 2
    crop = image[top : top + 224, left : left + 224].astype(np.float32)
    np.testing.assert_allclose(batch[0], crop / crop.max(), rtol=1e-6)


def test_float_in_unit_range_is_kept_and_signed_ints_are_scaled_by_max():
    rng = np.random.default_rng(1)
    floats = rng.uniform(0, 1, (224, 224, 3))
    np.testing.assert_allclose(prepared(floats)[0], floats.astype(np.float32))
    ints = rng.integers(-1000, 500, (224, 224, 3)).astype(np.int16)
    np.testing.assert_allclose(prepared(ints)[0], ints / 1000.0, rtol=1e-6)


def test_sequence_is_scaled_by_its_common_maximum():
    frames = np.ones((3, 230, 230, 3)) * np.array([10.0, 20.0, 40.0])[:, None, None, None]
    batch = prepared(frames)
    np.testing.assert_allclose(batch[:, 0, 0, 0], [0.25, 0.5, 1.0])


@pytest.mark.parametrize(("n_frames", "passes"), [(5, 1), (KEPT_FRAMES + 1, 2)])
def test_long_sequences_are_read_in_two_passes_without_holding_them(n_frames, passes):
    calls = []

    def frames():
        calls.append(1)
        return (np.full((256, 256, 3), i, np.uint8) for i in range(1, n_frames + 1))

    source = ImageFrames(frames, already_224=False)
    assert source.n_items == n_frames and source.scale == n_frames
    np.testing.assert_allclose(source.read(0, 2)[:, 0, 0, 0], np.array([1, 2]) / n_frames)
    rest = source.read(2, n_frames - 2)[:, 0, 0, 0]
    np.testing.assert_allclose(rest, np.arange(3, n_frames + 1) / n_frames)
    assert len(calls) == passes


def test_lists_shapes_and_timestamps(image_model):
    images = [np.full((224, 224, 3), 0.5), np.random.default_rng(2).uniform(0, 1, (3, 240, 260, 3))]
    embeddings = openl3.get_image_embedding(images, model=image_model, batch_size=2, verbose=False)
    assert [e.shape for e in embeddings] == [(1, 512), (3, 512)]
    embeddings, timestamps = openl3.get_image_embedding(
        images, frame_rate=[10, 4], model=image_model, verbose=False
    )
    np.testing.assert_array_equal(timestamps[1], [0.0, 0.25, 0.5])
    alone = openl3.get_image_embedding(images[1], model=image_model, verbose=False)
    np.testing.assert_allclose(embeddings[1], alone, rtol=1e-5, atol=1e-5 * np.abs(alone).max())


@pytest.mark.parametrize(
    ("image", "kwargs", "message"),
    [
        (np.ones((224, 224, 4)), {}, "3 \\(RGB\\) channels"),
        (np.ones((224, 224)), {}, "expected shape"),
        (np.ones((100, 300, 3)), {}, "at least 224"),
        (np.ones((0, 224, 224, 3)), {}, "empty"),
        (np.ones((224, 224, 3)), {"frame_rate": 0}, "frame_rate 0"),
        (np.ones((224, 224, 3)), {"frame_rate": -25}, "frame_rate -25"),
        ([np.ones((224, 224, 3))] * 2, {"frame_rate": [25]}, "1 values given for 2"),
        (np.ones((224, 224, 3)), {"model": "m"}, "keras.Model"),
        (np.ones((224, 224, 3)), {"batch_size": 0}, "batch_size 0"),
    ],
)
def test_bad_images_are_errors(image, kwargs, message):
    with pytest.raises(OpenL3Error, match=message):
        openl3.get_image_embedding(image, verbose=False, **kwargs)


def test_audio_model_is_refused(mel128_model):
    with pytest.raises(OpenL3Error, match="image model takes"):
        openl3.get_image_embedding(np.ones((224, 224, 3)), model=mel128_model, verbose=False)


def test_all_zero_image_warns(image_model):
    with pytest.warns(OpenL3Warning, match="all zeros"):
        openl3.get_image_embedding(np.zeros((224, 224, 3)), model=image_model, verbose=False)


def test_process_image_file(tmp_path, image_model):
    from skimage.io import imsave

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (300, 240, 4), dtype=np.uint8)
    gray = rng.integers(0, 256, (230, 230), dtype=np.uint8)
    imsave(tmp_path / "rgba.png", rgba)
    imsave(tmp_path / "gray.jpg", gray)
    paths = [str(tmp_path / "rgba.png"), str(tmp_path / "gray.jpg")]
    openl3.process_image_file(paths, model=image_model, suffix="x", verbose=False)
    data = np.load(tmp_path / "rgba_x.npz")
    assert data.files == ["embedding"] and data["embedding"].shape == (1, 512)
    expected = openl3.get_image_embedding(rgba[..., :3], model=image_model, verbose=False)
    np.testing.assert_allclose(data["embedding"], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert np.load(tmp_path / "gray_x.npz")["embedding"].shape == (1, 512)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(OpenL3Error, match="broken.png"):
        openl3.process_image_file(str(tmp_path / "broken.png"), model=image_model, verbose=False)
    assert not os.path.exists(tmp_path / "broken.npz")


@pytest.mark.parametrize("content", [b"not a png", b""])
def test_a_damaged_image_is_said_to_be_undecodable(tmp_path, content):
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(content)
    with pytest.raises(OpenL3Error) as error:
        openl3.process_image_file(str(damaged), verbose=False)
    assert "damaged.png: it could not be decoded" in str(error.value)
    assert "pip install" not in str(error.value)  # installing imageio plugins would not help


def test_the_progress_total_of_image_files_is_known_at_the_start(tmp_path, image_model, monkeypatch):
    from skimage.io import imsave

    from openl3.runs import local_engine

    totals, original = [], local_engine.progress_bar

    def recording(total, enabled, unit):
        totals.append((total, unit))
        return original(total, enabled, unit)

    monkeypatch.setattr(local_engine, "progress_bar", recording)
    rng = np.random.default_rng(4)
    paths = [str(tmp_path / f"{k}.png") for k in range(3)]
    for path in paths:
        imsave(path, rng.integers(0, 256, (230, 230, 3), dtype=np.uint8))
    openl3.process_image_file(paths, model=image_model, verbose=True)
    assert totals == [(3, "image")]
