"""XRD speed: library build (warm peak cache and, with --cold, from scratch) and spectrum query latency.

    .venv/bin/python -m bench.bench_xrd [--cold] [--queries 200]

Query latency covers the whole path: parse a two-column text file, convert, background/noise removal, peak
finding, 3 strain-variant vector queries, physics re-rank of up to ~60 candidates, mixture search. Writes
bench/results/bench_xrd.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="also simulate every structure again (no cache)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    from matsearch.core.settings import Settings, get_settings
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.indexer.library import BuildOptions, build_libraries
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd import build as xbuild
    from matsearch.indexer.xrd.simulate import cache_dir
    from matsearch.search import spectra as xsearch
    from matsearch.server.service import Service
    from training.xrd_augment import Distortion, experimental_like, pattern_range

    main_settings = get_settings()
    lib = load_library(cache_dir=main_settings.data_dir / "cache")
    tmp = Path(tempfile.mkdtemp(prefix="xrd-bench-"))
    (tmp / "cache").mkdir()
    result: dict[str, object] = {"structures": len(lib), "cpus": os.cpu_count()}
    if args.cold:
        cold = Path(tempfile.mkdtemp(prefix="xrd-bench-cold-"))
        service = Service(Settings(data_dir=cold))
        t = time.time()
        build_libraries(service, ["xrd"], BuildOptions(workers=2, progress=True))
        result["build_cold_s"] = round(time.time() - t, 1)
        service.close()
    cache_dir(main_settings.data_dir).mkdir(parents=True, exist_ok=True)  # a first run fills it (cold simulation)
    os.symlink(cache_dir(main_settings.data_dir).resolve(), cache_dir(tmp))
    service = Service(Settings(data_dir=tmp))
    t = time.time()
    build_libraries(service, ["xrd"], BuildOptions(workers=2, progress=False))
    result["build_warm_cache_s"] = round(time.time() - t, 1)

    peaks, _ = xbuild.simulate_entries(list(lib), main_settings.data_dir, progress=False)
    ids = sorted(peaks)
    rng = np.random.default_rng(args.seed)
    encoder = service.encoder(xbuild.ENCODER)
    files = []
    for i in rng.choice(len(ids), size=args.queries, replace=False):
        y = experimental_like([(peaks[ids[i]], 1.0)], rng, Distortion())
        assert isinstance(y, np.ndarray)
        x, yy = pattern_range(y)
        files.append("\n".join(f"{a:.3f}\t{b:.0f}" for a, b in zip(x, yy, strict=True)).encode())
    t = time.time()
    xsearch.warm(service.store)  # the library's reflections into the query cache (a server's first mixture does it)
    result["query_cache_warm_s"] = round(time.time() - t, 2)
    xsearch.search_spectrum(service.store, encoder, read_pattern_bytes(files[0], "warm.xy"))  # warm-up
    lat = []
    cpu = []
    for data in files:
        t0, c0 = time.perf_counter(), time.process_time()
        xsearch.search_spectrum(service.store, encoder, read_pattern_bytes(data, "q.xy", wavelength="CuKa1"))
        lat.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    result["query_ms_p50"] = round(statistics.median(lat), 1)
    result["query_ms_p95"] = round(float(np.percentile(lat, 95)), 1)
    # CPU time of this process per query: what the latency would be on an idle core (the machine is shared)
    result["query_cpu_ms_p50"] = round(statistics.median(cpu), 1)
    result["query_cpu_ms_p95"] = round(float(np.percentile(cpu, 95)), 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 1)
    result["queries"] = len(lat)
    service.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_xrd.json").write_text(json.dumps(result, indent=1))
    for k, v in result.items():
        print(f"{k:<22} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
