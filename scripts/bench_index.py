"""Benchmark ``openl3 index`` and ``openl3 search`` end to end on a large dataset (a script, not a test).

Writes a Parquet dataset of ``--rows`` windows (default 1,000,000) of ``--dim`` dimensions
(default 512), ``--windows`` rows per file, through openl3's own dataset writer (parts,
manifest, settings of an audio run), with the clustered vectors of
``scripts/bench_search.py`` (``--spread``) stored as ``--dtype`` (default float16). Then:

1. builds the index as ``openl3 index`` does (:func:`openl3.search.update_index`, under the
   dataset lock): time, the process's peak resident memory, the index's kind and its
   recall@10 measured at build;
2. runs a second embedding run adding ``--add`` more files and brings the index up to
   date (``openl3 index`` again, or a stale ``openl3 search``): time, what was done;
3. searches as ``openl3 search OUT PATH@SECONDS`` does (:func:`openl3.search.make_query`
   and :func:`openl3.search.search`, the index opened from disk): median latency per query.

``python scripts/bench_index.py --rows 1000000``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from openl3._util.jobs import FileJob, Report
from openl3.dataset.outputs import ParquetOutputs
from openl3.dataset.rows import DatasetRows
from openl3.models.settings import EmbeddingSettings, official_weights
from openl3.search import make_query, open_index, search, update_index


def _bench_search():
    """Return scripts/bench_search.py as a module (one vector generator for both benchmarks)."""
    spec = importlib.util.spec_from_file_location("bench_search", Path(__file__).with_name("bench_search.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(folder: str, files: range, windows: int, args: argparse.Namespace, seed: int) -> float:
    """Write the rows of ``files`` (``windows`` each) as one embedding run; return the seconds taken."""
    weights = official_weights("audio", "mel256", "music")  # the settings as recorded; no model is run
    settings = EmbeddingSettings(
        "audio", "mel256", "music", args.dim, 0.5, True, "kapre", "faithful", weights=weights
    )
    outputs = ParquetOutputs(folder, {None: settings}, dtype=args.dtype)
    paths = [f"/collection/recordings/take{k:07d}.wav" for k in files]
    start = time.perf_counter()
    outputs.begin(paths)
    report = Report()
    vectors = _bench_search().vectors(len(paths) * windows, args.dim, args.spread, seed)
    timestamps = np.arange(windows) * 0.5
    for k, path in enumerate(paths):
        job = FileJob(path, outputs.names(path, None))
        arrays = {None: {"embedding": vectors[k * windows : (k + 1) * windows], "timestamps": timestamps}}
        report.processed.extend(outputs.save(job, arrays))
    report.processed.extend(outputs.flush())
    outputs.close(report, paths)
    return time.perf_counter() - start


def peak_mb() -> float:
    """Return the peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def main() -> None:
    """Write the dataset, index it, add to it, search it; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="windows in the dataset")
    parser.add_argument("--dim", type=int, choices=[512, 6144], default=512)
    parser.add_argument("--windows", type=int, default=20, help="windows per file")
    parser.add_argument("--add", type=int, default=500, help="files of the second run")
    parser.add_argument("--spread", type=float, default=2.5)
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--approximate", action="store_true", default=None, help="as openl3 index --approximate"
    )
    parser.add_argument("--folder", help="where to write the dataset (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        files = args.rows // args.windows
        seconds = write_run(folder, range(files), args.windows, args, seed=1)
        size = sum(f.stat().st_size for f in Path(folder).glob("part-*.parquet")) / 1e6
        print(
            f"dataset: {files:,} files, {files * args.windows:,} rows of {args.dim}, {size:,.0f} MB, "
            f"written in {seconds:.1f} s; peak {peak_mb():,.0f} MB"
        )
        before = peak_mb()
        start = time.perf_counter()
        index, done = update_index(DatasetRows(folder), args.approximate)
        kind = "approximate" if index.approximate else "exact"
        recall = "" if index.recall is None else f", recall@10 {index.recall:.3f} at {index.nprobe} lists"
        print(
            f"index {done}: {kind}, {len(index):,} vectors in {time.perf_counter() - start:.1f} s{recall}; "
            f"peak {peak_mb():,.0f} MB (was {before:,.0f} MB)"
        )
        write_run(folder, range(files, files + args.add), args.windows, args, seed=2)
        start = time.perf_counter()
        index, done = update_index(DatasetRows(folder))
        print(
            f"second run of {args.add:,} files: index {done} in {time.perf_counter() - start:.1f} s, "
            f"{len(index):,} vectors; peak {peak_mb():,.0f} MB"
        )
        dataset = DatasetRows(folder)
        start = time.perf_counter()
        index, stale = open_index(dataset)
        print(f"index opened in {time.perf_counter() - start:.1f} s (stale: {stale})")
        rng = np.random.default_rng(3)
        latencies = []
        queries = min(args.queries, files)  # each query a file of its own
        for k in rng.choice(files, queries, replace=False):
            query = f"/collection/recordings/take{k:07d}.wav@{rng.integers(args.windows) * 0.5}"
            start = time.perf_counter()
            hits = search(index, make_query(dataset, query), k=20)
            latencies.append(time.perf_counter() - start)
            assert len(hits) == 20, query
        print(
            f"search of a row (PATH@SECONDS, k=20): median {statistics.median(latencies) * 1e3:.1f} ms, "
            f"p95 {np.percentile(latencies, 95) * 1e3:.1f} ms over {queries} queries"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
