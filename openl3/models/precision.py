"""Model precision: faithful float32 by default, reduced precisions chosen knowingly.

``precision`` names what the model computes in:

- ``"faithful"``: true float32, OpenL3 0.4.2's numbers (TF32 is turned off around each
  model call on GPUs that have it, and the previous setting restored).
- ``"tf32"``: float32 matrix multiplies and convolutions on TF32 tensor cores (10-bit
  mantissa) where the GPU has them; float32 elsewhere.
- ``"bfloat16"``: the tower's layers in bfloat16 under a per-model Keras dtype policy
  (``bfloat16``), each batch normalisation that follows a convolution folded into it;
  the spectrogram frontend stays float32 and the embedding is cast back to float32
  (:mod:`openl3.models.reduced`).
- ``"fast"``: a reduced precision only where it was measured faster on that backend and
  kind of device (:data:`FAST_CHOICES`, docs/performance.md), else float32;
  :func:`describe` says what it picked and why.

Nothing is changed globally: TensorFlow's and PyTorch's TF32 switches are process-wide,
so :func:`matmul_precision` lets model calls that want the same setting run together and
makes a call that wants another wait for them, restoring the setting when the last leaves.

:func:`simulated_tf32` lets a CPU estimate what ``"tf32"`` costs: it rounds the operands
of TensorFlow's convolutions and matrix products to TF32, as a GPU's tensor cores do, and
keeps the float32 accumulation (``scripts/precision_error.py`` uses it).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._util.backends import require_tensorflow
from .._util.validation import check_choice

logger = logging.getLogger(__name__)

__all__ = [
    "FAST_CHOICES",
    "PRECISIONS",
    "TF32_ROUNDINGS",
    "check_precision",
    "computed_precision",
    "cpu_bfloat16_flags",
    "describe",
    "device_kind",
    "has_accelerator",
    "matmul_precision",
    "resolve_precision",
    "round_to_tf32",
    "simulated_tf32",
]

#: What ``precision`` accepts: the three computed precisions and "fast", which picks one.
PRECISIONS = ("faithful", "fast", "tf32", "bfloat16")

#: CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")

#: What "fast" picks per (backend, device kind), where it was measured or is known faster.
#: Device kinds: "gpu", "cpu-bf16" (native bfloat16), "cpu". Missing: "faithful".
FAST_CHOICES = {
    ("tensorflow", "gpu"): "tf32",
    ("jax", "gpu"): "tf32",
    ("torch", "gpu"): "tf32",
    ("tensorflow", "cpu-bf16"): "bfloat16",
    ("torch", "cpu-bf16"): "bfloat16",
}

#: Why, for each entry of :data:`FAST_CHOICES` (figures: docs/performance.md): by backend
#: and device kind, or by device kind for all backends.
_ON_EPYC = "on an AMD EPYC with AVX512_BF16"
_FAST_REASONS = {
    "gpu": "TF32 tensor cores, what 'fast' has always allowed on GPUs (not yet measured here)",
    ("tensorflow", "cpu-bf16"): f"measured 1.6-1.9x faster than float32 end to end {_ON_EPYC}",
    ("torch", "cpu-bf16"): f"measured 1.5-1.9x faster than float32 end to end {_ON_EPYC}",
}


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise naming it.

    Examples
    --------
    >>> check_precision("fast")
    'fast'
    >>> try:
    ...     check_precision("half")
    ... except ValueError as error:
    ...     print(error)
    Invalid precision 'half': expected one of 'faithful', 'fast', 'tf32', 'bfloat16'.
    """
    return check_choice(precision, "precision", PRECISIONS)


def _backend(backend: str | None) -> str:
    """Return ``backend``, or the active Keras backend when None."""
    if backend is not None:
        return backend
    import keras

    return keras.backend.backend()


def has_accelerator(backend: str | None = None) -> bool:
    """Whether the Keras backend (the active one when None) computes on a GPU or another accelerator.

    Examples
    --------
    >>> has_accelerator("tensorflow")       # on a machine without a GPU
    False
    """
    backend = _backend(backend)
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


@functools.cache
def cpu_bfloat16_flags(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """Return the native-bfloat16 flags of this CPU (:data:`BFLOAT16_CPU_FLAGS`); () if none or unknown."""
    try:
        with open(cpuinfo) as info:
            flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    except OSError:
        return ()
    return tuple(flag for flag in BFLOAT16_CPU_FLAGS if flag in flags)


def device_kind(backend: str | None = None) -> str:
    """Return "gpu", "cpu-bf16" (a CPU with native bfloat16) or "cpu" for the backend's device.

    Examples
    --------
    >>> device_kind("tensorflow")           # "gpu", "cpu-bf16" or "cpu"
    'cpu'
    """
    if has_accelerator(backend):
        return "gpu"
    return "cpu-bf16" if cpu_bfloat16_flags() else "cpu"


def resolve_precision(precision: str, backend: str | None = None) -> str:
    """Return what ``precision`` computes in: "faithful", "tf32" or "bfloat16" ("fast" picks one).

    Examples
    --------
    >>> resolve_precision("bfloat16", "jax")
    'bfloat16'
    >>> resolve_precision("fast", "torch")  # on a CPU without native bfloat16
    'faithful'
    """
    if check_precision(precision) != "fast":
        return precision
    backend = _backend(backend)
    return FAST_CHOICES.get((backend, device_kind(backend)), "faithful")


def computed_precision(precision: str, backend: str | None = None) -> str:
    """Return what a model really computes in: :func:`resolve_precision`, and TF32 only on a GPU.

    ``"tf32"`` on a device without TF32 tensor cores computes float32: ``"faithful"``.
    This is what embedding settings record (:mod:`openl3.models.settings`).

    Examples
    --------
    >>> computed_precision("bfloat16", "jax")
    'bfloat16'
    >>> computed_precision("tf32", "jax")      # on a CPU
    'faithful'
    """
    resolved = resolve_precision(precision, backend)
    if resolved == "tf32" and not has_accelerator(backend):
        return "faithful"
    return resolved


def describe(precision: str, backend: str | None = None) -> str:
    """Return a sentence saying what ``precision`` computes in on this backend and device, and why.

    Parameters
    ----------
    precision : str
        One of :data:`PRECISIONS`.
    backend : str, optional
        "tensorflow", "jax" or "torch"; the active Keras backend when None.

    Examples
    --------
    >>> describe("bfloat16", "jax")
    "precision 'bfloat16': chosen by the caller (jax)"
    >>> describe("fast", "tensorflow")      # on a CPU without native bfloat16
    "precision 'fast' -> 'faithful' on tensorflow, a CPU with no avx512_bf16 or amx_bf16: no ..."
    """
    backend = _backend(backend)
    chosen = resolve_precision(precision, backend)
    if precision != "fast":
        return f"precision {precision!r}: chosen by the caller ({backend})"
    kind = device_kind(backend)
    flags = ", ".join(cpu_bfloat16_flags()) or "no avx512_bf16 or amx_bf16"
    device = {"gpu": "a GPU", "cpu-bf16": f"a CPU with {flags}", "cpu": f"a CPU with {flags}"}[kind]
    if chosen == "faithful":
        why = "no reduced precision was measured faster there, so float32"
    else:
        why = _FAST_REASONS.get((backend, kind)) or _FAST_REASONS[kind]
    return f"precision 'fast' -> {chosen!r} on {backend}, {device}: {why}"


class SharedSwitch:
    """A process-wide setting that threads share around their calls.

    Calls that want the value in force run together; a call that wants another waits
    until they have all left, then sets it. The value found before the first call is
    restored when the last one leaves.

    Parameters
    ----------
    get : callable
        Returns the current setting.
    put : callable
        Sets it.
    """

    def __init__(self, get: Callable[[], Any], put: Callable[[Any], None]):
        self._get, self._put = get, put
        self._changed = threading.Condition()
        self._value: Any = None
        self._previous: Any = None
        self._users = 0

    @contextmanager
    def holding(self, value: Any) -> Iterator[None]:
        """Run the block with the setting at ``value``."""
        with self._changed:
            while self._users and self._value != value:
                self._changed.wait()
            if not self._users:
                self._previous, self._value = self._get(), value
                self._put(value)
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                if not self._users:
                    self._put(self._previous)
                    self._changed.notify_all()


@functools.cache
def _tf32_switch(backend: str) -> SharedSwitch | None:
    """Return the process-wide TF32 switch of ``backend`` (None: JAX's setting is per thread)."""
    if backend == "tensorflow":
        import tensorflow as tf

        experimental = tf.config.experimental
        return SharedSwitch(
            experimental.tensor_float_32_execution_enabled, experimental.enable_tensor_float_32_execution
        )
    if backend == "torch":
        import torch

        def get() -> tuple[bool, bool]:
            return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32

        def put(value: tuple[bool, bool]) -> None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = value

        return SharedSwitch(get, put)
    return None


@contextmanager
def matmul_precision(precision: str, backend: str | None = None) -> Iterator[None]:
    """Run the block with TF32 allowed ("tf32", or "fast" where it picks it) or off (others).

    Safe when threads use different precisions: see :class:`SharedSwitch`.

    Parameters
    ----------
    precision : str
        One of :data:`PRECISIONS`.
    backend : str, optional
        "tensorflow", "jax" or "torch"; the active Keras backend when None.

    Examples
    --------
    >>> with matmul_precision("tf32"):          # TF32 allowed for these calls only
    ...     embedding = model.predict_on_batch(windows)
    """
    backend = _backend(backend)
    allow_tf32 = resolve_precision(precision, backend) == "tf32"
    if backend == "jax":
        import jax

        with jax.default_matmul_precision("tensorfloat32" if allow_tf32 else "float32"):
            yield
        return
    switch = _tf32_switch(backend)
    if switch is None:
        yield
        return
    with switch.holding(allow_tf32 if backend == "tensorflow" else (allow_tf32, allow_tf32)):
        yield


TF32_ROUNDINGS = ("nearest", "truncate")
_TF32_DROPPED_BITS = 13  # float32 keeps 23 mantissa bits, TF32 keeps 10


def round_to_tf32(x: Any, rounding: str = "nearest") -> Any:
    """Round a float32 TensorFlow tensor to TF32's 10-bit mantissa (kept as float32).

    Parameters
    ----------
    x : tensor
        float32 values (a tensor or anything ``tf.convert_to_tensor`` takes).
    rounding : "nearest" or "truncate"
        Round to nearest, ties to even, or drop the low 13 bits (what tensor cores do
        with float32 operands that were not converted first).

    Returns
    -------
    tensor
        float32 values that TF32 represents exactly.

    Examples
    --------
    >>> float(round_to_tf32(1.0 + 2.0**-12))   # TF32 keeps 10 mantissa bits
    1.0
    """
    tf = require_tensorflow("Rounding to TF32")
    check_choice(rounding, "rounding", TF32_ROUNDINGS)
    bits = tf.bitcast(tf.convert_to_tensor(x, tf.float32), tf.int32)
    if rounding == "nearest":
        kept_lsb = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, _TF32_DROPPED_BITS), 1)
        bits = bits + (1 << (_TF32_DROPPED_BITS - 1)) - 1 + kept_lsb
    mask = tf.constant(~((1 << _TF32_DROPPED_BITS) - 1), tf.int32)
    return tf.bitcast(tf.bitwise.bitwise_and(bits, mask), tf.float32)


@contextmanager
def simulated_tf32(rounding: str = "nearest") -> Iterator[None]:
    """Run TensorFlow's convolutions and matrix products on TF32-rounded operands.

    A CPU stand-in for a GPU under ``precision="fast"``, to estimate its error: the
    inputs and kernels of ``tf.nn.convolution``, ``tf.matmul`` and ``tf.tensordot`` (what
    Keras' convolutions and kapre's mel filterbank call) are rounded to TF32, and the
    products are summed in float32, as tensor cores do. The order of the sums differs from
    a GPU's, which is float32 rounding. The three functions are restored on leaving.
    This patches TensorFlow for the whole process while it lasts, and only eager calls
    or functions traced inside the block see it: it is a measuring tool, not a mode.

    Parameters
    ----------
    rounding : "nearest" or "truncate"
        How operands become TF32 (see :func:`round_to_tf32`).

    Examples
    --------
    >>> with simulated_tf32():                  # a CPU's estimate of what a GPU's TF32 costs
    ...     reduced = model(windows, training=False)
    """
    tf = require_tensorflow("Simulating TF32")
    check_choice(rounding, "rounding", TF32_ROUNDINGS)
    targets = [(tf.nn, "convolution"), (tf, "matmul"), (tf, "tensordot")]
    originals = [getattr(module, name) for module, name in targets]

    def on_tf32(function: Any) -> Any:
        def rounded(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
            return function(round_to_tf32(a, rounding), round_to_tf32(b, rounding), *args, **kwargs)

        return rounded

    for (module, name), original in zip(targets, originals, strict=True):
        setattr(module, name, on_tf32(original))
    try:
        yield
    finally:
        for (module, name), original in zip(targets, originals, strict=True):
            setattr(module, name, original)
