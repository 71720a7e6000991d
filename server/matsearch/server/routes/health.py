from __future__ import annotations

from fastapi import APIRouter

from matsearch.core.schemas import Health, Limits
from matsearch.server.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and store status")
def healthz(service: ServiceDep) -> Health:
    from matsearch import server

    counts = {c.name: c.count for c in service.store.list_collections()}
    backend = "qdrant-server" if service.settings.qdrant_url else "qdrant-edge"
    st = service.settings
    limits = Limits(
        max_upload_bytes=st.max_upload_bytes,
        max_request_bytes=st.max_request_bytes,
        max_image_pixels=st.max_image_pixels,
    )
    return Health(status="ok", store=backend, collections=counts, version=server.__version__, limits=limits)
