"""GET /v1/stem/simulate: a library structure's simulated HAADF/ADF/ABF image along a zone axis, as a PNG.

The web page's STEM view shows it beside the query at the query's pixel size; ``matsearch stem simulate`` is the
same simulator on the command line.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from matsearch.core.errors import BadInput, NotFound
from matsearch.server.deps import ServiceDep

router = APIRouter(tags=["stem"])


def parse_zone(text: str) -> tuple[int, int, int]:
    parts = text.replace("[", "").replace("]", "").replace(" ", "").split(",")
    try:
        zone = tuple(int(p) for p in parts)
    except ValueError:
        raise BadInput(f"zone must be three integers like 0,0,1 or 1,-1,0, got {text!r}") from None
    if len(zone) != 3 or zone == (0, 0, 0) or max(abs(z) for z in zone) > 12:
        raise BadInput(f"zone must be three integers (|u|,|v|,|w| <= 12), not all zero, like 0,0,1; got {text!r}")
    return zone[0], zone[1], zone[2]


def find_structure(structure: str, source: str | None, cache_dir: Path) -> Any:
    """The library entry ``structure``: from its own source's structures when the hit names the source (small, quick
    to load), else from the whole bundled library (loaded once per process)."""
    from matsearch.indexer.structures import SOURCES, load_library

    if source:
        if source not in SOURCES:
            raise NotFound(f"unknown structure source {source!r} (known: {sorted(SOURCES)})")
        try:
            return load_library((source,), cache_dir=cache_dir).get(structure)
        except NotFound:
            raise NotFound(f"no structure {structure!r} in the library source {source!r}") from None
    return load_library(cache_dir=cache_dir).get(structure)  # NotFound names the id


def render_png(
    structure: str,
    zone: tuple[int, int, int],
    *,
    source: str | None,
    cache_dir: Path,
    nm_per_px: float,
    width: int,
    height: int,
    mode: str,
    rotation: float,
    probe: float,
    thickness: float,
) -> bytes:
    import numpy as np
    from PIL import Image

    from matsearch.indexer.stem.simulate import SimParams, project_structure, render

    entry = find_structure(structure, source, cache_dir)
    params = SimParams(
        size=(height, width),
        px=nm_per_px * 10.0,
        mode=mode,  # type: ignore[arg-type]
        rotation=rotation,
        probe_fwhm=probe,
        thickness=thickness,
    )
    try:
        img = render(project_structure(entry.conventional, zone), params)
    except ValueError as exc:
        raise BadInput(f"{structure} along {list(zone)}: {exc}") from exc
    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


@router.get(
    "/v1/stem/simulate",
    response_class=Response,
    summary="Simulated STEM image of a library structure along a zone axis (PNG)",
    description="Renders the structure `structure` (a library id, the `structure_id` of a stem hit) along `zone` "
    "at `nm_per_px` with the incoherent Z-contrast model the stem library is built from. The web page uses it to "
    "show each hit beside the query at the query's pixel size.",
    responses={
        200: {"content": {"image/png": {}}, "description": "8-bit grey PNG"},
        400: {"description": "bad zone axis or a projection that cannot be simulated"},
        404: {"description": "unknown structure id"},
        422: {"description": "parameter out of range"},
    },
)
async def simulate_stem(
    service: ServiceDep,
    structure: Annotated[str, Query(min_length=1, max_length=200, description="Library structure id.")],
    zone: Annotated[str, Query(description="Zone axis u,v,w of the conventional cell.")] = "0,0,1",
    source: Annotated[str | None, Query(description="The hit's `source` (speeds up the look-up).")] = None,
    nm_per_px: Annotated[float, Query(ge=0.001, le=0.1, description="Pixel size, nm/px.")] = 0.025,
    width: Annotated[int, Query(ge=16, le=1024)] = 256,
    height: Annotated[int, Query(ge=16, le=1024)] = 256,
    mode: Annotated[Literal["haadf", "adf", "abf"], Query()] = "haadf",
    rotation: Annotated[float, Query(ge=-360, le=360, description="In-plane rotation, degrees.")] = 0.0,
    probe: Annotated[float, Query(ge=0.3, le=5, description="Probe FWHM, Å.")] = 0.9,
    thickness: Annotated[float, Query(ge=1, le=5000, description="Å")] = 100.0,
) -> Response:
    z = parse_zone(zone)
    png = await asyncio.to_thread(
        render_png,
        structure,
        z,
        source=source,
        cache_dir=service.settings.data_dir / "cache",
        nm_per_px=nm_per_px,
        width=width,
        height=height,
        mode=mode,
        rotation=rotation,
        probe=probe,
        thickness=thickness,
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})
