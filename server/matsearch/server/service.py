"""What a matsearch process owns while it runs: the settings it was given, the store, the image store and the
encoders (created with those settings). The server holds one ``Service`` for its lifetime; the CLI opens one when
no server is running. Queries are plain functions in ``matsearch.search`` over ``service.store`` and
``service.settings``; ingestion (``matsearch.indexer``) takes the service as its ``IngestContext``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from matsearch.core.images import ImageStore
from matsearch.core.schemas import CollectionOut, IngestReport, VectorSpecOut
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.encoders.base import Encoder
from matsearch.store import Store, open_store
from matsearch.store.base import CollectionInfo
from matsearch.store.collections import VECTOR_ENCODERS, collection_spec

log = logging.getLogger("matsearch.server")


class Service:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store: Store = store if store is not None else open_store(settings)
        self.images = ImageStore(settings.images_dir)
        self._warming: threading.Thread | None = None
        self._closing = threading.Event()

    def close(self) -> None:
        self._closing.set()
        if self._warming is not None:
            self._warming.join()
        self.store.close()

    def start_warm_up(self) -> None:
        """Read the per-process query caches in a background thread, so a server's first queries do not pay for
        them: the ``xrd`` library's payloads and peak index (2–4 s for 5,000 phases; every mixture query needs it)
        and the ``stem`` lattice spectra. Queries arriving meanwhile wait for the part they need, as they would
        have filled it themselves; ``close`` waits for the thread."""
        self._warming = threading.Thread(target=self._warm_up, name="matsearch-warm-up", daemon=True)
        self._warming.start()

    def _warm_up(self) -> None:
        from matsearch.search import spectra, stem

        steps = (("xrd", spectra.warm), ("stem", stem.preload_lattice_cache))
        for collection, warm in steps:
            if self._closing.is_set():
                return
            try:
                if self.store.has_collection(collection) and self.store.count(collection):
                    log.info("warm-up: %s, %d points cached", collection, warm(self.store))
            except Exception:  # a cache fill is an optimisation: the first query does it again and says why
                log.exception("warm-up of the %s cache failed", collection)

    def encoder(self, name: str) -> Encoder:
        """The encoder ``name``, built with this process's settings."""
        return get_encoder(name, self.settings)

    def ensure_collection(self, name: str) -> None:
        self.store.ensure_collection(collection_spec(name))

    def collections(self) -> list[CollectionOut]:
        return [_collection_out(c) for c in self.store.list_collections()]

    def ingest_figures(self, items: Iterable[Any]) -> IngestReport:
        from matsearch.indexer.pipeline import FigureIngestor

        return FigureIngestor(self).ingest(items)


def _collection_out(c: CollectionInfo) -> CollectionOut:
    return CollectionOut(
        name=c.name,
        count=c.count,
        vectors=[
            VectorSpecOut(name=v.name, size=v.size, distance=v.distance, encoder=VECTOR_ENCODERS.get((c.name, v.name)))
            for v in c.vectors
        ],
        indexes={i.field: i.kind for i in c.indexes},
    )
