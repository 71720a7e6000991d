"""``matsearch library build``: the bundled structure library → one collection per registered builder.

A builder turns the structure library into points of its collection (``xrd`` here, ``stem`` in the STEM module)::

    from matsearch.indexer.library import BuildOptions, register_library_builder

    def build_stem(ctx: IngestContext, library: StructureLibrary, options: BuildOptions) -> IngestReport: ...

    register_library_builder("stem", build_stem)

and its module is listed once in ``BUILDER_MODULES`` below (imported lazily, so importing this file stays cheap).
Builders must be idempotent (content-derived point ids), use ``options.workers`` processes for heavy work, show
progress when ``options.progress`` and cache expensive per-structure results under ``<data_dir>/cache``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matsearch.core.errors import NotFound
from matsearch.core.schemas import IngestReport
from matsearch.indexer.context import IngestContext
from matsearch.indexer.structures import DEFAULT_SOURCES, StructureLibrary, load_library

# Modules that call register_library_builder when imported. Add yours here (one line).
BUILDER_MODULES = [
    "matsearch.indexer.xrd.build",
    "matsearch.indexer.stem.build",
]


@dataclass(frozen=True)
class BuildOptions:
    workers: int = 2  # processes for per-structure work (simulation)
    progress: bool = True  # tqdm bars on stderr
    limit: int | None = None  # cap the Materials Project part (quick builds, tests)
    sources: tuple[str, ...] = DEFAULT_SOURCES
    force: bool = False  # ignore caches and recompute


LibraryBuilder = Callable[[IngestContext, StructureLibrary, BuildOptions], IngestReport]
_BUILDERS: dict[str, LibraryBuilder] = {}
_imported = False


def register_library_builder(collection: str, builder: LibraryBuilder) -> None:
    _BUILDERS[collection] = builder


def library_builders() -> dict[str, LibraryBuilder]:
    """Registered builders by collection name (imports ``BUILDER_MODULES`` on first call)."""
    global _imported
    if not _imported:
        _imported = True
        for module in BUILDER_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:  # a feature not installed/landed yet: build the others
                if exc.name is None or not module.startswith(exc.name):
                    raise
    return dict(_BUILDERS)


def build_libraries(
    ctx: IngestContext, collections: Sequence[str] | None = None, options: BuildOptions | None = None
) -> list[IngestReport]:
    """Build the given collections (default: every registered one) from the bundled structure library."""
    options = options or BuildOptions()
    builders = library_builders()
    names = list(collections) if collections else sorted(builders)
    for name in names:
        if name not in builders:
            raise NotFound(f"no library builder for collection {name!r} (known: {sorted(builders)})")
    library = load_library(options.sources, limit=options.limit, cache_dir=ctx.settings.data_dir / "cache")
    for name in names:
        drop_if_stale(ctx, name)
    return [builders[name](ctx, library, options) for name in names]


def drop_if_stale(ctx: IngestContext, name: str) -> bool:
    """Library collections are derived data: when the stored vectors no longer match the declared spec (a new
    encoder changed their size), drop the collection so that the build recreates it instead of failing."""
    from matsearch.core.collections import COLLECTIONS

    spec = COLLECTIONS.get(name)
    if spec is None or not ctx.store.has_collection(name):
        return False
    stored = {(v.name, v.size, v.distance) for v in ctx.store.collection_info(name).vectors}
    if stored == {(v.name, v.size, v.distance) for v in spec.vectors}:
        return False
    ctx.store.drop_collection(name)
    return True
