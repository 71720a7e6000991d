"""Manual scale override for one figure panel: ``PATCH /v1/points/figures/{point_id}/scale`` (behind the API key).

Scale reading fails on some panels (no bar, unreadable label, caption silent): a person can then set the scale.
The payload's ``scale`` becomes ``{"nm_per_px", "value", "unit", "length_px", "field_of_view_nm", "source":
"manual", "confidence": 1.0, "previous": <the automatic reading>}`` and the indexed ``nm_per_px`` field follows, so
nm/px range filters see the correction at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from matsearch.core.errors import BadInput, NotFound
from matsearch.core.schemas import PointOut
from matsearch.search.common import get_point
from matsearch.server.deps import ServiceDep, WriteAuth

router = APIRouter(prefix="/v1/points", tags=["points"], dependencies=[WriteAuth])

COLLECTION = "figures"


class ScaleOverride(BaseModel):
    """Either ``nm_per_px``, or a bar: ``value`` + ``unit`` + ``length_px`` (nm/px = value in nm / length_px)."""

    nm_per_px: float | None = Field(None, gt=0, description="Nanometres per pixel of the stored panel image.")
    value: float | None = Field(None, gt=0, description="The scale bar's value, e.g. 500.")
    unit: str | None = Field(None, description="Its unit: nm, μm (µm, um), mm, Å, pm.")
    length_px: float | None = Field(None, gt=0, description="The bar's length in pixels of the stored panel image.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"nm_per_px": 2.5}, {"value": 500, "unit": "nm", "length_px": 123.4}]},
    )


def manual_scale(body: ScaleOverride, width: int | None, height: int | None) -> dict[str, Any]:
    """The ``scale`` payload for a manual override (raises BadInput on an incomplete or reciprocal body)."""
    from matsearch.indexer.figures.units import canonical_unit, to_nm

    bar_given = [body.value is not None, body.unit is not None, body.length_px is not None]
    if body.nm_per_px is None and not all(bar_given):
        raise BadInput('give "nm_per_px", or "value", "unit" and "length_px" together')
    if body.nm_per_px is not None and any(bar_given):
        raise BadInput('give "nm_per_px" or a bar ("value", "unit", "length_px"), not both')
    scale: dict[str, Any] = {"source": "manual", "confidence": 1.0}
    if body.nm_per_px is not None:
        nm_per_px = float(body.nm_per_px)
        scale.update(value=None, unit=None, length_px=None)
    else:
        assert body.value is not None and body.unit is not None and body.length_px is not None
        unit = canonical_unit(body.unit)
        if unit is None:
            raise BadInput(f"unknown length unit {body.unit!r} (use nm, μm, um, mm, Å or pm)")
        nm = to_nm(body.value, unit)
        if nm is None:
            raise BadInput(f"{unit} is a reciprocal (diffraction) unit: it gives no real-space scale")
        nm_per_px = nm / float(body.length_px)
        scale.update(value=float(body.value), unit=unit, length_px=float(body.length_px))
    scale["nm_per_px"] = nm_per_px
    scale["field_of_view_nm"] = (
        [round(width * nm_per_px, 6), round(height * nm_per_px, 6)] if width and height else None
    )
    return scale


@router.patch(
    "/figures/{point_id}/scale",
    response_model=PointOut,
    summary="Set a panel's scale by hand (source: manual)",
    description='Body: {"nm_per_px": 2.5} or {"value": 500, "unit": "nm", "length_px": 123.4}. The automatic '
    "reading is kept under scale.previous. Needs the X-API-Key header when the server has a key.",
)
def set_scale(point_id: str, body: ScaleOverride, service: ServiceDep) -> PointOut:
    from matsearch.store.base import write_lock

    with write_lock(service.store):  # read-modify-write: a concurrent ingest or override must not interleave
        found = service.store.retrieve(COLLECTION, [point_id]) if service.store.has_collection(COLLECTION) else []
        if not found:
            raise NotFound(f"no point {point_id!r} in collection {COLLECTION!r}")
        payload = found[0].payload
        width = height = None
        bbox = payload.get("bbox")
        if isinstance(bbox, list | tuple) and len(bbox) == 4:
            width, height = int(bbox[2]) - int(bbox[0]), int(bbox[3]) - int(bbox[1])
        scale = manual_scale(body, width, height)
        previous = payload.get("scale")
        if isinstance(previous, dict) and previous.get("source") != "manual":
            scale["previous"] = previous
        elif isinstance(previous, dict) and "previous" in previous:
            scale["previous"] = previous["previous"]
        service.store.set_payload(COLLECTION, [point_id], {"scale": scale, "nm_per_px": scale["nm_per_px"]})
    return get_point(service.store, COLLECTION, point_id)
