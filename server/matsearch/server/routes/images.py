from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse

from matsearch.core.errors import NotFound
from matsearch.server.deps import ServiceDep

router = APIRouter(prefix="/v1/images", tags=["images"])


@router.get(
    "/{sha256}",
    response_class=FileResponse,
    summary="A stored image (original bytes) or its thumbnail",
    responses={404: {"description": "no such image"}},
)
def get_image(sha256: str, service: ServiceDep, thumbnail: bool = False) -> FileResponse:
    path = service.images.thumb(sha256) if thumbnail else service.images.find(sha256)
    if path is None:
        raise NotFound(f"no stored image {sha256!r}")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable"})
