"""The FastAPI application: ``create_app(settings)``; ``matsearch serve`` runs it with uvicorn."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from matsearch.core.errors import MatsearchError
from matsearch.core.settings import Settings, get_settings
from matsearch.server import __version__
from matsearch.server.routes import collections, figures, health, images, ingest, points, scale, search, spectrum
from matsearch.server.service import Service

log = logging.getLogger("matsearch.server")
STATIC = Path(__file__).resolve().parent / "static"


def _write_server_file(settings: Settings, url: str) -> None:
    settings.server_file.parent.mkdir(parents=True, exist_ok=True)
    settings.server_file.write_text(json.dumps({"url": url, "pid": os.getpid()}))


def create_app(settings: Settings | None = None, *, advertise_url: str | None = None) -> FastAPI:
    """Build the app. With ``advertise_url`` the server writes ``<data_dir>/server.json`` so the CLI finds it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = Service(settings)
        if advertise_url:
            _write_server_file(settings, advertise_url)
        try:
            yield
        finally:
            if advertise_url:
                settings.server_file.unlink(missing_ok=True)
            app.state.service.close()

    app = FastAPI(
        title="matsearch",
        version=__version__,
        summary="Vector search for materials science: figures, sketches, STEM images, XRD patterns.",
        description="Search literature figure panels by image, sketch or text; identify crystal structures from "
        "STEM images and phases from XRD patterns. Filters use a JSON object, e.g. "
        '`{"type": "microscopy", "year": {"gte": 2015}, "elements": {"all": ["Au"]}}`.',
        lifespan=lifespan,
    )

    @app.exception_handler(MatsearchError)
    async def matsearch_error(_: Request, exc: MatsearchError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": exc.message})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}" for e in exc.errors()
        )
        return JSONResponse(status_code=422, content={"detail": f"invalid request: {problems}"})

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        # multipart adds some overhead around the file itself
        if length and length.isdigit() and int(length) > settings.max_upload_bytes + 1024 * 1024:
            return JSONResponse(
                status_code=413,
                content={"detail": f"request body of {length} bytes exceeds {settings.max_upload_bytes} bytes"},
            )
        return await call_next(request)

    for module in (health, collections, search, points, images, ingest, figures, scale, spectrum):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
