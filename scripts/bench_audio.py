"""Benchmark the audio pipeline: speed against the model alone, and peak memory.

Uses random weights (no weight file needed). Examples::

    python scripts/bench_audio.py --seconds 60 --hop 0.1 --input-repr mel256
    python scripts/bench_audio.py --seconds 600 --hop 1.0 --memory-only

Speed: windows/s and seconds of audio per second through ``get_audio_embedding``, and
windows/s of the model alone on pre-framed input (the pipeline's overhead is the gap).
Memory: peak RSS of the process, and its growth during the embedding call beyond the
memory held before it (model, input array); the figures to compare across lengths.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from openl3.models.precision import PRECISIONS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1e3


def rss_mb() -> float:
    """Return the current resident set size, in MB."""
    return _status_mb("VmRSS")


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark of this process (Linux), so peaks are per measurement."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def peak_rss_mb() -> float:
    """Return the peak resident set size since the last reset, in MB."""
    return _status_mb("VmHWM")


def devices() -> list[str]:
    """Return the devices the Keras backend sees."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    if keras.backend.backend() == "torch":
        import torch

        return ["cpu"] + [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices()]


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated audio")
    parser.add_argument("--sr", type=int, default=44100, help="its sample rate")
    parser.add_argument("--channels", type=int, default=2, help="its channels")
    parser.add_argument("--hop", type=float, default=0.1, help="hop size in seconds")
    parser.add_argument("--input-repr", default="mel256", choices=["linear", "mel128", "mel256"])
    parser.add_argument("--embedding-size", type=int, default=6144, choices=[512, 6144])
    parser.add_argument("--frontend", default="kapre", choices=["kapre", "librosa"])
    parser.add_argument(
        "--spectrogram",
        default="auto",
        choices=["auto", "keras", "kapre"],
        help="what computes the kapre frontend's spectrogram (kapre: openl3[kapre], TensorFlow)",
    )
    parser.add_argument("--batch-size", type=int, nargs="+", default=[32], help="one or more batch sizes")
    parser.add_argument("--memory-only", action="store_true", help="skip the model-alone baseline")
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax", "torch"], help="Keras backend (KERAS_BACKEND)"
    )
    parser.add_argument("--precision", default="faithful", choices=PRECISIONS)
    parser.add_argument("--files", type=int, default=1, help="split the audio into this many arrays (a list)")
    parser.add_argument(
        "--prefetch",
        type=int,
        help="batches read ahead of the model (openl3.models.batching.PREFETCH_BATCHES)",
    )
    return parser.parse_args()


class TimedModel:
    """Wrap ``model_predictor`` where openl3 uses it to add up the time spent in model calls.

    The embedders import ``model_predictor`` by name (``openl3.audio.compute``,
    ``openl3.image.compute``), so patching ``openl3.models.batching`` alone would time nothing: every
    loaded openl3 module that holds the function gets the timed one instead.
    """

    def __init__(self, openl3):
        import importlib
        import sys

        for used_in in ("openl3.audio.compute", "openl3.image.compute"):  # load them before patching
            importlib.import_module(used_in)
        self.busy, self._make = 0.0, openl3.models.batching.model_predictor
        patched = [
            module
            for name, module in list(sys.modules.items())
            if name.startswith("openl3") and getattr(module, "model_predictor", None) is self._make
        ]
        for module in patched:
            module.model_predictor = self.predictor
        if sys.modules["openl3.audio.compute"] not in patched:
            raise RuntimeError(
                "openl3.audio.compute no longer holds model_predictor: 'model busy' would read 0%"
            )

    def predictor(self, model, precision="faithful"):
        """Return the model's predictor, timed."""
        predict = self._make(model, precision)

        def timed(batch):
            start = time.perf_counter()
            result = predict(batch)
            self.busy += time.perf_counter() - start
            return result

        return timed


def split(audio: np.ndarray, files: int) -> list[np.ndarray]:
    """Split the audio into ``files`` arrays of (nearly) equal length."""
    return list(np.array_split(audio, files)) if files > 1 else [audio]


def measure_reading(openl3, audio, args, batch_size) -> None:
    """Print windows/s of decoding, resampling and framing alone (no model)."""
    start, n = time.perf_counter(), 0
    for part in split(audio, args.files):
        source = openl3.audio.windows.AudioWindows(part, args.sr, args.hop, True)
        for first in range(0, source.n_items, batch_size):
            n += len(source.read(first, min(batch_size, source.n_items - first)))
    elapsed = time.perf_counter() - start
    print(f"reading   batch {batch_size:4d}: {n / elapsed:.2f} windows/s (resample and frame, no model)")


def measure_pipeline(openl3, model, audio, args, batch_size, timer) -> tuple[int, float]:
    """Time one ``get_audio_embedding`` call; print speed and memory; return (windows, seconds)."""
    reset_peak_rss()
    before, timer.busy = rss_mb(), 0.0
    start = time.perf_counter()
    emb, _ = openl3.get_audio_embedding(
        split(audio, args.files) if args.files > 1 else audio,
        [args.sr] * args.files if args.files > 1 else args.sr,
        model=model,
        hop_size=args.hop,
        batch_size=batch_size,
        frontend=args.frontend,
        verbose=False,
        precision=args.precision,
    )
    elapsed = time.perf_counter() - start
    peak = peak_rss_mb()
    embeddings = emb if isinstance(emb, list) else [emb]
    n = sum(e.shape[0] for e in embeddings)
    mono_mb = openl3.audio.signal.resampled_length(len(audio), args.sr) * 8 / 1e6
    print(
        f"pipeline  batch {batch_size:4d}: {n} windows in {elapsed:.1f} s = {n / elapsed:.2f} windows/s, "
        f"{args.seconds / elapsed:.2f} s of audio per s; model busy {100 * timer.busy / elapsed:.1f}% of it"
    )
    print(
        f"memory    batch {batch_size:4d}: RSS before {before:.0f} MB, peak during call {peak:.0f} MB, "
        f"growth {peak - before:.0f} MB (embedding {sum(e.nbytes for e in embeddings) / 1e6:.1f} MB; "
        f"a 48 kHz mono float64 copy would be {mono_mb:.0f} MB)"
    )
    return n, elapsed


def measure_model(predict, batch: np.ndarray, batches: int) -> float:
    """Return windows/s of the model alone on one pre-framed batch, run ``batches`` times."""
    predict(batch)
    start = time.perf_counter()
    for _ in range(batches):
        predict(batch)
    return batches * len(batch) / (time.perf_counter() - start)


def main() -> None:
    """Run the benchmark described by the command line."""
    args = parse_args()
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    import keras

    import openl3
    from openl3.models import batching, build_audio_model

    if args.prefetch is not None:
        batching.PREFETCH_BATCHES = args.prefetch
    timer = TimedModel(openl3)

    print(f"keras backend: {keras.backend.backend()}; devices: {devices()}")
    model, _ = build_audio_model(args.input_repr, args.embedding_size, args.frontend, args.spectrogram)
    rng = np.random.default_rng(0)
    samples = round(args.seconds * args.sr)
    audio = rng.normal(0, 0.1, (samples, args.channels) if args.channels > 1 else samples)
    spec = openl3.models.specs.input_repr_spec(args.input_repr)
    window_shape = (1, 48000) if args.frontend == "kapre" else spec.input_shape
    predict = timer._make(model, args.precision)
    n_windows = openl3.audio.windows.AudioWindows(audio, args.sr, args.hop, True).n_items
    for _ in openl3.audio.signal.iter_signal_blocks(audio[: args.sr], args.sr):  # compile the resampler
        pass
    for batch_size in args.batch_size:  # trace / compile every batch shape outside the measurements
        for size in {batch_size, n_windows % batch_size or batch_size}:
            predict(np.zeros((size, *window_shape), np.float32))
    print(
        f"input: {args.seconds:g} s, {args.sr} Hz, {args.channels} ch, float64, {audio.nbytes / 1e6:.0f} MB; "
        f"{args.input_repr}/{args.embedding_size}/{args.frontend} ({args.spectrogram} spectrogram), "
        f"hop {args.hop:g} s, "
        f"{args.files} array(s), precision {args.precision}, read-ahead {batching.PREFETCH_BATCHES} batches"
    )
    for batch_size in args.batch_size:
        n, elapsed = measure_pipeline(openl3, model, audio, args, batch_size, timer)
        if args.memory_only:
            continue
        measure_reading(openl3, audio, args, batch_size)
        batch = rng.normal(0, 0.1, (batch_size, *window_shape)).astype(np.float32)
        alone = measure_model(predict, batch, max(1, n // batch_size))
        print(
            f"model     batch {batch_size:4d}: {alone:.2f} windows/s on pre-framed input; "
            f"pipeline at {100 * n / elapsed / alone:.1f}% of it"
        )


if __name__ == "__main__":
    main()
