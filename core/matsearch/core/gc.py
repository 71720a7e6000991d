"""Garbage collection of the data directory: stored images no point refers to, thumbnails without their image, and
temporary files (``.tmp-*`` from interrupted atomic writes, ``*.part`` from interrupted downloads).

An image is referenced when a payload of any collection holds its SHA-256 under a top-level key ending in
``sha256`` (``image_sha256``, ``panel_sha256``, ...). Files younger than the grace period are left alone, whatever
they are: an ingest in flight stores its images before it writes the points that refer to them, and
``ImageStore.put`` refreshes the time of an image it finds already stored, so an old orphan that a running ingest
re-uses is young again. ``matsearch gc`` runs it (over HTTP, ``POST /v1/admin/gc``, when a server owns the store).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from matsearch.core.images import ImageStore

_SHA_RE = re.compile(r"[0-9a-f]{64}")


class GcReport(BaseModel):
    referenced: int = Field(description="Distinct image SHA-256s referenced by points.")
    images_removed: int = 0
    thumbnails_removed: int = 0
    temp_files_removed: int = 0
    bytes_freed: int = 0
    kept_young: int = Field(0, description="Unreferenced or temporary files left alone: younger than the grace period.")
    dry_run: bool = False
    removed: list[str] = Field(default_factory=list, description="Paths removed (at most 1000 listed).")


def referenced_images(store: Any, page: int = 1000) -> set[str]:
    """Every SHA-256 a payload refers to, over all collections of ``store``."""
    shas: set[str] = set()
    for info in store.list_collections():
        offset: str | None = None
        while True:
            points, offset = store.scroll(info.name, None, limit=page, offset=offset)
            for p in points:
                for key, value in p.payload.items():
                    if key.endswith("sha256") and isinstance(value, str) and _SHA_RE.fullmatch(value):
                        shas.add(value)
            if offset is None:
                break
    return shas


def _files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, _, names in os.walk(root):
        for name in names:
            yield Path(dirpath) / name


def collect_garbage(
    store: Any, images: ImageStore, data_dir: Path, *, grace_s: float = 3600.0, dry_run: bool = False
) -> GcReport:
    referenced = referenced_images(store)
    report = GcReport(referenced=len(referenced), dry_run=dry_run)
    now = time.time()

    def remove(path: Path, counter: str) -> None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return
        if now - st.st_mtime < grace_s:
            report.kept_young += 1
            return
        if not dry_run:
            path.unlink(missing_ok=True)
        setattr(report, counter, getattr(report, counter) + 1)
        report.bytes_freed += st.st_size
        if len(report.removed) < 1000:
            report.removed.append(str(path))

    for path in _files(images.root):
        if path.name.startswith(".tmp-"):
            remove(path, "temp_files_removed")
            continue
        sha = path.name.split(".", 1)[0]
        if _SHA_RE.fullmatch(sha) and sha not in referenced:
            remove(path, "images_removed")
    for path in _files(images.thumbs):
        if path.name.startswith(".tmp-"):
            remove(path, "temp_files_removed")
            continue
        sha = path.name.split(".", 1)[0]
        if _SHA_RE.fullmatch(sha) and (sha not in referenced or images.find(sha) is None):
            remove(path, "thumbnails_removed")
    for path in _files(data_dir / "cache"):
        if path.name.startswith(".tmp-") or path.suffix == ".part":
            remove(path, "temp_files_removed")
    return report
