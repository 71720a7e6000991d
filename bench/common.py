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


class MemorySampler:
    """Peak memory of this process, sampled every ``interval`` s from a child process (a thread would not run while
    Qdrant Edge's optimize holds the GIL). Reports total RSS, its anonymous part and PSS. RSS also counts file pages
    mapped from disk (memory-mapped vectors) that the kernel can drop under pressure, and it counts a page once per
    mapping: Qdrant Edge maps its vector files twice (a read-only and a read-write mapping of the same file), so
    RSS counts those pages twice. PSS (``smaps_rollup``) counts each physical page once."""

    def __init__(self, interval: float = 0.5) -> None:
        import subprocess
        import sys

        code = (
            "import sys, time\n"
            f"pid = {os.getpid()}\n"
            "peak = {'VmRSS': 0, 'RssAnon': 0, 'RssFile': 0, 'Pss': 0}\n"
            "while True:\n"
            "    try:\n"
            "        lines = open(f'/proc/{pid}/status').read().splitlines()\n"
            "        lines += open(f'/proc/{pid}/smaps_rollup').read().splitlines()\n"
            "    except OSError:\n"
            "        break\n"
            "    for ln in lines:\n"
            "        k = ln.split(':')[0]\n"
            "        if k in peak:\n"
            "            peak[k] = max(peak[k], int(ln.split()[1]))\n"
            "    print(peak['VmRSS'], peak['RssAnon'], peak['RssFile'], peak['Pss'], flush=True)\n"
            f"    time.sleep({interval})\n"
        )
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    def stop(self) -> dict[str, float]:
        """Peak RSS, anonymous RSS, file-backed RSS and PSS in MiB since the start."""
        self._proc.terminate()
        out, _ = self._proc.communicate(timeout=10)
        # whole lines only: the child can be stopped in the middle of printing one
        last = [ln.split() for ln in out.splitlines() if len(ln.split()) == 4]
        rss, anon, file_, pss = (int(v) for v in last[-1]) if last else (0, 0, 0, 0)
        return {
            "peak_rss_mib": round(rss / 1024, 1),
            "peak_anon_mib": round(anon / 1024, 1),
            "peak_file_mib": round(file_ / 1024, 1),
            "peak_pss_mib": round(pss / 1024, 1),
        }
