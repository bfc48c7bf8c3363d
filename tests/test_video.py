"""Video files: both outputs, frame scaling over the whole video, streaming, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import openl3
from helpers import write_video
from openl3 import OpenL3Error
from openl3.video.compute import open_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    directory = tmp_path_factory.mktemp("videos")
    return {
        "rising": write_video(directory / "rising.mp4"),
        "silent": write_video(directory / "silent.mp4", audio=False),
    }


@pytest.fixture(scope="module")
def models(weights_dir):
    audio = openl3.models.load_audio_embedding_model_from_path(
        str(weights_dir / "openl3_audio_mel128_music.h5"), "mel128", 512
    )
    image = openl3.models.load_image_embedding_model_from_path(
        str(weights_dir / "openl3_image_mel256_music.h5"), 512
    )
    return audio, image


def test_video_outputs_equal_0_4_2_style_whole_array_computation(videos, models, tmp_path):
    audio_model, image_model = models
    openl3.process_video_file(
        videos["rising"],
        output_dir=str(tmp_path),
        audio_model=audio_model,
        image_model=image_model,
        audio_hop_size=0.5,
        image_batch_size=3,
        verbose=False,
    )
    assert sorted(os.listdir(tmp_path)) == ["rising_audio.npz", "rising_image.npz"]
    audio_out, image_out = np.load(tmp_path / "rising_audio.npz"), np.load(tmp_path / "rising_image.npz")
    with open_video(videos["rising"]) as clip:  # what 0.4.2 does: everything in memory at once
        frames = np.array(list(clip.iter_frames()))
        sound = clip.audio.to_soundarray(fps=48000)
        fps = clip.fps
    assert frames.shape[1:] == (256, 256, 3) and len(frames) == 20
    expected_image, expected_ts = openl3.get_image_embedding(
        frames, int(fps), model=image_model, verbose=False
    )
    np.testing.assert_allclose(
        image_out["embedding"], expected_image, rtol=1e-5, atol=1e-5 * np.abs(expected_image).max()
    )
    np.testing.assert_array_equal(image_out["timestamps"], np.arange(20) / 10)
    np.testing.assert_array_equal(image_out["timestamps"], expected_ts)
    expected_audio, audio_ts = openl3.get_audio_embedding(
        sound, 48000, model=audio_model, hop_size=0.5, verbose=False
    )
    np.testing.assert_allclose(
        audio_out["embedding"], expected_audio, rtol=1e-5, atol=1e-5 * np.abs(expected_audio).max()
    )
    np.testing.assert_array_equal(audio_out["timestamps"], audio_ts)
    assert len(audio_ts) == 4  # 96000 samples + 24000 centring: 1 + (120000 - 48000) / 24000


def test_frames_are_scaled_by_the_maximum_over_the_whole_video(videos, models):
    _, image_model = models
    with open_video(videos["rising"]) as clip:
        frames = np.array(list(clip.iter_frames()))
    whole = openl3.get_image_embedding(frames, model=image_model, verbose=False)
    first_half = openl3.get_image_embedding(frames[:10], model=image_model, verbose=False)
    # The dim first half alone is scaled by its own (smaller) maximum: different numbers.
    assert np.abs(whole[:10] - first_half).max() > 1e-3 * np.abs(whole).max()


def test_suffix_and_skip(videos, models, tmp_path):
    audio_model, image_model = models
    kwargs = {
        "output_dir": str(tmp_path),
        "audio_model": audio_model,
        "image_model": image_model,
        "verbose": False,
    }
    openl3.process_video_file(videos["rising"], suffix="s", audio_hop_size=1.0, **kwargs)
    assert sorted(os.listdir(tmp_path)) == ["rising_audio_s.npz", "rising_image_s.npz"]
    before = os.path.getmtime(tmp_path / "rising_image_s.npz")
    openl3.process_video_file(videos["rising"], suffix="s", audio_hop_size=1.0, **kwargs)
    assert os.path.getmtime(tmp_path / "rising_image_s.npz") == before


def test_video_without_audio_is_an_error_and_writes_nothing(videos, models, tmp_path):
    audio_model, image_model = models
    with pytest.raises(OpenL3Error, match="silent.mp4 has no audio track"):
        openl3.process_video_file(
            videos["silent"],
            output_dir=str(tmp_path),
            audio_model=audio_model,
            image_model=image_model,
            verbose=False,
        )
    assert os.listdir(tmp_path) == []


def test_corrupt_and_missing_videos_are_errors(tmp_path, models):
    audio_model, image_model = models
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    with pytest.raises(OpenL3Error, match="corrupt.mp4"):
        openl3.process_video_file(
            str(corrupt), audio_model=audio_model, image_model=image_model, verbose=False
        )
    with pytest.raises(OpenL3Error, match="not found: .*nothing.mp4"):
        openl3.process_video_file(
            str(tmp_path / "nothing.mp4"), audio_model=audio_model, image_model=image_model, verbose=False
        )
    assert sorted(os.listdir(tmp_path)) == ["corrupt.mp4"]


def test_an_existing_output_is_kept_and_only_the_missing_one_written(videos, models, tmp_path):
    _, image_model = models
    (tmp_path / "rising_audio.npz").write_bytes(b"kept as it is")
    # No audio model and no audio weights: the audio output exists, so none is needed.
    report = openl3.process_video_file(
        videos["rising"],
        output_dir=str(tmp_path),
        image_model=image_model,
        input_repr="mel128",
        verbose=False,
    )
    assert report.processed == [videos["rising"]]
    assert (tmp_path / "rising_audio.npz").read_bytes() == b"kept as it is"
    assert np.load(tmp_path / "rising_image.npz")["embedding"].shape == (20, 512)
    (tmp_path / "rising_image.npz").unlink()
    (tmp_path / "rising_image.npz").write_bytes(b"kept too")
    with pytest.raises(OpenL3Error, match="openl3_audio_mel128_music"):  # now the audio is needed
        openl3.process_video_file(
            videos["rising"],
            output_dir=str(tmp_path),
            image_model=image_model,
            input_repr="mel128",
            overwrite=True,
            verbose=False,
        )
    assert (tmp_path / "rising_image.npz").read_bytes() == b"kept too"


def test_both_outputs_or_neither(videos, models, tmp_path, monkeypatch):
    from openl3.runs import npz as files

    audio_model, image_model = models
    real_write, written = files.write_npz, []

    def write_then_fail(path, **arrays):
        written.append(path)
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        real_write(path, **arrays)

    monkeypatch.setattr(files, "write_npz", write_then_fail)
    report = openl3.process_video_file(
        videos["rising"],
        output_dir=str(tmp_path),
        audio_model=audio_model,
        image_model=image_model,
        verbose=False,
        errors="collect",
    )
    assert report.processed == [] and "No space left" in report.failed[0][1]
    assert os.listdir(tmp_path) == []  # neither output, no temporary


def test_a_video_under_one_frame_per_second_is_an_error(tmp_path, models):
    audio_model, image_model = models
    path = write_video(tmp_path / "slow.mp4", seconds=3.0, fps=0.5)
    with pytest.raises(OpenL3Error, match=r"slow.mp4 has a frame rate of 0.5 fps"):
        openl3.process_video_file(path, audio_model=audio_model, image_model=image_model, verbose=False)
    assert sorted(os.listdir(tmp_path)) == ["slow.mp4"]


def test_a_failing_second_pass_is_collected(videos, models, tmp_path, monkeypatch):
    from moviepy import VideoFileClip

    from openl3.image import compute as image

    audio_model, image_model = models
    monkeypatch.setattr(image, "KEPT_FRAMES", 4)  # 20 frames: decoded twice
    real_iter_frames, passes = VideoFileClip.iter_frames, []

    def iter_frames(self, *args, **kwargs):
        passes.append(1)
        for index, frame in enumerate(real_iter_frames(self, *args, **kwargs)):
            if len(passes) % 2 == 0 and index == 7:
                raise RuntimeError("decoder died")
            yield frame

    monkeypatch.setattr(VideoFileClip, "iter_frames", iter_frames)
    inputs = [videos["rising"], videos["rising"]]
    report = openl3.process_video_file(
        inputs[:1],
        output_dir=str(tmp_path),
        audio_model=audio_model,
        image_model=image_model,
        verbose=False,
        errors="collect",
    )
    assert report.processed == [] and "after frame 7: decoder died" in report.failed[0][1]
    assert os.listdir(tmp_path) == []


def test_image_model_follows_input_repr_with_a_kapre_audio_model(videos, models, weights_env, tmp_path):
    audio_model, _ = models
    # 0.4.2 loads the image model of the input_repr asked for; the test weights have only mel256.
    with pytest.raises(OpenL3Error, match="openl3_image_mel128_music"):
        openl3.process_video_file(
            videos["rising"],
            output_dir=str(tmp_path),
            audio_model=audio_model,
            input_repr="mel128",
            image_embedding_size=512,
            verbose=False,
        )
    openl3.process_video_file(
        videos["rising"],
        output_dir=str(tmp_path),
        audio_model=audio_model,
        image_embedding_size=512,
        verbose=False,
    )
    assert sorted(os.listdir(tmp_path)) == ["rising_audio.npz", "rising_image.npz"]


def write_noise_video(path, seconds):
    """A 1 fps video of ``seconds`` with pink noise at 44.1 kHz (AAC), made by ffmpeg's lavfi."""
    import subprocess

    import imageio_ffmpeg

    noise = "anoisesrc=color=pink:sample_rate=44100:amplitude=0.3:seed=3"
    sources = ["color=c=gray:size=64x48:rate=1", noise]
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2"]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *inputs, "-t", str(seconds)]
    subprocess.run([*command, *codecs, str(path)], check=True)
    return str(path)


# 1.02 s is one moviepy chunk (<= 50000 samples, read whole); the others straddle window
# boundaries at hop 0.5 (1.98, 2.0, 2.02 s) or span many chunks and two signal blocks.
@pytest.mark.parametrize("seconds", [1.02, 1.98, 2.0, 2.02, 7.3])
def test_the_audio_track_is_decoded_in_chunks_with_the_samples_of_a_whole_decode(
    tmp_path, models, monkeypatch, seconds
):
    from moviepy.audio.AudioClip import AudioClip

    audio_model, image_model = models
    path = write_noise_video(tmp_path / "noise.mp4", seconds)
    with open_video(path) as clip:  # the oracle: 0.4.2's whole decode, then get_audio_embedding
        sound = clip.audio.to_soundarray(fps=48000)
    expected, expected_ts = openl3.get_audio_embedding(
        sound, 48000, model=audio_model, hop_size=0.5, batch_size=4, verbose=False
    )
    real_to_soundarray, decoded = AudioClip.to_soundarray, []

    def to_soundarray(self, *args, **kwargs):
        samples = real_to_soundarray(self, *args, **kwargs)
        decoded.append(len(samples))
        return samples

    monkeypatch.setattr(AudioClip, "to_soundarray", to_soundarray)
    out = tmp_path / "out"
    openl3.process_video_file(
        path,
        output_dir=str(out),
        audio_model=audio_model,
        image_model=image_model,
        audio_hop_size=0.5,
        audio_batch_size=4,
        verbose=False,
    )
    with np.load(out / "noise_audio.npz") as got:
        np.testing.assert_array_equal(got["embedding"], expected)
        np.testing.assert_array_equal(got["timestamps"], expected_ts)
    assert sum(decoded) == len(sound) and max(decoded) <= 50000  # never the whole track at once
