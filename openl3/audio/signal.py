"""The 48 kHz mono signal of an audio array, produced block by block in bounded memory.

OpenL3 0.4.2 downmixes the whole array (mean over channels), resamples it whole with
resampy 0.2's ``kaiser_best`` filter, then frames it. Here the same arithmetic runs on
blocks of output samples. resampy advances its read position by adding the time step
once per output sample, so its rounding drifts with the length of the signal. Replaying
those additions gives each block its exact starting position, so blocks are resampled
independently (several at once, in threads) and still reproduce the whole-signal result
bit for bit, while memory stays bounded by the block size whatever the length.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import math
import numbers
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._util.exceptions import InvalidArgumentError, OpenL3Error
from ..models.specs import TARGET_SR

#: Output samples produced per block (about 5.5 s at 48 kHz).
BLOCK_SAMPLES = 1 << 18
#: OpenL3 0.4.2's resampling filter: resampy 0.2's ``kaiser_best`` table, carried as
#: package data (resampy 0.3+ changed it) and rebuilt by ``scripts/make_kaiser_best.py``.
FILTER_FILE = Path(__file__).resolve().parent / "data" / "kaiser_best.npz"
#: SHA-256 of :data:`FILTER_FILE` (resampy 0.2.2's ``data/kaiser_best.npz``, byte for byte).
FILTER_SHA256 = "67fab90360555b1704a6e84f75335eb306b166617f5b4de45a28ea225e69b0bb"
#: Blocks of one signal resampled at once, in threads.
RESAMPLE_THREADS = max(1, min(8, os.cpu_count() or 1))


def mono_block(audio: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Downmix ``audio[start:stop]`` to mono as 0.4.2 does, as floating point.

    The mean over channels keeps numpy's dtype rules (float32 stays float32, integers
    become float64). Integer mono audio becomes float64 without rescaling: resampy 0.2
    would otherwise truncate it, and the frontends normalise every window anyway.
    """
    block = audio[max(start, 0) : stop]
    if block.ndim == 2:
        block = np.mean(block, axis=1)
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    return np.ascontiguousarray(block)


def resampled_length(n_samples: int, sr: float) -> int:
    """Length of ``n_samples`` at ``sr`` once resampled to 48 kHz, as resampy computes it."""
    if sr == TARGET_SR:
        return n_samples
    return int(n_samples * (float(TARGET_SR) / sr))


@functools.cache
def _resample_filter() -> tuple[np.ndarray, int]:
    """Return 0.4.2's filter: resampy 0.2's ``kaiser_best`` half window and table size.

    The table is read from openl3's own copy, checked against :data:`FILTER_SHA256`, so
    that whichever resampy is installed (if any) cannot change the numbers.
    """
    try:
        data = FILTER_FILE.read_bytes()
    except OSError as exc:
        raise OpenL3Error(
            f"The openl3 package is damaged: its resampling filter {FILTER_FILE} cannot be read "
            f"({exc}). Reinstall openl3."
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != FILTER_SHA256:
        raise OpenL3Error(
            f"The openl3 package is damaged: its resampling filter {FILTER_FILE} has SHA-256 "
            f"{digest}, not {FILTER_SHA256}. Reinstall openl3."
        )
    with np.load(io.BytesIO(data)) as table:
        return table["half_window"], int(table["precision"])


def check_sample_rate(sr: float, name: str = "audio") -> float:
    """Return ``sr`` if 0.4.2's resampler can bring it to 48 kHz, else raise naming ``name``.

    The filter's table has :data:`TABLE_SIZE`-step resolution per zero crossing: down to
    48 kHz from above ``48000 * TABLE_SIZE`` Hz (24,576,000 Hz), a step is below one entry
    of the table, and resampy 0.2 (0.4.2's resampler) divided by zero there.

    Raises
    ------
    InvalidArgumentError
        For a rate that is not a positive finite number, or above that limit.

    Examples
    --------
    >>> check_sample_rate(44100)
    44100
    >>> try:
    ...     check_sample_rate(1e9, "audio file a.wav")
    ... except ValueError as error:
    ...     print(error)
    audio file a.wav has a sample rate of 1000000000 Hz: openl3 resamples to 48 kHz from at most 24576000 Hz.
    """
    if not (isinstance(sr, numbers.Real) and math.isfinite(sr) and sr > 0):
        raise InvalidArgumentError(f"{name} has a sample rate of {sr!r} Hz: expected a positive number.")
    _, table_size = _resample_filter()
    if sr > TARGET_SR * table_size:
        raise InvalidArgumentError(
            f"{name} has a sample rate of {sr:.0f} Hz: openl3 resamples to 48 kHz from at most "
            f"{TARGET_SR * table_size} Hz."
        )
    return sr


@functools.lru_cache(maxsize=8)
def _filter_tables(ratio: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the ``kaiser_best`` table scaled for ``ratio``, its differences and its size."""
    window, table_size = _resample_filter()
    if ratio < 1:
        window = window * ratio
    delta = np.zeros_like(window)
    delta[:-1] = np.diff(window)
    return window, delta, table_size


@functools.cache
def _kernel():
    """Compile (once a process) the band-limited interpolation loop.

    Not cached on disk: numba writes its cache beside this module, into the installed
    package, and a library must not write there. Compiling costs 0.3-0.5 s of CPU once
    a process (docs/performance.md).
    """
    import numba

    @numba.njit(nogil=True, cache=False)
    def interpolate(x, x_start, n_input, y, time, step, scale, window, delta, table_size):
        # Output k sits at input position `time`, which grows by `step` per output.
        index_step = int(scale * table_size)
        n_window = window.shape[0]
        for k in range(y.shape[0]):
            whole = int(time)
            frac = scale * (time - whole)
            position = frac * table_size
            offset = int(position)
            eta = position - offset
            for i in range(min(whole + 1, (n_window - offset) // index_step)):
                tap = offset + i * index_step
                y[k] += (window[tap] + eta * delta[tap]) * x[whole - i - x_start]
            frac = scale - frac
            position = frac * table_size
            offset = int(position)
            eta = position - offset
            for i in range(min(n_input - whole - 1, (n_window - offset) // index_step)):
                tap = offset + i * index_step
                y[k] += (window[tap] + eta * delta[tap]) * x[whole + i + 1 - x_start]
            time += step
        return time

    return interpolate


@functools.cache
def _replay_kernel():
    """Compile (once a process, not cached on disk) the loop that replays resampy's running position."""
    import numba

    @numba.njit(nogil=True, cache=False)
    def block_times(n_output, step, block):
        # The position at the first output of each block, after exactly the additions of
        # `step` that the interpolation loop makes up to there (bit for bit the same value).
        times = np.empty((n_output + block - 1) // block)
        time = 0.0
        for k in range(n_output):
            if k % block == 0:
                times[k // block] = time
            time += step
        return times

    return block_times


def _resampled_blocks(audio: np.ndarray, sr: float) -> Iterator[np.ndarray]:
    """Resample ``audio`` to 48 kHz block by block, exactly as resampy 0.2 does whole.

    Each block starts at resampy's running position, replayed beforehand, so blocks are
    independent: their inputs are read in order, and up to ``RESAMPLE_THREADS`` of them
    are interpolated at once (the kernel runs without the GIL).
    """
    n_input = len(audio)
    n_output = resampled_length(n_input, sr)
    if n_output < 1:
        raise OpenL3Error(
            f"Invalid audio: {n_input} samples at {sr} Hz are too few to resample to {TARGET_SR} Hz."
        )
    ratio = float(TARGET_SR) / sr
    step, scale = 1.0 / ratio, min(1.0, ratio)
    window, delta, table_size = _filter_tables(ratio)
    reach = len(window) // int(scale * table_size) + 2  # input samples the filter spans per side
    interpolate, block = _kernel(), BLOCK_SAMPLES
    times = _replay_kernel()(n_output, step, block)

    def resample(x: np.ndarray, x_start: int, time: float, count: int) -> np.ndarray:
        y = np.zeros(count, dtype=x.dtype)
        interpolate(x, x_start, n_input, y, time, step, scale, window, delta, table_size)
        return y

    threads = min(RESAMPLE_THREADS, len(times))
    with ThreadPoolExecutor(threads, thread_name_prefix="openl3-resample") as pool:
        running: collections.deque = collections.deque()
        for index, time in enumerate(times):
            count = min(block, n_output - index * block)
            x_start = max(int(time) - reach, 0)
            x = mono_block(audio, x_start, int(time + count * step) + reach + 2)
            running.append(pool.submit(resample, x, x_start, time, count))
            if len(running) >= threads:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()


def iter_signal_blocks(audio: np.ndarray, sr: float) -> Iterator[np.ndarray]:
    """Yield consecutive blocks of the 48 kHz mono signal of ``audio``.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        Validated audio.
    sr : float
        Its sample rate.

    Yields
    ------
    np.ndarray
        Float blocks whose concatenation has :func:`resampled_length` samples.
    """
    if sr != TARGET_SR:
        yield from _resampled_blocks(audio, sr)
        return
    for start in range(0, len(audio), BLOCK_SAMPLES):
        yield mono_block(audio, start, start + BLOCK_SAMPLES)


class StreamResampler:
    """resampy 0.2's ``kaiser_best`` resampling to 48 kHz of a signal that arrives in pieces.

    The outputs equal those of resampling the whole signal, bit for bit: an output sample
    is computed once every input sample its filter reaches has arrived (the running
    position advances by the same additions as resampy's loop), and the last ones, which
    the end of the signal truncates, when the signal ends. Only the filter's reach of
    input is held.

    Parameters
    ----------
    sr : float
        The input rate (not 48 kHz).
    """

    def __init__(self, sr: float):
        self.sr, ratio = check_sample_rate(sr, "the stream"), float(TARGET_SR) / sr
        self._step, self._scale = 1.0 / ratio, min(1.0, ratio)
        self._window, self._delta, self._table_size = _filter_tables(ratio)
        self._reach = len(self._window) // int(self._scale * self._table_size) + 2
        self._held: np.ndarray | None = None  # input from index self._held_start
        self._held_start = self._received = self._produced = 0
        self._time = 0.0

    def push(self, mono: np.ndarray) -> np.ndarray:
        """Take the next input samples; return the output samples they complete."""
        held = mono if self._held is None else np.concatenate([self._held, mono.astype(self._held.dtype)])
        self._held, self._received = held, self._received + len(mono)
        ready = int((self._received - self._reach - 1 - self._time) / self._step) - 1
        return self._interpolate(max(ready, 0))

    def finish(self) -> np.ndarray:
        """Return the output samples left once the input has ended."""
        n_output = resampled_length(self._received, self.sr)
        if n_output < 1:
            raise OpenL3Error(
                f"Invalid audio: {self._received} samples at {self.sr} Hz are too few to resample "
                f"to {TARGET_SR} Hz."
            )
        return self._interpolate(n_output - self._produced)

    def _interpolate(self, count: int) -> np.ndarray:
        if self._held is None:
            return np.zeros(0)
        y = np.zeros(count, dtype=self._held.dtype)
        if count:
            self._time = _kernel()(
                self._held,
                self._held_start,
                self._received,
                y,
                self._time,
                self._step,
                self._scale,
                self._window,
                self._delta,
                self._table_size,
            )
            self._produced += count
        keep = max(int(self._time) - self._reach, self._held_start)
        self._held, self._held_start = self._held[keep - self._held_start :], keep
        return y
