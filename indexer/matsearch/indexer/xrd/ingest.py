"""User CIFs → validated structure entries → the ``xrd`` collection (``matsearch ingest cif``, POST /v1/ingest/cif)."""

from __future__ import annotations

from collections.abc import Sequence

from matsearch.core.errors import MatsearchError
from matsearch.core.schemas import IngestReport, IngestSkip
from matsearch.indexer.context import IngestContext
from matsearch.indexer.structures import StructureEntry, dedupe, load_cif_bytes
from matsearch.indexer.xrd.build import COLLECTION, ingest_entries


def ingest_cif_files(
    ctx: IngestContext, files: Sequence[tuple[str, bytes]], *, progress: bool = False, workers: int = 2
) -> IngestReport:
    """Parse every CIF (all data blocks), skip broken ones with a reason, merge duplicates, index the rest."""
    entries: list[StructureEntry] = []
    skipped: list[IngestSkip] = []
    for name, data in files:
        try:
            entries.extend(load_cif_bytes(data, name, settings=ctx.settings))
        except MatsearchError as exc:
            skipped.append(IngestSkip(item=name, reason=exc.message))
    kept, dropped = dedupe(entries)
    for dup, into in dropped.items():
        skipped.append(IngestSkip(item=dup, reason=f"same structure as {into}"))
    if kept:
        report = ingest_entries(ctx, kept, workers=workers if len(kept) > 8 else 1, progress=progress)
    else:
        ctx.ensure_collection(COLLECTION)
        report = IngestReport(collection=COLLECTION, count=ctx.store.count(COLLECTION))
    report.items = len(entries) + len([s for s in skipped if s.item in {n for n, _ in files}])
    report.skipped = skipped + report.skipped
    return report
