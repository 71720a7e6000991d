"""Figure commands: ``figure split``, ``ingest pdf|exsclaim|fetch``, ``search sketch``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from matsearch.cli.output import emit, emit_hits
from matsearch.core.errors import BadInput
from matsearch.core.settings import Settings

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def _read_caption(caption: str | None, caption_file: Path | None) -> str | None:
    if caption is not None and caption_file is not None:
        raise BadInput("give --caption or --caption-file, not both")
    if caption_file is not None:
        try:
            return caption_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{caption_file} is not UTF-8 text") from None
    return caption


@click.group()
def figure() -> None:
    """Work on single figures (no index needed)."""


@figure.command("split")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--caption", help="The figure's caption text.")
@click.option("--caption-file", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Caption file.")
@click.option("--explain", is_flag=True, help="Include the layout decisions in the output.")
@json_option
@click.pass_obj
def figure_split(
    settings: Settings, image: Path, caption: str | None, caption_file: Path | None, explain: bool, as_json: bool
) -> None:
    """Split a compound figure IMAGE into labelled panels with type, sub-caption and scale."""
    from matsearch.core.images import load_image
    from matsearch.indexer.figures.panels import split_figure

    text = _read_caption(caption, caption_file)
    img = load_image(image.read_bytes(), settings, what=image.name)
    result = split_figure(img, text, settings=settings)
    data = result.to_dict(explain=explain)
    lines = [f"{result.width}x{result.height} px, {len(result.panels)} panel(s)"]
    for p in result.panels:
        scale = f"{p.nm_per_px:.4g} nm/px" if p.nm_per_px else "scale ?"
        kind = f"{p.type} ({p.type_confidence:.2f})" if p.type else "type ?"
        lines.append(f"  {p.label or '-':<4} {str(list(p.bbox)):<24} {kind:<22} {scale:<16} {(p.caption or '')[:60]}")
    if explain:
        lines.extend(f"  note: {n}" for n in result.notes)
    emit(data, as_json, "\n".join(lines))


def _ingest(settings: Settings, items: list[Any], skipped: list[str], as_json: bool) -> None:
    from matsearch.cli.core_commands import ingest_items, report_line

    if not items:
        reasons = "; ".join(skipped) or "nothing to ingest"
        raise BadInput(reasons)
    report = ingest_items(settings, items)
    report["skipped"] = list(report.get("skipped", [])) + [{"item": r.split(" ")[0], "reason": r} for r in skipped]
    emit(report, as_json, report_line(report))


@click.command("pdf")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@json_option
@click.pass_obj
def ingest_pdf(settings: Settings, paths: tuple[Path, ...], as_json: bool) -> None:
    """Ingest the figures of PDF papers (each with its 'Fig. N' caption and the paper's metadata)."""
    from matsearch.cli.core_commands import ingest_items
    from matsearch.cli.remote import RemoteAPI, find_server
    from matsearch.core.errors import MatsearchError
    from matsearch.indexer.sources.pdf import read_pdf

    url = find_server(settings)
    if url is not None:  # the server reads the PDFs with the same code: same figures, payloads and provenance
        remote = RemoteAPI(url, settings.api_key)
        try:
            report = post_files(remote, "/v1/ingest/pdf", [(p.name, p.read_bytes()) for p in paths], "figures")
        finally:
            remote.close()
        emit(report, as_json, _report_line(report))
        return
    skipped: list[str] = []

    def items() -> Iterator[Any]:
        # streamed: each PDF is read while the figures of the ones before it are being extracted; a PDF is read
        # whole before its figures go on, so an unreadable one (also one stopped by a limit) is skipped entirely
        for path in paths:
            try:
                figures = list(read_pdf(path, settings=settings))
            except MatsearchError as exc:
                skipped.append(exc.message)
                continue
            yield from figures

    stream = items()
    first = next(stream, None)
    if first is None:
        raise BadInput("; ".join(skipped) or "nothing to ingest")
    report = ingest_items(settings, itertools.chain([first], stream))
    report["skipped"] = list(report.get("skipped", [])) + [{"item": r.split(" ")[0], "reason": r} for r in skipped]
    emit(report, as_json, _report_line(report))


def _report_line(report: dict[str, Any]) -> str:
    from matsearch.cli.core_commands import report_line

    return report_line(report)


def post_files(
    remote: Any, endpoint: str, files: list[tuple[str, bytes]], collection: str, *, field: str = "files"
) -> dict[str, Any]:
    """POST files to an ingest endpoint in batches under the server's limits (progress bar per file)."""
    from tqdm import tqdm

    from matsearch.cli.output import progress_enabled
    from matsearch.cli.remote import batches, merge_reports, server_limits

    _, max_request = server_limits(remote)
    groups = batches([len(d) for _, d in files], [n for n, _ in files], max_request=max_request)
    reports = []
    with tqdm(total=len(files), unit="file", disable=not progress_enabled(), desc="ingest") as bar:
        for group in groups:
            uploads = [(field, (files[i][0], files[i][1], "application/octet-stream")) for i in group]
            reports.append(remote.request("POST", endpoint, files=uploads))
            bar.update(len(group))
    return merge_reports(reports, collection)


@click.command("exsclaim")
@click.argument("json_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--images", type=click.Path(path_type=Path, file_okay=False, exists=True), help="Figure image folder.")
@json_option
@click.pass_obj
def ingest_exsclaim(settings: Settings, json_file: Path, images: Path | None, as_json: bool) -> None:
    """Import EXSCLAIM results (exsclaim.json + its figures) as-is: its panels, labels, captions, scale bars."""
    from matsearch.cli.core_commands import report_line
    from matsearch.cli.remote import find_server
    from matsearch.indexer.sources.exsclaim import read_exsclaim

    skipped: list[str] = []
    items = list(read_exsclaim(json_file, images, skipped=skipped))
    if not items:
        raise BadInput("; ".join(skipped) or "nothing to ingest")
    url = find_server(settings)
    if url is not None:  # keep EXSCLAIM's panels: its own endpoint, not /v1/ingest/figures (which would re-split)
        report = _post_exsclaim(settings, url, json_file, items)
        report["skipped"] = list(report.get("skipped", [])) + [{"item": r.split(":")[0], "reason": r} for r in skipped]
        emit(report, as_json, report_line(report))
        return
    _ingest(settings, items, skipped, as_json)


def _post_exsclaim(settings: Settings, url: str, json_file: Path, items: list[Any]) -> dict[str, Any]:
    """Batches of figures, each with the part of the JSON that describes them and their images (named by key)."""
    import json

    from tqdm import tqdm

    from matsearch.cli.output import progress_enabled
    from matsearch.cli.remote import RemoteAPI, batches, merge_reports, server_limits
    from matsearch.indexer.sources.exsclaim import load_exsclaim

    data = load_exsclaim(json_file)
    remote = RemoteAPI(url, settings.api_key)
    try:
        _, max_request = server_limits(remote)
        parts = [json.dumps({i.name: data[i.name]}).encode() for i in items]
        groups = batches(
            [len(i.data) + len(p) for i, p in zip(items, parts, strict=True)],
            [i.name for i in items],
            max_request=max_request,
            reserve=4096,
        )
        reports = []
        with tqdm(total=len(items), unit="figure", disable=not progress_enabled(), desc="ingest") as bar:
            for group in groups:
                sub = {items[i].name: data[items[i].name] for i in group}
                files = [("results", (json_file.name, json.dumps(sub).encode(), "application/json"))]
                files += [("files", (items[i].name, items[i].data, "application/octet-stream")) for i in group]
                reports.append(remote.request("POST", "/v1/ingest/exsclaim", files=files))
                bar.update(len(group))
    finally:
        remote.close()
    return merge_reports(reports, "figures")


@click.command("fetch")
@click.option("--doi", "dois", multiple=True, help="A DOI (repeatable).")
@click.option("--query", help="A Europe PMC search query, e.g. 'HRTEM nanorods AND OPEN_ACCESS:y'.")
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True, help="Articles for --query.")
@click.option("--api", default=None, help="Europe PMC REST base URL (default: the public one).")
@click.option("--files", "files_url", default=None, help="Base URL of article figure files.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), help="HTTP cache (default data/cache).")
@click.option("--rate-limit", type=float, default=0.5, show_default=True, help="Seconds between requests.")
@json_option
@click.pass_obj
def ingest_fetch(
    settings: Settings,
    dois: tuple[str, ...],
    query: str | None,
    limit: int,
    api: str | None,
    files_url: str | None,
    cache_dir: Path | None,
    rate_limit: float,
    as_json: bool,
) -> None:
    """Fetch open-access articles (Europe PMC) by DOI or query and ingest their openly licensed figures."""
    from matsearch.indexer.sources.fetch import EUROPE_PMC_API, EUROPE_PMC_FILES, Fetcher, fetch_articles

    if not dois and not query:
        raise BadInput("give --doi and/or --query")
    fetcher = Fetcher(
        api=api or EUROPE_PMC_API,
        files=files_url or EUROPE_PMC_FILES,
        cache_dir=cache_dir or settings.data_dir / "cache" / "fetch",
        rate_limit_s=rate_limit,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
    )
    skipped: list[str] = []
    items = list(fetch_articles(fetcher, dois=dois, query=query, limit=limit, skipped=skipped))
    _ingest(settings, items, skipped, as_json)


@click.command("sketch")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--collection", default="figures", show_default=True)
@click.option("--filter", "filter_text", help='JSON filter, e.g. \'{"type": "microscopy"}\'.')
@click.option("--limit", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--score-threshold", type=float, help="Drop hits scoring below this.")
@click.option(
    "--group-by",
    type=click.Choice(["material"]),
    help="Answer with materials: hits grouped by the material their captions name (LIMIT groups).",
)
@json_option
@click.pass_obj
def search_sketch(
    settings: Settings,
    file: Path,
    collection: str,
    filter_text: str | None,
    limit: int,
    score_threshold: float | None,
    group_by: str | None,
    as_json: bool,
) -> None:
    """Find panels that look like the drawing FILE (contours against contours)."""
    from matsearch.cli.session import upload_search
    from matsearch.core.filters import parse_filter
    from matsearch.search.figures import search_sketch as run

    flt = parse_filter(filter_text)
    params = {"collection": collection, "limit": limit, "filter": filter_text, "score_threshold": score_threshold}
    if group_by is not None:
        _sketch_groups(settings, file, params, group_by, flt, as_json)
        return
    hits = upload_search(
        settings,
        "/v1/search/sketch",
        file,
        params,
        lambda service, data: run(
            service.store,
            settings,
            data,
            filename=file.name,
            collection=collection,
            flt=flt,
            limit=limit,
            score_threshold=score_threshold,
        ),
    )
    emit_hits(hits, as_json)


def _sketch_groups(
    settings: Settings, file: Path, params: dict[str, Any], group_by: str, flt: Any, as_json: bool
) -> None:
    """``search sketch --group-by material``: the server's answer when one runs, else this process's."""
    from matsearch.cli.output import emit
    from matsearch.cli.session import open_session
    from matsearch.search.groups import search_sketch_grouped

    data = file.read_bytes()
    with open_session(settings) as s:
        if s.remote:
            query = {k: v for k, v in {**params, "group_by": group_by}.items() if v is not None}
            body: dict[str, Any] = s.remote.request(
                "POST", "/v1/search/sketch", params=query, files={"file": (file.name, data)}
            )
        else:
            hits, groups, ungrouped = search_sketch_grouped(
                s.local.store,
                settings,
                data,
                group_by=group_by,
                filename=file.name,
                collection=params["collection"],
                flt=flt,
                limit=params["limit"],
                score_threshold=params["score_threshold"],
            )
            body = {
                "hits": [h.model_dump(mode="json") for h in hits],
                "groups": [g.model_dump(mode="json") for g in groups],
                "ungrouped": ungrouped,
            }
    lines = [f"{'material':<20} {'score':>7} {'panels':>6}  papers / best panel"]
    for g in body.get("groups") or []:
        papers = ", ".join(str(p.get("doi") or p.get("title") or "?") for p in g["papers"][:3]) or "-"
        best = g["hits"][0]["payload"] if g["hits"] else {}
        label = best.get("panel_label") or "-"
        lines.append(f"{g['material']:<20} {g['score']:>7.3f} {g['panels']:>6}  {papers}  (panel {label})")
    lines.append(f"{body.get('ungrouped') or 0} of the candidate panels name no material")
    emit(body, as_json, "\n".join(lines))


def register(groups: dict[str, click.Group]) -> None:
    groups["cli"].add_command(figure)
    groups["figure"] = figure
    groups["ingest"].add_command(ingest_pdf)
    groups["ingest"].add_command(ingest_exsclaim)
    groups["ingest"].add_command(ingest_fetch)
    groups["search"].add_command(search_sketch)
