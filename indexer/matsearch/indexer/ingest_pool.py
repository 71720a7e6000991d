"""Worker processes for the CPU-bound part of figure ingestion; the calling process stays the only store writer.

A run of at least ``MIN_FIGURES`` figures with ``workers`` > 0 (the ``ingest_workers`` setting; by default one per
core, at most 4) sends chunks of ``CHUNK`` figures to a pool of spawned processes. Each worker holds its own
encoders and OCR engines with **one** thread each (parallelism comes from the processes, not from threads that
fight for the same two cores), decodes every figure once, splits it, reads labels and scale bars, encodes the
panels and writes the panel image files (content-addressed, atomic renames: safe from several processes). What
comes back is plain data — point ids, vectors, payloads — which the parent upserts in order.

The pool is created on first use (or by :func:`start`, e.g. when a server starts) and kept for the life of the
process; ``shutdown()`` ends it. Each worker warms itself up in its initialiser — imports, encoder sessions, OCR
engines, the digitiser's modules — so the first figures are not slowed by loading (``IngestPool.wait_ready``
blocks until every worker is warm). Figures go to the workers one per task (the real figures of a paper differ
tenfold in cost, so bigger chunks left one worker idle at the end of a run) as soon as the source yields them,
so parsing a PDF overlaps with extracting its first figures. A worker exits by itself when its parent dies (a
killed server leaves no workers behind). Worker CPU time is reported per stage alongside the parent's
(``FigureIngestor.stages``).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import TYPE_CHECKING

from matsearch.core.settings import Settings
from matsearch.indexer.items import Extracted, FigureItem, Stages

if TYPE_CHECKING:
    from matsearch.indexer.context import IngestContext

Work = Callable[[Settings, list[FigureItem]], tuple[list[Extracted], Stages]]
Warm = Callable[[Settings | None], None]  # run once in each worker at start (models loaded); module-level: it pickles

MIN_FIGURES = 8  # smaller runs stay in process: starting workers costs more than it saves
CHUNK = 1  # figures per task: the best balance between workers (encoders gain nothing from bigger batches)
PARENT_POLL_S = 1.0  # how often a worker checks that its parent is still alive
MAX_AUTO_WORKERS = 4

_LOCK = threading.Lock()
_POOL: IngestPool | None = None


def auto_workers() -> int:
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))


def get_pool(ctx: IngestContext, workers: int | None, n_figures: int, warm: Warm | None = None) -> IngestPool | None:
    """The shared pool for ``ctx``'s settings, or None when this run should stay in process. ``warm`` runs in each
    new worker before its first task (``pipeline.warm_worker``; passed in, so that this module does not import the
    pipeline that imports it)."""
    global _POOL
    settings = ctx.settings
    n = settings.ingest_workers if workers is None else workers
    if n < 0:
        n = auto_workers()
    if n < 1 or n_figures < MIN_FIGURES:
        return None
    with _LOCK:
        if _POOL is not None and _POOL.workers != n:
            _POOL.close()
            _POOL = None
        if _POOL is None:
            for name in ("efficientnet-lite0", "sketch", "all-minilm-l6-v2"):
                ctx.encoder(name).load()  # exports the ONNX files once, here, before workers look for them
            _POOL = IngestPool(n, settings, warm)
        return _POOL


def running(ctx: IngestContext, workers: int | None) -> IngestPool | None:
    """The shared pool if it is already running with the worker count this run asks for (then even a short run
    uses it, and the input is streamed to it without first counting ``MIN_FIGURES`` items)."""
    n = ctx.settings.ingest_workers if workers is None else workers
    if n < 0:
        n = auto_workers()
    with _LOCK:
        return _POOL if _POOL is not None and n >= 1 and _POOL.workers == n else None


def start(
    ctx: IngestContext, workers: int | None = None, *, warm: Warm | None = None, wait: bool = True
) -> IngestPool | None:
    """Start the shared pool now (a server at start-up, a bench before its clock starts) instead of on the first
    large ingest (``pipeline.start_workers`` passes its warm-up); ``wait``: until every worker has run ``warm``.
    None when ``workers`` (or the settings) say 0."""
    pool = get_pool(ctx, workers, MIN_FIGURES, warm)
    if pool is not None and wait:
        pool.wait_ready()
    return pool


def shutdown() -> None:
    """End the shared pool's workers (also run at interpreter exit)."""
    global _POOL
    with _LOCK:
        if _POOL is not None:
            _POOL.close()
            _POOL = None


atexit.register(shutdown)


class IngestPool:
    """Spawned workers (never forked: the parent may hold ONNX/torch thread pools). Settings travel with each task,
    so one pool serves every data directory of the process."""

    def __init__(self, workers: int, settings: Settings | None = None, warm: Warm | None = None) -> None:
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init,
            initargs=(os.getpid(), settings.model_dump_json() if settings is not None else None, warm),
        )

    def wait_ready(self, timeout: float = 600.0) -> list[int]:
        """Spawn every worker and wait until each has run its initialiser (models loaded); their pids."""
        deadline = time.monotonic() + timeout
        pids: set[int] = set()
        while len(pids) < self.workers:
            # one short task per missing worker: submitting spawns the processes; a task lands on a worker only
            # after its initialiser has finished, and each task holds its worker briefly so the others get theirs
            futures = [self._executor.submit(_ready, 0.2) for _ in range(self.workers - len(pids))]
            for fut in futures:
                pids.add(fut.result(timeout=max(1.0, deadline - time.monotonic())))
            if time.monotonic() > deadline:
                raise TimeoutError(f"ingest workers not ready after {timeout:g} s")
        return sorted(pids)

    def run(
        self, settings: Settings, items: Iterator[FigureItem], batch_size: int, work: Work
    ) -> Iterator[tuple[list[FigureItem], list[Extracted], Stages]]:
        """(batch, results, worker CPU seconds per stage) per ``batch_size`` figures, in input order; ``work`` (a
        module-level function, so that it pickles) runs in the workers on chunks of a batch. At most two batches are
        in flight, so memory stays bounded however long the input is."""
        pending: list[tuple[list[FigureItem], list[Future[tuple[list[Extracted], Stages]]]]] = []

        def submit() -> bool:
            # each chunk goes to the workers as soon as the source has yielded it (a PDF is still being parsed
            # while its first figures are extracted)
            batch: list[FigureItem] = []
            futures: list[Future[tuple[list[Extracted], Stages]]] = []
            while len(batch) < batch_size:
                chunk = list(islice(items, min(CHUNK, batch_size - len(batch))))
                if not chunk:
                    break
                batch.extend(chunk)
                futures.append(self._executor.submit(work, settings, chunk))
            if not batch:
                return False
            pending.append((batch, futures))
            return True

        submit()
        submit()
        while pending:
            batch, futures = pending.pop(0)
            extracted: list[Extracted] = []
            stages: dict[str, float] = {}
            for fut in futures:
                part, part_stages = fut.result()
                extracted.extend(part)
                for k, v in part_stages.items():
                    stages[k] = stages.get(k, 0.0) + v
            submit()
            yield batch, extracted, stages

    def cpu_seconds(self) -> float:
        """User + system CPU time of the live workers so far (for the bench's CPU-s per figure)."""
        import psutil

        total = 0.0
        for proc in list((getattr(self._executor, "_processes", None) or {}).values()):
            try:
                t = psutil.Process(proc.pid).cpu_times()
                total += t.user + t.system
            except (psutil.Error, ValueError):
                continue
        return total

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


# -- in the worker --------------------------------------------------------------------------------------------------


def _init(parent_pid: int, settings_json: str | None, warm: Warm | None) -> None:
    _watch_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"  # ONNX sessions get one thread from the settings (pipeline.worker_settings)
    one_thread()
    if warm is not None:
        warm(Settings.model_validate_json(settings_json) if settings_json else None)
        one_thread()  # and the pools of libraries the warm-up loaded


def one_thread() -> None:
    """Every thread pool of this worker to one thread: torch, OpenCV (by default one thread per core, so a worker's
    resizes, blurs and morphology handed rows to a helper thread that competed with the other worker for the same
    two cores) and OpenBLAS: numpy's is loaded before the initialiser runs and never saw ``OMP_NUM_THREADS``
    (limited here by threadpoolctl); libraries loaded later (scipy's) read ``OPENBLAS_NUM_THREADS``. The workers
    are the parallelism; a pool inside one only adds hand-offs. Results do not depend on it (the ingest bench's
    and the real dev figures' extraction outputs are identical, docs/benchmarks.md)."""
    import cv2
    import threadpoolctl
    import torch

    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    threadpoolctl.threadpool_limits(1)


def _ready(hold_s: float) -> int:
    time.sleep(hold_s)
    return os.getpid()


def _watch_parent(parent_pid: int) -> None:
    """Exit when the parent process is gone (killed with -9, crashed): a daemon thread polls the parent pid, since
    an orphaned worker is re-parented and would otherwise wait for tasks forever, holding its models in memory."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="matsearch-parent-watch", daemon=True).start()
