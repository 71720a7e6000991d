"""Build the ``stem`` collection: simulate each library structure along its zone axes, encode, upsert.

One point per (structure, zone axis): a clean HAADF reference image at the library pixel size (0.25 Å/px, 96 px,
100 Å thick, 0.9 Å probe, random in-plane rotation seeded by the point id). Point ids derive from the structure id
and zone axis; ``build_key`` (structure content hash + simulator and encoder versions) lets a re-run skip points
that are already current, so an interrupted build resumes where it stopped. A full build (no ``limit``) then deletes
the library points it did not write: structures the library no longer holds and zone axes no longer chosen
(``drop_stale``), so re-building the same library leaves exactly its views.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from matsearch.core.ids import point_id
from matsearch.core.schemas import IngestReport, IngestSkip
from matsearch.encoders.stem import LAT_VERSION, lattice_harmonics, lattice_polar, pack_harmonics
from matsearch.encoders.stem_lattice import LATTICE_VERSION, cell_of, measure
from matsearch.encoders.stem_library import LATTICE_ALT_KEY, LATTICE_KEY, LIBRARY_PX, MOTIF_KEY, SPOTS_KEY
from matsearch.encoders.stem_motif import ABF_EXP, HAADF_EXP, MOTIF_VERSION, view_motif
from matsearch.indexer.context import BuildOptions, IngestContext
from matsearch.indexer.stem.simulate import SimParams, random_params, render
from matsearch.indexer.stem.views import VIEWS_VERSION, View, cached_views
from matsearch.indexer.stem.zones import zone_label
from matsearch.indexer.structures import StructureLibrary
from matsearch.store.base import CollectionSpec, PointRecord, VectorSpec, delete_stale

SIM_VERSION = "stem-sim-1"
COLLECTION = "stem"
ENCODER = "stem-fused"


def stem_spec() -> CollectionSpec:
    """The ``stem`` collection as core/collections.py declares it, with the vector size of the fused encoder
    (identical once core's STEM spec says 288)."""
    from matsearch.encoders.stem import FUSED_DIM
    from matsearch.store.collections import STEM

    return replace(STEM, vectors=(VectorSpec("stem", FUSED_DIM, "cosine"),))


def library_params(pid: str) -> SimParams:
    seed = int(hashlib.sha256(pid.encode()).hexdigest()[:8], 16)
    return random_params(np.random.default_rng(seed), "library")


# Alternate references of every view, rendered like the clean one (same rotation and seed) but thick or in ABF
# contrast: a query's spot intensities follow its thickness (channelling saturates heavy columns, the beam spreads)
# and its detector (ABF weighs columns ~Z^0.6, light atoms show), which one clean 100 Å HAADF reference does not
# cover; the re-rank takes the best of the three spectra (on the synthetic tune split thick queries, > 260 Å, were
# top-5 0.78 against 0.95 for thin ones; docs/stem.md, session 7).
ALT_REFERENCES: tuple[dict[str, Any], ...] = ({"thickness": 300.0}, {"mode": "abf"})


def alternate_references(view: View, params: SimParams) -> list[np.ndarray]:
    """The view rendered with each of ``ALT_REFERENCES`` applied to its library acquisition ``params``."""
    return [render(view.projection, replace(params, **alt)) for alt in ALT_REFERENCES]


def lattice_payload(img: np.ndarray, view: View, params: SimParams | None = None) -> dict[str, Any]:
    """What the physics re-rank (``matsearch.search.stem_physics``) and the answer need from a reference image:
    the projected cell of the zone axis, the cell visible in the image (measured like a query's), the image's
    lattice spots (Å⁻¹) and the angular harmonics of its lattice spectrum; with the library acquisition
    ``params``, also the spectra of the alternate references (``ALT_REFERENCES``)."""
    visible, spots = measure(img, LIBRARY_PX)
    proj = view.projection
    projected = cell_of(proj.basis)
    motif = view_motif(proj.basis, proj.col_frac, proj.column_weights(HAADF_EXP), proj.column_weights(ABF_EXP))
    return {
        "projected_cell": {"a": round(projected.a, 3), "b": round(projected.b, 3), "gamma": round(projected.gamma, 1)},
        "visible_cell": visible.to_payload() if visible is not None else None,
        SPOTS_KEY: spots.to_payload(24),
        LATTICE_KEY: pack_harmonics(lattice_harmonics(lattice_polar(img, LIBRARY_PX))),
        MOTIF_KEY: motif.to_payload() if motif is not None else None,
        LATTICE_ALT_KEY: None
        if params is None
        else pack_harmonics(
            np.stack([lattice_harmonics(lattice_polar(a, LIBRARY_PX)) for a in alternate_references(view, params)])
        ),
    }


def view_point_id(structure_id: str, zone: tuple[int, int, int]) -> str:
    return point_id("stem", structure_id, list(zone))


def _weights_tag() -> str:
    try:
        from matsearch.encoders.weights import WEIGHTS

        sha = WEIGHTS["stem-cnn"].sha256
        return (sha or "unchecked")[:12]
    except KeyError:
        return "none"


def build_stem(ctx: IngestContext, library: StructureLibrary, options: BuildOptions) -> IngestReport:
    """Library builder for ``stem`` (``matsearch library build``): see the module docstring."""
    entries = list(library)
    stats = build_stem_points(
        ctx,
        entries,
        workers=options.workers,
        progress=options.progress,
        force=options.force,
        cache_dir=ctx.settings.data_dir / "cache",
        # a full build: the collection's library part is exactly these views (a `limit` build is a sample)
        drop_stale_sources=options.sources if options.limit is None else None,
    )
    report = IngestReport(
        collection=COLLECTION,
        items=len(entries),
        points=stats["points_written"],
        new_points=stats["points_new"],
        unchanged=stats["points_current"],
    )
    report.stale_deleted = stats["stale_deleted"]
    report.count = ctx.store.count(COLLECTION)
    for sid in stats["no_views"]:
        report.skipped.append(IngestSkip(item=sid, reason="no zone axis could be projected"))
    return report


def drop_stale(ctx: Any, keep: set[str], sources: Sequence[str]) -> int:
    """Delete the ``stem`` points of structures from ``sources`` whose id is not in ``keep`` (the view ids the build
    just wrote or found current): structures removed from the library, zone axes no longer selected for a structure
    (a new ``select_zones``), structures that no longer project. Points of other sources are left alone. Returns how
    many points went."""
    return delete_stale(ctx.store, COLLECTION, keep, sources)


def build_stem_points(
    ctx: Any,
    entries: Sequence[Any],
    *,
    batch_size: int = 256,
    store_images: bool = True,
    workers: int = 2,
    progress: bool = False,
    force: bool = False,
    cache_dir: Path | None = None,
    drop_stale_sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Simulate, encode and upsert every (structure, zone axis) view of ``entries``; returns counts and timings.
    With ``drop_stale_sources``, ``entries`` is the whole library of those sources: afterwards their points that
    are not views of ``entries`` are deleted (``drop_stale``; count in ``stale_deleted``)."""
    t0 = time.time()
    ctx.store.ensure_collection(stem_spec())
    by_id = {e.id: e for e in entries}
    views: list[View] = cached_views(
        entries, cache_dir=(cache_dir / "stem") if cache_dir else None, workers=workers, force=force
    )
    no_views = sorted(set(by_id) - {v.structure_id for v in views})
    t_views = time.time() - t0
    encoder = ctx.encoder(ENCODER)
    tag = f"{SIM_VERSION}:{_weights_tag()}:{LAT_VERSION}:{LATTICE_VERSION}:{MOTIF_VERSION}:{VIEWS_VERSION}"
    done = skipped = new = 0
    sim_s = enc_s = 0.0
    bar = tqdm(total=len(views), desc="index STEM", unit="image", disable=not progress, file=sys.stderr)
    for start in range(0, len(views), batch_size):
        chunk = views[start : start + batch_size]
        ids = [view_point_id(v.structure_id, v.zone) for v in chunk]
        keys = [f"{tag}:{by_id[v.structure_id].content_hash[:16]}" for v in chunk]
        existing = {p.id: p.payload.get("build_key") for p in ctx.store.retrieve(COLLECTION, ids)}
        todo = [i for i, pid in enumerate(ids) if force or existing.get(pid) != keys[i]]
        skipped += len(chunk) - len(todo)
        new += sum(1 for i in todo if ids[i] not in existing)
        if todo:
            t1 = time.time()
            imgs, params = [], []
            for i in todo:
                p = library_params(ids[i])
                imgs.append(render(chunk[i].projection, p))
                params.append(p)
            t2 = time.time()
            vecs = encoder.encode(imgs)
            t3 = time.time()
            sim_s += t2 - t1
            enc_s += t3 - t2
            points = []
            for j, i in enumerate(todo):
                v = chunk[i]
                payload = by_id[v.structure_id].payload()
                payload.update(
                    {
                        "zone_axis": zone_label(v.zone),
                        "zone": list(v.zone),
                        "zone_period": round(v.projection.period, 4),
                        "nm_per_px": LIBRARY_PX / 10.0,
                        "simulation": params[j].to_payload() | {"version": SIM_VERSION, "model": "incoherent"},
                        "kind": "simulated",
                        "build_key": keys[i],
                        "zone_reason": v.reason,
                        **lattice_payload(imgs[j], v, params[j]),
                    }
                )
                if store_images:
                    img8 = Image.fromarray((imgs[j] * 255).astype(np.uint8), mode="L")
                    payload["image_sha256"] = ctx.images.put_image(img8)
                points.append(PointRecord(id=ids[i], vectors={"stem": vecs[j]}, payload=payload))
            ctx.store.upsert(COLLECTION, points)
            done += len(points)
        bar.update(len(chunk))
    bar.close()
    stale = 0
    if drop_stale_sources is not None:
        stale = drop_stale(ctx, {view_point_id(v.structure_id, v.zone) for v in views}, drop_stale_sources)
    return {
        "collection": COLLECTION,
        "structures": len({v.structure_id for v in views}),
        "no_views": no_views,
        "points_written": done,
        "points_new": new,
        "points_current": skipped,
        "views": len(views),
        "stale_deleted": stale,
        "seconds": round(time.time() - t0, 1),
        "seconds_views": round(t_views, 1),
        "seconds_simulate": round(sim_s, 1),
        "seconds_encode": round(enc_s, 1),
    }
