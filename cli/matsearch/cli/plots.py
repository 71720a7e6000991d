"""``matsearch plot digitize IMAGE``: a graph panel → calibrated axes and series in data units (no index needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from matsearch.cli.output import emit
from matsearch.core.settings import Settings

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


@click.group("plot")
def plot_group() -> None:
    """Plots (graph panels)."""


def _axis_line(name: str, axis: dict[str, Any]) -> str:
    ticks = axis["ticks"]
    span = f"{ticks[0]['value']:g} … {ticks[-1]['value']:g}" if ticks else "relative (no numeric ticks read)"
    return f"{name}: {axis['label'] or '?'} [{axis['scale']}] {span}"


@plot_group.command("digitize")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--caption", help="The figure caption (helps to tell the spectrum kind).")
@json_option
@click.pass_obj
def plot_digitize(settings: Settings, image: Path, caption: str | None, as_json: bool) -> None:
    """Read the axes and lines of a plot IMAGE: ticks, scale, kind and every series in data units."""
    from matsearch.core.images import load_image
    from matsearch.indexer.plots.digitize import digitize

    img = load_image(image.read_bytes(), settings, what=image.name)
    data = digitize(img, caption or "")
    lines = [
        f"{data['width']}x{data['height']} px, plot box {data['plot_box']}, kind {data['kind']}",
        "  " + _axis_line("x", data["x_axis"]),
        "  " + _axis_line("y", data["y_axis"]),
    ]
    for s in data["series"]:
        n = sum(1 for v in s["y"] if v is not None)
        lines.append(f"  series {s['label'] or '-':<10} {s['color']}  {n} points  confidence {s['confidence']:.2f}")
    if not data["series"]:
        lines.append("  no lines found")
    emit(data, as_json, "\n".join(lines))


def register(groups: dict[str, click.Group]) -> None:
    groups["cli"].add_command(plot_group)
    groups["plot"] = plot_group


def literature_search(
    settings: Settings,
    name: str,
    data: bytes,
    kind: str,
    wavelength: str | None,
    limit: int,
    filter_text: str | None,
    score_threshold: float | None,
    as_json: bool,
) -> None:
    """``search spectrum FILE --collection spectra``: literature panels showing a pattern like FILE."""
    from matsearch.cli.output import emit_hits
    from matsearch.cli.session import open_session
    from matsearch.core.filters import parse_filter

    flt = parse_filter(filter_text)  # validate locally first
    with open_session(settings) as s:
        if s.remote:
            params: dict[str, Any] = {"kind": kind, "limit": limit}
            for key, value in (
                ("wavelength", wavelength),
                ("filter", filter_text),
                ("score_threshold", score_threshold),
            ):
                if value is not None:
                    params[key] = value
            result = s.remote.request("POST", "/v1/search/spectra", params=params, files={"file": (name, data)})
            hits = result["hits"]
        else:
            from matsearch.search.literature import search_literature_file

            hits = search_literature_file(
                s.local.store,
                settings,
                data,
                name,
                kind=kind,
                wavelength=wavelength,
                flt=flt,
                limit=limit,
                score_threshold=score_threshold,
            )
    emit_hits(hits, as_json)
