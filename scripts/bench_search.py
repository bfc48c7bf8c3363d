"""Benchmark nearest-neighbour indexes for ``openl3 search`` (a script, not a test).

The data: ``--n`` vectors (default 1,000,000) of ``--dim`` dimensions (default 512) from
1,000 Gaussian clusters. Cluster centres are drawn from N(0, 1/D) per coordinate (unit
length on average, so two centres are about sqrt(2) apart); each point is its centre plus
N(0, sigma^2/D) noise with sigma = ``--spread`` (default 1.0): the points of a cluster lie
about as far from their centre as the centres lie from each other, so a query's ten
nearest neighbours are spread over several clusters and recall is not trivial. The
vectors are stored as float16, as in a ``--dtype float16`` dataset, and L2-normalised for
cosine similarity. ``--queries`` queries (default 1,000) come from the same generator and
are held out of the index.

For each index: build time (on all the cores given, ``--threads``), the process's resident
memory growth while building, latency of one query at a time on one thread (median and
95th percentile, after warm-up), and recall@10 against exact search (every vector).

``python scripts/bench_search.py --n 1000000 --index faiss-ivf`` (the index ``openl3``
uses above 100,000 vectors); ``--index all`` compares FAISS IVF, FAISS HNSW, usearch and
hnswlib (slow at full size).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

CLUSTERS = 1000


def vectors(n: int, dim: int, spread: float, seed: int) -> np.ndarray:
    """Return ``n`` unit vectors (float16) drawn from the clusters (centres fixed by seed 0)."""
    centres = np.random.default_rng(0).normal(0, 1 / np.sqrt(dim), (CLUSTERS, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float16)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = centres[rng.integers(0, CLUSTERS, stop - start)]
        chunk += rng.normal(0, spread / np.sqrt(dim), chunk.shape).astype(np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[start:stop] = chunk
    return out


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Return the ``k`` nearest rows of ``data`` to each query, by inner product, exactly."""
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for start in range(0, len(data), 100_000):
        block = data[start : start + 100_000].astype(np.float32)
        scores = queries @ block.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], 1)
        i = np.concatenate([best_i, top + start], 1)
        order = np.argsort(-s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    return best_i


def rss_mb() -> float:
    """Return the resident memory of this process, in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 1e6


class FaissIVF:
    """FAISS IVF with float16 storage (scalar quantiser fp16), inner product."""

    def __init__(self, dim: int, n: int, nprobe: int):
        import faiss

        self.nlist = max(16, int(4 * np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, self.nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        self.set(nprobe)

    def set(self, nprobe: int) -> None:
        """Search ``nprobe`` lists."""
        self.index.nprobe = nprobe
        self.name = f"faiss IVF{self.nlist},SQfp16 nprobe={nprobe}"

    def build(self, data: np.ndarray) -> None:
        """Add ``data`` (trained first where the index needs it)."""
        sample = np.random.default_rng(1).choice(len(data), min(len(data), 50 * self.nlist), replace=False)
        self.index.train(data[np.sort(sample)].astype(np.float32))
        for start in range(0, len(data), 100_000):
            self.index.add(data[start : start + 100_000].astype(np.float32))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Return the ids of the ``k`` nearest vectors to the query ``q`` (shape (1, D))."""
        return self.index.search(q, k)[1][0]


class FaissHNSW:
    """FAISS HNSW (flat float32 vectors), inner product."""

    def __init__(self, dim: int, n: int, ef: int, m: int = 32):
        import faiss

        self.index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 80
        self.m = m
        self.set(ef)

    def set(self, ef: int) -> None:
        """Search with breadth ``ef``."""
        self.index.hnsw.efSearch = ef
        self.name = f"faiss HNSW{self.m} efSearch={ef}"

    def build(self, data: np.ndarray) -> None:
        """Add ``data`` (trained first where the index needs it)."""
        for start in range(0, len(data), 100_000):
            self.index.add(data[start : start + 100_000].astype(np.float32))

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Return the ids of the ``k`` nearest vectors to the query ``q`` (shape (1, D))."""
        return self.index.search(q, k)[1][0]


class USearch:
    """usearch HNSW with float16 storage, cosine."""

    def __init__(self, dim: int, n: int, ef: int):
        from usearch.index import Index

        self.index = Index(ndim=dim, metric="ip", dtype="f16", connectivity=16, expansion_add=128)
        self.set(ef)

    def set(self, ef: int) -> None:
        """Search with breadth ``ef``."""
        self.index.expansion_search = ef
        self.name = f"usearch f16 M16 ef={ef}"

    def build(self, data: np.ndarray) -> None:
        """Add ``data`` (trained first where the index needs it)."""
        self.index.add(np.arange(len(data)), data, threads=2)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Return the ids of the ``k`` nearest vectors to the query ``q`` (shape (1, D))."""
        return np.asarray(self.index.search(q[0], k, threads=1).keys)


class HNSWLib:
    """hnswlib HNSW (float32 vectors), inner product."""

    def __init__(self, dim: int, n: int, ef: int):
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.init_index(max_elements=n, ef_construction=80, M=16)
        self.set(ef)

    def set(self, ef: int) -> None:
        """Search with breadth ``ef``."""
        self.ef = ef
        self.name = f"hnswlib M16 ef={ef}"
        if self.index.get_current_count():
            self.index.set_ef(ef)

    def build(self, data: np.ndarray) -> None:
        """Add ``data`` (trained first where the index needs it)."""
        for start in range(0, len(data), 100_000):
            block = data[start : start + 100_000].astype(np.float32)
            self.index.add_items(block, np.arange(start, start + len(block)))
        self.index.set_ef(self.ef)
        self.index.set_num_threads(1)

    def query(self, q: np.ndarray, k: int) -> np.ndarray:
        """Return the ids of the ``k`` nearest vectors to the query ``q`` (shape (1, D))."""
        return self.index.knn_query(q, k)[0][0]


KINDS = {"faiss-ivf": FaissIVF, "faiss-hnsw": FaissHNSW, "usearch": USearch, "hnswlib": HNSWLib}


def build(index, data, threads: int) -> tuple[float, float]:
    """Build ``index`` on ``threads`` threads; return its build time (s) and memory growth (MB)."""
    import faiss

    faiss.omp_set_num_threads(threads)
    before, start = rss_mb(), time.perf_counter()
    index.build(data)
    return time.perf_counter() - start, rss_mb() - before


def measure(index, queries, truth, k) -> tuple[float, float, float]:
    """Query one at a time on one thread; return median and p95 latency (ms) and recall@k."""
    import faiss

    faiss.omp_set_num_threads(1)
    for q in queries[:20]:
        index.query(q[None], k)
    latencies, found = [], []
    for q in queries:
        start = time.perf_counter()
        found.append(index.query(q[None], k))
        latencies.append(time.perf_counter() - start)
    recall = np.mean([len(set(f.tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)])
    return 1000 * float(np.median(latencies)), 1000 * float(np.percentile(latencies, 95)), float(recall)


def main() -> None:
    """Run the benchmark and print one table row per index."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors in the index")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries")
    parser.add_argument("--spread", type=float, default=1.0, help="cluster spread / centre separation")
    parser.add_argument("--index", choices=[*KINDS, "all"], default="faiss-ivf")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[32], help="FAISS IVF lists searched")
    parser.add_argument("--ef", type=int, nargs="+", default=[64], help="HNSW search breadth")
    parser.add_argument("--threads", type=int, default=2, help="threads while building")
    args = parser.parse_args()
    start = time.perf_counter()
    data = vectors(args.n, args.dim, args.spread, seed=1)
    queries = vectors(args.queries, args.dim, args.spread, seed=2).astype(np.float32)
    truth = exact_neighbours(data, queries, 10)
    print(f"{args.n:,} x {args.dim} float16 vectors, {args.queries} held-out queries, ", end="")
    print(f"generated with exact neighbours in {time.perf_counter() - start:.1f} s")
    print("| index | build (s) | memory (MB) | median latency (ms) | p95 (ms) | recall@10 |")
    print("|---|---|---|---|---|---|")
    for kind in KINDS if args.index == "all" else [args.index]:
        knobs = args.nprobe if kind == "faiss-ivf" else args.ef
        index = KINDS[kind](args.dim, args.n, knobs[0])
        build_s, memory = build(index, data, args.threads)
        for knob in knobs:
            index.set(knob)
            median, p95, recall = measure(index, queries, truth, 10)
            print(
                f"| {index.name} | {build_s:.1f} | {memory:.0f} | {median:.2f} | {p95:.2f} | {recall:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
