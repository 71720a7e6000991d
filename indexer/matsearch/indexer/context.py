"""What ingestion needs from its host (the server's Service, or a CLI run): settings, store, images, encoders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from matsearch.core.images import ImageStore
from matsearch.core.settings import Settings
from matsearch.encoders.base import Encoder
from matsearch.indexer.structures import DEFAULT_SOURCES
from matsearch.store.base import Store


class IngestContext(Protocol):
    settings: Settings
    store: Store
    images: ImageStore

    def encoder(self, name: str) -> Encoder: ...

    def ensure_collection(self, name: str) -> None: ...


@dataclass(frozen=True)
class BuildOptions:
    """Options of a library build (``matsearch library build``)."""

    workers: int = 2  # processes for per-structure work (simulation)
    progress: bool = True  # tqdm bars on stderr
    limit: int | None = None  # cap the Materials Project part (quick builds, tests)
    sources: tuple[str, ...] = DEFAULT_SOURCES
    force: bool = False  # ignore caches and recompute
