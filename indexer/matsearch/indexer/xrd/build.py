"""The ``xrd`` collection: simulate every library structure (in parallel, cached on disk), encode, upsert.

Registered as the ``xrd`` library builder (``matsearch library build``); ``ingest_entries`` also serves
``matsearch ingest cif``. Every point carries a ``build_key`` (its payload, the simulation and the encoder's weights
and code): a re-build writes only the points whose key changed, so re-building the same library writes nothing and
the store does not grow with rebuilds; a full build then deletes its sources' points that the library no longer
holds (``drop_stale``).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from matsearch.core.ids import point_id
from matsearch.core.schemas import IngestReport, IngestSkip
from matsearch.encoders.xrd import LIB_WAVELENGTH, TWO_THETA_MAX, TWO_THETA_MIN
from matsearch.indexer.context import BuildOptions, IngestContext
from matsearch.indexer.structures import StructureEntry, StructureLibrary
from matsearch.indexer.xrd.simulate import (
    PeakList,
    cache_dir,
    cached_peaks,
    library_profile,
    simulate_peaks,
    store_peaks,
)
from matsearch.store.base import PointRecord, delete_stale

COLLECTION = "xrd"
VECTOR = "xrd"
ENCODER = "xrd-cnn"  # which registered encoder fills the ``xrd`` vector (``xrd-profile``: the untrained baseline)
MAX_PAYLOAD_PEAKS = 200  # strongest reflections kept in the payload for re-ranking and mixture subtraction


def _simulate_one(args: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any] | str]:
    content_hash, structure_dict = args
    try:
        from pymatgen.core import Structure

        peaks = simulate_peaks(Structure.from_dict(structure_dict))
        return content_hash, peaks.to_json()
    except Exception as exc:  # one bad structure must not stop a library build
        return content_hash, f"{type(exc).__name__}: {exc}"


def simulate_entries(
    entries: Sequence[StructureEntry],
    data_dir: Path,
    *,
    workers: int = 2,
    progress: bool = True,
    force: bool = False,
) -> tuple[dict[str, PeakList], dict[str, str]]:
    """Peak lists for the entries (by entry id), from the disk cache or simulated with ``workers`` processes.
    Returns (peaks, errors by entry id)."""
    from tqdm import tqdm

    directory = cache_dir(data_dir)
    out: dict[str, PeakList] = {}
    errors: dict[str, str] = {}
    todo: dict[str, list[StructureEntry]] = {}
    for e in entries:
        hit = None if force else cached_peaks(directory, e.content_hash)
        if hit is not None:
            out[e.id] = hit
        else:
            todo.setdefault(e.content_hash, []).append(e)
    if todo:
        jobs = [(h, es[0].structure.as_dict()) for h, es in todo.items()]
        bar = tqdm(total=len(jobs), desc="simulate XRD", unit="structure", disable=not progress, file=sys.stderr)
        results: Iterable[tuple[str, dict[str, Any] | str]]
        if workers > 1 and len(jobs) > 8:
            ctx = mp.get_context("spawn" if sys.platform == "darwin" else "fork")
            pool = ctx.Pool(workers)
            results = pool.imap_unordered(_simulate_one, jobs, chunksize=8)
        else:
            pool = None
            results = map(_simulate_one, jobs)
        try:
            for content_hash, result in results:
                bar.update(1)
                if isinstance(result, str):
                    for e in todo[content_hash]:
                        errors[e.id] = result
                    continue
                peaks = PeakList.from_json(result)
                store_peaks(directory, content_hash, peaks)
                for e in todo[content_hash]:
                    out[e.id] = peaks
        finally:
            bar.close()
            if pool is not None:
                pool.close()
                pool.join()
    for e in entries:
        if e.id in out and out[e.id].two_theta.size == 0:
            del out[e.id]
            errors[e.id] = f"no reflections between {TWO_THETA_MIN:g} and {TWO_THETA_MAX:g}° 2θ"
    return out, errors


def xrd_payload(entry: StructureEntry, peaks: PeakList) -> dict[str, Any]:
    order = np.argsort(-peaks.intensity)[:MAX_PAYLOAD_PEAKS]
    order = np.sort(order)
    payload = entry.payload()
    payload.update(
        {
            "wavelength": LIB_WAVELENGTH,
            "two_theta_range": [TWO_THETA_MIN, TWO_THETA_MAX],
            "main_peaks": peaks.main_peaks(10),
            "peaks": {
                "two_theta": [round(float(x), 4) for x in peaks.two_theta[order]],
                "d": [round(float(x), 5) for x in peaks.d[order]],
                "intensity": [round(float(x), 3) for x in peaks.intensity[order]],
                "hkl": [peaks.hkl[i] for i in order],
            },
            "npeaks": int(peaks.two_theta.size),
        }
    )
    return payload


def _encoder_tag() -> str:
    """What a point depends on besides its structure entry: the encoder's weights and code, the simulation and the
    rendering of the library profile (``simulate.py``) and the payload's layout (this module); a change of any of
    them makes every point's ``build_key`` new."""
    from matsearch.encoders import xrd as xrd_grid
    from matsearch.encoders import xrd_cnn
    from matsearch.encoders.weights import WEIGHTS
    from matsearch.indexer.xrd import simulate

    h = hashlib.sha256(f"{ENCODER}:{WEIGHTS[ENCODER].sha256 if ENCODER in WEIGHTS else ''}".encode())
    for mod in (xrd_cnn, xrd_grid, simulate, sys.modules[__name__]):
        h.update(Path(str(mod.__file__)).read_bytes())
    return h.hexdigest()[:16]


def build_key(entry: StructureEntry, encoder_tag: str) -> str:
    """The point's content version: the entry's structure (content hash) and payload (provenance, labels) and the
    encoder tag. Known before any simulation, so a re-build skips current points without reading their peaks."""
    body = json.dumps(entry.payload(), sort_keys=True, default=str)
    return f"{encoder_tag}:{entry.content_hash[:16]}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def xrd_point_id(entry: StructureEntry) -> str:
    return point_id("xrd", entry.id, entry.content_hash, LIB_WAVELENGTH, TWO_THETA_MIN, TWO_THETA_MAX)


def ingest_entries(
    ctx: IngestContext,
    entries: Sequence[StructureEntry],
    *,
    workers: int = 2,
    progress: bool = True,
    force: bool = False,
    batch_size: int = 256,
    on_progress: Callable[[int], None] | None = None,
    twins: bool = True,
) -> IngestReport:
    """Simulate, encode and upsert ``entries`` into the ``xrd`` collection (idempotent); ``twins``: then bring the
    collection's twin table (``twins.update_twins``) up to date."""
    from tqdm import tqdm

    ctx.ensure_collection(COLLECTION)
    report = IngestReport(collection=COLLECTION, items=len(entries))
    tag = _encoder_tag()
    keys = {e.id: build_key(e, tag) for e in entries}
    all_ids = [xrd_point_id(e) for e in entries]
    existing: dict[str, Any] = {}
    for start in range(0, len(all_ids), 1000):
        existing.update(
            (r.id, r.payload.get("build_key")) for r in ctx.store.retrieve(COLLECTION, all_ids[start : start + 1000])
        )
    # only what changed is simulated (from the cache) and written (new structures, new payloads, a new encoder): a
    # re-build of the same library writes nothing, so the store does not accumulate rewritten points
    current = [e for e, pid in zip(entries, all_ids, strict=True) if not force and existing.get(pid) == keys[e.id]]
    current_ids = {e.id for e in current}
    stale_entries = [e for e in entries if e.id not in current_ids]
    peaks, errors = simulate_entries(
        stale_entries, ctx.settings.data_dir, workers=workers, progress=progress, force=force
    )
    for sid, reason in errors.items():
        report.skipped.append(IngestSkip(item=sid, reason=reason))
    good = [e for e in entries if e.id in current_ids or e.id in peaks]
    ids = [xrd_point_id(e) for e in good]
    todo = [i for i, e in enumerate(good) if e.id not in current_ids]
    payloads: dict[int, dict[str, Any]] = {}
    for i in todo:
        payloads[i] = xrd_payload(good[i], peaks[good[i].id])
        payloads[i]["build_key"] = keys[good[i].id]
    encoder = ctx.encoder(ENCODER) if todo else None
    bar = tqdm(total=len(good), desc="index XRD", unit="pattern", disable=not progress, file=sys.stderr)
    bar.update(len(good) - len(todo))
    if on_progress is not None and len(todo) < len(good):
        on_progress(len(good) - len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        assert encoder is not None
        profiles = np.stack([library_profile(peaks[good[i].id]) for i in batch])
        vectors = encoder.encode(list(profiles))
        points = [
            PointRecord(id=ids[i], vectors={VECTOR: vec}, payload=payloads[i])
            for i, vec in zip(batch, vectors, strict=True)
        ]
        ctx.store.upsert(COLLECTION, points)
        bar.update(len(batch))
        if on_progress is not None:
            on_progress(len(batch))
    bar.close()
    report.points = len(todo)
    report.unchanged = len(good) - len(todo)
    report.new_points = len([i for i in ids if i not in existing])
    report.ids = ids if len(ids) <= 1000 else []
    report.count = ctx.store.count(COLLECTION)
    if twins:  # only points were added or rewritten here: their pairs alone (the others' tables are kept)
        _update_twins(ctx, progress, added={ids[i] for i in todo})
    return report


def _update_twins(ctx: IngestContext, progress: bool, added: set[str] | None = None) -> None:
    from matsearch.indexer.xrd.twins import update_twins

    update_twins(ctx.store, (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else None, added)


def build_xrd(ctx: IngestContext, library: StructureLibrary, options: BuildOptions) -> IngestReport:
    report = ingest_entries(
        ctx, list(library), workers=options.workers, progress=options.progress, force=options.force, twins=False
    )
    if options.limit is None:  # a full build: the collection's library part is exactly this library
        report.stale_deleted = drop_stale(ctx, library, options.sources)
        report.count = ctx.store.count(COLLECTION)
    _update_twins(ctx, options.progress)  # over what the collection now holds (removed phases leave their groups)
    ctx.store.optimize(COLLECTION)
    return report


def drop_stale(ctx: IngestContext, library: StructureLibrary, sources: Sequence[str]) -> int:
    """Delete the points of structures from ``sources`` that ``library`` no longer holds (removed or superseded
    since the last build, or changed: a point id carries the structure's content hash). Users' own structures
    (``matsearch ingest cif``, source ``user``) are never touched. Returns how many points went."""
    keep = {xrd_point_id(e) for e in library}
    return delete_stale(ctx.store, COLLECTION, keep, sources)
