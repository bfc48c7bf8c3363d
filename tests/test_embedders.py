"""The object API: an embedder made once gives 0.4.2's functions' numbers for arrays, files, streams."""

import numpy as np
import pytest
import soundfile as sf

import openl3
from helpers import noise, write_video
from openl3._util.exceptions import OpenL3Error

AUDIO = {"input_repr": "mel128", "embedding_size": 512, "hop_size": 0.5}


@pytest.fixture
def clips(tmp_path):
    paths = []
    for k, seconds in enumerate([0.7, 1.6, 2.4]):
        path = tmp_path / f"c{k}.wav"
        sf.write(path, noise(seconds, 16000, seed=k), 16000)
        paths.append(str(path))
    return paths


def test_embed_is_get_audio_embedding_bit_for_bit(weights_env):
    embedder = openl3.AudioEmbedder(**AUDIO, verbose=False)
    audio = [noise(1.3, 22050, seed=1), noise(2.2, 44100, seed=2, channels=2)]
    got, got_ts = embedder.embed(audio, [22050, 44100])
    want, want_ts = openl3.get_audio_embedding(audio, [22050, 44100], **AUDIO, verbose=False)
    for g, w, gt, wt in zip(got, want, got_ts, want_ts, strict=True):
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(gt, wt)
    one, _ = embedder.embed(audio[0], 22050)
    np.testing.assert_array_equal(one, want[0])
    assert embedder.model is not None  # loaded once, kept


def test_embed_files_writes_what_process_audio_file_writes(weights_env, clips, tmp_path):
    embedder = openl3.AudioEmbedder(**AUDIO, verbose=False)
    report = embedder.embed_files(clips, output_dir=str(tmp_path / "a"))
    openl3.process_audio_file(clips, output_dir=str(tmp_path / "b"), **AUDIO, verbose=False)
    assert report.processed == clips
    for path in clips:
        name = path.rsplit("/", 1)[1].replace(".wav", ".npz")
        a, b = np.load(tmp_path / "a" / name), np.load(tmp_path / "b" / name)
        np.testing.assert_array_equal(a["embedding"], b["embedding"])
        np.testing.assert_array_equal(a["timestamps"], b["timestamps"])


def test_a_stream_shares_the_model_and_gives_its_windows(weights_env):
    embedder = openl3.AudioEmbedder(**AUDIO, batch_size=4, verbose=False)
    audio = noise(3.1, 16000, seed=4)
    stream = embedder.stream(16000, exact_batches=True)
    assert stream.embedder is embedder
    pieces = [stream.feed(audio[i : i + 7000]) for i in range(0, len(audio), 7000)] + [stream.flush()]
    got = np.concatenate([p[0] for p in pieces])
    want, timestamps = embedder.embed(audio, 16000)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in pieces]), timestamps)


def test_weights_name_a_weight_file_and_are_recorded_by_content(weights_env, weights_dir):
    path = weights_dir / "openl3_audio_mel128_music.h5"
    from_file = openl3.AudioEmbedder(**AUDIO, weights=str(path), verbose=False)
    by_name = openl3.AudioEmbedder(**AUDIO, verbose=False)
    audio = noise(1.5, 48000, seed=6)
    np.testing.assert_array_equal(from_file.embed(audio, 48000)[0], by_name.embed(audio, 48000)[0])
    import hashlib

    assert from_file.settings().weights == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(OpenL3Error, match="not both"):
        openl3.AudioEmbedder(model=by_name.model, weights=str(path))
    with pytest.raises(OpenL3Error, match="Cannot read weight file"):
        openl3.AudioEmbedder(weights=str(path) + ".missing")


def test_output_makes_a_layer_the_embedding(weights_env):
    audio = noise(2.0, 48000, seed=7)
    embedder = openl3.AudioEmbedder(**AUDIO, output="pool2", verbose=False)
    embedding, timestamps = embedder.embed(audio, 48000)
    model = openl3.models.load_audio_embedding_model("mel128", "music", 512, output="pool2")
    oracle, _ = openl3.get_audio_embedding(audio, 48000, model=model, hop_size=0.5, verbose=False)
    assert embedding.shape == (len(timestamps), 128)
    np.testing.assert_array_equal(embedding, oracle)
    assert embedder.settings().output == "pool2" and openl3.AudioEmbedder(**AUDIO).settings().output is None
    with pytest.raises(OpenL3Error, match="Invalid output 'conv9'"):
        openl3.AudioEmbedder(**AUDIO, output="conv9")
    with pytest.raises(OpenL3Error, match="cannot apply to a model given"):
        openl3.AudioEmbedder(model=model, output="pool2")


def test_a_dataset_records_the_output_and_refuses_another(weights_env, clips, tmp_path):
    out = str(tmp_path / "out")
    openl3.AudioEmbedder(**AUDIO, output="conv3", verbose=False).embed_files(
        clips[:1], output_dir=out, output_format="parquet"
    )
    with pytest.raises(OpenL3Error, match="output='conv3'"):
        openl3.AudioEmbedder(**AUDIO, verbose=False).embed_files(
            clips, output_dir=out, output_format="parquet"
        )


def test_image_embedder_is_get_image_embedding(weights_env):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (3, 240, 260, 3), dtype=np.uint8)
    embedder = openl3.ImageEmbedder(embedding_size=512, verbose=False)
    got, timestamps = embedder.embed(frames, frame_rate=10)
    want, want_ts = openl3.get_image_embedding(frames, 10, embedding_size=512, verbose=False)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(timestamps, want_ts)
    layer = openl3.ImageEmbedder(embedding_size=512, output="relu2", verbose=False).embed(frames[0])
    assert layer.shape == (1, 64)


def test_video_embedder_is_process_video_file(weights_env, tmp_path):
    path = write_video(tmp_path / "v.mp4", seconds=1.5, fps=2)
    settings = {"input_repr": "mel256", "audio_embedding_size": 512, "image_embedding_size": 512}
    settings.update(audio_hop_size=0.5, verbose=False)
    arrays = openl3.VideoEmbedder(**settings).embed(path)
    openl3.process_video_file(path, output_dir=str(tmp_path / "npz"), **settings)
    for modality in ("audio", "image"):
        npz = np.load(tmp_path / "npz" / f"v_{modality}.npz")
        np.testing.assert_array_equal(arrays[modality]["embedding"], npz["embedding"])
        np.testing.assert_array_equal(arrays[modality]["timestamps"], npz["timestamps"])


def test_constructors_take_keywords_only():
    with pytest.raises(TypeError):
        openl3.AudioEmbedder(None, "mel128")
