from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from matsearch.core.filters import parse_filter
from matsearch.core.schemas import SearchResponse, TextQuery
from matsearch.search import figures
from matsearch.server.deps import FilterDep, Limit, ServiceDep, Threshold
from matsearch.server.routes.uploads import read_upload

router = APIRouter(prefix="/v1/search", tags=["search"])


@router.post(
    "/image",
    response_model=SearchResponse,
    summary="Search by an uploaded image",
    description="Multipart field `file` (PNG, JPEG, TIFF, BMP, GIF, WebP). `collection=figures` finds visually "
    "similar figure panels; `collection=stem` identifies the structure of an atomic-resolution STEM image "
    "(give `nm_per_px` when known).",
    responses={
        400: {"description": "corrupt or empty image"},
        413: {"description": "too large"},
        415: {"description": "not an image"},
        404: {"description": "unknown collection"},
        422: {"description": "malformed filter"},
    },
)
async def search_image(
    service: ServiceDep,
    flt: FilterDep,
    file: Annotated[UploadFile, File(description="The query image.")],
    collection: Annotated[str, Query(description="figures or stem")] = "figures",
    limit: Limit = 10,
    score_threshold: Threshold = None,
    nm_per_px: Annotated[float | None, Query(gt=0, description="Pixel size of the query, nm/px.")] = None,
) -> SearchResponse:
    data = await read_upload(file, service.settings)
    hits = await asyncio.to_thread(
        figures.search_image,
        service.store,
        service.settings,
        data,
        filename=file.filename or "upload",
        collection=collection,
        flt=flt,
        limit=limit,
        score_threshold=score_threshold,
        nm_per_px=nm_per_px,
    )
    return SearchResponse(hits=hits)


@router.get("/text", response_model=SearchResponse, summary="Search figure panels by their captions")
def search_text_get(
    service: ServiceDep,
    flt: FilterDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, examples=["HRTEM of Au nanorods"])],
    collection: str = "figures",
    limit: Limit = 10,
    score_threshold: Threshold = None,
) -> SearchResponse:
    hits = figures.search_text(
        service.store, service.settings, q, collection=collection, flt=flt, limit=limit, score_threshold=score_threshold
    )
    return SearchResponse(hits=hits)


@router.post("/text", response_model=SearchResponse, summary="Search figure panels by their captions (JSON body)")
def search_text_post(service: ServiceDep, body: TextQuery) -> SearchResponse:
    hits = figures.search_text(
        service.store,
        service.settings,
        body.q,
        collection=body.collection,
        flt=parse_filter(body.filter),
        limit=body.limit,
        score_threshold=body.score_threshold,
    )
    return SearchResponse(hits=hits)
