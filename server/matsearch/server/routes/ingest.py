from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from matsearch.core.errors import BadInput
from matsearch.core.schemas import IngestReport
from matsearch.indexer.items import FigureItem
from matsearch.server.deps import ServiceDep, WriteAuth
from matsearch.server.routes.uploads import read_upload

router = APIRouter(prefix="/v1/ingest", tags=["ingest"], dependencies=[WriteAuth])


@router.post(
    "/figures",
    response_model=IngestReport,
    summary="Ingest figure images with optional captions and document metadata",
    description="Multipart: one or more `files`, and optionally `metadata`: a JSON object mapping each file name "
    'to {"caption": ..., "doi": ..., "title": ..., "journal": ..., "year": ..., "url": ..., "licence": ...}. '
    "Re-sending the same image rewrites the same points (ids derive from content).",
)
async def ingest_figures(
    service: ServiceDep,
    files: Annotated[list[UploadFile], File(description="Figure images.")],
    metadata: Annotated[str | None, Form(description="JSON: file name → caption and document fields.")] = None,
) -> IngestReport:
    try:
        meta: dict[str, Any] = json.loads(metadata) if metadata else {}
    except json.JSONDecodeError as exc:
        raise BadInput(f"metadata is not valid JSON: {exc.msg}") from exc
    if not isinstance(meta, dict):
        raise BadInput("metadata must be a JSON object keyed by file name")
    items = []
    for upload in files:
        name = upload.filename or "upload"
        data = await read_upload(upload, service.settings, allow_empty=True)  # reported per item
        entry = meta.get(name) or {}
        if not isinstance(entry, dict):
            raise BadInput(f"metadata for {name!r} must be an object")
        items.append(
            FigureItem(
                data=data,
                name=name,
                caption=entry.get("caption"),
                doc={k: v for k, v in entry.items() if k not in ("caption", "figure_id")},
                figure_id=entry.get("figure_id"),
                source="upload",
            )
        )
    return await asyncio.to_thread(service.ingest_figures, items)
