"""Benchmark images and video: frames/s and peak memory, with random weights.

Generates a video (moving gradient, brightness rising over time, stereo tone) and runs
``process_video_file`` on it, then ``get_image_embedding`` on single images. Example::

    python scripts/bench_video.py --seconds 10 60 --fps 25

Peak RSS is measured per call (the kernel's high-water mark is reset before each), so
the figures for different lengths can be compared: with streamed frames, the peak
should not grow with the length of the video.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from bench_audio import peak_rss_mb, reset_peak_rss, rss_mb

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_video(path: str, seconds: float, fps: int, size: tuple[int, int]) -> None:
    """Write a generated test video with moviepy."""
    from moviepy import AudioArrayClip, VideoClip

    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]

    def frame(t: float) -> np.ndarray:
        pattern = np.stack([(xx + 40 * t) % width / width, yy / height, (xx + yy) / (width + height)], -1)
        return (255 * pattern * (0.2 + 0.8 * t / seconds)).astype(np.uint8)

    t = np.arange(int(seconds * 44100)) / 44100
    tone = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1)
    clip = VideoClip(frame, duration=seconds).with_fps(fps).with_audio(AudioArrayClip(tone, fps=44100))
    clip.write_videofile(path, codec="libx264", audio_codec="aac", logger=None)


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0], help="video lengths")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--size", type=int, nargs=2, default=[640, 360], metavar=("W", "H"))
    parser.add_argument("--image-embedding-size", type=int, default=8192, choices=[512, 8192])
    parser.add_argument("--image-batch-size", type=int, default=32)
    parser.add_argument("--audio-hop-size", type=float, default=1.0)
    return parser.parse_args()


def main() -> None:
    """Run the benchmark described by the command line."""
    args = parse_args()
    import openl3
    from openl3.models import build_audio_model, build_image_model

    audio_model, _ = build_audio_model("mel128", 512)
    image_model, _ = build_image_model(args.image_embedding_size)
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    openl3.get_image_embedding(image, model=image_model, verbose=False)  # trace outside the measurements
    start = time.perf_counter()
    for _ in range(10):
        openl3.get_image_embedding(image, model=image_model, verbose=False)
    print(f"single 640x480 images: {10 / (time.perf_counter() - start):.2f} images/s")
    with tempfile.TemporaryDirectory() as directory:
        for seconds in args.seconds:
            path = os.path.join(directory, f"video_{seconds:g}s.mp4")
            write_video(path, seconds, args.fps, tuple(args.size))
            reset_peak_rss()
            before = rss_mb()
            start = time.perf_counter()
            openl3.process_video_file(
                path,
                audio_model=audio_model,
                image_model=image_model,
                audio_hop_size=args.audio_hop_size,
                image_batch_size=args.image_batch_size,
                overwrite=True,
                verbose=False,
            )
            elapsed = time.perf_counter() - start
            frames = len(np.load(path[:-4] + "_image.npz")["timestamps"])
            print(
                f"video {seconds:g} s ({frames} frames of {args.size[0]}x{args.size[1]} at {args.fps} fps): "
                f"{elapsed:.1f} s, {frames / elapsed:.2f} frames/s with audio; RSS before {before:.0f} MB, "
                f"peak during call {peak_rss_mb():.0f} MB (all frames at 256x256 would be "
                f"{frames * 256 * 256 * 3 / 1e6:.0f} MB as uint8, {frames * 224 * 224 * 3 * 8 / 1e6:.0f} MB "
                "as 0.4.2's float64 batch)"
            )


if __name__ == "__main__":
    main()
