"""The web page's files under ``/static/`` (our JS/CSS and the vendored chart library); ``/`` is in app.py."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from matsearch.core.errors import NotFound
from matsearch.server.routes import figure_view, stem_render

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter(include_in_schema=False)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    """A file of the page; the path must stay inside the static folder."""
    target = (STATIC / path).resolve()
    if not target.is_file() or not target.is_relative_to(STATIC):
        raise NotFound(f"no static file {path!r}")
    media = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=media, headers={"Cache-Control": "no-cache"})


# included by app.py: the figure view's and the STEM view's endpoints, and the page's files
WEB_ROUTERS = (figure_view.router, stem_render.router, router)
