"""XRD speed: library build (warm peak cache, a re-build of the same library and, with --cold, from scratch; each
includes the twin table, which is also timed on its own) and spectrum query latency.

    .venv/bin/python -m bench.bench_xrd [--cold] [--queries 200]

Query latency covers the whole path: parse a two-column text file, convert, background/noise removal, peak
finding, 3 strain-variant vector queries, physics re-rank of up to ~60 candidates, mixture search. The queries run
against a store built afresh in a temp dir (removed at the end); the data dir gives only the structure library
pickle and the simulated-peak cache. The machine is shared, so beside the wall time the bench reports the process's
CPU time per query (user and system), its page faults, the machine (CPU model) and ``reference_cpu_ms``, the CPU
time of a fixed numpy workload: runs on different machines compare through it. Writes
bench/results/bench_xrd.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def reference_cpu_ms(repeats: int = 5) -> float:
    """CPU time (ms, best of ``repeats``) of a fixed workload of small numpy operations like the query path's
    (sorts, binary searches, reductions on ~100-element rows): how fast this machine is, whatever the code."""
    rng = np.random.default_rng(0)
    rows = rng.random((60, 100))
    targets = np.sort(rng.random(80))
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(200):
            srt = np.sort(rows, axis=1)
            idx = np.searchsorted(srt.ravel() + np.repeat(np.arange(60.0), 100), targets)
            np.minimum(srt, 0.5).sum(axis=1)
            np.argsort(-srt[:, ::3], axis=1, kind="stable")
            idx.sum()
        best = min(best, time.process_time() - c0)
    return round(best * 1000.0, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold", action="store_true", help="also simulate every structure again (no cache)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    from bench.common import machine_info
    from matsearch.core.settings import Settings, get_settings
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.indexer.library import BuildOptions, build_libraries
    from matsearch.indexer.structures import library as structure_library
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd import build as xbuild
    from matsearch.indexer.xrd.simulate import cache_dir
    from matsearch.search import spectra as xsearch
    from matsearch.server.service import Service
    from training.xrd_augment import Distortion, experimental_like, pattern_range

    main_settings = get_settings()
    result: dict[str, object] = {"machine": machine_info(), "reference_cpu_ms": reference_cpu_ms()}
    if args.cold:
        # `matsearch library build --collection xrd` into an empty data dir: structure library (sources, geometry
        # check, de-duplication), simulation of every structure, encoding, indexing
        cold = Path(tempfile.mkdtemp(prefix="xrd-bench-cold-"))
        structure_library._CACHE.clear()  # the process's library cache would skip the structure library's build
        service = Service(Settings(data_dir=cold))
        t = time.time()
        build_libraries(service, ["xrd"], BuildOptions(workers=2, progress=True))
        result["build_cold_s"] = round(time.time() - t, 1)
        service.close()
        shutil.rmtree(cold, ignore_errors=True)
    lib = load_library(cache_dir=main_settings.data_dir / "cache")
    result["structures"] = len(lib)
    tmp = Path(tempfile.mkdtemp(prefix="xrd-bench-"))
    (tmp / "cache").mkdir()
    cache_dir(main_settings.data_dir).mkdir(parents=True, exist_ok=True)  # a first run fills it (cold simulation)
    os.symlink(cache_dir(main_settings.data_dir).resolve(), cache_dir(tmp))
    service = Service(Settings(data_dir=tmp))
    t = time.time()
    build_libraries(service, ["xrd"], BuildOptions(workers=2, progress=False))
    result["build_warm_cache_s"] = round(time.time() - t, 1)  # simulated peaks cached: encode + index
    t = time.time()
    (again,) = build_libraries(service, ["xrd"], BuildOptions(workers=2, progress=False))
    result["rebuild_same_library_s"] = round(time.time() - t, 1)  # every point current: nothing is written
    result["rebuild_points_written"] = again.points
    # the twin table (part of both builds above): every phase's near-identical library patterns, recomputed over the
    # whole collection (it writes nothing here: the table is current)
    from matsearch.indexer.xrd.twins import update_twins

    tw = update_twins(service.store)
    result["twin_table_s"] = tw.seconds
    result["twin_pairs_correlated"] = tw.pairs_checked
    result["twin_pairs"] = tw.pairs

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
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
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
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    result["query_user_ms_mean"] = round((ru1.ru_utime - ru0.ru_utime) * 1000.0 / len(files), 1)
    result["query_sys_ms_mean"] = round((ru1.ru_stime - ru0.ru_stime) * 1000.0 / len(files), 1)
    result["query_minor_faults_mean"] = round((ru1.ru_minflt - ru0.ru_minflt) / len(files), 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 1)
    result["queries"] = len(lat)
    service.close()
    cache_dir(tmp).unlink()  # the symlink to the data dir's peak cache, not the cache
    shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_xrd.json").write_text(json.dumps(result, indent=1))
    for k, v in result.items():
        if k == "machine" and isinstance(v, dict):
            v = f"{v.get('cpu_model')}, {v.get('cpu_count')} CPUs, load {v.get('load_avg_start')}"
        print(f"{k:<24} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
