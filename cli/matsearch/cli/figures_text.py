"""Caption and scale-bar commands: ``caption split`` and ``scalebar read`` (no index needed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from matsearch.cli.output import emit
from matsearch.core.errors import BadInput
from matsearch.core.settings import Settings

if TYPE_CHECKING:
    from matsearch.indexer.figures.scalebar import ScaleReading

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def _caption_text(caption: str | None, caption_file: Path | None, *, stdin_ok: bool) -> str | None:
    if caption is not None and caption_file is not None:
        raise BadInput("give --caption or --caption-file, not both")
    if caption_file is not None:
        try:
            return caption_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{caption_file} is not UTF-8 text") from None
    if caption is None and stdin_ok and not sys.stdin.isatty():
        return sys.stdin.read()
    return caption


@click.group("caption")
def caption_group() -> None:
    """Figure captions."""


@caption_group.command("split")
@click.option("--caption", help="The caption text (otherwise --caption-file or stdin).")
@click.option("--caption-file", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Caption file.")
@click.option("--explain", is_flag=True, help="Include the rule decisions in the output.")
@json_option
def caption_split(caption: str | None, caption_file: Path | None, explain: bool, as_json: bool) -> None:
    """Split a caption into per-panel segments, shared text and scale-bar values."""
    from matsearch.indexer.figures.captions import split_caption

    text = _caption_text(caption, caption_file, stdin_ok=True)
    if text is None or not text.strip():
        raise BadInput("no caption: give --caption TEXT, --caption-file F or pipe it on stdin")
    result = split_caption(text)
    data = result.to_dict()
    if not explain:
        data.pop("explain", None)
    lines = [f"shared: {result.shared}"] if result.shared else []
    for label, seg in result.segments.items():
        scale = result.scale_for(label)
        extra = f"  [scale bar {scale[0]:g} {scale[1]}]" if scale else ""
        lines.append(f"{label:>4}: {seg}{extra}")
    if not result.segments:
        lines.append("(no panel labels found: the whole caption is shared)")
    if explain:
        lines.extend(f"  note: {n}" for n in result.explain)
    emit(data, as_json, "\n".join(lines))


@click.group("scalebar")
def scalebar_group() -> None:
    """Scale bars in panel images."""


def _parse_value(value: str | None) -> tuple[float, str] | None:
    if value is None:
        return None
    from matsearch.indexer.figures.units import parse_length

    got = parse_length(value)
    if got is None:
        raise BadInput(f"--value: cannot read a length from {value!r} (e.g. '500 nm', '2 μm', '5 Å')")
    return got.value, got.unit


@scalebar_group.command("read")
@click.argument("image", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--caption", help="Caption of the figure; its scale sentence gives the value for --label.")
@click.option("--caption-file", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Caption file.")
@click.option("--label", help="Panel label whose caption value to use (default: the caption-wide one).")
@click.option("--value", "value_text", help="Known bar value, e.g. '500 nm' (used when OCR reads nothing).")
@click.option("--no-ocr", is_flag=True, help="Do not read the label in the image (caption/--value only).")
@click.option("--all", "all_bars", is_flag=True, help="Report every bar found, not only the best.")
@json_option
@click.pass_obj
def scalebar_read(
    settings: Settings,
    image: Path,
    caption: str | None,
    caption_file: Path | None,
    label: str | None,
    value_text: str | None,
    no_ocr: bool,
    all_bars: bool,
    as_json: bool,
) -> None:
    """Find the scale bar in IMAGE (a panel), read its value (OCR or caption) and report nm/px.

    IMAGE may also be a crop holding only the label ("0.5 µm"): it is then read on its own (several OCR passes
    that must agree); an unreadable label gives no value and a confidence under 0.3."""
    from matsearch.core.images import load_image
    from matsearch.indexer.figures.captions import split_caption
    from matsearch.indexer.figures.scalebar import read_scale, read_scales

    # a crop that holds only a scale label can be a few pixels high ("5 Å" at 5 px): accept it, read_scale abstains
    img = load_image(image.read_bytes(), settings.model_copy(update={"min_image_side": 2}), what=image.name)
    cap_value = _parse_value(value_text)
    text = _caption_text(caption, caption_file, stdin_ok=False)
    if cap_value is None and text:
        cap_value = split_caption(text).scale_for(label)
    if all_bars:
        readings = read_scales(img, cap_value, use_ocr=not no_ocr)
        emit({"scale_bars": [r.to_dict() for r in readings]}, as_json, _human_all(readings))
        return
    r = read_scale(img, cap_value, use_ocr=not no_ocr)
    emit(r.to_dict(), as_json, _human(r))


def _human(r: ScaleReading) -> str:
    d = r.to_dict()
    if d["length_px"] is None and d["value"] is None:
        if any("scale label" in n for n in d["notes"]):
            return f"no bar; label not readable ({d['notes'][-1]}), confidence {d['confidence']:.2f}"
        return "no scale bar found"
    value = f"{d['value']:g} {d['unit']}" if d["value"] is not None else "value unknown"
    length = f"{d['length_px']:.2f} px" if d["length_px"] is not None else "not found"
    scale = f"{d['nm_per_px']:.5g} nm/px" if d["nm_per_px"] is not None else "nm/px unknown"
    return f"{value} ({d['source'] or '-'}), bar {length}, {scale}, confidence {d['confidence']:.2f}"


def _human_all(readings: list[ScaleReading]) -> str:
    if not readings:
        return "no scale bar found"
    return "\n".join(_human(r) for r in readings)


def register(groups: dict[str, click.Group]) -> None:
    groups["cli"].add_command(caption_group)
    groups["cli"].add_command(scalebar_group)
    groups["caption"] = caption_group
    groups["scalebar"] = scalebar_group
