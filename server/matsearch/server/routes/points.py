from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from matsearch.core.schemas import PointOut, SearchResponse
from matsearch.search import common
from matsearch.server.deps import FilterDep, Limit, ServiceDep, Threshold

router = APIRouter(prefix="/v1/points", tags=["points"])


@router.get("/{collection}/{point_id}", response_model=PointOut, summary="One stored point with its payload")
def get_point(collection: str, point_id: str, service: ServiceDep) -> PointOut:
    return common.get_point(service.store, collection, point_id)


@router.get("/{collection}/{point_id}/similar", response_model=SearchResponse, summary="More like this stored point")
def similar(
    collection: str,
    point_id: str,
    service: ServiceDep,
    flt: FilterDep,
    using: Annotated[str | None, Query(description="Named vector (default: the collection's first).")] = None,
    limit: Limit = 10,
    score_threshold: Threshold = None,
) -> SearchResponse:
    hits = common.similar(
        service.store,
        service.settings,
        collection,
        point_id,
        using=using,
        flt=flt,
        limit=limit,
        score_threshold=score_threshold,
    )
    return SearchResponse(hits=hits)
