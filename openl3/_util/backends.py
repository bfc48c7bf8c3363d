"""Which Keras backend runs the models, and what needs TensorFlow.

openl3 runs on every Keras 3 backend. TensorFlow is installed by ``pip install openl3``,
as OpenL3 0.4.2's users expect; an install without it (docs/install.md: JAX or PyTorch
users) must not fail on Keras' default backend, which is TensorFlow.
:func:`choose_backend` is called when openl3 is imported (before it imports Keras): where
the user chose no backend (``KERAS_BACKEND``, or a backend other than Keras' default in
Keras' ``keras.json``) and TensorFlow is not installed, it chooses JAX, else PyTorch, for
this process, and says so in the log (INFO). Nothing is imported to decide: only
installed packages are looked up.

:func:`require_tensorflow` is what every feature that needs TensorFlow itself (kapre's
layers, every export format, TF32 simulation) calls first: it names
TensorFlow and what to install instead of a bare ``No module named 'tensorflow'``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from typing import Any

from .exceptions import OpenL3Error

__all__ = ["BACKEND_ENV", "choose_backend", "installed", "require_tensorflow"]

logger = logging.getLogger("openl3")

#: Keras' variable naming its backend.
BACKEND_ENV = "KERAS_BACKEND"
#: The backends chosen where TensorFlow is missing, in order of preference.
FALLBACKS = ("jax", "torch")


def installed(module: str) -> bool:
    """Return whether ``module`` can be imported here, without importing it.

    Examples
    --------
    >>> installed("json"), installed("no_such_module_here")
    (True, False)
    """
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _configured_backend() -> str | None:
    """Return the backend the user chose (``KERAS_BACKEND``, else ``keras.json``), or None.

    Keras writes ``keras.json`` with its default, ``"tensorflow"``, the first time it is
    imported: that entry is not taken for a choice.
    """
    if os.environ.get(BACKEND_ENV):
        return os.environ[BACKEND_ENV]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            backend = json.load(handle).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if isinstance(backend, str) and backend != "tensorflow" else None


def choose_backend() -> str | None:
    """Choose JAX or PyTorch for Keras where nothing is chosen and TensorFlow is missing.

    Returns
    -------
    str or None
        The backend set in ``KERAS_BACKEND`` for this process, or None when nothing was
        changed (a backend chosen by the user, TensorFlow installed, Keras already
        imported, or no other backend installed).
    """
    if "keras" in sys.modules or _configured_backend() or installed("tensorflow"):
        return None
    for backend in FALLBACKS:
        if installed(backend):
            os.environ[BACKEND_ENV] = backend
            logger.info("TensorFlow is not installed: Keras runs on %s (%s chooses).", backend, BACKEND_ENV)
            return backend
    return None


def require_tensorflow(what: str) -> Any:
    """Return the ``tensorflow`` module, or refuse ``what`` naming TensorFlow where it is missing.

    Parameters
    ----------
    what : str
        What needs it, as the start of a sentence ("Exporting a SavedModel").

    Raises
    ------
    OpenL3Error
        Where TensorFlow cannot be imported.

    Examples
    --------
    >>> tf = require_tensorflow("Exporting a SavedModel")      # where TensorFlow is installed
    """
    try:
        import tensorflow
    except ImportError as exc:
        raise OpenL3Error(
            f"{what} needs TensorFlow, which is not installed here ({exc}): pip install tensorflow "
            "(wheels for Python 3.10 to 3.13), then run with KERAS_BACKEND=tensorflow."
        ) from exc
    return tensorflow
