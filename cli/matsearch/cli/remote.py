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
