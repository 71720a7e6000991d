"""Figure commands: ``figure split``, ``ingest pdf|exsclaim|fetch``, ``search sketch``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from matsearch.cli.output import emit, hits_table
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
    result = split_figure(img, text)
    data = result.to_dict(explain=explain)
    lines = [f"{result.width}x{result.height} px, {len(result.panels)} panel(s)"]
    for p in result.panels:
        scale = f"{p.nm_per_px:.4g} nm/px" if p.nm_per_px else "scale ?"
        kind = f"{p.type} ({p.type_confidence:.2f})" if p.type else "type ?"
        lines.append(f"  {p.label or '-':<4} {str(list(p.bbox)):<24} {kind:<22} {scale:<16} {(p.caption or '')[:60]}")
    if explain:
        lines.extend(f"  note: {n}" for n in result.notes)
    emit(data, as_json, "\n".join(lines))


def _emit_hits(hits: list[Any], as_json: bool) -> None:
    hits = [h if isinstance(h, dict) else h.model_dump(mode="json") for h in hits]
    emit({"hits": hits}, as_json, hits_table(hits))


def register(groups: dict[str, click.Group]) -> None:
    groups["cli"].add_command(figure)
    groups["figure"] = figure
