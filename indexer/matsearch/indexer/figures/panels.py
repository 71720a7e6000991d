"""Compound-figure separation: one panel per label, each with its sub-caption, type and scale.

:func:`split_figure` is the entry point (used by ``matsearch figure split`` and by the ingestion pipeline through
:func:`split_panels`). The layout work — reading labels and cutting the figure — is in
:mod:`matsearch.indexer.figures.layout`; captions come from :mod:`~matsearch.indexer.figures.captions`, scale bars
from :mod:`~matsearch.indexer.figures.scalebar` and panel types from :mod:`~matsearch.indexer.figures.panel_type`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from matsearch.core.settings import Settings
from matsearch.indexer.figures.layout import Box, Layout, OcrBatch, _order, analyse
from matsearch.indexer.items import PanelDraft

MIN_SIDE = 32  # below this a figure is not split (one panel, with a note)
MAX_ANALYSIS_SIDE = 2400  # larger figures are analysed on a downscaled copy; boxes are mapped back
SMALL_ANALYSIS_SIDE = 900  # larger figures are read at this size first; a bigger reading must find more labels
MIN_PANEL_SIDE = 12


@dataclass
class Panel:
    label: str | None
    bbox: Box
    type: str | None = None
    type_confidence: float | None = None
    caption: str | None = None  # shared + own segment (the full caption when the label has none)
    segment: str | None = None  # the label's own text only
    label_confidence: float = 0.0
    nm_per_px: float | None = None
    scale: dict[str, Any] | None = None  # best reading (scalebar.ScaleReading.to_dict())
    scale_bars: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "bbox": list(self.bbox),
            "type": self.type,
            "type_confidence": self.type_confidence,
            "caption": self.caption,
            "nm_per_px": self.nm_per_px,
            "scale_bars": self.scale_bars,
            "label_confidence": round(self.label_confidence, 3),
        }


@dataclass
class FigureSplit:
    width: int
    height: int
    panels: list[Panel]
    caption: str | None = None
    shared_caption: str | None = None
    notes: list[str] = field(default_factory=list)
    split: Any = None  # the CaptionSplit (not serialised)

    def to_dict(self, *, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "width": self.width,
            "height": self.height,
            "panels": [p.to_dict() for p in self.panels],
        }
        if self.shared_caption is not None:
            out["shared_caption"] = self.shared_caption
        if explain or self.notes:
            out["notes"] = list(self.notes)
        return out


def _scale_box(box: Box, f: float, size: tuple[int, int]) -> Box:
    w, h = size
    x0, y0, x1, y1 = box
    return (
        max(0, int(x0 * f)),
        max(0, int(y0 * f)),
        min(w, int(round(x1 * f))),
        min(h, int(round(y1 * f))),
    )


def find_panels(
    image: Image.Image, caption_labels: list[str] | None = None, *, ocr: OcrBatch | None = None
) -> tuple[list[tuple[str | None, Box, float]], list[str]]:
    """(label, bbox, label confidence) per panel, and notes; bboxes in the input image's pixels."""
    w, h = image.size
    notes: list[str] = []
    if min(w, h) < MIN_SIDE:
        return [(None, (0, 0, w, h), 0.0)], [f"image is tiny ({w}x{h} px): not split"]
    rgb = image.convert("RGB")
    f = max(1.0, max(w, h) / MAX_ANALYSIS_SIDE)
    tries = ([max(w, h) / SMALL_ANALYSIS_SIDE] if max(w, h) / f > 1.2 * SMALL_ANALYSIS_SIDE else []) + [f]
    best: tuple[float, float, Layout] | None = None
    for g in tries:  # labels and gutters are sized for print: a large figure is also read at about print size
        img = rgb if g == 1.0 else rgb.resize((round(w / g), round(h / g)), Image.Resampling.LANCZOS)
        lay: Layout = analyse(img, caption_labels or None, ocr=ocr)
        n = sum(1 for r in lay.regions if r.label is not None)
        if best is None or n > best[0]:
            best = (n, g, lay)
        if caption_labels and n >= len(set(caption_labels)):
            break  # every label the caption names is placed: a reading at another size cannot find more
    assert best is not None
    _, f, layout = best
    if f != 1.0:
        notes.append(f"large image ({w}x{h} px): analysed at 1/{f:.2f} scale")
    notes.extend(layout.explain)
    out: list[tuple[str | None, Box, float]] = []
    for region in layout.regions:
        box = _scale_box(region.content, f, (w, h)) if f != 1.0 else region.content
        if box[2] - box[0] < MIN_PANEL_SIDE or box[3] - box[1] < MIN_PANEL_SIDE:
            notes.append(f"dropped a tiny region {box} for label {region.label.key if region.label else None}")
            continue
        lab = region.label
        out.append((lab.key if lab else None, box, lab.score if lab else 0.0))
    if not out or (len(out) == 1 and out[0][0] is None):
        out = [(None, (0, 0, w, h), 0.0)]  # a figure without labels is one panel: the whole figure, margins too
    # label order when every panel has a label, else reading order (rows by top edge, then left to right)
    if all(t[0] for t in out):
        out.sort(key=lambda t: (_order((t[0] or "a")[0]), _order(t[0] or "a")))
    else:
        out.sort(key=lambda t: (t[1][1] // max(1, h // 12), t[1][0]))
    return out, notes


def split_figure(
    image: Image.Image,
    caption: str | None = None,
    *,
    classify: bool = True,
    scale: bool = True,
    ocr: OcrBatch | None = None,
    settings: Settings | None = None,
) -> FigureSplit:
    """Split a (compound) figure into panels with label, bbox, type, sub-caption and scale.

    Without labels in the image the figure is one panel. Partial results are kept: a panel whose type or scale
    cannot be determined keeps ``None`` there with confidence 0 and a note.
    """
    from matsearch.indexer.figures.captions import split_caption

    split = split_caption(caption) if caption and caption.strip() else None
    notes: list[str] = []
    if caption is None or not caption.strip():
        notes.append("no caption: labels read from the image only")
    elif split is not None and not split.labels:
        notes.append("caption names no panel labels: labels read from the image only")
    found, layout_notes = find_panels(image, split.labels if split else None, ocr=ocr)
    notes.extend(layout_notes)
    rgb = image.convert("RGB")
    panels: list[Panel] = []
    for label, box, conf in found:
        p = Panel(label=label, bbox=box, label_confidence=conf)
        if split is not None:
            p.segment = split.segment(label)
            p.caption = split.panel_caption(label)
        elif caption:
            p.caption = caption
        panels.append(p)
    crops = [rgb if p.bbox == (0, 0, rgb.width, rgb.height) else rgb.crop(p.bbox) for p in panels]
    # no fallbacks here: a missing or corrupt model (checksum error) fails loudly instead of typing nothing
    if classify:
        from matsearch.indexer.figures.panel_type import classify_panels, fuse, image_vectors_of

        if settings is None:
            raise ValueError("split_figure(classify=True) needs the settings of the image encoder")
        vectors = image_vectors_of(crops, settings)
        typed = classify_panels(crops, vectors, encode=lambda ims: image_vectors_of(ims, settings))
        for p, (kind, prob) in zip(panels, typed, strict=True):
            kind, prob = fuse(kind, prob, p.segment, p.label, context=p.caption)
            p.type, p.type_confidence = kind, round(prob, 3)
    if scale:
        from matsearch.indexer.figures.scales import ScaleTask, assign_scales

        tasks = []
        for p, crop in zip(panels, crops, strict=True):
            value, scope, inset = split.scale_info(p.label) if split is not None else (None, None, None)
            wants = wants_scale(crop, p.type, p.type_confidence, value, scope)
            strict = not wants and holds_picture(crop, p.type)
            tasks.append(ScaleTask(crop=crop, wants=wants, value=value, scope=scope, inset=inset, strict=strict))
        for p, readings in zip(panels, assign_scales(tasks), strict=True):
            _set_scale(p, readings)
            if classify:  # a photo / drawing with a sub-mm bar read is a micrograph (panel_type.scale_cue)
                from matsearch.indexer.figures.panel_type import scale_cue

                p.type, p.type_confidence = scale_cue(p.type, p.type_confidence, p.scale)
    return FigureSplit(
        width=image.width,
        height=image.height,
        panels=panels,
        caption=caption,
        shared_caption=split.shared if split is not None else None,
        notes=notes,
        split=split,
    )


# real-space bars (photos too: "1 cm", an MRI slice); diffraction bars are reciprocal (no nm/px), plots have axes
SCALE_TYPES = ("microscopy", "photo")
_SURE_TYPE = 0.6  # below this type confidence a non-microscopy panel still gets a scale-bar search


def wants_scale(
    crop: Image.Image,
    kind: str | None,
    confidence: float | None,
    cap_value: tuple[float, str] | None,
    scope: str | None = "label",
) -> bool:
    """Whether to look for scale bars in a panel: the caption gives a value for it by name (scope "label"), or it
    is (or may be) a micrograph or a photo (:data:`SCALE_TYPES`). A value that reaches the panel only through its
    group or the whole caption ("(a–f) ... Scale bar, 100 nm.") does not override the type: a plot's legend lines
    are not bars. Untyped panels fall back to "not mostly white" (plots, schematics and tables have no bars)."""
    if cap_value is not None and scope in (None, "label"):
        return True
    if kind is None:
        return not _mostly_white(crop)
    if kind in SCALE_TYPES:
        return True
    return (confidence or 0.0) < _SURE_TYPE and kind not in ("graph", "illustration") and not _mostly_white(crop)


def holds_picture(crop: Image.Image, kind: str | None) -> bool:
    """A panel of a type not searched as a micrograph (a plot, a drawing, a pattern, "other") that is not mostly white
    (a map or micrograph inside it, or a micrograph typed wrongly): its scale bars are read with the strict rules
    (``ScaleTask.strict``). Mostly white panels are searched only inside the pictures drawn in them."""
    return kind is not None and kind not in SCALE_TYPES and not _mostly_white(crop)


def _set_scale(p: Panel, readings: list[Any]) -> None:
    """Store a panel's readings (best first): ``scale`` is the best one, ``nm_per_px`` its value (or None)."""
    p.scale_bars = [_bar_dict(r.to_dict(), p.bbox) for r in readings if r.bbox is not None]
    p.scale = readings[0].to_dict() if readings else None
    p.nm_per_px = p.scale.get("nm_per_px") if p.scale else None


def _mostly_white(image: Image.Image, limit: float = 0.55) -> bool:
    """True for panels that are mostly blank background (graphs, drawings), where scale bars do not occur."""
    import numpy as np

    small = image.convert("RGB")
    small.thumbnail((128, 128))
    a = np.asarray(small, dtype=np.int16)
    blank = (a.min(axis=2) >= 232) & ((a.max(axis=2) - a.min(axis=2)) <= 24)
    return float(blank.mean()) > limit


def _bar_dict(reading: dict[str, Any], panel_box: Box) -> dict[str, Any]:
    """A scale reading as the CLI contract wants it, with the bar's box in figure pixels."""
    bbox = reading.get("bbox")
    if bbox is not None:
        bbox = [bbox[0] + panel_box[0], bbox[1] + panel_box[1], bbox[2] + panel_box[0], bbox[3] + panel_box[1]]
    return {
        "bbox": bbox,
        "length_px": reading.get("length_px"),
        "value": reading.get("value"),
        "unit": reading.get("unit"),
        "nm_per_px": reading.get("nm_per_px"),
        "source": reading.get("source"),
        "confidence": reading.get("confidence", 0.0),
        "text": reading.get("text"),
    }


def split_panels(image: Image.Image, caption: str | None) -> list[PanelDraft]:
    """The pipeline's ``Splitter``: :func:`split_figure` as ``PanelDraft`` items."""
    # typed in the pipeline from the image vectors; scale bars read afterwards (fill_scales) on panels of the types
    # that carry them
    result = split_figure(image, caption, classify=False, scale=False)
    split = result.split
    drafts = []
    for p in result.panels:
        value, scope, inset = split.scale_info(p.label) if split is not None else (None, None, None)
        todo = {"value": list(value) if value else None, "scope": scope, "inset": list(inset) if inset else None}
        drafts.append(
            PanelDraft(
                bbox=p.bbox,
                label=p.label,
                caption=p.caption,
                type=p.type,
                type_confidence=p.type_confidence,
                scale=p.scale,
                extra={
                    "sub_caption": p.segment,
                    "label_focus": split.focus(p.label) if split is not None else None,
                    "label_confidence": round(p.label_confidence, 3),
                    SCALE_TODO: todo,
                },
            )
        )
    return drafts


def fill_types(
    payloads: list[dict[str, Any]], images: list[Image.Image], image_vectors: Any, encode: Any = None
) -> None:
    """Set ``type``/``type_confidence`` on payloads that have none, reusing the panels' EfficientNet vectors
    (``encode``: the image encoder's ``encode``, for pictures inside plot axes; see ``panel_type.classify_panels``)."""
    import numpy as np

    todo = [i for i, p in enumerate(payloads) if p.get("type") is None]
    if not todo:
        return
    from matsearch.indexer.figures.panel_type import classify_panels, fuse

    vectors = np.asarray(image_vectors)[todo]
    typed = classify_panels([images[i] for i in todo], vectors, encode=encode)  # a broken model raises
    for i, (kind, prob) in zip(todo, typed, strict=True):
        p = payloads[i]
        kind, prob = fuse(kind, prob, p.get("sub_caption"), p.get("panel_label"), context=p.get("caption"))
        payloads[i]["type"] = kind
        payloads[i]["type_confidence"] = round(prob, 3)


SCALE_TODO = "_scale_todo"  # payload key (removed by fill_scales): the panel's scale is still to be read


def fill_scales(payloads: list[dict[str, Any]], images: list[Image.Image]) -> None:
    """Read scale bars for panels split by :func:`split_panels` once their type is known (see :func:`wants_scale`),
    one figure at a time (:func:`matsearch.indexer.figures.scales.assign_scales` compares the panels of a figure);
    sets ``scale`` and ``nm_per_px`` and removes the marker key."""
    from matsearch.indexer.figures.scales import ScaleTask, assign_scales

    by_figure: dict[str, list[int]] = {}
    for i, payload in enumerate(payloads):
        if SCALE_TODO in payload:
            by_figure.setdefault(str(payload.get("image_sha256")), []).append(i)
    for idx in by_figure.values():
        tasks = []
        for i in idx:
            raw = payloads[i].pop(SCALE_TODO) or {}
            if isinstance(raw, list):  # the older marker: just (value, unit)
                raw = {"value": raw, "scope": "label"}
            value = (float(raw["value"][0]), str(raw["value"][1])) if raw.get("value") else None
            inset = (float(raw["inset"][0]), str(raw["inset"][1])) if raw.get("inset") else None
            crop = images[i]
            kind, prob = payloads[i].get("type"), payloads[i].get("type_confidence")
            wants = wants_scale(crop, kind, prob, value, raw.get("scope"))
            strict = not wants and holds_picture(crop, kind)
            tasks.append(
                ScaleTask(crop=crop, wants=wants, value=value, scope=raw.get("scope"), inset=inset, strict=strict)
            )
        for i, task, readings in zip(idx, tasks, assign_scales(tasks), strict=True):
            if not task.wants and not readings:  # strict panels keep what they read
                continue
            p = Panel(label=payloads[i].get("panel_label"), bbox=tuple(payloads[i]["bbox"]))
            _set_scale(p, readings)
            payloads[i]["scale"] = p.scale
            payloads[i]["nm_per_px"] = p.nm_per_px
            # a photo / drawing with a sub-mm bar read is a micrograph (panel_type.scale_cue; fill_types typed it)
            from matsearch.indexer.figures.panel_type import scale_cue

            kind, prob = scale_cue(payloads[i].get("type"), payloads[i].get("type_confidence"), p.scale)
            payloads[i]["type"], payloads[i]["type_confidence"] = kind, prob
