"""A whole figure with all its indexed panels (the web page's figure view, ``GET /v1/figures/{image_sha256}``)."""

from __future__ import annotations

from typing import Any

from matsearch.core.errors import BadInput, NotFound
from matsearch.core.filters import FieldCondition, Filter
from matsearch.core.schemas import PointOut
from matsearch.search.common import image_ref_fields, require_collection
from matsearch.store import Store

COLLECTION = "figures"
DOC_KEYS = ("title", "doi", "journal", "year", "url", "licence", "authors")
MAX_PANELS = 200


def _reading_order(p: PointOut) -> tuple[int, str, int, int]:
    label = str(p.payload.get("panel_label") or "")
    box = p.payload.get("bbox") or [0, 0, 0, 0]
    return (0 if label else 1, label, int(box[1]), int(box[0]))


def get_figure(store: Store, image_sha256: str) -> dict[str, Any]:
    """Every indexed panel of the figure whose original image has SHA-256 ``image_sha256`` (in reading order: by
    label, then top-to-bottom, left-to-right), with the figure's caption, size, document fields and provenance
    (taken from its panels, which all carry them)."""
    sha = image_sha256.strip().lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise BadInput(f"{image_sha256!r} is not a SHA-256 (64 hex digits)")
    require_collection(store, COLLECTION)
    records, _ = store.scroll(COLLECTION, Filter(must=[FieldCondition(key="image_sha256", match=sha)]), MAX_PANELS)
    if not records:
        raise NotFound(f"no indexed figure with image {sha}")
    panels = sorted(
        (PointOut(id=r.id, collection=COLLECTION, payload=r.payload, **image_ref_fields(r.payload)) for r in records),
        key=_reading_order,
    )
    first = panels[0].payload
    size = first.get("figure_size") or [None, None]
    return {
        "image_sha256": sha,
        "image_url": f"/v1/images/{sha}",
        "width": size[0],
        "height": size[1],
        "figure_id": first.get("figure_id"),
        "caption": str(first.get("figure_caption") or first.get("caption") or ""),
        "source": first.get("source"),
        "source_file": first.get("source_file"),
        "document": {k: first[k] for k in DOC_KEYS if first.get(k) not in (None, "")},
        "provenance": first.get("provenance"),
        "panels": panels,
    }
