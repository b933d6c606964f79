"""Vector search at city scale: 1 M and 10 M synthetic 128-d face vectors, exact vs IVF.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_scale.py [--sizes 1000000,10000000] [--queries 200]

Data: clustered, not uniform, so that recall means something. 4,096 group
centres (lighting, demographics, camera angle); one identity per 20 vectors,
drawn around a group centre (cosine ~0.55 to it); each sighting drawn around
its identity (cosine ~0.86; two sightings of one person ~0.73, of two people
of one group ~0.2), L2-normalised like real embeddings. Queries are new
sightings of existing identities (an investigator's probe photo), so their
true top 10 are that person's own sightings (20 on average, spread over the
index's lists). Vector ids are assigned in time order, as SQL row ids are.

Each size is one day segment built the way ``FaissDayIndex`` builds it past
its exact limit (``citywatch.store.faiss_segments.build_ivf``: IVF-Flat,
inner product, ~sqrt(n) lists, ids ascending in each list) and searched the
way it searches (``search_segment``: ``probe_factor * sqrt(lists)`` lists; a
filter scans more lists in proportion to the share it leaves; a time window
is binary-searched in each list; other filters gather and score their
vectors exactly when that is cheaper than the scan, using the segment's
cached ``SegmentLayout``, whose build time is reported). At 1 M the exact
index is measured too. Filters, as the
store passes them (allowed ids from SQL):

* cameras: 20 of 1,000 cameras (2 % of vectors);
* time: a window holding 10 % of the segment (a contiguous id range);
* cameras+time: both (0.2 %).

Reported per size and filter: build seconds, index memory, p50/p95 latency of
single queries (on 1 and on 2 threads: ``--search-threads``), recall@10 against exact search with the same
filter. The SQL side of a filter (fetching the allowed ids) is not included:
it grows with the filter's size, whatever the index. The 10 M vectors are
never all held as a matrix: each 1 M chunk updates the exact ground truth and
is added to the index, then dropped (the index itself is ~5.2 GB, plus its
id map).

Writes bench/results/search_scale.json and search_scale.png (recall against
p95 latency for each nprobe).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from citywatch.store.faiss_segments import (
    SegmentLayout,
    SegmentPolicy,
    add_in_chunks,
    search_segment,
    segment_layout,
)

DIM = 128
GROUPS = 4096
PER_IDENTITY = 20
CHUNK = 1_000_000
CAMERAS = 1000
K = 10
OUT = Path(__file__).parent / "results"

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def _unit(x: F32) -> F32:
    out: F32 = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


class Population:
    """Group centres and identities; sightings are drawn around identities on demand."""

    def __init__(self, n: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.identities = max(1, n // PER_IDENTITY)
        groups = _unit(rng.standard_normal((GROUPS, DIM)).astype(np.float32))
        gid = rng.integers(0, GROUPS, self.identities)
        spread = _unit(rng.standard_normal((self.identities, DIM)).astype(np.float32))
        self.centres = _unit(groups[gid] + 1.5 * spread)

    def sightings(self, who: I64, rng: np.random.Generator) -> F32:
        noise = _unit(rng.standard_normal((len(who), DIM)).astype(np.float32))
        return _unit(self.centres[who] + 0.6 * noise)

    def chunks(self) -> Iterator[tuple[I64, F32]]:
        """``(ids, vectors)`` in 1 M chunks; identity of vector i is a hash of i (spread over time)."""
        for start in range(0, self.n, CHUNK):
            ids = np.arange(start, min(self.n, start + CHUNK), dtype=np.int64)
            rng = np.random.default_rng(1000 + start // CHUNK)
            who = rng.integers(0, self.identities, len(ids))
            yield ids, self.sightings(who, rng)

    def queries(self, q: int) -> F32:
        rng = np.random.default_rng(99)
        return self.sightings(rng.integers(0, self.identities, q), rng)


@dataclass
class Filter:
    name: str
    share: float
    cameras: I64 | None = None
    window: tuple[int, int] | None = None
    allowed: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def mask(self, ids: I64) -> npt.NDArray[np.bool_]:
        m = np.ones(len(ids), bool)
        if self.cameras is not None:
            m &= np.isin(ids % CAMERAS, self.cameras)
        if self.window is not None:
            m &= (ids >= self.window[0]) & (ids < self.window[1])
        return m


def make_filters(n: int) -> list[Filter]:
    cams = np.arange(0, CAMERAS, CAMERAS // 20, dtype=np.int64)[:20]
    lo, hi = int(0.45 * n), int(0.55 * n)
    out = [
        Filter("none", 1.0),
        Filter("cameras 2%", 0.02, cameras=cams),
        Filter("time 10%", 0.10, window=(lo, hi)),
        Filter("cameras+time 0.2%", 0.002, cameras=cams, window=(lo, hi)),
    ]
    everything = np.arange(n, dtype=np.int64)
    for f in out[1:]:
        f.allowed = everything[f.mask(everything)]
    return out


class TopK:
    """Running exact top-k per query over chunks (the ground truth)."""

    def __init__(self, q: int) -> None:
        self.scores = np.full((q, K), -np.inf, np.float32)
        self.ids = np.full((q, K), -1, np.int64)

    def update(self, scores: F32, ids: I64) -> None:
        if scores.shape[1] == 0:
            return
        kk = min(K, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        s = np.take_along_axis(scores, part, axis=1)
        allc = np.concatenate([self.scores, s], axis=1)
        alli = np.concatenate([self.ids, ids[part]], axis=1)
        best = np.argsort(-allc, axis=1, kind="stable")[:, :K]
        self.scores = np.take_along_axis(allc, best, axis=1)
        self.ids = np.take_along_axis(alli, best, axis=1)


def rss_gib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def timed_search(
    index: Any,
    queries: F32,
    flt: Filter,
    policy: SegmentPolicy,
    layout: SegmentLayout | None,
    nprobe: int | None = None,
) -> tuple[list[float], I64]:
    """Single-query latencies (ms) and the top-k ids, as FaissDayIndex.search does per segment.

    ``layout``: the IVF segment's layout, which FaissDayIndex builds once per segment version.
    """
    allowed = None if flt.name == "none" else flt.allowed
    lat: list[float] = []
    found = np.full((len(queries), K), -1, np.int64)
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        _, labels = search_segment(
            index,
            q.reshape(1, -1),
            K,
            policy,
            allowed,
            layout if allowed is not None else None,
            nprobe=nprobe,
        )
        lat.append(1000 * (time.perf_counter() - t0))
        found[i] = labels[0]
    return lat, found


def policy_fields(p: SegmentPolicy) -> dict[str, float]:
    return {
        "exact_limit": p.exact_limit,
        "probe_factor": p.probe_factor,
        "min_nprobe": p.min_nprobe,
        "min_nlist": p.min_nlist,
        "max_nlist": p.max_nlist,
        "train_per_list": p.train_per_list,
    }


def recall(found: I64, truth: I64) -> float:
    hits = 0
    total = 0
    for f, t in zip(found, truth, strict=True):
        tset = {int(x) for x in t if x >= 0}
        total += len(tset)
        hits += len(tset & {int(x) for x in f if x >= 0})
    return hits / max(total, 1)


def bench_size(n: int, args: argparse.Namespace, policy: SegmentPolicy) -> dict[str, Any]:
    print(f"\n== {n:,} vectors ({uptime()})", flush=True)
    pop = Population(n)
    queries = pop.queries(args.queries)
    filters = make_filters(n)
    truth = {f.name: TopK(len(queries)) for f in filters}

    faiss.omp_set_num_threads(args.build_threads)
    t0 = time.perf_counter()
    nlist = policy.nlist(n)
    train_rng = np.random.default_rng(5)
    train = pop.sightings(train_rng.integers(0, pop.identities, nlist * policy.train_per_list), train_rng)
    # as build_ivf does, but trained on a fresh sample so the 10 M vectors never sit in one matrix
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(train)
    t_train = time.perf_counter() - t0
    del train
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM)) if n <= args.exact_max else None
    t_add = t_flat = 0.0
    for ids, x in pop.chunks():
        t1 = time.perf_counter()
        add_in_chunks(ivf, ids, x)
        t_add += time.perf_counter() - t1
        if flat is not None:
            t1 = time.perf_counter()
            flat.add_with_ids(x, ids)
            t_flat += time.perf_counter() - t1
        scores = queries @ x.T  # ground truth, exact, per filter
        for f in filters:
            m = f.mask(ids)
            truth[f.name].update(scores[:, m], ids[m])
        print(f"  added {ids[-1] + 1:,} (rss {rss_gib():.1f} GiB)", flush=True)
    t1 = time.perf_counter()
    layout = segment_layout(ivf)
    t_layout = time.perf_counter() - t1
    assert layout is not None and layout.lists_sorted
    build = {
        "train_s": round(t_train, 1),
        "add_s": round(t_add, 1),
        "layout_s": round(t_layout, 1),
        "nlist": nlist,
    }
    mem = {
        "ivf_bytes": n * (DIM * 4 + 8) + nlist * DIM * 4,
        "flat_bytes": n * (DIM * 4 + 8) if flat is not None else None,
        "layout_bytes": layout.sorted_ids.nbytes
        + layout.lists.nbytes
        + layout.offsets.nbytes
        + (layout.rank.nbytes if layout.rank is not None else 0),
        "rss_gib": round(rss_gib(), 2),
        "max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }

    rows: list[dict[str, Any]] = []
    indexes: list[tuple[str, Any]] = [("ivf", ivf)] + ([("exact", flat)] if flat is not None else [])
    for threads, kind, index in [(t, k, i) for t in args.search_threads for k, i in indexes]:
        faiss.omp_set_num_threads(threads)
        for f in filters:
            lat, found = timed_search(index, queries, f, policy, layout if kind == "ivf" else None)
            rows.append(
                {
                    "threads": threads,
                    "index": kind,
                    "filter": f.name,
                    "allowed": int(len(f.allowed)) if f.name != "none" else n,
                    "p50_ms": round(float(np.percentile(lat, 50)), 2),
                    "p95_ms": round(float(np.percentile(lat, 95)), 2),
                    "recall_at_10": round(recall(found, truth[f.name].ids), 4),
                }
            )
            r = rows[-1]
            print(
                f"  {threads} thr {kind:6} {f.name:18} p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  "
                f"recall@10 {r['recall_at_10']:.4f}",
                flush=True,
            )
    sweep = []
    faiss.omp_set_num_threads(args.search_threads[0])
    for factor in args.sweep:
        nprobe = min(nlist, max(1, round(factor * nlist**0.5)))
        lat, found = timed_search(ivf, queries, filters[0], policy, None, nprobe=nprobe)
        sweep.append(
            {
                "probe_factor": factor,
                "nprobe": nprobe,
                "p50_ms": round(float(np.percentile(lat, 50)), 2),
                "p95_ms": round(float(np.percentile(lat, 95)), 2),
                "recall_at_10": round(recall(found, truth["none"].ids), 4),
            }
        )
        print(
            f"  sweep {factor:g} x sqrt(lists) (nprobe {nprobe:4}): p95 {sweep[-1]['p95_ms']:7.2f} ms recall {sweep[-1]['recall_at_10']}"
        )
    result = {
        "n": n,
        "build": build | ({"flat_add_s": round(t_flat, 1)} if flat is not None else {}),
        "memory": mem,
        "rows": rows,
        "nprobe_sweep": sweep,
        "load": uptime(),
    }
    del layout, ivf, flat
    return result


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        xs = [s["p95_ms"] for s in r["nprobe_sweep"]]
        ys = [s["recall_at_10"] for s in r["nprobe_sweep"]]
        ax.plot(xs, ys, marker="o", label=f"IVF, {r['n'] / 1e6:g} M vectors")
        for s in r["nprobe_sweep"]:
            ax.annotate(f"{s['probe_factor']:g}", (s["p95_ms"], s["recall_at_10"]), fontsize=7)
    ax.axhline(0.98, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("p95 latency per query, ms (1 thread)")
    ax.set_ylabel("recall@10 vs exact")
    ax.set_title("lists visited = label x sqrt(lists), unfiltered")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--exact-max", type=int, default=1_000_000, help="also build the exact index up to this size"
    )
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument(
        "--search-threads",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2],
        help="threads per query, each measured (the nprobe sweep uses the first)",
    )
    ap.add_argument(
        "--sweep",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
        help="lists to visit, as multiples of sqrt(lists) (unfiltered queries)",
    )
    ap.add_argument("--out", type=Path, default=OUT / "search_scale.json")
    args = ap.parse_args()
    policy = SegmentPolicy()
    results = [bench_size(int(n), args, policy) for n in args.sizes.split(",")]
    print(
        f"\n{'vectors':>10} {'thr':>3} {'index':6} {'filter':18} {'allowed':>10} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'recall@10':>9}"
    )
    for r in results:
        for row in r["rows"]:
            print(
                f"{r['n']:>10,} {row['threads']:>3} {row['index']:6} {row['filter']:18} {row['allowed']:>10,} "
                f"{row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['recall_at_10']:>9.4f}"
            )
    for r in results:
        b, m = r["build"], r["memory"]
        print(
            f"{r['n']:>10,}: IVF {b['nlist']} lists, train {b['train_s']} s, add {b['add_s']} s, "
            f"layout {b['layout_s']} s; index {m['ivf_bytes'] / 1024**3:.2f} GiB + layout "
            f"{m['layout_bytes'] / 1024**2:.0f} MiB; max RSS {m['max_rss_gib']} GiB"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "build_threads": args.build_threads,
        "search_threads": args.search_threads,
        "policy": policy_fields(policy),
        "queries": args.queries,
    }
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
