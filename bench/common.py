"""Small helpers shared by the benchmarks: percentiles, machine info, RSS."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import psutil


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit numpy's BLAS threads (None: leave as is). On a loaded machine threaded BLAS can be 100x slower than
    one thread on small matrix-vector products, so data generation and ground truth run single-threaded."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    if n is None:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def ms_stats(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean/max of per-request latencies, in milliseconds."""
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    if arr.size == 0:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "mean_ms": float("nan"), "max_ms": float("nan")}
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "mean_ms": round(float(arr.mean()), 3),
        "max_ms": round(float(arr.max()), 3),
    }


def rss_mib(pid: int | None = None) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def machine_info() -> dict[str, Any]:
    """Where and when: the machine is shared, so the load average at start matters for every number."""
    vm = psutil.virtual_memory()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "mem_total_gib": round(vm.total / 2**30, 1),
        "mem_available_gib_start": round(vm.available / 2**30, 1),
        "numpy": np.__version__,
        "qdrant_edge_py": _version("qdrant-edge-py"),
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def dir_size_mib(path: str | os.PathLike[str]) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return round(total / 2**20, 1)
