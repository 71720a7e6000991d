"""Finding a running server, and talking to it: while ``matsearch serve`` owns the store, the CLI uses HTTP."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from matsearch.core.errors import MatsearchError
from matsearch.core.settings import Settings


def find_server(settings: Settings) -> str | None:
    """URL of a live server that owns this data directory, or None (stale files are ignored)."""
    path = settings.server_file
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        url, pid = str(info["url"]), int(info["pid"])
    except (ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        if httpx.get(f"{url}/healthz", timeout=3.0).status_code == 200:
            return url
    except httpx.HTTPError:
        return None
    return None


class RemoteAPI:
    """Minimal HTTP calls for the CLI; errors become MatsearchError with the server's message and status."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 600.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.url = url
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise MatsearchError(f"cannot reach the matsearch server at {self.url}: {exc}", status=503) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise MatsearchError(str(detail), status=response.status_code)
        return response.json()

    def close(self) -> None:
        self._http.close()


# -- uploads in batches under the server's limits -------------------------------------------------------------------

MULTIPART_OVERHEAD = 512  # bytes of multipart framing per file (headers, boundary), generous
MAX_BATCH_FILES = 16  # figures per request: a killed request costs at most this much work


def server_limits(api: RemoteAPI) -> tuple[int, int]:
    """(largest file, largest request body) the server accepts; the old 32 MiB defaults if it does not say."""
    limits = api.request("GET", "/healthz").get("limits") or {}
    upload = int(limits.get("max_upload_bytes") or 32 * 1024 * 1024)
    request = int(limits.get("max_request_bytes") or upload)
    return upload, request


def batches(
    sizes: list[int], names: list[str], *, max_request: int, reserve: int = 0, max_files: int = MAX_BATCH_FILES
) -> list[list[int]]:
    """Indices of files grouped so that each group's bytes (+ framing + ``reserve`` for form fields) stay under
    ``max_request``, with at most ``max_files`` files and no file name twice. A file too large on its own forms a
    group by itself (the server then refuses it with 413 and says why)."""
    groups: list[list[int]] = []
    current: list[int] = []
    used = reserve
    seen: set[str] = set()
    for i, (size, name) in enumerate(zip(sizes, names, strict=True)):
        cost = size + MULTIPART_OVERHEAD + len(name.encode())
        if current and (used + cost > max_request or len(current) >= max_files or name in seen):
            groups.append(current)
            current, used, seen = [], reserve, set()
        current.append(i)
        used += cost
        seen.add(name)
    if current:
        groups.append(current)
    return groups


def merge_reports(reports: list[dict[str, Any]], collection: str) -> dict[str, Any]:
    """One ingest report from the reports of several requests (count: the last one's)."""
    out: dict[str, Any] = {
        "collection": collection,
        "items": 0,
        "points": 0,
        "new_points": 0,
        "stale_deleted": 0,
        "skipped": [],
        "ids": [],
        "count": 0,
    }
    for r in reports:
        for key in ("items", "points", "new_points", "stale_deleted"):
            out[key] += int(r.get(key) or 0)
        out["skipped"] += list(r.get("skipped") or [])
        out["ids"] += list(r.get("ids") or [])
        out["collection"] = r.get("collection") or collection
        out["count"] = r.get("count", out["count"])
    return out
