"""The FastAPI application: ``create_app(settings)``; ``matsearch serve`` runs it with uvicorn."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse

from matsearch.core.errors import MatsearchError
from matsearch.core.settings import Settings, get_settings
from matsearch.server import __version__
from matsearch.server.routes import (
    admin,
    collections,
    figures,
    health,
    images,
    ingest,
    plots,
    points,
    scale,
    search,
    spectrum,
)
from matsearch.server.routes.web import WEB_ROUTERS
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
        app.state.service.start_warm_up()
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

    for module in (health, collections, search, points, images, ingest, figures, scale, spectrum, plots, admin):
        app.include_router(module.router)
    for router in WEB_ROUTERS:  # the web page's files and the endpoints only its views need
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    install_guards(app, settings)
    return app


def install_guards(app: FastAPI, settings: Settings) -> None:
    """The request guard (Origin policy + streamed body limit, see guard.py), CORS when configured, and the
    mapping of store and parser failures to 4xx/503 instead of 500."""
    from fastapi.middleware.cors import CORSMiddleware

    from matsearch.server.guard import RequestGuard

    origins = settings.cors_origin_list
    trust = bool(settings.api_key)  # key-less: same-origin writes only under loopback host names
    app.add_middleware(RequestGuard, max_body=settings.max_request_bytes, cors_origins=origins, trust_same_origin=trust)
    if origins:  # added last = outermost: preflights are answered before the guard sees them
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
            allow_headers=["Content-Type", "X-API-Key"],
        )

    @app.exception_handler(RecursionError)
    async def too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": "input is nested too deeply"})

    @app.exception_handler(UnicodeDecodeError)
    async def not_utf8(_: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": f"input is not valid UTF-8 ({exc.reason})"})
