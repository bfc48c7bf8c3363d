"""Private helpers every layer stands on.

Errors, checks, whole-file writes, URIs, file and writer identity, shards, and the
vocabulary of runs (jobs, reports). Nothing here is public API; the public names
(:class:`openl3.OpenL3Error`, :class:`openl3.Report`...) are re-exported by :mod:`openl3`.
"""

__all__: list[str] = []
