"""Runs over input files: the driver, the local and Ray engines, and the ``.npz`` layout.

:func:`~openl3.runs.driver.run_files` checks a run, selects its shard, picks the output
layout (:mod:`~openl3.runs.npz`, or a Parquet dataset of :mod:`openl3.dataset`) and the
engine (:mod:`~openl3.runs.local_engine`, :mod:`~openl3.runs.ray_engine`). The public
callers are ``process_*_file`` and the embedders' ``embed_files``.
"""

from .._util.jobs import Report
from .driver import RunOptions

__all__ = ["Report", "RunOptions"]
