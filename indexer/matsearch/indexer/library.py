"""``matsearch library build``: the bundled structure library → the ``xrd`` and ``stem`` collections.

Each builder (``xrd.build.build_xrd``, ``stem.build.build_stem``) turns the structure library into points of its
collection. Builders are idempotent (content-derived point ids), use ``options.workers`` processes for heavy work,
show progress when ``options.progress`` and cache expensive per-structure results under ``<data_dir>/cache``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from matsearch.core.errors import NotFound
from matsearch.core.schemas import IngestReport
from matsearch.indexer.context import BuildOptions, IngestContext
from matsearch.indexer.stem.build import build_stem
from matsearch.indexer.structures import StructureLibrary, load_library
from matsearch.indexer.xrd.build import build_xrd

__all__ = ["BUILDERS", "BuildOptions", "build_libraries", "drop_if_stale"]

LibraryBuilder = Callable[[IngestContext, StructureLibrary, BuildOptions], IngestReport]
BUILDERS: dict[str, LibraryBuilder] = {"xrd": build_xrd, "stem": build_stem}


def build_libraries(
    ctx: IngestContext, collections: Sequence[str] | None = None, options: BuildOptions | None = None
) -> list[IngestReport]:
    """Build the given collections (default: every registered one) from the bundled structure library."""
    options = options or BuildOptions()
    names = list(collections) if collections else sorted(BUILDERS)
    for name in names:
        if name not in BUILDERS:
            raise NotFound(f"no library builder for collection {name!r} (known: {sorted(BUILDERS)})")
    library = load_library(options.sources, limit=options.limit, cache_dir=ctx.settings.data_dir / "cache")
    for name in names:
        drop_if_stale(ctx, name)
    return [BUILDERS[name](ctx, library, options) for name in names]


def drop_if_stale(ctx: IngestContext, name: str) -> bool:
    """Library collections are derived data: when the stored vectors no longer match the declared spec (a new
    encoder changed their size), drop the collection so that the build recreates it instead of failing."""
    from matsearch.store.collections import COLLECTIONS

    spec = COLLECTIONS.get(name)
    if spec is None or not ctx.store.has_collection(name):
        return False
    stored = {(v.name, v.size, v.distance) for v in ctx.store.collection_info(name).vectors}
    if stored == {(v.name, v.size, v.distance) for v in spec.vectors}:
        return False
    ctx.store.drop_collection(name)
    return True
