"""Foundation commands: serve, collections, ingest figures, search image/text, point get/similar, demo build."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sized
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from matsearch.cli.output import emit, emit_hits, progress_enabled
from matsearch.cli.remote import RemoteAPI
from matsearch.cli.session import open_session, upload_search
from matsearch.core.errors import BadInput
from matsearch.core.filters import parse_filter
from matsearch.core.settings import Settings
from matsearch.indexer.items import FigureItem
from matsearch.search import common, figures

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
limit_option = click.option("--limit", type=click.IntRange(1, 200), default=10, show_default=True)
filter_option = click.option(
    "--filter", "filter_text", help='JSON filter, e.g. \'{"type": "microscopy", "year": {"gte": 2015}}\'.'
)
threshold_option = click.option("--score-threshold", type=float, help="Drop hits scoring below this.")


@click.command()
@click.option("--host", help="Interface to bind (default 127.0.0.1; env MATSEARCH_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 8000; env MATSEARCH_PORT).")
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Allow a non-loopback --host without MATSEARCH_API_KEY (anyone who can reach it can write).",
)
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, insecure: bool | None) -> None:
    """Run the HTTP server (API under /v1, docs at /docs, web page at /)."""
    import uvicorn

    from matsearch.cli.remote import find_server
    from matsearch.server.app import create_app
    from matsearch.server.guard import is_loopback_host

    host = host or settings.host
    port = port or settings.port
    insecure = settings.insecure if insecure is None else insecure
    if not is_loopback_host(host) and not settings.api_key and not insecure:
        raise BadInput(
            f"refusing to serve on {host} without an API key: set MATSEARCH_API_KEY (writes then need X-API-Key), "
            "or pass --insecure to serve an open server on purpose"
        )
    settings = settings.model_copy(update={"host": host, "port": port, "insecure": insecure})
    running = find_server(settings)
    if running:
        raise BadInput(f"a server already owns {settings.data_dir} at {running}")
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    app = create_app(settings, advertise_url=f"http://{host if host != '0.0.0.0' else '127.0.0.1'}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="info")


@click.command()
@json_option
@click.pass_obj
def collections(settings: Settings, as_json: bool) -> None:
    """Collections with their point counts and vectors."""
    with open_session(settings) as s:
        if s.remote:
            data = s.remote.request("GET", "/v1/collections")
        else:
            data = {"collections": [c.model_dump(mode="json") for c in s.local.collections()]}
    lines = [
        f"{c['name']:<10} {c['count']:>8} points  vectors: {', '.join(v['name'] for v in c['vectors'])}"
        for c in data["collections"]
    ]
    emit(data, as_json, "\n".join(lines) or "no collections yet")


def item_metadata(item: FigureItem) -> dict[str, Any]:
    """What /v1/ingest/figures needs to store exactly what a local ingest of ``item`` stores."""
    return {
        **item.doc,
        "caption": item.caption,
        "figure_id": item.figure_id,
        "source": item.source,
        "provenance": item.provenance,
    }


def post_items(remote: RemoteAPI, items: list[FigureItem]) -> dict[str, Any]:
    """POST figure items to /v1/ingest/figures in batches under the server's limits, with a progress bar."""
    from matsearch.cli.remote import batches, merge_reports, server_limits

    if any(i.panels is not None for i in items):
        raise BadInput("items with their own panels (EXSCLAIM) go through /v1/ingest/exsclaim")
    _, max_request = server_limits(remote)
    metas = [json.dumps({i.name: item_metadata(i)}) for i in items]
    groups = batches(
        [len(i.data) + len(m) for i, m in zip(items, metas, strict=True)],
        [i.name for i in items],
        max_request=max_request,
        reserve=1024,
    )
    reports = []
    with tqdm(total=len(items), unit="figure", disable=not progress_enabled(), desc="ingest") as bar:
        for group in groups:
            batch = [items[i] for i in group]
            metadata = {i.name: item_metadata(i) for i in batch}
            files = [("files", (i.name, i.data, "application/octet-stream")) for i in batch]
            reports.append(
                remote.request("POST", "/v1/ingest/figures", files=files, data={"metadata": json.dumps(metadata)})
            )
            bar.update(len(batch))
    return merge_reports(reports, "figures")


def ingest_items(settings: Settings, items: Iterable[FigureItem]) -> dict[str, Any]:
    """Send figure items to the running server, or ingest them locally, with a progress bar; a local ingest consumes
    ``items`` as it goes (a generator is read while the first figures are being extracted)."""
    with open_session(settings) as s:
        if s.remote:
            return post_items(s.remote, list(items))
        from matsearch.indexer.pipeline import FigureIngestor

        total = len(items) if isinstance(items, Sized) else None
        with tqdm(total=total, unit="figure", disable=not progress_enabled(), desc="ingest") as bar:
            report = FigureIngestor(s.local).ingest(items, progress=bar.update)
        return report.model_dump(mode="json")


def report_line(report: dict[str, Any]) -> str:
    skipped = "".join(f"\n  skipped {s['item']}: {s['reason']}" for s in report["skipped"])
    return (
        f"{report['items']} items → {report['points']} points ({report['new_points']} new); "
        f"{report['collection']} now has {report['count']} points{skipped}"
    )


@click.command("figures")
@click.argument("folder", type=click.Path(path_type=Path))
@json_option
@click.pass_obj
def ingest_figures(settings: Settings, folder: Path, as_json: bool) -> None:
    """Ingest a FOLDER of figure images (+ captions in a JSON or CSV file beside them)."""
    from matsearch.indexer.sources.folder import read_folder

    report = ingest_items(settings, list(read_folder(folder)))
    emit(report, as_json, report_line(report))


@click.command("image")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--collection", default="figures", show_default=True, help="figures or stem")
@click.option("--nm-per-px", type=float, help="Pixel size of the query image (STEM).")
@filter_option
@limit_option
@threshold_option
@json_option
@click.pass_obj
def search_image(
    settings: Settings,
    file: Path,
    collection: str,
    nm_per_px: float | None,
    filter_text: str | None,
    limit: int,
    score_threshold: float | None,
    as_json: bool,
) -> None:
    """Find images like FILE."""
    flt = parse_filter(filter_text)
    if nm_per_px is not None and not nm_per_px > 0:
        raise BadInput(f"--nm-per-px must be positive, got {nm_per_px}")
    params = {
        "collection": collection,
        "limit": limit,
        "filter": filter_text,
        "score_threshold": score_threshold,
        "nm_per_px": nm_per_px,
    }
    hits = upload_search(
        settings,
        "/v1/search/image",
        file,
        params,
        lambda service, data: figures.search_image(
            service.store,
            settings,
            data,
            filename=file.name,
            collection=collection,
            flt=flt,
            limit=limit,
            score_threshold=score_threshold,
            nm_per_px=nm_per_px,
        ),
    )
    emit_hits(hits, as_json)


@click.command("text")
@click.argument("query")
@click.option("--collection", default="figures", show_default=True)
@filter_option
@limit_option
@threshold_option
@json_option
@click.pass_obj
def search_text(
    settings: Settings,
    query: str,
    collection: str,
    filter_text: str | None,
    limit: int,
    score_threshold: float | None,
    as_json: bool,
) -> None:
    """Find figure panels whose captions match QUERY."""
    flt = parse_filter(filter_text)
    with open_session(settings) as s:
        if s.remote:
            body = {
                "q": query,
                "collection": collection,
                "limit": limit,
                "filter": json.loads(filter_text or "null"),
                "score_threshold": score_threshold,
            }
            hits = s.remote.request("POST", "/v1/search/text", json=body)["hits"]
        else:
            hits = figures.search_text(
                s.local.store,
                settings,
                query,
                collection=collection,
                flt=flt,
                limit=limit,
                score_threshold=score_threshold,
            )
    emit_hits(hits, as_json)


@click.command("similar")
@click.argument("collection")
@click.argument("point_id")
@click.option("--using", help="Named vector (default: the collection's first).")
@filter_option
@limit_option
@json_option
@click.pass_obj
def search_similar(
    settings: Settings,
    collection: str,
    point_id: str,
    using: str | None,
    filter_text: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Points most like a stored point."""
    flt = parse_filter(filter_text)
    with open_session(settings) as s:
        if s.remote:
            params: dict[str, Any] = {"limit": limit}
            if using:
                params["using"] = using
            if filter_text:
                params["filter"] = filter_text
            hits = s.remote.request("GET", f"/v1/points/{collection}/{point_id}/similar", params=params)["hits"]
        else:
            hits = common.similar(s.local.store, settings, collection, point_id, using=using, flt=flt, limit=limit)
    emit_hits(hits, as_json)


@click.command("get")
@click.argument("collection")
@click.argument("point_id")
@json_option
@click.pass_obj
def get_point(settings: Settings, collection: str, point_id: str, as_json: bool) -> None:
    """One stored point with its payload."""
    with open_session(settings) as s:
        if s.remote:
            data = s.remote.request("GET", f"/v1/points/{collection}/{point_id}")
        else:
            data = common.get_point(s.local.store, collection, point_id).model_dump(mode="json")
    emit(data, True if as_json else False)


@click.command("build")
@json_option
@click.pass_obj
def demo_build(settings: Settings, as_json: bool) -> None:
    """Build the demo index: CC-BY dev figures and scikit-image samples (idempotent)."""
    from matsearch.indexer.demo import demo_items

    report = ingest_items(settings, demo_items(settings))
    emit(report, as_json, report_line(report))


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
@json_option
@click.pass_obj
def gc(settings: Settings, dry_run: bool, as_json: bool) -> None:
    """Remove stored images no point refers to, thumbnails without an image, and leftover temporary files."""
    from matsearch.core.gc import collect_garbage

    with open_session(settings) as s:
        if s.remote:
            report: dict[str, Any] = s.remote.request("POST", "/v1/admin/gc", params={"dry_run": dry_run})
        else:
            report = collect_garbage(
                s.local.store,
                s.local.images,
                settings.data_dir,
                grace_s=settings.gc_grace_seconds,
                dry_run=dry_run,
            ).model_dump(mode="json")
    verb = "would remove" if dry_run else "removed"
    emit(
        report,
        as_json,
        f"{report['referenced']} images referenced; {verb} {report['images_removed']} images, "
        f"{report['thumbnails_removed']} thumbnails, {report['temp_files_removed']} temporary files "
        f"({report['bytes_freed']} bytes); {report['kept_young']} younger files kept",
    )


def register(groups: dict[str, click.Group]) -> None:
    groups["cli"].add_command(serve)
    groups["cli"].add_command(collections)
    groups["cli"].add_command(gc)
    groups["cli"].add_command(get_point)
    groups["ingest"].add_command(ingest_figures)
    groups["search"].add_command(search_image)
    groups["search"].add_command(search_text)
    groups["search"].add_command(search_similar)
    groups["demo"].add_command(demo_build)
