"""Literature spectra search: "which papers show a pattern like mine?" over the ``spectra`` collection.

The ``spectra`` collection holds every series digitised from a graph panel at ingest (``matsearch.indexer.plots``).
An XRD pattern (a file, or arrays in 2θ) is embedded exactly as those series were: background removed on the
structure library's grid (``encoders.xrd_pattern.preprocess``) and encoded by the library's XRD encoder, then
compared with the ``xrd`` vectors of literature XRD panels; the query's wavelength (file header, ``--wavelength``,
else Cu Kα) and each panel's stated wavelength both map to the same grid, so patterns taken at different
wavelengths still meet. Any other spectrum (``kind`` given: raman, xps, ftir, uv-vis, …) is compared by its
``profile`` vector (shape over its own x range), restricted to panels of that kind. Hits are the usual
``{"id", "score", "collection": "spectra", "payload", "image_url", "thumbnail_url"}`` — the panel's image, caption,
DOI, figure and panel ids, series label and the digitiser's confidence are in the payload.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matsearch.core.errors import BadInput
from matsearch.core.filters import FieldCondition, Filter
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.xrd_pattern import Pattern, pattern_from_arrays, preprocess
from matsearch.search.common import check_limit, require_collection, to_hits
from matsearch.store.base import Store, VectorQuery
from matsearch.store.collections import VECTOR_ENCODERS

__all__ = [
    "COLLECTION",
    "KINDS",
    "literature_for_phase",
    "read_xy_text",
    "search_literature",
    "search_literature_file",
]

COLLECTION = "spectra"
KINDS = ("xrd", "raman", "xps", "xas", "ftir", "uv-vis", "eds", "other")


def read_xy_text(data: bytes, name: str = "spectrum") -> tuple[np.ndarray, np.ndarray]:
    """Two columns (x, y) of a text file — comma, tab or space separated; lines that are not numbers are skipped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{name}: not a text file (UTF-8 two-column x, y expected)") from None
    xs: list[float] = []
    ys: list[float] = []
    for line in text.splitlines():
        parts = line.replace(",", " ").replace(";", " ").split()
        if len(parts) < 2:
            continue
        try:
            a, b = float(parts[0]), float(parts[1])
        except ValueError:
            continue
        if np.isfinite(a) and np.isfinite(b):
            xs.append(a)
            ys.append(b)
    if len(xs) < 10:
        raise BadInput(f"{name}: found {len(xs)} numeric x, y rows; need at least 10")
    return np.asarray(xs), np.asarray(ys)


def _with_kind(flt: Filter | None, kind: str) -> Filter:
    cond = Filter(must=[FieldCondition(key="kind", match=kind)])
    return flt.and_(cond) if flt is not None else cond


def search_literature(
    store: Store,
    settings: Settings,
    pattern: Pattern | None = None,
    *,
    x: Any = None,
    y: Any = None,
    kind: str | None = None,
    wavelength: str | float | None = None,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> list[Hit]:
    """Literature panels whose plotted series looks like the query (a ``Pattern``, or ``x``/``y`` arrays)."""
    check_limit(settings, limit)
    if kind is not None and kind not in KINDS:
        raise BadInput(f"unknown spectrum kind {kind!r} (use one of {', '.join(KINDS)})")
    require_collection(store, COLLECTION)
    kind = kind or "xrd"
    if kind == "xrd":
        if pattern is None:
            if x is None or y is None:
                raise BadInput("give a pattern file or x and y arrays")
            pattern = pattern_from_arrays(x, y, name="query", wavelength=wavelength)
        grid, _mask = preprocess(pattern)
        vector = get_encoder(VECTOR_ENCODERS[(COLLECTION, "xrd")], settings).encode([grid])[0]
        using = "xrd"
    else:
        if pattern is not None:
            x, y = pattern.two_theta, pattern.intensity
        xa = np.asarray(x, dtype=np.float64) if x is not None else np.zeros(0)
        if xa.size < 2:
            raise BadInput("the query spectrum needs at least 2 points")
        vector = get_encoder(VECTOR_ENCODERS[(COLLECTION, "profile")], settings).encode([(xa, y)])[0]
        using = "profile"
    q = VectorQuery(
        vector=vector, using=using, filter=_with_kind(flt, kind), limit=limit, score_threshold=score_threshold
    )
    return to_hits(COLLECTION, store.query(COLLECTION, q))


def search_literature_file(
    store: Store,
    settings: Settings,
    data: bytes,
    name: str,
    *,
    kind: str = "xrd",
    wavelength: str | float | None = None,
    flt: Filter | None = None,
    limit: int = 10,
    score_threshold: float | None = None,
) -> list[Hit]:
    """``search_literature`` for an uploaded file: an XRD pattern in any format matsearch reads, else x, y text."""
    if kind == "xrd":
        from matsearch.encoders.xrd_pattern import read_pattern_bytes

        pattern = read_pattern_bytes(data, name, wavelength=wavelength)
        return search_literature(
            store, settings, pattern, kind="xrd", flt=flt, limit=limit, score_threshold=score_threshold
        )
    x, y = read_xy_text(data, name)
    return search_literature(
        store, settings, x=x, y=y, kind=kind, flt=flt, limit=limit, score_threshold=score_threshold
    )


def literature_for_phase(
    store: Store, settings: Settings, phase_id: str, *, flt: Filter | None = None, limit: int = 10
) -> list[Hit]:
    """Literature XRD panels that plot a pattern like the library phase ``phase_id`` (a point of ``xrd``, e.g. the
    first hit of a phase identification): its stored ``xrd`` vector — same encoder, same grid — against the
    ``xrd`` vectors of ``spectra``."""
    from matsearch.core.errors import NotFound

    check_limit(settings, limit)
    require_collection(store, "xrd")
    found = store.retrieve("xrd", [phase_id], with_vectors=True)
    if not found or "xrd" not in found[0].vectors:
        raise NotFound(f"no phase {phase_id!r} in the xrd collection")
    require_collection(store, COLLECTION)
    q = VectorQuery(vector=found[0].vectors["xrd"], using="xrd", filter=_with_kind(flt, "xrd"), limit=limit)
    return to_hits(COLLECTION, store.query(COLLECTION, q))
