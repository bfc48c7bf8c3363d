"""Argument validation in one place: every message names the argument and its value."""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .exceptions import InvalidArgumentError, OpenL3Warning

#: Rows scanned at a time when checking large arrays, so checks need no full-size temporaries.
SCAN_ROWS = 1 << 18


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise naming ``name``."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InvalidArgumentError(f"Invalid {name} {value!r}: expected one of {allowed}.")
    return value


def check_positive_real(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a finite real number greater than zero."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise InvalidArgumentError(f"Invalid {name} {value!r}: expected a positive number.")
    if not np.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"Invalid {name} {value!r}: expected a positive number.")
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int if it is an integer greater than zero."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidArgumentError(f"Invalid {name} {value!r}: expected a positive integer.")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is exactly True or False."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidArgumentError(f"Invalid {name} {value!r}: expected True or False.")
    return bool(value)


def check_flag(value: Any, name: str) -> bool:
    """Return a flag of OpenL3 0.4.2 as a bool if it is True, False, 0 or 1, as 0.4.2 accepts."""
    if isinstance(value, bool | np.bool_ | numbers.Real) and value in (0, 1):
        return bool(value)
    raise InvalidArgumentError(f"Invalid {name} {value!r}: expected True, False, 0 or 1.")


def check_verbose(value: Any) -> bool:
    """Return ``verbose`` as a bool if it is True, False, 0 or 1, as OpenL3 0.4.2 accepts."""
    return check_flag(value, "verbose")


def check_suffix(suffix: Any) -> str | None:
    """Return an output-name suffix (None or a string) if it names no other folder.

    A suffix is part of a file name: a path separator would write outside the output
    directory (and create folders there).
    """
    if suffix is None:
        return None
    if not isinstance(suffix, str):
        raise InvalidArgumentError(f"Invalid suffix {suffix!r}: expected a string.")
    separators = {"/", os.sep, os.altsep} - {None}
    if any(separator in suffix for separator in separators) or "\0" in suffix:
        raise InvalidArgumentError(
            f"Invalid suffix {suffix!r}: it is part of the output file names and cannot hold a "
            "path separator (choose the folder with output_dir)."
        )
    return suffix


def check_hop_size(hop_size: Any, sample_rate: int, name: str = "hop_size") -> int:
    """Validate a hop size in seconds and return it in samples at ``sample_rate``."""
    hop_size = check_positive_real(hop_size, name)
    hop_samples = int(hop_size * sample_rate)
    if hop_samples < 1:
        raise InvalidArgumentError(
            f"Invalid {name} {hop_size!r}: shorter than one sample at {sample_rate} Hz."
        )
    return hop_samples


def warn_all_zeros(name: str) -> None:
    """Warn that the input ``name`` is all zeros (processed all the same, as in 0.4.2)."""
    warnings.warn(f"Provided {name} is all zeros.", OpenL3Warning, stacklevel=4)


def scan_array(array: np.ndarray) -> tuple[bool, bool]:
    """Return ``(all_finite, any_nonzero)`` for ``array``, scanning it in row blocks."""
    all_finite, any_nonzero = True, False
    for start in range(0, max(len(array), 1), SCAN_ROWS):
        block = array[start : start + SCAN_ROWS]
        if all_finite and block.dtype.kind in "fc":
            all_finite = bool(np.isfinite(block).all())
        any_nonzero = any_nonzero or bool(np.any(block))
        if not all_finite:
            break
    return all_finite, any_nonzero


def check_numeric_array(array: Any, name: str) -> np.ndarray:
    """Return ``array`` as an ndarray of real numbers, or raise naming ``name``."""
    if not isinstance(array, np.ndarray):
        raise InvalidArgumentError(f"Invalid {name}: expected a numpy array, got {type(array).__name__}.")
    if array.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"Invalid {name}: expected real numbers, got dtype {array.dtype}.")
    return array


def check_audio(audio: Any, name: str = "audio") -> np.ndarray:
    """Validate one audio array as OpenL3 0.4.2 does, in its order of checks.

    Empty is an error, all zeros a warning, more than two dimensions an error. Arrays
    with NaN or infinite samples are also rejected, which 0.4.2 did not check.
    """
    audio = check_numeric_array(audio, name)
    if audio.size == 0:
        raise InvalidArgumentError(f"Invalid {name}: the array is empty.")
    all_finite, any_nonzero = scan_array(audio)
    if not any_nonzero:
        warn_all_zeros(name)
    if audio.ndim > 2:
        raise InvalidArgumentError(
            f"Invalid {name}: expected shape (samples,) or (samples, channels), "
            f"got {audio.ndim} dimensions {audio.shape}."
        )
    if not all_finite:
        raise InvalidArgumentError(f"Invalid {name}: it contains NaN or infinite samples.")
    return audio


def pair_inputs(items: Any, rates: Any, item_name: str, rate_name: str) -> tuple[list, list, bool]:
    """Pair one input or a list of inputs with one rate or a list of rates.

    Returns
    -------
    items : list
        The inputs as a list.
    rates : list
        One rate per input.
    is_list : bool
        Whether the inputs were given as a list (results are then lists too).
    """
    if isinstance(items, list | tuple):
        if len(items) == 0:
            raise InvalidArgumentError(f"Invalid {item_name}: the list is empty.")
        if isinstance(rates, list | tuple | np.ndarray):
            if len(rates) != len(items):
                raise InvalidArgumentError(
                    f"Invalid {rate_name}: {len(rates)} values given for {len(items)} {item_name} arrays."
                )
            return list(items), list(rates), True
        return list(items), [rates] * len(items), True
    if isinstance(rates, list | tuple):
        raise InvalidArgumentError(
            f"Invalid {rate_name}: a list of rates was given for a single {item_name} array."
        )
    return [items], [rates], False
