"""Peak memory of embedding an audio file, against its length.

Writes two generated WAV files (e.g. 10 and 60 minutes), embeds each in a fresh child
process and prints the child's peak resident memory (``ru_maxrss`` from ``wait4``), the
size of its embedding, and the growth of the peak from the short file to the long one
beyond the growth of the embedding itself (the part that should stay near zero: the
audio is decoded, resampled and windowed block by block). Examples::

    python scripts/bench_memory.py --minutes 10 60 --sr 16000 --channels 1 --hop 5.0
    python scripts/bench_memory.py --minutes 10 60 --sr 44100 --channels 2 --hop 0.1 --tiny-model

The first runs the ``openl3 audio`` command (mel256, 6144-d: its defaults) with random
weights in the official layout. ``--tiny-model`` runs ``process_audio_file`` with a tiny
Keras model taking the same raw windows instead of the L3-Net tower, for runs too long to
put through the real tower on a CPU: decoding, resampling, windowing, batching and the
output are the same, only the model's cost is gone.

Target (issue 8): growth beyond the larger embedding at most 60 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
from bench_cli import write_random_weights


def write_wav(path: str, minutes: float, sr: int, channels: int) -> None:
    """Write ``minutes`` of seeded noise as 16-bit PCM, ten seconds at a time."""
    rng = np.random.default_rng(0)
    total, block = int(minutes * 60 * sr), 10 * sr
    with sf.SoundFile(path, "w", sr, channels, subtype="PCM_16") as out:
        for start in range(0, total, block):
            frames = min(block, total - start)
            out.write(rng.normal(0, 0.2, (frames, channels)).clip(-1, 1))


def peak_rss_mb(command: list[str], env: dict) -> float:
    """Run ``command``; return its peak resident memory in MB."""
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return usage.ru_maxrss / 1024  # kB on Linux


def tiny_audio_model():
    """Return a tiny Keras model taking raw (1, 48000) windows, as the kapre tower does (512-d)."""
    import keras

    inputs = keras.Input(shape=(1, 48000))
    x = keras.layers.Reshape((48000, 1))(inputs)
    x = keras.layers.AveragePooling1D(480)(x)
    outputs = keras.layers.Dense(512)(keras.layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def tiny_model_child(wav: str, output_dir: str, hop: float, batch_size: int) -> None:
    """Child process: embed ``wav`` with ``process_audio_file`` and a tiny raw-window model."""
    import openl3

    openl3.process_audio_file(
        wav,
        output_dir=output_dir,
        model=tiny_audio_model(),
        hop_size=hop,
        batch_size=batch_size,
        verbose=False,
    )


def measure(
    args: argparse.Namespace, workdir: str, weights_dir: str, minutes: float
) -> tuple[float, int, float]:
    """Return (peak RSS MB, windows, embedding MB) of embedding ``minutes`` of audio."""
    wav = os.path.join(workdir, f"{minutes:g}min.wav")
    write_wav(wav, minutes, args.sr, args.channels)
    output_dir = os.path.join(workdir, f"out_{minutes:g}")
    env = {**os.environ, "OPENL3_WEIGHTS_DIR": weights_dir, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if args.tiny_model:
        code = [__file__, "--child", wav, output_dir, str(args.hop), str(args.batch_size)]
        peak = peak_rss_mb([sys.executable, *code], env)
    else:
        command = [sys.executable, "-m", "openl3", "audio", wav, "-o", output_dir, "-q", "-t", str(args.hop)]
        peak = peak_rss_mb([*command, "-ab", str(args.batch_size)], env)
    with np.load(os.path.join(output_dir, f"{minutes:g}min.npz")) as data:
        embedding = data["embedding"]
        return peak, len(embedding), embedding.nbytes / 1e6


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, nargs=2, default=(10, 60), metavar=("SHORT", "LONG"))
    parser.add_argument("--sr", type=int, default=16000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--hop", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--tiny-model", action="store_true", help="a tiny model instead of the L3-Net tower")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Measure both lengths and print the figures."""
    args = parse_args()
    if args.child:
        wav, output_dir, hop, batch_size = args.child
        tiny_model_child(wav, output_dir, float(hop), int(batch_size))
        return
    with tempfile.TemporaryDirectory() as workdir:
        weights_dir = os.path.join(workdir, "weights")
        os.makedirs(weights_dir)
        if not args.tiny_model:
            write_random_weights(os.path.join(weights_dir, "openl3_audio_mel256_music.h5"), "mel256")
        model = "tiny model (process_audio_file)" if args.tiny_model else "openl3 audio, mel256, 6144-d"
        print(f"{model}; {args.sr} Hz, {args.channels} channel(s), hop {args.hop} s, batch {args.batch_size}")
        rows = [(minutes, *measure(args, workdir, weights_dir, minutes)) for minutes in args.minutes]
        for minutes, peak, windows, embedding in rows:
            sizes = f"embedding {embedding:8.1f} MB, peak RSS {peak:8.1f} MB"
            print(f"{minutes:6g} min: {windows:6d} windows, {sizes}")
        (_, short_peak, _, short_emb), (_, long_peak, _, long_emb) = rows
        growth, beyond = long_peak - short_peak, (long_peak - short_peak) - (long_emb - short_emb)
        print(f"peak growth {growth:.1f} MB; beyond the larger embedding: {beyond:.1f} MB (target <= 60 MB)")


if __name__ == "__main__":
    main()
