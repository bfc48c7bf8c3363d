"""Embed an audio file as a live source would deliver it: in small chunks, as they come.

Reads the file in chunks of ``--chunk`` seconds, feeds each to :class:`openl3.AudioStream`
and prints, per chunk that completed windows, how many and how long the call took (the
latency from a chunk's arrival to its embeddings). ``--realtime`` also waits between
chunks as a live source would. Without a file, 20 s of generated audio is used; without
``--weights``, the official weights are found as usual.

``--age HOURS`` measures whether a chunk costs more as the stream grows old: the audio is
fed once, the stream's counters are then advanced as if ``HOURS`` more had been fed (a
whole number of windows), and the audio is fed again; the median per-chunk time of both
passes is printed. ``--no-model`` stands a stub (zeros) in for the model, so that the
stream's own work (resampling, framing, timestamps) is what is timed::

    python examples/stream_file.py recording.wav --chunk 0.1 --hop 0.1
    python examples/stream_file.py --weights openl3_audio_mel128_music.h5 --input-repr mel128
    python examples/stream_file.py --no-model --age 10
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

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
    parser.add_argument("--age", type=float, help="feed again after advancing the stream by AGE hours")
    parser.add_argument(
        "--no-model", action="store_true", help="a stub instead of the model: the stream's own cost"
    )
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


def open_stream(args: argparse.Namespace, sr: int) -> openl3.AudioStream:
    """Return a stream at ``sr`` with its model loaded (or a stub model with ``--no-model``)."""
    if args.no_model:
        stub = SimpleNamespace(
            hop_size=args.hop,
            center=True,
            frontend="kapre",
            batch_size=args.batch_size,
            predict=lambda windows: np.zeros((len(windows), args.embedding_size), np.float32),
            dimension=lambda: args.embedding_size,
        )
        return openl3.AudioStream(sr, embedder=stub)
    model = None
    if args.weights:
        model = openl3.models.load_audio_embedding_model_from_path(
            args.weights, args.input_repr, args.embedding_size
        )
    options = {"input_repr": args.input_repr, "embedding_size": args.embedding_size}
    stream = openl3.AudioStream(sr, model=model, hop_size=args.hop, batch_size=args.batch_size, **options)
    stream.dimension()  # the model is loaded before the first real chunk
    return stream


def advance(stream: openl3.AudioStream, hours: float) -> int:
    """Move the stream's counters on as if ``hours`` more of audio had come before what it holds.

    Every position moves by the same whole number of windows, so the stream is in the
    state of one fed that long (the samples it holds are the same). Returns that number.
    """
    windows = stream.windows
    count = int(hours * 3600 / windows.hop_size)
    windows.n_done += count
    windows._start += count * windows.hop
    windows._length += count * windows.hop
    return count


def time_chunks(args: argparse.Namespace, stream: openl3.AudioStream) -> list[float]:
    """Feed the audio once more; return each chunk's time in ms (after a warm-up of 20 chunks)."""
    times = []
    for _, chunk in chunks(args):
        arrived = time.perf_counter()
        stream.feed(chunk)
        times.append(1000 * (time.perf_counter() - arrived))
    return times[20:]


def compare_ages(args: argparse.Namespace) -> None:
    """Print the median per-chunk time of a young stream and of the same stream ``--age`` hours older."""
    sr = next(chunks(args))[0]
    stream = open_stream(args, sr)
    young = time_chunks(args, stream)
    windows = advance(stream, args.age)
    old = time_chunks(args, stream)
    print(
        f"per chunk of {args.chunk} s, hop {args.hop} s ({len(young)} chunks each): "
        f"median {np.median(young):.3f} ms at the start, {np.median(old):.3f} ms after "
        f"{args.age:g} h ({windows} windows later, next window at {stream.windows.n_done * args.hop:.1f} s)"
    )


def main() -> None:
    """Stream the audio through the model and report each chunk's latency."""
    args = parse_args()
    if args.age is not None:
        compare_ages(args)
        return
    stream, latencies, total = None, [], 0
    for sr, chunk in chunks(args):
        if stream is None:
            stream = open_stream(args, sr)
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
