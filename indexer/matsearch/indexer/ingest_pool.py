"""Worker processes for the CPU-bound part of figure ingestion; the calling process stays the only store writer.

A run of at least ``MIN_FIGURES`` figures with ``workers`` > 0 (the ``ingest_workers`` setting; by default one per
core, at most 4) sends chunks of ``CHUNK`` figures to a pool of spawned processes. Each worker holds its own
encoders and OCR engines with **one** thread each (parallelism comes from the processes, not from threads that
fight for the same two cores), decodes every figure once, splits it, reads labels and scale bars, encodes the
panels and writes the panel image files (content-addressed, atomic renames: safe from several processes). What
comes back is plain data — point ids, vectors, payloads — which the parent upserts in order.

The pool is created on first use and kept for the life of the process (a server pays the start-up — importing
torch and loading models, several seconds per worker — once); ``shutdown()`` ends it. Worker CPU time is
reported per stage alongside the parent's (``FigureIngestor.stages``).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from typing import TYPE_CHECKING

from matsearch.core.settings import Settings
from matsearch.indexer.items import Extracted, FigureItem, Stages

if TYPE_CHECKING:
    from matsearch.indexer.context import IngestContext

Work = Callable[[Settings, list[FigureItem]], tuple[list[Extracted], Stages]]

MIN_FIGURES = 8  # smaller runs stay in process: starting workers costs more than it saves
CHUNK = 4  # figures per task (the unit of work a worker encodes in one batch)
MAX_AUTO_WORKERS = 4

_LOCK = threading.Lock()
_POOL: IngestPool | None = None


def auto_workers() -> int:
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))


def get_pool(ctx: IngestContext, workers: int | None, n_figures: int) -> IngestPool | None:
    """The shared pool for ``ctx``'s settings, or None when this run should stay in process."""
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
            for name in ("efficientnet-lite0", "all-minilm-l6-v2"):
                ctx.encoder(name).load()  # exports the ONNX files once, here, before workers look for them
            _POOL = IngestPool(n)
        return _POOL


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

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init)

    def run(
        self, settings: Settings, items: Iterator[FigureItem], batch_size: int, work: Work
    ) -> Iterator[tuple[list[FigureItem], list[Extracted], Stages]]:
        """(batch, results, worker CPU seconds per stage) per ``batch_size`` figures, in input order; ``work`` (a
        module-level function, so that it pickles) runs in the workers on chunks of a batch. At most two batches are
        in flight, so memory stays bounded however long the input is."""
        pending: list[tuple[list[FigureItem], list[Future[tuple[list[Extracted], Stages]]]]] = []

        def submit() -> bool:
            batch = list(islice(items, batch_size))
            if not batch:
                return False
            chunks = [batch[i : i + CHUNK] for i in range(0, len(batch), CHUNK)]
            pending.append((batch, [self._executor.submit(work, settings, c) for c in chunks]))
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


def _init() -> None:
    os.environ["MATSEARCH_ONNX_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    import matsearch.indexer.figures.panels  # noqa: F401 - import the extraction code before the first task
