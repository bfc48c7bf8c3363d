"""The block-wise 48 kHz signal equals whole-signal downmix + resampy 0.2 bit for bit."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import resampy

from helpers import noise
from openl3.audio import signal


def _whole(audio, sr):
    mono = np.mean(audio, axis=1) if audio.ndim == 2 else audio
    if mono.dtype.kind in "iu":
        mono = mono.astype(np.float64)
    if sr == 48000:
        return mono
    return resampy.resample(mono, sr, 48000, filter="kaiser_best")


def test_resampy_is_the_0_2_series():
    # resampy >= 0.3 changed kaiser_best; faithful numbers need 0.2.x (SPEC, "Resampling").
    assert resampy.__version__.startswith("0.2.")


@pytest.mark.parametrize(
    ("sr", "seconds", "channels", "dtype"),
    [
        (44100, 7.3, 2, np.float64),
        (8000, 9.1, 0, np.float64),
        (32000, 6.0, 2, np.float32),
        (96000, 5.0, 0, np.float64),
        (22050, 0.05, 0, np.float64),
        (44100.5, 3.0, 0, np.float64),
        (16000, 4.0, 3, np.float64),
    ],
)
@pytest.mark.parametrize("threads", [1, 3])
def test_blocks_equal_whole_signal_resampling(monkeypatch, sr, seconds, channels, dtype, threads):
    monkeypatch.setattr(signal, "BLOCK_SAMPLES", 10_007)  # many blocks, odd edges
    monkeypatch.setattr(signal, "RESAMPLE_THREADS", threads)
    audio = noise(seconds, int(sr), seed=3, channels=channels).astype(dtype)
    blocks = list(signal.iter_signal_blocks(audio, sr))
    assert len(blocks) > 1 or seconds < 0.3
    result = np.concatenate(blocks)
    expected = _whole(audio, sr)
    assert result.dtype == expected.dtype
    assert len(result) == signal.resampled_length(len(audio), sr) == len(expected)
    np.testing.assert_array_equal(result, expected)


def test_integer_audio_is_resampled_as_float_without_rescaling():
    audio = (noise(1.0, 22050, seed=1) * 10000).astype(np.int16)
    result = np.concatenate(list(signal.iter_signal_blocks(audio, 22050)))
    expected = resampy.resample(audio.astype(np.float64), 22050, 48000, filter="kaiser_best")
    np.testing.assert_array_equal(result, expected)
    assert np.abs(result).max() > 1000  # raw integer scale kept


def test_48k_audio_is_only_downmixed():
    audio = noise(2.0, 48000, seed=2, channels=2).astype(np.float32)
    result = np.concatenate(list(signal.iter_signal_blocks(audio, 48000)))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, np.mean(audio, axis=1))


def test_too_short_to_resample_is_an_error():
    from openl3 import OpenL3Error

    with pytest.raises(OpenL3Error, match="too few to resample"):
        list(signal.iter_signal_blocks(np.ones(1), 96000))


def test_resampling_needs_no_pkg_resources():
    # resampy 0.2 imports pkg_resources, gone from Python 3.12+ environments and
    # setuptools 81+; the package reads resampy's filter table without importing it.
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pkg_resources'] = None; import numpy as np; "
        "from openl3.audio import signal; "
        "n = sum(len(b) for b in signal.iter_signal_blocks(np.ones(44100), 44100)); "
        "print(n, 'resampy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["48000", "False"]


def test_filter_table_is_resampy_s():
    from resampy.filters import get_filter

    window, table_size, _ = get_filter("kaiser_best")
    ours, size = signal._resample_filter()
    assert size == table_size
    np.testing.assert_array_equal(ours, window)


def _fake_resampy(folder: Path, version: str) -> Path:
    """Install a resampy ``version`` whose ``kaiser_best`` is another filter, in ``folder``."""
    from resampy.filters import sinc_window
    from scipy.signal.windows import kaiser

    package = folder / "resampy"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    half_window, precision, _ = sinc_window(64, 9, lambda n: kaiser(n, beta=12.0), rolloff=0.85)
    np.savez(package / "data" / "kaiser_best.npz", half_window=half_window, precision=precision, rolloff=0.85)
    return folder


def test_another_installed_resampy_changes_nothing(tmp_path):
    # pip lets a user upgrade resampy past 0.2 (resampy 0.3+ changed kaiser_best: 22.05 kHz
    # audio embedded 6.8% away from 0.4.2). With a resampy 0.4.3 whose table differs first
    # on the path, the resampled samples are still resampy 0.2's, bit for bit.
    import subprocess
    import sys

    audio = noise(3.0, 22050, seed=4)
    np.save(tmp_path / "audio.npy", audio)
    code = (
        "import importlib.util, numpy as np; from openl3.audio import signal; "
        f"a = np.load({str(tmp_path / 'audio.npy')!r}); "
        f"np.save({str(tmp_path / 'out.npy')!r}, np.concatenate(list(signal.iter_signal_blocks(a, 22050)))); "
        "print(importlib.util.find_spec('resampy').origin)"
    )
    path = [str(_fake_resampy(tmp_path / "site", "0.4.3")), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(tmp_path / "site" / "resampy" / "__init__.py")  # the fake was seen
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), _whole(audio, 22050))


@pytest.fixture
def filter_file(tmp_path, monkeypatch):
    """A copy of the carried filter that the package loads (its caches emptied around the test)."""
    copy = tmp_path / "kaiser_best.npz"
    copy.write_bytes(signal.FILTER_FILE.read_bytes())
    monkeypatch.setattr(signal, "FILTER_FILE", copy)
    signal._resample_filter.cache_clear()
    signal._filter_tables.cache_clear()
    yield copy
    signal._resample_filter.cache_clear()
    signal._filter_tables.cache_clear()


def test_a_damaged_filter_is_an_error(filter_file):
    from openl3 import OpenL3Error

    data = bytearray(filter_file.read_bytes())
    data[-5000] ^= 1  # one bit of the table
    filter_file.write_bytes(bytes(data))
    message = f"package is damaged: its resampling filter {re.escape(str(filter_file))} has SHA-256"
    with pytest.raises(OpenL3Error, match=message):
        list(signal.iter_signal_blocks(np.ones(44100), 44100))
    filter_file.unlink()
    signal._resample_filter.cache_clear()
    with pytest.raises(OpenL3Error, match="package is damaged: .* cannot be read"):
        list(signal.iter_signal_blocks(np.ones(44100), 44100))


def test_the_script_rebuilds_the_carried_filter(tmp_path):
    import hashlib
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_kaiser_best.py"
    target = tmp_path / "kaiser_best.npz"
    result = subprocess.run(
        [sys.executable, str(script), str(target)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == signal.FILTER_SHA256
    assert f"sha256 {signal.FILTER_SHA256}" in result.stdout
    assert target.read_bytes() == signal.FILTER_FILE.read_bytes()
