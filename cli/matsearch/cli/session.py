"""A CLI command's connection to matsearch: the running server over HTTP if there is one, else the store itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matsearch.cli.remote import RemoteAPI, find_server
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.server.service import Service


@dataclass
class Session:
    settings: Settings
    remote: RemoteAPI | None = None
    service: Service | None = None

    @property
    def local(self) -> Service:
        assert self.service is not None
        return self.service


@contextmanager
def open_session(settings: Settings, *, local_only: bool = False) -> Iterator[Session]:
    url = None if local_only else find_server(settings)
    if url is not None:
        api = RemoteAPI(url, settings.api_key)
        try:
            yield Session(settings, remote=api)
        finally:
            api.close()
        return
    service = Service(settings)
    try:
        yield Session(settings, service=service)
    finally:
        service.close()


def upload_search(
    settings: Settings,
    endpoint: str,
    file: Path,
    params: dict[str, Any],
    local: Callable[[Service, bytes], Sequence[Hit]],
) -> list[dict[str, Any]]:
    """Search with an uploaded file: POST it to the running server, or run ``local`` on this process's service.
    Both give the same JSON hits. ``params`` with value None are left out."""
    data = file.read_bytes()
    with open_session(settings) as s:
        if s.remote:
            query = {k: v for k, v in params.items() if v is not None}
            hits: list[dict[str, Any]] = s.remote.request(
                "POST", endpoint, params=query, files={"file": (file.name, data)}
            )["hits"]
            return hits
        return [h.model_dump(mode="json") for h in local(s.local, data)]
