"""Query latency while a large ingest runs, for the index-maintenance policies.

    .venv/bin/python -m bench.ingest_latency --points 100000 --calls 10

The ingest writes ``--points`` clustered 512-d points in ``--calls`` ingest calls of 256-point upserts; after each
call the store's index is maintained by one of (``--policies``):

- ``background`` (now): ``maintain`` once enough points are unindexed, building in a subprocess on a copy of the
  shard that is swapped in when done (``EdgeStore.build_in_background``);
- ``inprocess``: the same thresholds, but the build runs in the serving process (the previous ``maintain``);
- ``optimize``: ``optimize`` after every call (the pipeline before issue 15).

A thread sends one query every 20 ms throughout. Latency is measured from when the query was due, so a query held
up by an index build (Edge's optimize holds the GIL of its process) counts the whole wait. Reported per policy:
p50/p99/max latency, the number and length of index builds, the total ingest time and the recall@10 of the final
collection (after the last build is in).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import data as gen
from bench.common import blas_threads, ms_stats
from bench.store_bench import COLLECTION, VECTOR, exact_topk, point_id, point_index, spec
from matsearch.store.base import PointRecord, VectorQuery
from matsearch.store.edge import EdgeStore

POLICIES = ("background", "inprocess", "optimize")

RESULTS = Path(__file__).resolve().parent / "results" / "ingest_latency.json"


def run_policy(policy: str, vectors: np.ndarray, queries: np.ndarray, calls: int, log: Any = print) -> dict[str, Any]:
    n = len(vectors)
    kind, x, year = gen.payloads(n, seed=1)
    with tempfile.TemporaryDirectory(prefix="matsearch-ingest-latency-") as tmp:
        store = EdgeStore(Path(tmp))
        store.ensure_collection(spec(vectors.shape[1]))
        stop = threading.Event()
        lat: list[float] = []

        def querier() -> None:
            i, due = 0, time.perf_counter()
            while not stop.is_set():
                q = queries[i % len(queries)]
                i += 1
                store.query(COLLECTION, VectorQuery(vector=q, using=VECTOR, limit=10))
                lat.append(time.perf_counter() - due)
                due += 0.02
                time.sleep(max(0.0, due - time.perf_counter()))
                due = max(due, time.perf_counter())

        builds: list[float] = []
        per_call = -(-n // calls)
        thread = threading.Thread(target=querier, daemon=True)
        t0 = time.perf_counter()
        thread.start()
        for c in range(calls):
            lo, hi = c * per_call, min(n, (c + 1) * per_call)
            for s in range(lo, hi, 256):
                store.upsert(
                    COLLECTION,
                    [
                        PointRecord(point_id(i), {VECTOR: vectors[i]}, gen.payload(i, kind, x, year))
                        for i in range(s, min(hi, s + 256))
                    ],
                )
            t = time.perf_counter()
            if policy == "optimize":
                store.optimize(COLLECTION)
                builds.append(time.perf_counter() - t)
            else:
                store.background_builds = policy == "background"
                if store.maintain(COLLECTION) and policy == "inprocess":
                    builds.append(time.perf_counter() - t)
        total = time.perf_counter() - t0
        store.wait_for_build(COLLECTION)  # the last background build: queries still run while it finishes
        total_with_build = time.perf_counter() - t0
        stop.set()
        thread.join()
        if policy == "background":
            builds = [b["wall_s"] for b in store.build_log if not b.get("in_process")]
        with blas_threads(1):
            truth = exact_topk(vectors, queries)
        rec = []
        for q, tr in zip(queries, truth, strict=True):
            hits = store.query(COLLECTION, VectorQuery(vector=q, using=VECTOR, limit=10))
            rec.append(len({point_index(h.id) for h in hits} & set(tr.tolist())) / 10)
        info = store._shard(COLLECTION).info()  # noqa: SLF001
        store.close()
    out = {
        "policy": policy,
        "ingest_s": round(total, 1),
        "until_indexed_s": round(total_with_build, 1),
        "index_builds": len(builds),
        "build_s": [round(b, 1) for b in builds],
        "background_builds": store.build_log,
        "queries": len(lat),
        **ms_stats(lat),
        "p99_ms": round(1000 * float(np.percentile(lat, 99)), 1) if lat else None,
        "recall_at_10_after": round(float(np.mean(rec)), 4),
        "indexed_after": info.indexed_vectors_count,
    }
    log(f"[{policy}] {json.dumps(out)}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--policies", default=",".join(POLICIES), help=f"comma-separated, of {', '.join(POLICIES)}")
    args = ap.parse_args()
    policies = [p for p in args.policies.split(",") if p]
    if any(p not in POLICIES for p in policies):
        ap.error(f"--policies: choose from {', '.join(POLICIES)}")
    with blas_threads(1):
        vectors, queries, _ = gen.clustered(args.points, args.dim, 100, seed=0)
    result: dict[str, Any] = {"points": args.points, "calls": args.calls, "load_avg_start": list(os.getloadavg())}
    result["policies"] = [run_policy(p, vectors, queries, args.calls) for p in policies]
    result["load_avg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for r in result["policies"]:
        print(
            f"{r['policy']:<10} ingest {r['ingest_s']} s ({r['until_indexed_s']} s until indexed), "
            f"{r['index_builds']} index builds {r['build_s']}; queries "
            f"during it: {r['queries']}, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms; "
            f"recall@10 after {r['recall_at_10_after']}"
        )
    print(f"load average {result['load_avg_start']} -> {result['load_avg_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
