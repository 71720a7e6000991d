"""The ingest worker pool (issue 15): started ahead of time, every worker warm; workers go when their parent dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from matsearch.core.settings import Settings
from matsearch.indexer import ingest_pool
from matsearch.indexer.items import FigureItem
from matsearch.indexer.pipeline import FigureIngestor, start_workers, warm_figures
from matsearch.server.service import Service

ROOT = Path(__file__).resolve().parents[1]


def _thread_pools() -> tuple[int, list[int]]:
    """In a worker: OpenCV's thread count and the thread count of every loaded BLAS/OpenMP pool."""
    import cv2
    import threadpoolctl

    return cv2.getNumThreads(), [int(i["num_threads"]) for i in threadpoolctl.threadpool_info()]


def test_started_pool_is_warm_and_streams_short_runs(tmp_path: Path) -> None:
    service = Service(Settings(data_dir=tmp_path / "data", ingest_workers=1))
    try:
        pool = start_workers(service, 1)
        assert pool is not None and len(pool.wait_ready()) == 1
        assert ingest_pool.running(service, 1) is pool and ingest_pool.running(service, 0) is None
        # one thread in every pool of the worker: OpenCV's and each OpenBLAS (numpy's loads before the initialiser)
        cv2_threads, blas = pool._executor.submit(_thread_pools).result(timeout=60)  # noqa: SLF001
        assert cv2_threads == 1 and blas and set(blas) == {1}
        # the warm-up figures themselves: a micrograph with a scale bar and a line plot, read in the worker
        items = [FigureItem(data=d, name=f"w{k}.png", caption="Warm-up figure.") for k, d in enumerate(warm_figures())]
        ingestor = FigureIngestor(service)
        report = ingestor.ingest(items)  # 2 figures < MIN_FIGURES, but the running pool takes them
        assert report.items == 2 and not report.skipped
        assert ingestor.stages["digitise graph panels"] > 0 and ingestor.stages["scale bars"] > 0
        points = service.store.retrieve("figures", report.ids)
        assert sorted(p.payload["type"] for p in points) == ["graph", "microscopy"]
        assert [p.payload["scale"]["value"] for p in points if p.payload["scale"]] == [100.0]
    finally:
        ingest_pool.shutdown()
        service.close()


def test_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from matsearch.core.settings import Settings
        from matsearch.indexer.pipeline import start_workers
        from matsearch.server.service import Service

        if __name__ == "__main__":
            service = Service(Settings(data_dir=Path({str(tmp_path / "data")!r}), ingest_workers=1))
            pool = start_workers(service, 1)
            print(" ".join(map(str, pool.wait_ready())), flush=True)
            time.sleep(600)
        """
    )
    path = tmp_path / "parent.py"
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 1 and all(psutil.pid_exists(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 60  # the watch polls every PARENT_POLL_S; a generous bound on a loaded machine
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.5)
            alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert alive == []
    finally:
        if parent.poll() is None:
            parent.kill()
