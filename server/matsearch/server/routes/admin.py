"""Maintenance: ``POST /v1/admin/gc`` removes orphaned images, thumbnails and temporary files (behind the API key)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from matsearch.core.gc import GcReport, collect_garbage
from matsearch.server.deps import ServiceDep, WriteAuth

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[WriteAuth])


@router.post(
    "/gc",
    response_model=GcReport,
    summary="Remove stored images no point refers to, and leftover temporary files",
    description="Files younger than MATSEARCH_GC_GRACE_SECONDS are kept (ingests in flight). `dry_run=true` "
    "only reports. Same as `matsearch gc`.",
)
async def gc(service: ServiceDep, dry_run: Annotated[bool, Query()] = False) -> GcReport:
    settings = service.settings
    return await asyncio.to_thread(
        collect_garbage,
        service.store,
        service.images,
        settings.data_dir,
        grace_s=settings.gc_grace_seconds,
        dry_run=dry_run,
    )
