from __future__ import annotations

from fastapi import APIRouter

from matsearch.core.schemas import Health
from matsearch.server.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and store status")
def healthz(service: ServiceDep) -> Health:
    from matsearch import server

    counts = {c.name: c.count for c in service.store.list_collections()}
    backend = "qdrant-server" if service.settings.qdrant_url else "qdrant-edge"
    return Health(status="ok", store=backend, collections=counts, version=server.__version__)
