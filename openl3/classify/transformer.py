"""A scikit-learn transformer: files (or their window embeddings) to pooled embeddings.

:class:`EmbeddingPooler` follows scikit-learn's estimator API (``get_params``,
``set_params``, ``fit``, ``transform``) without importing scikit-learn, so that
``import openl3.classify`` stays light; it works in a user's ``Pipeline``, with
``clone`` and in ``GridSearchCV``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from .._util.exceptions import InvalidArgumentError
from .embedding import EmbeddingStore, embedding_settings
from .pooling import check_pooling, pool


class EmbeddingPooler:
    """Map files (paths) or per-file window embeddings to one pooled embedding per file.

    Parameters
    ----------
    modality : {"audio", "image"}
        The files' modality.
    input_repr, content_type, embedding_size, hop_size, center, frontend, precision
        The embedding settings, as :class:`openl3.AudioEmbedder` (None: its default;
        the image embedder takes the first four and ``precision``).
    pooling : {"mean", "mean+std", "max"}
        How each file's windows are pooled.
    dataset : str or None
        A Parquet dataset that keeps the files' embeddings: each file is embedded once,
        and later calls (every fold of a grid search) read it back. None: the files are
        embedded at every ``transform`` call.
    batch_size, verbose
        Windows per model call, and progress bars, when files are embedded.

    Examples
    --------
    >>> pipeline = Pipeline([("embed", EmbeddingPooler(dataset="emb")), ("clf", LogisticRegression())])
    >>> GridSearchCV(pipeline, {"embed__pooling": ["mean", "max"]}).fit(paths, labels)
    """

    def __init__(
        self,
        modality: str = "audio",
        input_repr: str | None = None,
        content_type: str | None = None,
        embedding_size: int | None = None,
        hop_size: float | None = None,
        center: bool | None = None,
        frontend: str | None = None,
        precision: str | None = None,
        pooling: str = "mean",
        dataset: str | None = None,
        batch_size: int = 32,
        verbose: bool = False,
    ):
        self.modality, self.input_repr, self.content_type = modality, input_repr, content_type
        self.embedding_size, self.hop_size, self.center = embedding_size, hop_size, center
        self.frontend, self.precision, self.pooling = frontend, precision, pooling
        self.dataset, self.batch_size, self.verbose = dataset, batch_size, verbose

    @classmethod
    def _param_names(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the parameters (scikit-learn's estimator API)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> EmbeddingPooler:
        """Set parameters (scikit-learn's estimator API); return the transformer."""
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(f"Invalid parameter {name!r} for EmbeddingPooler.")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k].default]
        return f"EmbeddingPooler({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        """Return scikit-learn's tags: a transformer of any input (paths, not a 2-D array)."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(two_d_array=False, string=True),
        )

    def settings(self) -> dict[str, Any]:
        """Return the full embedding settings of the transformer."""
        names = ("input_repr", "content_type", "embedding_size", "precision")
        if self.modality == "audio":
            names += ("hop_size", "center", "frontend")
        return embedding_settings(self.modality, **{name: getattr(self, name) for name in names})

    def fit(self, X: Any, y: Any = None) -> EmbeddingPooler:  # noqa: N803 (scikit-learn's name)
        """Check the parameters; nothing is learnt. Return the transformer."""
        check_pooling(self.pooling)
        return self

    def transform(self, X: Any) -> np.ndarray:  # noqa: N803
        """Return one pooled embedding per item of ``X``: file paths, or ``(n_windows, D)`` arrays.

        Returns
        -------
        np.ndarray of float32, shape (len(X), D or 2 D)
        """
        check_pooling(self.pooling)
        items = list(X)
        if items and all(isinstance(item, str | os.PathLike) for item in items):
            store = EmbeddingStore(self.settings(), self.dataset, self.batch_size, self.verbose)
            return store.features([os.fspath(item) for item in items], self.pooling)
        if any(isinstance(item, str | os.PathLike) for item in items):
            raise InvalidArgumentError("EmbeddingPooler: give file paths or embedding arrays, not both.")
        return (
            np.stack([pool(np.asarray(item), self.pooling) for item in items]) if items else np.zeros((0, 0))
        )

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:  # noqa: N803
        """Fit (nothing to learn), then transform ``X``."""
        return self.fit(X, y).transform(X)
