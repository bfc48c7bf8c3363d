"""Embed an audio file as a live source would deliver it: in small chunks, as they come.

Reads the file in chunks of ``--chunk`` seconds, feeds each to :class:`openl3.AudioStream`
and prints, per chunk that completed windows, how many and how long the call took (the
latency from a chunk's arrival to its embeddings). ``--realtime`` also waits between
chunks as a live source would. Without a file, 20 s of generated audio is used; without
``--weights``, the official weights are found as usual::

    python examples/stream_file.py recording.wav --chunk 0.1 --hop 0.1
    python examples/stream_file.py --weights openl3_audio_mel128_music.h5 --input-repr mel128
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import soundfile as sf

import openl3


def parse_args() -> argparse.Namespace:
    """Parse the example's arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "path", nargs="?", help="an audio file (default: 20 s of generated audio at 44.1 kHz)"
    )
    parser.add_argument("--chunk", type=float, default=0.1, help="seconds per chunk (default 0.1)")
    parser.add_argument("--hop", type=float, default=0.1, help="hop between windows (default 0.1)")
    parser.add_argument("--input-repr", default="mel256")
    parser.add_argument("--embedding-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--weights", help="an audio weight file (default: the official weights)")
    parser.add_argument("--realtime", action="store_true", help="wait between chunks as a live source would")
    return parser.parse_args()


def chunks(args: argparse.Namespace):
    """Yield (sample rate, chunk) from the file, or from generated audio."""
    if args.path is None:
        sr = 44100
        t = np.arange(20 * sr) / sr
        audio = (0.3 * np.sin(2 * np.pi * 440 * t * (1 + t / 20))).astype(np.float32)
        for start in range(0, len(audio), int(args.chunk * sr)):
            yield sr, audio[start : start + int(args.chunk * sr)]
        return
    with sf.SoundFile(args.path) as source:
        for block in source.blocks(blocksize=int(args.chunk * source.samplerate), dtype="float32"):
            yield source.samplerate, block


def main() -> None:
    """Stream the audio through the model and report each chunk's latency."""
    args = parse_args()
    model = None
    if args.weights:
        model = openl3.models.load_audio_embedding_model_from_path(
            args.weights, args.input_repr, args.embedding_size
        )
    stream, latencies, total = None, [], 0
    for sr, chunk in chunks(args):
        if stream is None:
            options = {"input_repr": args.input_repr, "embedding_size": args.embedding_size}
            stream = openl3.AudioStream(
                sr, model=model, hop_size=args.hop, batch_size=args.batch_size, **options
            )
            stream.feed(chunk[:0])  # the model is loaded before the first real chunk
            stream.dimension()
        arrived = time.perf_counter()
        embedding, timestamps = stream.feed(chunk)
        elapsed = time.perf_counter() - arrived
        if len(timestamps):
            latencies.append(elapsed)
            total += len(timestamps)
            print(f"t={timestamps[-1]:7.2f} s  {embedding.shape} embeddings  {1000 * elapsed:7.1f} ms")
        if args.realtime:
            time.sleep(max(0.0, args.chunk - elapsed))
    _, timestamps = stream.flush()
    total += len(timestamps)
    print(f"flush: {len(timestamps)} windows; {total} in all")
    if latencies:
        ms = 1000 * np.array(latencies)
        print(
            f"latency per chunk with windows: median {np.median(ms):.1f} ms, "
            f"p95 {np.percentile(ms, 95):.1f} ms, max {ms.max():.1f} ms"
        )


if __name__ == "__main__":
    main()
