"""The ``index``, ``search`` and ``map`` subcommands: similar moments and a map of a dataset.

``openl3 index OUT`` builds or updates the dataset's nearest-neighbour index
(:mod:`openl3.search.store`); ``openl3 search OUT QUERY`` prints its hits, best first
(``-o HITS.csv`` writes them too); ``openl3 map OUT -o map.html`` writes the page and PNG
of :mod:`openl3.search.maps`. They need the ``search`` extra.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable

from .._util.atomic import replacing
from .._util.exceptions import OpenL3Error
from ..classify.labels import read_label_csv
from ..dataset.rows import DatasetRows
from ..search import make_query, open_index, search, update_index
from ..search.index import EXACT_LIMIT, Index
from ..search.maps import COLOURS, MAP_LIMIT, PROJECTIONS, map_points
from ..search.pages import write_map
from ..search.queries import query_file
from .compat import positive_int
from .console import EXIT_FAILED, EXIT_OK, _console


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``index``, ``search`` and ``map`` subcommands to the command's subparsers."""
    index = commands.add_parser(
        "index",
        help="build or update a dataset's nearest-neighbour index",
        description="Build the nearest-neighbour index of a Parquet dataset (cosine similarity), kept in "
        f"OUT/_openl3/index; update it when parts were added. Exact below {EXACT_LIMIT:,} vectors, "
        "approximate (FAISS IVF, its recall measured) at or above.",
    )
    _add_dataset(index)
    kind = index.add_mutually_exclusive_group()
    kind.add_argument("--approximate", action="store_const", const=True, help="an approximate index")
    kind.add_argument("--exact", dest="approximate", action="store_const", const=False, help="exact search")
    index.add_argument("--rebuild", action="store_true", help="build the index again from all rows")
    index.set_defaults(handler=_index)

    finder = commands.add_parser(
        "search",
        help="find the windows of a dataset most similar to a query",
        description="Find the rows of a dataset most similar to QUERY: an audio file (the mean of its "
        "windows, or of the segment --start to --end), an image, or a row written PATH@SECONDS.",
    )
    _add_dataset(finder)
    finder.add_argument(
        "query",
        metavar="QUERY",
        help="a file, PATH@SECONDS (a row of the dataset), a .npy embedding, or a .csv of queries "
        "(a query column, and start and end columns if wanted)",
    )
    finder.add_argument("--start", type=float, help="the segment's start, in seconds")
    finder.add_argument("--end", type=float, help="the segment's end, in seconds")
    finder.add_argument("-k", type=positive_int, default=20, help="hits (default 20)")
    finder.add_argument("--per-file", action="store_true", help="the best window of each file only")
    finder.add_argument(
        "--nprobe",
        type=positive_int,
        help="lists searched by an approximate index (default 32; more: slower, better)",
    )
    finder.add_argument("-o", "--output", metavar="HITS.csv", help="also write the hits as CSV")
    finder.add_argument(
        "--weights",
        metavar="FILE",
        help="the weight file to embed a query file with, for a dataset made with weights that are "
        "not the official ones (default: the file the dataset records)",
    )
    finder.set_defaults(handler=_search)

    mapper = commands.add_parser(
        "map",
        help="write a map of a dataset (HTML page and PNG)",
        description="Write a 2-D map of a dataset: a self-contained HTML page (hover, click to play, "
        "search) and a PNG beside it.",
    )
    _add_dataset(mapper)
    mapper.add_argument("-o", "--output", metavar="MAP.html", required=True, help="the page to write")
    mapper.add_argument("--per", choices=("file", "window"), default="file", help="one point per ...")
    mapper.add_argument(
        "--limit", type=positive_int, default=MAP_LIMIT, help=f"most points (default {MAP_LIMIT:,})"
    )
    mapper.add_argument("--labels", metavar="LABELS.csv", help="colour by a label CSV (path,label)")
    mapper.add_argument(
        "--colour",
        choices=tuple(COLOURS),
        default="folder",
        help="without --labels, colour by each file's folder (default) or by the top folder below the "
        "one all files share",
    )
    mapper.add_argument("--projection", choices=PROJECTIONS, default="pca", help="umap needs umap-learn")
    mapper.add_argument("--no-png", action="store_true", help="the page only")
    mapper.set_defaults(handler=_map)


def _add_dataset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset", metavar="DATASET", help="a dataset folder (written with --output-format parquet)"
    )
    parser.add_argument("--modality", choices=("audio", "image"), help="which rows of a video dataset")
    parser.add_argument("-q", "--quiet", action="store_true", help="no log lines")


def _run(args: argparse.Namespace, work: Callable[[DatasetRows], None]) -> int:
    with _console(args.quiet):
        try:
            work(DatasetRows(args.dataset, args.modality))
        except OpenL3Error as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except OSError as exc:  # an output that cannot be written (a folder, a file in the way)
            print(f"error: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def _index(args: argparse.Namespace) -> int:
    def work(dataset: DatasetRows) -> None:
        index, done = update_index(dataset, args.approximate, args.rebuild)
        kind = "approximate" if index.approximate else "exact"
        recall = "" if index.recall is None else f", recall@10 {index.recall:.3f} against exact search"
        print(f"{done}: {kind} index of {len(index):,} vectors{recall}")

    return _run(args, work)


def _search(args: argparse.Namespace) -> int:
    def work(dataset: DatasetRows) -> None:
        queries = _queries(args)
        _check_output(args.output)
        index, stale = open_index(dataset)
        if stale:
            index, done = update_index(dataset)
            print(f"the index was stale (parts {stale}): {done}", file=sys.stderr)
        _choose_lists(index, args.nprobe)
        rows = []
        for text, start, end in queries:
            hits = search(index, make_query(dataset, text, start, end, args.weights), args.k, args.per_file)
            if not hits:
                print(f"no hits: {dataset.location} holds no window but the query's own", file=sys.stderr)
            if len(queries) > 1:
                print(f"query: {text}")
            print(f"{'similarity':>10}  {'seconds':>9}  path")
            for hit in hits:
                print(f"{hit.similarity:10.4f}  {_seconds(hit.timestamp):>9}  {hit.path}")
            rows += [(text, h.path, _seconds(h.timestamp), repr(h.similarity)) for h in hits]
        if args.output:
            columns = ["query", "path", "timestamp", "similarity"]
            keep = slice(0, None) if len(queries) > 1 or args.query.endswith(".csv") else slice(1, None)
            with replacing(args.output) as (temporary,), open(temporary, "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns[keep])
                writer.writerows(row[keep] for row in rows)

    return _run(args, work)


def _queries(args: argparse.Namespace) -> list[tuple[str, float | None, float | None]]:
    """Return the queries of the command: its QUERY, or the rows of a .csv of queries."""
    if not args.query.endswith(".csv"):
        return [(args.query, args.start, args.end)]
    if args.start is not None or args.end is not None:
        raise OpenL3Error(f"{args.query}: give each query's segment in its start and end columns.")
    try:
        with open(args.query, newline="", encoding="utf-8-sig") as handle:
            table = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OpenL3Error(f"Cannot read the queries {args.query}: {exc}.") from exc
    if not table or "query" not in table[0]:
        raise OpenL3Error(f"{args.query}: expected a header with a query column (and start, end if wanted).")
    folder = os.path.dirname(os.path.abspath(args.query))
    return [
        (_from(folder, row["query"]), _number(row, "start", args.query), _number(row, "end", args.query))
        for row in table
    ]


def _from(folder: str, query: str) -> str:
    """Return a query of a CSV file: a relative path is taken from the CSV's folder.

    The path is the CSV folder's when the file it names is there, whole or as PATH of
    PATH@SECONDS (:func:`openl3.search.queries.query_file`: a name may hold ``@``).
    """
    path = query.strip()
    if os.path.isabs(path):
        return path
    named = {path, query_file(path)}
    return os.path.join(folder, path) if any(os.path.exists(os.path.join(folder, n)) for n in named) else path


def _number(row: dict[str, str], column: str, source: str) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise OpenL3Error(f"{source}: {column} {text!r} of query {row['query']!r} is not a number.") from None


def _check_output(path: str | None) -> None:
    """Refuse an output in a folder that does not exist (it was made, silently)."""
    if path is not None:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise OpenL3Error(f"Cannot write {path}: the folder {folder} does not exist.")


def _choose_lists(index: Index, nprobe: int | None) -> None:
    """Search ``nprobe`` lists of an approximate index, and say how many against the recall's."""
    if not index.approximate:
        if nprobe is not None:
            print("--nprobe is ignored: the index is exact (every vector is compared)", file=sys.stderr)
        return
    measured = index.nprobe
    if nprobe is not None:
        index.nprobe = nprobe
    if index.recall is not None:
        print(
            f"approximate search of {index.nprobe} of {index.lists} lists "
            f"(recall@10 {index.recall:.3f} measured at build searching {measured})",
            file=sys.stderr,
        )


def _seconds(timestamp: float) -> str:
    return "" if math.isnan(timestamp) else f"{timestamp:.3f}"


def _map(args: argparse.Namespace) -> int:
    def work(dataset: DatasetRows) -> None:
        labels = read_label_csv(args.labels) if args.labels else None
        points = map_points(dataset, args.per, args.limit, labels, args.projection, colour=args.colour)
        for path in write_map(points, args.output, png=not args.no_png):
            print(path)

    return _run(args, work)
