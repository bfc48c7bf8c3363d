"""Parquet datasets of embeddings: one row per window or frame of every input.

- :mod:`~openl3.dataset.rows`: :class:`DatasetRows`, reading a dataset's rows (public);
- :mod:`~openl3.dataset.outputs`: the output layout of a run into a dataset;
- :mod:`~openl3.dataset.parts`: the part files, which are ours, writing and rewriting them;
- :mod:`~openl3.dataset.manifest`: the dataset's own record (generation, settings, files);
- :mod:`~openl3.dataset.locks`: who writes a dataset (writer locks, the dataset lock).

See docs/collections.md for the layout.
"""

from .rows import DatasetRows, EmbeddingRows

__all__ = ["DatasetRows", "EmbeddingRows"]
