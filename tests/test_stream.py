"""Streaming: any chunking of a signal gives the windows and embeddings of the whole."""

from __future__ import annotations

import numpy as np
import pytest

import openl3
from helpers import assert_close_to_faithful, framed_like_0_4_2, noise, quiet
from openl3 import OpenL3Error
from openl3.audio.stream import StreamWindows


def chunked(audio, sizes, seed=0):
    """Split ``audio`` into chunks: fixed sizes, or random sizes for "random"."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < len(audio):
        size = int(rng.integers(1, 30_000)) if sizes == "random" else sizes
        yield audio[start : start + size]
        start += size


def stream_windows(audio, sr, hop_size, center, sizes):
    windows = StreamWindows(sr, hop_size, center, np.float64)
    pieces = [windows.push(chunk) for chunk in chunked(audio, sizes)]
    pieces.append(quiet(windows.finish))
    return np.concatenate(pieces), windows


FRAMING_CASES = [
    (2.5, 48000, 0.1, True, 0),
    (1.0, 48000, 0.25, False, 0),
    (0.3, 16000, 0.1, True, 0),
    (3.7, 44100, 0.5, True, 2),
    (2.2, 22050, 1.0, False, 0),
    (4.9, 8000, 1.5, True, 0),
    (6.1, 48000, 2.5, False, 2),
    (5.3, 44100, 2.0, True, 0),
]


@pytest.mark.parametrize(
    ("seconds", "sr", "hop_size", "center", "channels", "sizes"),
    [
        (*case, sizes)
        for case in FRAMING_CASES
        for sizes in (1, 997, 48_000, "random", 10**7)
        # one sample at a time through the resampler: only the short case (the Python loop is slow)
        if not (sizes == 1 and case[1] != 48000 and case[0] > 1)
    ],
)
def test_windows_equal_0_4_2_framing_for_any_chunking(seconds, sr, hop_size, center, channels, sizes):
    audio = noise(seconds, sr, seed=3, channels=channels)
    expected = framed_like_0_4_2(audio, sr, hop_size, center)
    got, _ = stream_windows(audio, sr, hop_size, center, sizes)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("samples", [1, 23_999, 24_000, 47_999, 48_000, 48_001, 72_001, 100_000])
@pytest.mark.parametrize("hop_size", [0.1, 0.5, 1.0, 1.001, 2.0])
@pytest.mark.parametrize("center", [True, False])
def test_window_counts_around_the_window_size(samples, hop_size, center):
    audio = noise(samples / 48000, 48000, seed=1)[:samples]
    expected = framed_like_0_4_2(audio, 48000, hop_size, center)
    got, _ = stream_windows(audio, 48000, hop_size, center, "random")
    np.testing.assert_array_equal(got, expected)


def test_the_resampler_gives_resampys_samples_bit_for_bit():
    import resampy

    from openl3.audio.signal import StreamResampler

    for sr in (8000, 16000, 22050, 44100, 96000):
        audio = noise(1.3, sr, seed=sr)
        resampler = StreamResampler(sr)
        pieces = [resampler.push(chunk) for chunk in chunked(audio, "random", seed=sr)]
        pieces.append(resampler.finish())
        np.testing.assert_array_equal(
            np.concatenate(pieces), resampy.resample(audio, sr, 48000, filter="kaiser_best")
        )


@pytest.mark.parametrize("hop_size", [0.1, 5.0])
def test_only_pending_samples_are_held(hop_size):
    windows = StreamWindows(44100, hop_size, True, np.float32)
    audio = noise(30.0, 44100, seed=2)
    largest = 0
    for chunk in chunked(audio, 4410):
        windows.push(chunk)
        largest = max(largest, len(windows._samples), len(windows._resampler._held))
    # a window and a chunk (at 48 kHz) at most: never the stream so far, nor the gaps between windows
    assert largest < 48_000 + 4800 + 100


def test_windows_come_as_soon_as_they_are_complete():
    windows = StreamWindows(48000, 0.5, False, np.float32)
    assert len(windows.push(np.zeros(47_999))) == 0
    assert len(windows.push(np.zeros(1))) == 1  # the first window's last sample
    assert len(windows.push(np.zeros(23_999))) == 0
    assert len(windows.push(np.zeros(1))) == 1


def stream_embeddings(audio, sr, sizes, **options):
    stream = openl3.AudioStream(sr, **options)
    results = [stream.feed(chunk) for chunk in chunked(audio, sizes)]
    results.append(stream.flush())
    assert all(e.shape == (len(t), 512) for e, t in results)
    return np.concatenate([e for e, _ in results]), np.concatenate([t for _, t in results])


def test_embeddings_and_timestamps_equal_get_audio_embedding(mel128_model):
    """Bit for bit with one window per call or exact batches; else to the model's batch-size rounding."""
    audio = noise(3.3, 22050, seed=4, channels=2)
    options = {"model": mel128_model, "hop_size": 0.25, "verbose": False}
    single, single_ts = openl3.get_audio_embedding(audio, 22050, batch_size=1, **options)
    for sizes in (1000, "random"):
        embedding, timestamps = stream_embeddings(audio, 22050, sizes, batch_size=1, **options)
        np.testing.assert_array_equal(timestamps, single_ts)
        np.testing.assert_array_equal(embedding, single)

    whole, whole_ts = openl3.get_audio_embedding(audio, 22050, batch_size=4, **options)
    for sizes in (2205, "random", 10**7):  # the same batches as the whole signal: the same bits
        embedding, timestamps = stream_embeddings(
            audio, 22050, sizes, exact_batches=True, batch_size=4, **options
        )
        np.testing.assert_array_equal(timestamps, whole_ts)
        np.testing.assert_array_equal(embedding, whole)

    whole, whole_ts = openl3.get_audio_embedding(audio, 22050, **options)  # batches of 32
    embedding, timestamps = stream_embeddings(audio, 22050, 2205, **options)
    np.testing.assert_array_equal(timestamps, whole_ts)
    rounding = np.linalg.norm(whole - single, axis=1) / np.linalg.norm(whole, axis=1)
    error = np.linalg.norm(embedding - whole, axis=1) / np.linalg.norm(whole, axis=1)
    assert error.max() <= max(rounding.max(), 1e-6) < 1e-5  # no more than the model's own


def test_the_librosa_frontend_streams_too(mel128_librosa_model):
    audio = noise(2.2, 16000, seed=6)
    options = {"model": mel128_librosa_model, "frontend": "librosa", "hop_size": 0.5, "batch_size": 1}
    whole, whole_ts = openl3.get_audio_embedding(audio, 16000, verbose=False, **options)
    embedding, timestamps = stream_embeddings(audio, 16000, 3000, **options)
    np.testing.assert_array_equal(timestamps, whole_ts)
    np.testing.assert_array_equal(embedding, whole)


def test_a_bfloat16_stream_embeds_as_the_whole_signal_does_in_bfloat16(mel128_model):
    audio = noise(3.1, 22050, seed=8)
    options = {"model": mel128_model, "hop_size": 0.5, "precision": "bfloat16"}
    whole, whole_ts = openl3.get_audio_embedding(audio, 22050, verbose=False, **options)
    embedding, timestamps = stream_embeddings(audio, 22050, 5000, **options)
    np.testing.assert_array_equal(timestamps, whole_ts)
    np.testing.assert_allclose(embedding, whole, rtol=0, atol=1e-5 * np.abs(whole).max())
    faithful, _ = openl3.get_audio_embedding(audio, 22050, model=mel128_model, hop_size=0.5, verbose=False)
    assert_close_to_faithful(embedding, faithful)


def test_bad_chunks_and_options_are_errors(mel128_model):
    stream = openl3.AudioStream(16000, model=mel128_model)
    stream.feed(np.zeros((100, 2)))
    with pytest.raises(OpenL3Error, match="1 channels after chunks of 2"):
        stream.feed(np.zeros(100))
    with pytest.raises(OpenL3Error, match="NaN"):
        stream.feed(np.full((10, 2), np.nan))
    with pytest.raises(OpenL3Error, match="Invalid sr"):
        openl3.AudioStream(0, model=mel128_model)
    with pytest.raises(OpenL3Error, match="hop_size"):
        openl3.AudioStream(16000, model=mel128_model, hop_size=-1)
    with pytest.raises(OpenL3Error, match="Invalid options of AudioStream: sample_rate"):
        openl3.AudioStream(16000, model=mel128_model, sample_rate=1)
    quiet(stream.flush)
    with pytest.raises(OpenL3Error, match="flushed"):
        stream.feed(np.zeros((10, 2)))


def test_a_stream_fed_nothing_gives_nothing(mel128_model):
    embedding, timestamps = openl3.AudioStream(44100, model=mel128_model).flush()
    assert embedding.shape == (0, 512) and timestamps.shape == (0,)


@pytest.mark.parametrize("chunk", [np.ones(100, dtype=bool), np.full(100, "a"), np.ones(100, dtype=complex)])
def test_a_chunk_that_is_not_real_numbers_is_refused_for_its_type(mel128_model, chunk):
    stream = openl3.AudioStream(16000, model=mel128_model)
    with pytest.raises(OpenL3Error, match=f"expected real numbers, got dtype {chunk.dtype}"):
        stream.feed(chunk)


def stub_embedder(hop_size: float, center: bool = True, batch_size: int = 32):
    """A stand-in for the model: the stream's own work, without a network (zeros of size 8)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        hop_size=hop_size,
        center=center,
        frontend="kapre",
        batch_size=batch_size,
        predict=lambda windows: np.zeros((len(windows), 8), np.float32),
        dimension=lambda: 8,
    )


def age(stream: openl3.AudioStream, hours: float) -> int:
    """Advance a stream's counters as if ``hours`` more of audio had come before the samples it holds.

    Every position moves by a whole number of windows (of whole batches), so the state is
    one a stream fed that long is in. Returns the number of windows added.
    """
    windows = stream.windows
    count = int(hours * 3600 / windows.hop_size) // stream.embedder.batch_size * stream.embedder.batch_size
    windows.n_done += count
    windows._start += count * windows.hop
    windows._length += count * windows.hop
    stream._pending_start += count
    return count


@pytest.mark.parametrize(("hop_size", "center"), [(0.1, True), (0.25, False), (1.001, True), (0.96, False)])
@pytest.mark.parametrize("exact_batches", [False, True])
def test_timestamps_after_ten_hours_are_get_audio_embeddings(hop_size, center, exact_batches):
    """``np.arange(n) * hop_size`` (windows.AudioWindows), bit for bit, for windows of the tenth hour."""
    stream = openl3.AudioStream(44100, exact_batches, embedder=stub_embedder(hop_size, center))
    first = stream.feed(noise(2.0, 44100, seed=1))[1]
    skipped = age(stream, 10.0)
    later = [stream.feed(chunk)[1] for chunk in chunked(noise(20.0, 44100, seed=2), 4410)]
    later.append(quiet(stream.flush)[1])
    got = np.concatenate([first, *later])
    expected = np.arange(stream.windows.n_done) * hop_size  # as get_audio_embedding computes them
    np.testing.assert_array_equal(got[: len(first)], expected[: len(first)])
    np.testing.assert_array_equal(got[len(first) :], expected[len(first) + skipped :])
    assert got[-1] > 35_900 and got.dtype == expected.dtype


def test_timestamps_after_a_century_are_integers_times_the_hop():
    """Past what a test can build with ``arange(n)``: each is ``float(k) * hop_size``, as numpy computes."""
    stream = openl3.AudioStream(48000, embedder=stub_embedder(0.1))
    stream.feed(noise(1.5, 48000))
    age(stream, 100 * 365.25 * 24)
    start = stream.windows.n_done
    timestamps = np.concatenate([stream.feed(chunk)[1] for chunk in chunked(noise(3.0, 48000), 4800)])
    expected = [float(k) * 0.1 for k in range(start, start + len(timestamps))]
    assert len(timestamps) == 30 and start > 3 * 10**10
    np.testing.assert_array_equal(timestamps, expected)


def test_a_chunk_costs_the_same_after_ten_hours(monkeypatch):
    """The arrays a chunk allocates for timestamps do not grow with the stream's age."""
    stream = openl3.AudioStream(44100, embedder=stub_embedder(0.1))
    chunks = list(chunked(noise(10.0, 44100, seed=3), 4410))
    lengths: list[int] = []
    arange = np.arange
    monkeypatch.setattr(
        np,
        "arange",
        lambda *args, **kwargs: lengths.append(len(arange(*args, **kwargs))) or arange(*args, **kwargs),
    )

    def elements_per_chunk() -> list[int]:
        per_chunk = []
        for chunk in chunks:
            lengths.clear()
            stream.feed(chunk)
            per_chunk.append(sum(lengths))
        return per_chunk

    young = elements_per_chunk()
    age(stream, 10.0)
    old = elements_per_chunk()
    assert old == young[10:] + [1] * 10  # one window per chunk (after the first half second): one timestamp
