"""Peak memory of embedding a video file, against its length.

Generates two videos with ffmpeg's lavfi sources (e.g. 10 and 60 minutes; 1 frame/s of
64x48 colour, 48 kHz stereo noise in AAC), runs ``process_video_file`` on each in a fresh
child process with tiny Keras models standing in for the audio and image towers (as
``bench_memory.py --tiny-model`` does: decoding, windowing, batching and the outputs are
the same, only the model's cost is gone), and prints the child's peak resident memory
(``ru_maxrss`` from ``wait4``), the size of its two embeddings, and the growth of the peak
from the short video to the long one beyond the growth of the embeddings themselves (the
part that should stay near zero: the audio track is decoded block by block). Example::

    python scripts/bench_video_memory.py --minutes 10 60 --hop 0.1

Target: growth beyond the larger embeddings at most 60 MB. Decoding the
track whole, as 0.4.2 does, takes 48 kHz stereo float64: about 0.77 MB per second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from bench_memory import peak_rss_mb, tiny_audio_model


def write_video(path: str, minutes: float, size: tuple[int, int]) -> None:
    """Write ``minutes`` of 1 fps flat colour with 48 kHz stereo pink noise (H.264, AAC)."""
    import imageio_ffmpeg

    width, height = size
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-y", "-loglevel", "error"),
        *("-f", "lavfi", "-i", f"color=c=gray:size={width}x{height}:rate=1"),
        *("-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=48000:amplitude=0.2:seed=1"),
        *("-t", f"{minutes * 60:g}", "-c:v", "libx264", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "64k", "-ac", "2", path),
    ]
    subprocess.run(command, check=True)


def tiny_image_model():
    """Return a tiny Keras model taking (224, 224, 3) frames, as the image tower does (512-d)."""
    import keras

    inputs = keras.Input(shape=(224, 224, 3))
    x = keras.layers.AveragePooling2D(28)(inputs)
    return keras.Model(inputs, keras.layers.Dense(512)(keras.layers.Flatten()(x)))


def child(video: str, output_dir: str, hop: float, batch_size: int) -> None:
    """Child process: embed ``video`` with ``process_video_file`` and the tiny models."""
    import openl3

    openl3.process_video_file(
        video,
        output_dir=output_dir,
        audio_model=tiny_audio_model(),
        image_model=tiny_image_model(),
        audio_hop_size=hop,
        audio_batch_size=batch_size,
        image_batch_size=batch_size,
        verbose=False,
    )


def measure(args: argparse.Namespace, workdir: str, minutes: float) -> tuple[float, int, int, float]:
    """Return (peak RSS MB, audio windows, frames, embeddings MB) of a ``minutes`` video."""
    video = os.path.join(workdir, f"{minutes:g}min.mp4")
    write_video(video, minutes, tuple(args.size))
    output_dir = os.path.join(workdir, f"out_{minutes:g}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = [__file__, "--child", video, output_dir, str(args.hop), str(args.batch_size)]
    peak = peak_rss_mb([sys.executable, *code], env)
    counts, size = [], 0.0
    for modality in ("audio", "image"):
        with np.load(os.path.join(output_dir, f"{minutes:g}min_{modality}.npz")) as data:
            counts.append(len(data["embedding"]))
            size += data["embedding"].nbytes / 1e6
    os.remove(video)
    return peak, counts[0], counts[1], size


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, nargs=2, default=(10, 60), metavar=("SHORT", "LONG"))
    parser.add_argument("--size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"))
    parser.add_argument("--hop", type=float, default=0.1, help="audio hop size in seconds")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Measure both lengths and print the figures."""
    args = parse_args()
    if args.child:
        video, output_dir, hop, batch_size = args.child
        child(video, output_dir, float(hop), int(batch_size))
        return
    print(f"tiny models (process_video_file); 1 fps {args.size[0]}x{args.size[1]}, hop {args.hop} s")
    with tempfile.TemporaryDirectory() as workdir:
        rows = [(minutes, *measure(args, workdir, minutes)) for minutes in args.minutes]
    for minutes, peak, windows, frames, embeddings in rows:
        sizes = f"embeddings {embeddings:8.1f} MB, peak RSS {peak:8.1f} MB"
        print(f"{minutes:6g} min: {windows:6d} windows, {frames:5d} frames, {sizes}")
    (_, short_peak, _, _, short_emb), (_, long_peak, _, _, long_emb) = rows
    growth, beyond = long_peak - short_peak, (long_peak - short_peak) - (long_emb - short_emb)
    print(f"peak growth {growth:.1f} MB; beyond the larger embeddings: {beyond:.1f} MB (target <= 60 MB)")


if __name__ == "__main__":
    main()
