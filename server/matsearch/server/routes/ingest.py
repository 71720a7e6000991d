from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from matsearch.core.errors import BadInput
from matsearch.core.names import upload_name
from matsearch.core.schemas import IngestReport
from matsearch.indexer.items import FigureItem
from matsearch.server.deps import ServiceDep, WriteAuth
from matsearch.server.routes.uploads import read_upload

_SOURCE_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_PROVENANCE_CHARS = 16_000

router = APIRouter(prefix="/v1/ingest", tags=["ingest"], dependencies=[WriteAuth])


@router.post(
    "/figures",
    response_model=IngestReport,
    summary="Ingest figure images with optional captions and document metadata",
    description="Multipart: one or more `files`, and optionally `metadata`: a JSON object mapping each file name "
    'to {"caption": ..., "doi": ..., "title": ..., "journal": ..., "year": ..., "url": ..., "licence": ..., '
    '"figure_id": ..., "source": ..., "provenance": {...}} (`source` and `provenance` let a client that read the '
    "figures itself — the CLI's folder, PDF and fetch ingest — store exactly what a local ingest stores). "
    "Re-sending the same image rewrites the same points (ids derive from content) and replaces its panel set.",
)
async def ingest_figures(
    service: ServiceDep,
    files: Annotated[list[UploadFile], File(description="Figure images.")],
    metadata: Annotated[str | None, Form(description="JSON: file name → caption and document fields.")] = None,
) -> IngestReport:
    try:
        meta: dict[str, Any] = json.loads(metadata) if metadata else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadInput(f"metadata is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise BadInput("metadata must be a JSON object keyed by file name")
    items = []
    for upload in files:
        raw_name = upload.filename or ""
        name = upload_name(raw_name, default="upload")
        data = await read_upload(upload, service.settings, allow_empty=True)  # reported per item
        entry = meta.get(raw_name, meta.get(name)) or {}
        if not isinstance(entry, dict):
            raise BadInput(f"metadata for {name!r} must be an object")
        items.append(figure_item(name, data, entry))
    return await asyncio.to_thread(service.ingest_figures, items)


def figure_item(name: str, data: bytes, entry: dict[str, Any]) -> FigureItem:
    """A FigureItem from an upload and its metadata entry (validated: BadInput names the problem)."""
    source = entry.get("source") or "upload"
    if not isinstance(source, str) or not _SOURCE_RE.fullmatch(source):
        raise BadInput(f"metadata for {name!r}: source must be a short word (letters, digits, '_', '-')")
    provenance = entry.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise BadInput(f"metadata for {name!r}: provenance must be an object")
    if len(json.dumps(provenance)) > MAX_PROVENANCE_CHARS:
        raise BadInput(f"metadata for {name!r}: provenance is longer than {MAX_PROVENANCE_CHARS} characters")
    caption = entry.get("caption")
    figure_id = entry.get("figure_id")
    if caption is not None and not isinstance(caption, str):
        raise BadInput(f"metadata for {name!r}: caption must be a string")
    if figure_id is not None and not isinstance(figure_id, str):
        raise BadInput(f"metadata for {name!r}: figure_id must be a string")
    return FigureItem(
        data=data,
        name=name,
        caption=caption,
        doc={k: v for k, v in entry.items() if k not in ("caption", "figure_id", "source", "provenance")},
        figure_id=figure_id,
        source=source,
        provenance=provenance,
    )
