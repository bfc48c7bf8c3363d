"""Rebuild ``openl3/models/hann_windows.npz``: kapre's STFT windows, bit for bit.

kapre's STFT (and so OpenL3 0.4.2) windows frames with ``tf.signal.hann_window(n,
periodic=True)`` in float32. The ``keras.ops`` twin of that frontend must use the same
bits: on tonal audio the quietest bins that survive the -80 dB floor are float32 FFT
rounding noise, whose exact values follow the exact window, and numpy's or JAX's float32
cosine differs from TensorFlow's in the last bit for a few percent of the samples. So the
windows are shipped as data, made here with TensorFlow::

    python scripts/make_hann_windows.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from openl3.models.specs import INPUT_REPRS

TARGET = Path(__file__).resolve().parents[1] / "openl3" / "models" / "hann_windows.npz"


def main() -> None:
    """Write the periodic float32 Hann window of every FFT size the representations use."""
    sizes = sorted({spec.n_fft for spec in INPUT_REPRS.values()})
    windows = {str(n): tf.signal.hann_window(n, periodic=True, dtype=tf.float32).numpy() for n in sizes}
    np.savez(TARGET, **windows)
    print(f"wrote {TARGET}: {', '.join(windows)}")


if __name__ == "__main__":
    main()
