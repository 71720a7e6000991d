"""What ingestion needs from its host (the server's Service, or a CLI run): settings, store, images, encoders."""

from __future__ import annotations

from typing import Protocol

from matsearch.core.images import ImageStore
from matsearch.core.settings import Settings
from matsearch.encoders.base import Encoder
from matsearch.store.base import Store


class IngestContext(Protocol):
    settings: Settings
    store: Store
    images: ImageStore

    def encoder(self, name: str) -> Encoder: ...

    def ensure_collection(self, name: str) -> None: ...
