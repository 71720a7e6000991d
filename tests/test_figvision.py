"""Panel split on real layouts (touching pictures, labels inside frames, repeated label rows, print-size reading),
the very-panel re-rank of reverse image search, and sketch hits grouped by material (SDK + CLI on a live server).

Pictures are scikit-image's real sample photographs/micrographs; labels are read by the real OCR."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from matsearch.core.schemas import Hit
from matsearch.indexer.figures.panels import find_panels
from matsearch.search import image_match
from matsearch.search.groups import group_by_material
from matsearch_client import BadRequest, Client
from tests.conftest import LiveServer, run_cli


def _photo(name: str, size: tuple[int, int]) -> Image.Image:
    arr = getattr(skdata, name)()
    return Image.fromarray(arr).convert("RGB").resize(size)


def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf", px)
    except OSError:
        return ImageFont.load_default(size=px)


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_touching_pictures_with_labels_at_their_bottom_left_corner() -> None:
    """Two photographs side by side with no gutter, "a)" / "b)" printed inside each frame at the bottom left."""
    w, h = 340, 300
    fig = Image.new("RGB", (2 * w, h))
    fig.paste(_photo("camera", (w, h)), (0, 0))
    fig.paste(_photo("astronaut", (w, h)), (w, 0))
    d = ImageDraw.Draw(fig)
    for k, lab in enumerate(("a)", "b)")):
        d.text((k * w + 10, h - 40), lab, fill="white", font=_font(26))
    found, notes = find_panels(fig, None)
    assert [f[0] for f in found] == ["a", "b"], notes
    assert _iou(found[0][1], (0, 0, w, h)) > 0.8 and _iou(found[1][1], (w, 0, 2 * w, h)) > 0.8, found


def test_rows_that_repeat_their_labels_give_one_panel_per_printed_label() -> None:
    """A series: two rows of three frames, each row labelled a) b) c) (e.g. one row per sample)."""
    w, h, gap = 200, 180, 12
    names = ("coins", "moon", "camera", "brick", "grass", "gravel")
    fig = Image.new("RGB", (3 * w + 2 * gap, 2 * h + gap), "white")
    d = ImageDraw.Draw(fig)
    truth = []
    for k, name in enumerate(names):
        r, c = divmod(k, 3)
        x, y = c * (w + gap), r * (h + gap)
        fig.paste(_photo(name, (w, h)), (x, y))
        d.rectangle([x + 4, y + 4, x + 36, y + 34], fill="white")
        d.text((x + 7, y + 6), "abc"[c] + ")", fill="black", font=_font(20))
        truth.append(("abc"[c], (x, y, x + w, y + h)))
    found, notes = find_panels(fig, None)
    assert len(found) == 6, notes
    for label, box in truth:
        assert any(f[0] == label and _iou(f[1], box) > 0.7 for f in found), (label, box, found)


def test_a_large_figure_is_read_at_print_size() -> None:
    """The same 2x2 grid, drawn at 3x (labels ~60 px): split as at print size."""
    s = 3
    w, h, gap = 220 * s, 170 * s, 10 * s
    fig = Image.new("RGB", (2 * w + gap, 2 * h + gap + 24 * s), "white")
    d = ImageDraw.Draw(fig)
    boxes = []
    for k, name in enumerate(("coins", "moon", "camera", "brick")):
        r, c = divmod(k, 2)
        x, y = c * (w + gap), r * (h + gap + 12 * s)
        d.text((x, y), "abcd"[k], fill="black", font=_font(14 * s))
        fig.paste(_photo(name, (w, h)), (x, y + 20 * s))
        boxes.append((x, y, x + w, y + 20 * s + h))
    found, notes = find_panels(fig, None)
    assert [f[0] for f in found] == list("abcd"), notes
    assert all(_iou(f[1], b) > 0.8 for f, b in zip(found, boxes, strict=True)), found


def _copy(image: Image.Image) -> Image.Image:
    """The user's copy: 4 % cut off each side, 60 %, JPEG quality 70."""
    w, h = image.size
    im = image.crop((round(0.04 * w), round(0.04 * h), w - round(0.04 * w), h - round(0.04 * h)))
    im = im.resize((round(im.width * 0.6), round(im.height * 0.6)))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def test_rerank_finds_the_source_frame_among_drifted_frames() -> None:
    scene = _photo("coins", (600, 500))
    frames = [scene.crop((x, 20, x + 400, 420)) for x in (40, 64, 88, 112)]  # a time series drifting by 6 %
    source = 2
    copy = _copy(frames[source])
    feats = [image_match.local_features(f) for f in frames]
    # global order puts the source last (worst case): the re-rank must still bring it first
    order = [0, 1, 3, 2]
    hits = [Hit(id=str(i), score=0.9 - 0.01 * n, collection="figures", payload={}) for n, i in enumerate(order)]
    ranked = image_match.rerank(copy, hits, lambda h: feats[int(h.id)])
    assert ranked[0].id == str(source), [(h.id, h.score) for h in ranked]
    assert ranked[0].score > 1.0  # verified: 1 + ncc × coverage
    unrelated = image_match.match(
        image_match.local_features(copy), image_match.local_features(_photo("moon", (400, 400)))
    )
    assert not unrelated.verified, unrelated


def test_group_by_material_orders_groups_and_keeps_papers() -> None:
    def hit(i: int, score: float, mats: list[str], doi: str) -> Hit:
        return Hit(id=str(i), score=score, collection="figures", payload={"materials": mats, "doi": doi})

    hits = [
        hit(0, 0.9, ["TiO2"], "10.1/a"),
        hit(1, 0.8, ["Ag2MnO4", "TiO2"], "10.1/b"),
        hit(2, 0.7, [], "10.1/c"),
        hit(3, 0.6, ["Ag2MnO4"], "10.1/b"),
    ]
    groups, ungrouped = group_by_material(hits, limit=5)
    assert [g.material for g in groups] == ["TiO2", "Ag2MnO4"] and ungrouped == 1
    assert groups[0].panels == 2 and [h.id for h in groups[0].hits] == ["0", "1"]
    assert [p.doi for p in groups[1].papers] == ["10.1/b"]


def _drawing() -> Image.Image:
    drawing = Image.new("RGB", (256, 256), "white")
    d = ImageDraw.Draw(drawing)
    for x, y, r in [(60, 60, 30), (170, 80, 25), (110, 180, 35)]:
        d.ellipse([x - r, y - r, x + r, y + r], outline="black", width=3)
    return drawing


def test_sketch_grouped_by_material_over_http_sdk_and_cli(live_server: LiveServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Client(live_server.url) as ms:
        result = ms.search_sketch(_drawing(), limit=4, group_by="material")
        assert result.groups, "the dev figures' captions name materials (Ag2MnO4, ...)"
        scores = [g.score for g in result.groups]
        assert scores == sorted(scores, reverse=True) and len(result.groups) <= 4
        for g in result.groups:
            assert g.hits and all(g.material in h.payload.get("materials", []) for h in g.hits)
        assert any(p.doi == "10.1038/s41467-018-06211-3" for g in result.groups for p in g.papers)
        plain = ms.search_sketch(_drawing(), limit=4)
        assert plain.groups is None and [h.id for h in plain.hits] == [h.id for h in result.hits]
        with pytest.raises(BadRequest, match="group_by"):
            ms.search_sketch(_drawing(), group_by="colour")
    path = tmp_path / "drawing.png"
    _drawing().save(path)
    out = run_cli(
        "search", "sketch", str(path), "--group-by", "material", "--limit", "3", "--json", env=live_server.env
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert [g["material"] for g in body["groups"]] == [g.material for g in result.groups][:3]


def test_image_search_returns_the_very_panel_for_a_users_copy(live_server: LiveServer) -> None:
    """A panel image as stored, copied the way a user would: the same panel comes back first."""
    import httpx

    fig = Image.open(io.BytesIO(_dev_figure_bytes()))
    with Client(live_server.url) as ms:
        panels = ms.search_image(fig, limit=30)
        shas = {h.payload.get("panel_sha256") for h in panels.hits if h.payload.get("panel_label")}
        assert len(shas) >= 5, "the ingested dev figures were split into panels"
        checked = 0
        for hit in panels.hits:
            if not hit.payload.get("panel_label") or checked >= 4:
                continue
            png = httpx.get(f"{live_server.url}{hit.image_url}").content
            copy = _copy(Image.open(io.BytesIO(png)).convert("RGB"))
            top = ms.search_image(copy, limit=5)
            assert top.hits[0].id == hit.id, (hit.payload.get("panel_label"), [h.id for h in top.hits])
            checked += 1
        assert checked == 4


def _dev_figure_bytes() -> bytes:
    from tests.conftest import DEV_FIGURES

    meta = json.loads((DEV_FIGURES / "figures.json").read_text())
    return (DEV_FIGURES / meta[0]["file"]).read_bytes()


def test_features_of_a_blank_image_do_not_verify() -> None:
    blank = Image.fromarray(np.full((200, 200, 3), 255, np.uint8))
    m = image_match.match(image_match.local_features(blank), image_match.local_features(blank))
    assert not m.verified
