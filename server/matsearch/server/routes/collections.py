from __future__ import annotations

from fastapi import APIRouter

from matsearch.core.schemas import CollectionOut, CollectionsResponse
from matsearch.search.common import require_collection
from matsearch.server.deps import ServiceDep

router = APIRouter(prefix="/v1", tags=["collections"])


@router.get("/collections", response_model=CollectionsResponse, summary="Collections with counts and vector specs")
def list_collections(service: ServiceDep) -> CollectionsResponse:
    return CollectionsResponse(collections=service.collections())


@router.get("/collections/{collection}", response_model=CollectionOut, summary="One collection")
def get_collection(collection: str, service: ServiceDep) -> CollectionOut:
    require_collection(service.store, collection)
    for c in service.collections():
        if c.name == collection:
            return c
    raise AssertionError("unreachable")
