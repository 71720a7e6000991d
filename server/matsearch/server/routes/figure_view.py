"""GET /v1/figures/{image_sha256}: a whole figure with all its indexed panels (the web page's figure view)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from matsearch.core.schemas import PointOut
from matsearch.search.figure_view import get_figure
from matsearch.server.deps import ServiceDep

router = APIRouter(tags=["figures"])


class FigureOut(BaseModel):
    image_sha256: str
    image_url: str = Field(description="The figure image (GET it).")
    width: int | None = Field(None, description="Figure width, px (panel boxes are in these pixels).")
    height: int | None = None
    figure_id: str | None = None
    caption: str = Field("", description="The full figure caption.")
    source: str | None = None
    source_file: str | None = None
    document: dict[str, Any] = Field(description="title, doi, journal, year, url, licence (those known).")
    provenance: dict[str, Any] | None = None
    panels: list[PointOut] = Field(description="The figure's panels in reading order (label, then position).")


@router.get(
    "/v1/figures/{image_sha256}",
    response_model=FigureOut,
    summary="A figure and all its panels",
    description="Every indexed panel of the figure whose original image has this SHA-256 (the `image_sha256` of "
    "any of its panels), with boxes (`bbox`, figure pixels), captions, types and scales, and the paper's "
    "provenance and licence.",
    responses={404: {"description": "no indexed figure with this image"}, 400: {"description": "not a SHA-256"}},
)
def figure(image_sha256: str, service: ServiceDep) -> FigureOut:
    return FigureOut.model_validate(get_figure(service.store, image_sha256))
