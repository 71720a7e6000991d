"""A CLI command's connection to matsearch: the running server over HTTP if there is one, else the store itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from matsearch.cli.remote import RemoteAPI, find_server
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
