"""XRD and structure-library commands: ``search spectrum``, ``ingest cif``, ``library build``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from matsearch.cli.output import emit, progress_enabled
from matsearch.cli.session import open_session
from matsearch.core.errors import BadInput
from matsearch.core.settings import Settings

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def spectrum_table(result: dict[str, Any]) -> str:
    hits = result.get("hits", [])
    if not hits:
        return f"no confident match ({result.get('peaks', 0)} peaks in the pattern)"
    rows = []
    for rank, h in enumerate(hits, 1):
        p = h.get("payload", {})
        phase = f"phase {h['phase']}" if h.get("phase") else ""
        share = f" share {100 * h['share']:.0f}%" if h.get("share") is not None else ""
        rows.append(
            f"{rank:>3}  {h['score']:.3f}  {p.get('structure_id', ''):<16} {p.get('formula', ''):<14} "
            f"{p.get('spacegroup_symbol', ''):<10} {phase:<8} explains {len(h.get('explained_peaks', []))} peaks, "
            f"strain {100 * h.get('strain', 0):+.2f}%{share}"
        )
    left = result.get("unexplained_peaks", [])
    if left:
        listed = ", ".join(f"{p['two_theta']:.2f}" for p in left[:15])
        wl = result.get("wavelength")
        rows.append(f"unexplained peaks (2θ at {wl:g} Å): {listed}" if wl else f"unexplained peaks (2θ): {listed}")
    return "\n".join(rows)


@click.command("spectrum")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--wavelength", help="Å or a name: CuKa (default), CuKa1, MoKa, CoKa, CrKa, FeKa, AgKa, …")
@click.option(
    "--x-kind", type=click.Choice(["auto", "2theta", "d", "q"]), default="auto", show_default=True, help="x column"
)
@click.option("--elements", help="Comma-separated elements, e.g. Mg,O,H.")
@click.option(
    "--elements-mode",
    type=click.Choice(["only", "all", "any"]),
    default="only",
    show_default=True,
    help="only: phases made of these elements alone; all: containing all; any: containing any.",
)
@click.option("--max-phases", type=click.IntRange(1, 5), default=5, show_default=True)
@click.option("--limit", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--filter", "filter_text", help='JSON payload filter, e.g. \'{"crystal_system": "cubic"}\'.')
@click.option("--score-threshold", type=click.FloatRange(0, 1), help="Abstain threshold (default: calibrated).")
@click.option(
    "--collection",
    type=click.Choice(["xrd", "spectra"]),
    default="xrd",
    show_default=True,
    help="xrd: identify phases; spectra: literature plots (digitised graph panels) with a pattern like this one.",
)
@click.option(
    "--kind",
    type=click.Choice(["xrd", "raman", "xps", "xas", "ftir", "uv-vis", "eds", "other"]),
    default="xrd",
    show_default=True,
    help="With --collection spectra: the spectrum kind (non-XRD kinds: two-column text).",
)
@json_option
@click.pass_obj
def search_spectrum(
    settings: Settings,
    file: Path,
    wavelength: str | None,
    x_kind: str,
    elements: str | None,
    elements_mode: str,
    max_phases: int,
    limit: int,
    filter_text: str | None,
    score_threshold: float | None,
    collection: str,
    kind: str,
    as_json: bool,
) -> None:
    """Identify the phases of the powder XRD pattern in FILE: an instrument file (.xrdml, .brml, .raw, .uxd, .ras,
    .rasx, .gsa/.fxye, .chi, powder .cif — the wavelength comes from the file) or two/three-column text."""
    from matsearch.encoders.xrd_pattern import read_pattern_bytes
    from matsearch.search.spectra import options_from_request

    data = file.read_bytes()
    if collection == "spectra":
        from matsearch.cli.plots import literature_search

        literature_search(settings, file.name, data, kind, wavelength, limit, filter_text, score_threshold, as_json)
        return
    # validate locally first: bad input fails fast with the same message either way
    opts = options_from_request(
        limit=limit,
        max_phases=max_phases,
        elements=elements,
        elements_mode=elements_mode,
        filter=filter_text,
        score_threshold=score_threshold,
    )
    pattern = read_pattern_bytes(data, file.name, x_kind=x_kind, wavelength=wavelength)  # type: ignore[arg-type]
    with open_session(settings) as s:
        if s.remote:
            params: dict[str, Any] = {
                "x_kind": x_kind,
                "elements_mode": elements_mode,
                "max_phases": max_phases,
                "limit": limit,
            }
            for key, value in (
                ("wavelength", wavelength),
                ("elements", elements),
                ("filter", filter_text),
                ("score_threshold", score_threshold),
            ):
                if value is not None:
                    params[key] = value
            result = s.remote.request("POST", "/v1/search/spectrum", params=params, files={"file": (file.name, data)})
        else:
            from matsearch.search.spectra import identify_phases

            result = identify_phases(s.local.store, settings, pattern, opts)
    emit(result, as_json, spectrum_table(result))


@click.command("cif")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@json_option
@click.pass_obj
def ingest_cif(settings: Settings, paths: tuple[Path, ...], as_json: bool) -> None:
    """Add user CIF files (or folders of them) to the structure collections (xrd)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in (".cif", ".mcif")))
        elif p.exists():
            files.append(p)
        else:
            raise BadInput(f"{p}: no such file or directory")
    if not files:
        raise BadInput("no .cif files found in the given paths")
    with open_session(settings) as s:
        if s.remote:
            from matsearch.cli.figures import post_files  # batches under the server's request limit

            report: dict[str, Any] = post_files(
                s.remote, "/v1/ingest/cif", [(f.name, f.read_bytes()) for f in files], "xrd"
            )
        else:
            from matsearch.indexer.xrd.ingest import ingest_cif_files

            report = ingest_cif_files(
                s.local, [(f.name, f.read_bytes()) for f in files], progress=progress_enabled()
            ).model_dump(mode="json")
    skipped = "".join(f"\n  skipped {x['item']}: {x['reason']}" for x in report.get("skipped", []))
    emit(
        report,
        as_json,
        f"{report['items']} structures → {report['points']} points ({report['new_points']} new); "
        f"{report['collection']} now has {report['count']} points{skipped}",
    )


@click.command("build")
@click.option("--collection", "collections", multiple=True, help="Only these collections (default: all: xrd, stem).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Processes for simulation.")
@click.option("--limit", type=click.IntRange(1), help="Use only the first N Materials Project structures (quick).")
@click.option("--force", is_flag=True, help="Recompute cached simulations.")
@json_option
@click.pass_obj
def library_build(
    settings: Settings, collections: tuple[str, ...], workers: int, limit: int | None, force: bool, as_json: bool
) -> None:
    """Build the xrd (and stem) collections from the bundled structure library (cached, parallel, idempotent)."""
    from matsearch.indexer.library import BuildOptions, build_libraries

    started = time.time()
    with open_session(settings, local_only=True) as s:
        options = BuildOptions(workers=workers, progress=progress_enabled(), limit=limit, force=force)
        reports = build_libraries(s.local, list(collections) or None, options)
    data = {"reports": [r.model_dump(mode="json") for r in reports], "seconds": round(time.time() - started, 1)}
    lines = [
        f"{r.collection}: {r.items} structures → {r.points} points written ({r.new_points} new, {r.unchanged} "
        f"unchanged, {len(r.skipped)} skipped); "
        f"{r.count} in the collection"
        for r in reports
    ]
    emit(data, as_json, "\n".join(lines + [f"done in {data['seconds']} s"]))


def register(groups: dict[str, click.Group]) -> None:
    groups["search"].add_command(search_spectrum)
    groups["ingest"].add_command(ingest_cif)
    groups["library"].add_command(library_build)


__all__ = ["register", "json"]
