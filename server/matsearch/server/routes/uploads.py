"""Reading uploads with the size limit applied while reading (never more than limit + 1 bytes in memory)."""

from __future__ import annotations

from fastapi import UploadFile

from matsearch.core.errors import BadInput, TooLarge
from matsearch.core.settings import Settings


async def read_upload(file: UploadFile, settings: Settings, *, allow_empty: bool = False) -> bytes:
    limit = settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"upload {file.filename!r} is larger than the limit of {limit} bytes")
    if not data and not allow_empty:
        raise BadInput(f"upload {file.filename!r} is an empty file (0 bytes)")
    return data
