"""Plot routes: digitise a graph panel (no indexing); search the literature's digitised spectra."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from matsearch.core.images import load_image
from matsearch.core.schemas import SearchResponse
from matsearch.search.literature import literature_for_phase, search_literature_file
from matsearch.server.deps import FilterDep, Limit, ServiceDep, Threshold
from matsearch.server.routes.uploads import read_upload

router = APIRouter(tags=["plots"])


class Tick(BaseModel):
    value: float
    px: float = Field(description="Pixel position along the axis (x: column, y: row; origin top-left).")


class Axis(BaseModel):
    label: str | None = Field(description="The axis title as read (OCR).")
    quantity: str | None
    unit: str | None
    scale: Literal["linear", "log"]
    ticks: list[Tick] = Field(description="The labelled ticks that the px → value fit kept (RANSAC inliers).")
    relative: bool = Field(
        False, description="No numeric ticks read: values are fractions of the plot box (0 at the bottom/left)."
    )


class Series(BaseModel):
    label: str | None = Field(description="From a legend entry of the same colour, when there is one.")
    color: str | None = Field(description="#rrggbb")
    x: list[float]
    y: list[float | None] = Field(description="One value per pixel column; null where the line is hidden.")
    confidence: float


class DigitizedPlot(BaseModel):
    width: int
    height: int
    plot_box: list[int] = Field(description="[x0, y0, x1, y1]: the y-axis column, top, right end, x-axis row.")
    x_axis: Axis
    y_axis: Axis
    kind: Literal["xrd", "raman", "xps", "xas", "ftir", "uv-vis", "eds", "other"] | None
    series: list[Series]


@router.post(
    "/v1/plots/digitize",
    response_model=DigitizedPlot,
    summary="Digitise a plot: axes, ticks and every line in data units",
    description="Multipart `file` (a graph panel) and optional `caption`. Finds the axes rectangle, reads the tick "
    "labels (OCR) and fits pixel → value (linear or log, reversed axes allowed), separates the lines by colour and "
    "by tracking, and returns each series with one y per pixel column. `kind` comes from the axis titles and the "
    "caption. Same JSON as `matsearch plot digitize --json`. 422 when no axes are found.",
    responses={
        400: {"description": "corrupt or empty image"},
        413: {"description": "too large"},
        415: {"description": "not an image"},
        422: {"description": "no plot axes found"},
    },
)
async def digitize_plot(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="The plot image.")],
    caption: Annotated[str | None, Form(description="The figure caption.")] = None,
) -> DigitizedPlot:
    from matsearch.indexer.plots.digitize import digitize

    data = await read_upload(file, service.settings)

    def run() -> DigitizedPlot:  # decoding, OCR and tracking are CPU work: off the event loop
        image = load_image(data, service.settings, what=file.filename or "plot")
        return DigitizedPlot.model_validate(digitize(image, caption or ""))

    return await asyncio.to_thread(run)


@router.post(
    "/v1/search/spectra",
    tags=["search"],
    response_model=SearchResponse,
    summary="Which papers show a pattern like mine? (literature spectra)",
    description="Multipart `file`: a measured pattern. XRD (`kind=xrd`, default): any format `/v1/search/spectrum` "
    "reads, wavelength from the file or `wavelength` (default Cu Kα); other kinds (`raman`, `xps`, `ftir`, "
    "`uv-vis`, `xas`, `eds`, `other`): two-column text. Searches the `spectra` collection — every series "
    "digitised from the graph panels of ingested papers — and returns the matching panels (payload: caption, DOI, "
    "figure/panel ids, kind, x range, digitiser confidence; `image_url` of the panel). Same as "
    "`matsearch search spectrum FILE --collection spectra`.",
    responses={
        400: {"description": "not a usable pattern"},
        404: {"description": "no spectra collection yet (no graph panel ingested)"},
        413: {"description": "too large"},
        415: {"description": "not a pattern format"},
        422: {"description": "bad parameter or filter"},
    },
)
async def search_spectra(
    service: ServiceDep,
    flt: FilterDep,
    file: Annotated[UploadFile, File(description="The measured pattern / spectrum.")],
    kind: Annotated[
        Literal["xrd", "raman", "xps", "xas", "ftir", "uv-vis", "eds", "other"], Query(description="Spectrum kind.")
    ] = "xrd",
    wavelength: Annotated[str | None, Query(description="XRD: Å or a name (CuKa, MoKa, …)")] = None,
    limit: Limit = 10,
    score_threshold: Threshold = None,
) -> SearchResponse:
    data = await read_upload(file, service.settings)
    name = file.filename or "pattern"
    hits = await asyncio.to_thread(
        search_literature_file,
        service.store,
        service.settings,
        data,
        name,
        kind=kind,
        wavelength=wavelength,
        flt=flt,
        limit=limit,
        score_threshold=score_threshold,
    )
    return SearchResponse(hits=hits)


@router.get(
    "/v1/search/spectra/phase/{phase_id}",
    tags=["search"],
    response_model=SearchResponse,
    summary="Literature XRD panels of an identified phase",
    description="`phase_id`: a point of the `xrd` collection (e.g. a hit of `/v1/search/spectrum`). Returns the "
    "digitised literature XRD panels (`spectra`) whose pattern looks like the phase's simulated one.",
    responses={404: {"description": "unknown phase, or no xrd / spectra collection"}},
)
async def phase_literature(service: ServiceDep, phase_id: str, flt: FilterDep, limit: Limit = 10) -> SearchResponse:
    hits = await asyncio.to_thread(
        literature_for_phase, service.store, service.settings, phase_id, flt=flt, limit=limit
    )
    return SearchResponse(hits=hits)
