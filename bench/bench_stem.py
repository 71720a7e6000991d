"""STEM speed: library build throughput (simulate + encode + upsert) and query latency with >= 20k library images.

    .venv/bin/python bench/bench_stem.py                    # whole library (+ extra rotations up to 20,480 images)
    .venv/bin/python bench/bench_stem.py --structures 300   # quick

Builds a fresh ``stem`` collection in a temporary data directory with the real builder (``build_stem_points``),
tops it up with perturbed copies of those real vectors until it holds ``--min-points`` points, then
times ``search_stem`` end to end (PNG decode + resample to the library pixel size + crops + encode + search + merge
per structure) on simulated 16-bit PNG queries, with and without a known pixel size: wall and CPU milliseconds
(CPU time does not depend on the machine's load), with a cold spectra cache (fresh process) and a warm one
(``preload_lattice_cache``: a running server's steady state). Writes bench/results/bench_stem.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--structures", type=int, default=1200, help="first N library structures (0: all)")
    ap.add_argument("--min-points", type=int, default=20_480)
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_stem.json")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    from PIL import Image

    from matsearch.core.ids import point_id
    from matsearch.core.settings import Settings
    from matsearch.indexer.stem.build import build_stem_points
    from matsearch.indexer.stem.simulate import random_params, render
    from matsearch.indexer.stem.views import cached_views
    from matsearch.indexer.structures import load_library
    from matsearch.search import stem as Q
    from matsearch.server.service import Service
    from matsearch.store.base import PointRecord

    entries = list(load_library())
    if args.structures:
        entries = entries[: args.structures]
    out: dict[str, object] = {"config": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(Settings(data_dir=Path(tmp)))
        views = cached_views(entries, workers=2)  # shared cache (projection is a one-off per structure)
        t0 = time.time()
        stats = build_stem_points(svc, entries, workers=2)  # uses the same cache
        build_s = time.time() - t0
        out["build"] = stats | {
            "images_per_s": round(stats["points_written"] / max(build_s, 1e-9), 1),
            "simulate_ms_per_image": round(1000 * stats["seconds_simulate"] / max(stats["points_written"], 1), 2),
            "encode_ms_per_image": round(1000 * stats["seconds_encode"] / max(stats["points_written"], 1), 2),
        }
        print(f"build: {out['build']}")
        # Top up to min_points with perturbed copies of the real library vectors (same payloads, new ids): the
        # search cost depends on the number and spread of points, and rendering 20k more images on a shared 2-core
        # machine would take most of an hour. The build throughput above is measured on real renders only.
        n = svc.store.count("stem")
        real, offset = [], None
        while True:
            page, offset = svc.store.scroll("stem", limit=1000, offset=offset, with_vectors=True)
            real.extend(page)
            if offset is None:
                break
        rng0 = np.random.default_rng(0)
        rnd = 0
        while n < args.min_points:
            pts = []
            for p in real[: args.min_points - n]:
                vec = np.asarray(p.vectors["stem"], dtype=np.float32)
                vec = vec + rng0.normal(0, 0.03, vec.shape).astype(np.float32)
                pid = point_id("stem-bench", p.id, rnd)
                pts.append(PointRecord(id=pid, vectors={"stem": vec / np.linalg.norm(vec)}, payload=p.payload))
            for start in range(0, len(pts), 1000):
                svc.store.upsert("stem", pts[start : start + 1000])
            n += len(pts)
            rnd += 1
        n = svc.store.count("stem")
        svc.store.optimize("stem")
        print(f"library: {n} images")
        # Queries: noisy renders of random views, 16-bit PNG, 160-300 px, random pixel size.
        rng = np.random.default_rng(7)
        payloads = []
        for _ in range(args.queries):
            v = views[int(rng.integers(len(views)))]
            px = float(rng.uniform(0.15, 0.4))
            size = (int(rng.integers(160, 300)), int(rng.integers(160, 300)))
            img = render(v.projection, random_params(rng, "query", px=px, size=size))
            buf = io.BytesIO()
            Image.fromarray((img * 65535).astype(np.uint16)).save(buf, format="PNG")
            payloads.append((buf.getvalue(), px))
        # Cold: a fresh process, every candidate's stored spectrum is fetched by id on first use. Warm: the
        # spectra cache filled from the collection (a long-running server's steady state).
        runs = (
            ("known_pixel_size_cold", True, False),
            ("known_pixel_size", True, True),
            ("unknown_pixel_size", False, True),
        )
        for label, known, warm in runs:
            Q._FEATURE_CACHE.clear()
            if warm:
                t = time.perf_counter()
                cached = Q.preload_lattice_cache(svc.store)
                out["preload_cache"] = {"points": cached, "seconds": round(time.perf_counter() - t, 2)}
            Q.search_stem(svc.store, svc.settings, payloads[0][0], filename="q.png", nm_per_px=0.025)  # warm-up
            if not warm:
                Q._FEATURE_CACHE.clear()
            lat, cpu = [], []
            for data, px in payloads:
                t, c = time.perf_counter(), time.process_time()
                Q.search_stem(
                    svc.store,
                    svc.settings,
                    data,
                    filename="q.png",
                    nm_per_px=px / 10 if known else None,
                    limit=10,
                    score_threshold=0.0,
                )
                lat.append(1000 * (time.perf_counter() - t))
                cpu.append(1000 * (time.process_time() - c))
            out[f"query_{label}_ms"] = {
                "p50": round(float(np.percentile(lat, 50)), 1),
                "p95": round(float(np.percentile(lat, 95)), 1),
                "mean": round(float(np.mean(lat)), 1),
                "cpu_p50": round(float(np.percentile(cpu, 50)), 1),
                "cpu_mean": round(float(np.mean(cpu)), 1),
                "n": len(lat),
            }
            print(f"query ({label}): {out[f'query_{label}_ms']}")
        out["load_average"] = list(os.getloadavg())
        out["library_points"] = n
        svc.close()
    out["environment"] = {"python": sys.version.split()[0], "platform": platform.platform(), "threads": args.threads}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
