"""Similar moments in a collection: a nearest-neighbour index of a dataset's embeddings.

:class:`Index` (:mod:`openl3.search.index`) searches rows of embeddings by cosine
similarity, exactly or approximately (FAISS); :mod:`openl3.search.store` keeps a dataset's
index inside the dataset, in step with its parts; :mod:`openl3.search.queries` turns a
file, a segment or a row into a query and the index's answer into hits.

Needs the ``search`` extra (``pip install openl3[search]``); ``import openl3`` does not
import it.
"""

from __future__ import annotations

from .index import EXACT_LIMIT, Index
from .queries import Hit, Query, make_query, search
from .store import open_index, update_index

__all__ = ["EXACT_LIMIT", "Hit", "Index", "Query", "make_query", "open_index", "search", "update_index"]
