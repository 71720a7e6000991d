"""Figure routes: search by a hand sketch, ingest PDFs, split a figure into panels."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from matsearch.core.errors import BadInput
from matsearch.core.images import load_image
from matsearch.core.schemas import GroupedSearchResponse, IngestReport, SearchResponse
from matsearch.search import figures as figure_search
from matsearch.server.deps import FilterDep, Limit, ServiceDep, Threshold, WriteAuth
from matsearch.server.routes.uploads import read_upload

router = APIRouter(tags=["figures"])


@router.post(
    "/v1/search/sketch",
    response_model=SearchResponse | GroupedSearchResponse,
    summary="Search figure panels by a hand drawing",
    description="Multipart field `file`: a drawing (e.g. a PNG from a canvas, dark lines on a light background). "
    "It is turned into a contour rendering — the same transform every stored panel got — and compared with the "
    "panels' `sketch` vectors. Same parameters and response as `/v1/search/image`; with `group_by=material` the "
    "response also has `groups`: materials whose panels look like the drawing.",
    responses={400: {"description": "corrupt or empty image"}, 413: {"description": "too large"}},
)
async def search_sketch(
    service: ServiceDep,
    flt: FilterDep,
    file: Annotated[UploadFile, File(description="The drawing.")],
    collection: Annotated[str, Query(description="figures")] = "figures",
    limit: Limit = 10,
    score_threshold: Threshold = None,
    group_by: Annotated[
        str | None,
        Query(
            description="`material`: also answer with materials — the hits grouped by the material/formula their "
            "captions name (`groups`, best first, each with its best panels and papers; `limit` groups)."
        ),
    ] = None,
) -> SearchResponse | GroupedSearchResponse:
    if collection != "figures":
        raise BadInput(f"sketch search is only available for the figures collection, not {collection!r}")
    data = await read_upload(file, service.settings)
    if group_by is not None:
        from matsearch.search.groups import search_sketch_grouped

        hits, groups, ungrouped = await asyncio.to_thread(
            search_sketch_grouped,
            service.store,
            service.settings,
            data,
            group_by=group_by,
            filename=file.filename or "sketch",
            collection=collection,
            flt=flt,
            limit=limit,
            score_threshold=score_threshold,
        )
        return GroupedSearchResponse(hits=hits, groups=groups, ungrouped=ungrouped)
    hits = await asyncio.to_thread(
        figure_search.search_sketch,
        service.store,
        service.settings,
        data,
        filename=file.filename or "sketch",
        collection=collection,
        flt=flt,
        limit=limit,
        score_threshold=score_threshold,
    )
    return SearchResponse(hits=hits)


@router.post(
    "/v1/ingest/pdf",
    response_model=IngestReport,
    dependencies=[WriteAuth],
    summary="Ingest the figures of PDF papers",
    description="Multipart: one or more `files` (PDF). Each figure is taken with its 'Fig. N' caption and the "
    "paper's title, DOI, year and journal, split into panels and indexed. Unusable PDFs (encrypted, corrupt, "
    "no figures) are reported in `skipped`; the others are kept. Re-sending a PDF rewrites the same points.",
)
async def ingest_pdf(
    service: ServiceDep,
    files: Annotated[list[UploadFile], File(description="PDF files.")],
) -> IngestReport:
    from matsearch.core.errors import MatsearchError

    items: list[Any] = []
    skipped: list[tuple[str, str]] = []
    for upload in files:
        name = upload.filename or "upload.pdf"
        data = await read_upload(upload, service.settings, allow_empty=True)
        try:
            items.extend(await asyncio.to_thread(_read_pdf, name, data, service.settings))
        except MatsearchError as exc:
            skipped.append((name, exc.message))
    report = await asyncio.to_thread(service.ingest_figures, items)
    from matsearch.core.schemas import IngestSkip

    report.skipped.extend(IngestSkip(item=n, reason=r) for n, r in skipped)
    report.items += len(skipped)
    return report


def _read_pdf(name: str, data: bytes, settings: Any) -> list[Any]:
    from matsearch.indexer.sources.pdf import read_pdf

    return list(read_pdf(name, data, name=name, settings=settings))


@router.post(
    "/v1/figures/split",
    summary="Split a compound figure into panels",
    description="Multipart `file` (the figure) and optional `caption`. Same JSON as `matsearch figure split --json`.",
)
async def split(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="The figure image.")],
    caption: Annotated[str | None, Form(description="The figure caption.")] = None,
) -> dict[str, Any]:
    from matsearch.indexer.figures.panels import split_figure

    data = await read_upload(file, service.settings)

    def run() -> dict[str, Any]:  # decoding and splitting are CPU work: off the event loop
        image = load_image(data, service.settings, what=file.filename or "figure")
        return split_figure(image, caption, settings=service.settings).to_dict()

    return await asyncio.to_thread(run)


@router.post(
    "/v1/ingest/exsclaim",
    response_model=IngestReport,
    dependencies=[WriteAuth],
    summary="Import EXSCLAIM results as-is (its panels, labels, captions, scale bars)",
    description="Multipart: `results` (EXSCLAIM's JSON, an object of figure objects) and `files` (the figure "
    "images, each named as its key in the JSON or as the file name of its `figure_path`). EXSCLAIM's panels are "
    "kept (no re-splitting), with provenance under `exsclaim`. Figures whose image is not sent are reported in "
    "`skipped`. Same as `matsearch ingest exsclaim` without a server.",
)
async def ingest_exsclaim(
    service: ServiceDep,
    results: Annotated[UploadFile, File(description="EXSCLAIM results JSON (exsclaim.json).")],
    files: Annotated[list[UploadFile] | None, File(description="Figure images.")] = None,
) -> IngestReport:
    from matsearch.core.names import upload_name
    from matsearch.core.schemas import IngestSkip

    json_name = upload_name(results.filename, default="exsclaim.json", what="results")
    raw = await read_upload(results, service.settings)
    images: dict[str, bytes] = {}
    for upload in files or []:
        # a plain, normalised name: the only way an image is found (never a path on this machine)
        images[upload_name(upload.filename, what="figure image")] = await read_upload(
            upload, service.settings, allow_empty=True
        )
    skipped: list[str] = []
    items = await asyncio.to_thread(_read_exsclaim, json_name, raw, images, skipped)
    report = await asyncio.to_thread(service.ingest_figures, items)
    report.skipped.extend(IngestSkip(item=r.split(":")[0], reason=r) for r in skipped)
    report.items += len(skipped)
    return report


def _read_exsclaim(json_name: str, raw: bytes, images: dict[str, bytes], skipped: list[str]) -> list[Any]:
    """EXSCLAIM items from uploaded bytes only: images are looked up among ``images`` (nothing on disk)."""
    from matsearch.indexer.sources.exsclaim import read_exsclaim_uploads

    return list(read_exsclaim_uploads(raw, json_name, images, skipped=skipped))
