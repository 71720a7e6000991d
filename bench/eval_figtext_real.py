"""Figure text on REAL data, dev and held-out side by side: captions, scales (nm/px), scale labels, text search.

    .venv/bin/python -m bench.eval_figtext_real [--only captions,scales,labels,search] [--failures]

Data (``bench/real_text/``, fetched into a cache by ``bench.real_text.fetch``: nothing third-party is committed):

* **captions** — real captions annotated by hand (spans into the cached text). A label's *segment* is right when
  its token F1 against the annotation is ≥ 0.9; its *panel caption* (shared text + segment, what is indexed) is
  scored by token F1 ≥ 0.8. Caption scale values per label are compared exactly (value and unit).
* **scales** — panels of real figures with hand-measured bars: dev = the 5 CC-BY dev figures (panel boxes from
  ``bench/real_figures/panels.json``, bars from ``bench/annotations/figures_text/scalebars_dev.json``), held-out =
  Nat. Commun. 5:4946 figures 1–9 (``ncomms5946_scales.json``). True panel boxes, panel types from the classifier,
  values from the caption, the production code (``panels.split_figure``'s scale step; types corrected by the panel's
  caption segment as ingest does, ``panel_type.fuse``). Reported: share of panels
  that draw a bar whose nm/px is within 10 %, and panels that draw none but got an nm/px (false accepts).
* **labels** — scale-label crops read on their own (``scalelabel.read_label``): right value+unit on readable crops,
  wrong values (false accepts), and abstentions (value None, confidence < 0.3) on unreadable ones.
* **search** — text queries with graded relevance (2 = the panel asked for, 1 = a related panel) over a paper built
  into a PDF from its figures and captions and ingested through the real pipeline (``matsearch ingest pdf``'s
  code): dev = the dev paper (s41467-018-06211-3), held-out = ncomms5946. nDCG@10 per query, averaged.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from PIL import Image

from bench.eval_figures_text import token_f1  # the same token F1 as the other caption evaluation
from matsearch.core.images import to_rgb

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "bench" / "real_text"
OLD_ANN = ROOT / "bench" / "annotations" / "figures_text"
REAL_FIGURES = ROOT / "bench" / "real_figures"
DEV_FIGURES = ROOT.parent / "shared" / "data" / "dev" / "figures"
RESULTS = ROOT / "bench" / "results" / "eval_figtext_real.json"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


# ----------------------------------------------------------------------------------------------------------------
# Captions


SPLITS = (
    "dev",
    "heldout",
    "dev2",
    "heldout2",
    "dev3",
    "heldout3",
    "dev4",
    "heldout4",
    "dev5",
    "heldout5",
    "dev6",
    "heldout6",
    "dev7",
    "heldout7",
    "dev8",
    "heldout8",
    "dev9",
    "dev11",
    "heldout11",
)
NEW_SPLITS = ("dev2", "heldout2", "dev3", "heldout3")
# session 4 (figdata): captions cut from PDFs/markdown in PyPI sdists (bench.real_text.fetch4 -> captions4.json) and
# the panels of bench/real_figures/manifest4.json for scales (bars from scales4.json; every other panel draws none);
# session 5 (figdata): the same formats with "5" (captions_dev5.json, panels5.json, scales5.json, labels5.json); a
# part whose files are not there yet is left blank; session 6 (figdata): CC BY captions committed with their text
# (bench/real_text/captions6_sources.json, copied into the cache by bench.real_text.fetch6); session 7 (figtext): the
# same for captions7_sources.json (bench.real_text.fetch7), captions only; session 8 (figtext): captions8_sources.json
# (bench.real_text.fetch8, journal figure pages), captions only
# session 11 (figtext): captions11_sources.json (bench.real_text.fetch11, journal figure pages of the heldout8 houses),
# captions only, dev11 only (its held-out papers are set aside unannotated: bench/real_text/SPLIT11.md)
# session 11: figvision's dev9 figures (manifest9.json, panels9.json) with nm/px truth (scales9.json), scales only
FOURTH = (
    "dev4",
    "heldout4",
    "dev5",
    "heldout5",
    "dev6",
    "heldout6",
    "dev7",
    "heldout7",
    "dev8",
    "heldout8",
    "dev9",
    "dev11",
    "heldout11",
)


def _session(split: str) -> str:
    """The file suffix of a session-4..11 part: "4" ... "11" (the split name's trailing digits)."""
    return re.sub(r"^\D+", "", split)


# the session-7 and session-8 figure parts (figvision's panels7.json / panels8.json, panels8h.json): bars
# hand-measured in scales7.json / scales8.json (figtext session 8, second piece; the held-out parts annotated at
# 05:26-05:29 UTC after the dev rows were run); the held-out rows were first run in session 9, once, at the end
SCALES_ANNOTATED = ("dev7", "heldout7", "dev8", "heldout8", "dev9")
CAPTIONS_ONLY = tuple(
    part
    for part in ("dev7", "heldout7", "dev8", "heldout8", "dev9")
    if part not in SCALES_ANNOTATED or not (REAL / f"scales{_session(part)}.json").exists()
)


def _has(split: str, kind: str) -> bool:
    """True when the annotation file of ``kind`` ("captions", "panels", "labels") exists for the split."""
    if kind == "captions":
        return (REAL / f"captions_{split}.json").exists()
    if kind == "panels":
        return (REAL_FIGURES / f"panels{_session(split)}.json").exists()
    return (REAL / f"labels{_session(split)}.json").exists()


def _caption_items(split: str, cache: Path) -> list[dict[str, Any]]:
    """(caption, shared, {label: segment}, scale) per annotated caption of a split."""
    import hashlib

    source = f"captions{_session(split)}.json" if split in FOURTH else "captions.json"
    texts = {c["id"]: c["caption"] for c in json.loads((cache / source).read_text("utf-8"))}
    items = []
    for c in json.loads((REAL / f"captions_{split}.json").read_text("utf-8"))["captions"]:
        cap = texts[c["id"]]
        if hashlib.sha256(cap.encode()).hexdigest() != c["caption_sha256"]:
            raise SystemExit(f"caption {c['id']} in the cache differs from the annotated one")

        def txt(spans: list[list[int]], cap: str = cap) -> str:
            return " ".join(cap[a:b] for a, b in spans)

        items.append(
            {
                "id": c["id"],
                "caption": cap,
                "shared": txt(c["shared"]),
                "segments": {lab: txt(sp) for lab, sp in c["segments"].items()},
                "scale": c.get("scale", {}),
                "scale_default": c.get("scale_default"),
            }
        )
    if split == "dev":  # the 5 CC-BY dev captions, annotated with their text
        for c in json.loads((OLD_ANN / "captions_dev.json").read_text("utf-8"))["captions"]:
            items.append(
                {
                    "id": c["id"],
                    "caption": _norm(c["caption"]),
                    "shared": c["shared"],
                    "segments": c["segments"],
                    "scale": c.get("scale", {}),
                    "scale_default": c.get("scale_default"),
                }
            )
    return items


def eval_captions(split: str, cache: Path) -> dict[str, Any]:
    from matsearch.indexer.figures.captions import split_caption
    from matsearch.indexer.figures.units import canonical_unit

    n = seg_ok = pan_ok = 0
    n_scale = ok_scale = 0
    invented = 0
    failures = []
    items = _caption_items(split, cache)
    for it in items:
        got = split_caption(it["caption"])
        extra = [lab for lab in got.labels if lab not in it["segments"]]
        invented += len(extra)
        if extra:
            failures.append({"id": it["id"], "invented_labels": extra})
        for lab, gold in it["segments"].items():
            n += 1
            f1 = token_f1(gold, got.segment(lab) or "")
            gold_panel = f"{it['shared']} {gold}".strip()
            f1p = token_f1(gold_panel, got.panel_caption(lab))
            seg_ok += f1 >= 0.9
            pan_ok += f1p >= 0.8
            if f1 < 0.9 or f1p < 0.8:
                failures.append({"id": it["id"], "label": lab, "segment_f1": round(f1, 3), "panel_f1": round(f1p, 3)})
        for lab, want in it["scale"].items():
            n_scale += 1
            have = got.scale_for(lab)
            ok = have is not None and abs(have[0] - float(want[0])) < 1e-9 and have[1] == canonical_unit(want[1])
            ok_scale += ok
            if not ok:
                failures.append({"id": it["id"], "label": lab, "scale_gold": want, "scale_pred": have})
        if it.get("scale_default"):
            n_scale += 1
            want = it["scale_default"]
            have = got.scale_default
            ok = have is not None and abs(have[0] - float(want[0])) < 1e-9 and have[1] == canonical_unit(want[1])
            ok_scale += ok
            if not ok:
                failures.append({"id": it["id"], "label": "*", "scale_gold": want, "scale_pred": have})
    return {
        "captions": len(items),
        "labels": n,
        "segments_f1_0.9": round(seg_ok / n, 4) if n else None,  # None: the part has no labelled caption
        "panel_caption_f1_0.8": round(pan_ok / n, 4) if n else None,
        "scale_values": n_scale,
        "scale_value_accuracy": round(ok_scale / n_scale, 4) if n_scale else None,
        "invented_labels": invented,
        "failures": failures,
    }


# ----------------------------------------------------------------------------------------------------------------
# Scales


def _scale_figures(split: str, cache: Path) -> list[dict[str, Any]]:
    """Per figure: image, caption, panels [{label, box, nm_per_px (None: draws no bar)}]."""
    figs = []
    if split in FOURTH:
        from bench.real_figures import fetch as real_fetch
        from bench.real_figures.fetch import DEFAULT_CACHE as FIG_CACHE
        from bench.real_figures.fetch import caption_of, figures
        from bench.real_figures.fetch import ensure as ensure_figures

        extra = [m for m in (getattr(real_fetch, "MANIFEST7", None),) if m is not None and m.exists()]
        ensure_figures(FIG_CACHE, (*real_fetch.MANIFESTS, *extra))
        manifest = figures()
        if hasattr(real_fetch, "figures7"):  # the session-7 figures (dev7 / heldout7) are in their own manifest
            manifest.update(real_fetch.figures7())
        if split in ("dev8", "heldout8"):  # session 8: manifest8.json (dev8) and manifest8h.json (heldout8)
            ensure_figures(FIG_CACHE, (real_fetch.MANIFEST8, real_fetch.MANIFEST8H))
            manifest.update(real_fetch.figures8())
        if split == "dev9":  # session 9 (figvision): manifest9.json; its held-out part has no nm/px truth
            ensure_figures(FIG_CACHE, (real_fetch.MANIFEST9,))
            manifest.update(real_fetch.figures9())
        panels_file = "panels8h.json" if split == "heldout8" else f"panels{_session(split)}.json"
        boxes = json.loads((REAL_FIGURES / panels_file).read_text("utf-8"))["figures"]
        scales_file = REAL / f"scales{_session(split)}.json"
        bars = json.loads(scales_file.read_text("utf-8"))["figures"] if scales_file.exists() else {}
        for name, truth in boxes.items():
            if manifest[name]["split"] != split:
                continue
            known = bars.get(name, {})
            panels = []
            for i, p in enumerate(truth):
                # a label that several panels share (two unlabelled panels: "None") is keyed "<label>#<k>", k = its
                # 0-based occurrence in the figure's panel list
                k = sum(1 for q in truth[:i] if q["label"] == p["label"])
                dup = sum(1 for q in truth if q["label"] == p["label"]) > 1
                entry = known.get(f"{p['label']}#{k}" if dup else str(p["label"]), {})
                panels.append({"label": p["label"], "box": p["bbox"], "nm_per_px": entry.get("nm_per_px")})
            caption = caption_of(manifest[name], FIG_CACHE) or ""
            figs.append({"file": name, "image": FIG_CACHE / name, "caption": caption, "panels": panels})
        return figs
    if split == "dev":
        meta = {f["file"]: f["caption"] for f in json.loads((DEV_FIGURES / "figures.json").read_text("utf-8"))}
        boxes = json.loads((REAL_FIGURES / "panels.json").read_text("utf-8"))["figures"]
        bars = json.loads((OLD_ANN / "scalebars_dev.json").read_text("utf-8"))["panels"]
        truth = {(b["figure"], b["label"]): b["nm_per_px"] for b in bars}
        for name, caption in meta.items():
            panels = [
                {"label": p["label"], "box": p["bbox"], "nm_per_px": truth.get((name, p["label"]))} for p in boxes[name]
            ]
            figs.append({"file": name, "image": DEV_FIGURES / name, "caption": caption, "panels": panels})
        return figs
    ann = json.loads((REAL / "ncomms5946_scales.json").read_text("utf-8"))["figures"]
    texts = {c["id"]: c["caption"] for c in json.loads((cache / "captions.json").read_text("utf-8"))}
    for name, fig in ann.items():
        k = int(re.search(r"fig(\d+)", name).group(1))  # type: ignore[union-attr]
        panels = []
        if "grid" in fig:
            g = fig["grid"]
            cells = [(c, r) for r in g["rows"] for c in g["cols"]]
            for lab, (c, r) in zip(g["labels"], cells, strict=False):
                panels.append({"label": lab, "box": [c[0], r[0], c[1], r[1]]})
        for lab, p in fig["panels"].items():
            entry = next((q for q in panels if q["label"] == lab), None)
            if entry is None:
                entry = {"label": lab, "box": p["box"]}
                panels.append(entry)
            if "bar" in p:
                v, u = p["value"]
                from matsearch.indexer.figures.units import to_nm

                entry["nm_per_px"] = (to_nm(float(v), u) or 0.0) / float(p["length_px"])
        for q in panels:
            q.setdefault("nm_per_px", None)
        figs.append(
            {"file": name, "image": cache / "figures" / name, "caption": texts[f"ncomms5946#{k - 1}"], "panels": panels}
        )
    return figs


def eval_scales(split: str, cache: Path, settings: Any) -> dict[str, Any]:
    from matsearch.indexer.figures.captions import split_caption
    from matsearch.indexer.figures.panel_type import classify_panels, fuse, image_vectors_of
    from matsearch.indexer.figures.panels import holds_picture, wants_scale
    from matsearch.indexer.figures.scales import ScaleTask, assign_scales

    rows = []
    t0 = time.perf_counter()
    for fig in _scale_figures(split, cache):
        image = to_rgb(Image.open(fig["image"]))
        split_c = split_caption(fig["caption"])
        crops = [image.crop(tuple(p["box"])) for p in fig["panels"]]
        types = classify_panels(crops, image_vectors_of(crops, settings))
        tasks = []
        for p, crop, (kind, prob) in zip(fig["panels"], crops, types, strict=True):
            value, scope, inset = split_c.scale_info(p["label"])
            # as ingest types a panel: the image classifier corrected by the panel's caption segment, then by the
            # caption it indexes (shared text + segment, or the whole caption; figtype's ``context``)
            label = p["label"]
            kind, prob = fuse(kind, prob, split_c.segment(label), label, context=split_c.panel_caption(label))
            wants = wants_scale(crop, kind, prob, value, scope)
            strict = not wants and holds_picture(crop, kind)
            tasks.append(ScaleTask(crop=crop, wants=wants, value=value, scope=scope, inset=inset, strict=strict))
        for p, readings in zip(fig["panels"], assign_scales(tasks), strict=True):
            got = readings[0].nm_per_px if readings else None
            rows.append(
                {
                    "figure": fig["file"],
                    "label": p["label"],
                    "truth": p["nm_per_px"],
                    "nm_per_px": got,
                    "source": readings[0].source if readings else None,
                    "confidence": readings[0].confidence if readings else 0.0,
                }
            )
    bar = [r for r in rows if r["truth"] is not None]
    within = [r for r in bar if r["nm_per_px"] is not None and abs(r["nm_per_px"] / r["truth"] - 1) <= 0.1]
    barless = [r for r in rows if r["truth"] is None]
    false_acc = [r for r in barless if r["nm_per_px"] is not None]
    return {
        "panels": len(rows),
        "bar_panels": len(bar),
        "nm_per_px_within_10pct": round(len(within) / len(bar), 4) if bar else None,  # None: no panel draws a bar
        "bar_panels_missed": sum(1 for r in bar if r["nm_per_px"] is None),
        "bar_panels_wrong": len(bar) - len(within) - sum(1 for r in bar if r["nm_per_px"] is None),
        "barless_panels": len(barless),
        "barless_given_nm_per_px": len(false_acc),
        "seconds_per_panel": round((time.perf_counter() - t0) / max(1, len(rows)), 3),
        "failures": [r for r in rows if r not in within and (r["truth"] is not None or r["nm_per_px"] is not None)],
    }


def _instrument_truth(path: Path) -> float | None:
    """nm per image pixel from the microscope's own TIFF metadata (Zeiss: field width / width in px, FEI: the scan's
    pixel width)."""
    import tifffile

    with tifffile.TiffFile(path) as t:
        width_px = t.pages[0].shape[1]
        sem = t.sem_metadata
        if sem and "ap_width" in sem:
            from matsearch.indexer.figures.units import to_nm

            _, value, unit = sem["ap_width"]
            nm = to_nm(float(value), str(unit).replace("µ", "μ"))
            return nm / width_px if nm else None
        fei = t.fei_metadata
        if fei and "EScan" in fei:
            return float(fei["EScan"]["PixelWidth"]) * 1e9
    return None


def eval_instrument_bars(cache: Path) -> dict[str, Any]:
    """SEM images with the microscope's data bar: the scale reader on the whole image (no caption) against the pixel
    size in the file (dev3; all three images were looked at while writing the split-bar and end-tick rules)."""
    from bench.real_text.fetch import fetch_instruments
    from matsearch.indexer.figures.scalebar import read_scale

    files = fetch_instruments(cache)
    rows = []
    for path in files:
        truth = _instrument_truth(path)
        r = read_scale(to_rgb(Image.open(path)))
        ok = truth is not None and r.nm_per_px is not None and abs(r.nm_per_px - truth) <= 0.1 * truth
        rows.append(
            {
                "file": path.name,
                "truth_nm_per_px": round(truth, 4) if truth else None,
                "nm_per_px": round(r.nm_per_px, 4) if r.nm_per_px else None,
                "text": r.text,
                "ok": ok,
            }
        )
    n = len(rows)
    return {
        "images": n,
        "within_10pct": sum(bool(r["ok"]) for r in rows),
        "nm_per_px_within_10pct": round(sum(bool(r["ok"]) for r in rows) / n, 4) if n else None,
        "missed": sum(r["nm_per_px"] is None for r in rows),
        "wrong": sum(r["nm_per_px"] is not None and not r["ok"] for r in rows),
        "failures": [r for r in rows if not r["ok"]],
        "rows": rows,
    }


def eval_scales_e2e(split: str, cache: Path, settings: Any) -> dict[str, Any]:
    """The same truth, but the panels come from the real splitter (``split_figure``): a panel is matched to the
    annotated panel of the same label; merged or mislabelled panels count as misses."""
    from matsearch.indexer.figures.panels import split_figure

    bar_ok = bar_n = barless_n = false_acc = 0
    for fig in _scale_figures(split, cache):
        image = to_rgb(Image.open(fig["image"]))
        got = {p.label: p for p in split_figure(image, fig["caption"], settings=settings).panels}
        for p in fig["panels"]:
            q = got.get(p["label"])
            have = q.nm_per_px if q is not None else None
            if p["nm_per_px"] is not None:
                bar_n += 1
                bar_ok += have is not None and abs(have / p["nm_per_px"] - 1) <= 0.1
            else:
                barless_n += 1
                false_acc += have is not None
    return {
        "bar_panels": bar_n,
        "nm_per_px_within_10pct": round(bar_ok / bar_n, 4) if bar_n else None,
        "barless_panels": barless_n,
        "barless_given_nm_per_px": false_acc,
    }


# ----------------------------------------------------------------------------------------------------------------
# Scale labels


def _label_crops(split: str, cache: Path) -> list[tuple[Image.Image, str | None, str]]:
    import io

    from PIL import ImageFilter

    out: list[tuple[Image.Image, str | None, str]] = []
    if split in FOURTH:  # crops of the manifest4 figures (bench/real_text/labels4.json)
        from bench.real_figures.fetch import DEFAULT_CACHE as FIG_CACHE

        for it in json.loads((REAL / f"labels{_session(split)}.json").read_text("utf-8")).get(split, []):
            fig = to_rgb(Image.open(FIG_CACHE / it["file"]))
            out.append((fig.crop(tuple(it["box"])), it["truth"], f"{it['file']}:{it['box']}"))
        return out
    spec = json.loads((REAL / "labels.json").read_text("utf-8"))
    if split == "heldout":
        for it in spec["heldout"]:
            out.append((to_rgb(Image.open(cache / "labels" / it["file"])), it["truth"], it["file"]))
        return out
    for it in spec["dev"]:
        b = it["box"]
        fig = to_rgb(Image.open(cache / "bar_figures" / it["figure"]))
        crop = fig.crop((b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1))
        if it["variant"] in ("small", "tiny"):
            h = 9 if it["variant"] == "small" else 4
            crop = crop.resize((max(4, round(crop.width * h / crop.height)), h), Image.Resampling.BILINEAR)
            crop = crop.filter(ImageFilter.GaussianBlur(0.4))
            buf = io.BytesIO()
            crop.save(buf, "JPEG", quality=60)
            crop = to_rgb(Image.open(buf))
        out.append((crop, it["truth"], f"{it['figure']}:{b}:{it['variant']}"))
    return out


def eval_labels(split: str, cache: Path) -> dict[str, Any]:
    from matsearch.indexer.figures.scalelabel import ABSTAIN_BELOW, parse_label_text, read_label

    n_read = ok = wrong = n_unread = abst = 0
    rows = []
    t0 = time.perf_counter()
    crops = _label_crops(split, cache)
    for crop, truth, name in crops:
        r = read_label(crop)
        rows.append({"crop": name, "truth": truth, "text": r.text, "confidence": r.confidence})
        t = parse_label_text(truth) if truth else None
        if t is not None:
            n_read += 1
            good = r.value is not None and abs(r.value - t.value) < 1e-9 and r.unit == t.unit
            ok += good
            wrong += r.value is not None and not good
        else:
            n_unread += 1
            abst += r.value is None and r.confidence < ABSTAIN_BELOW
    return {
        "readable": n_read,
        "read_right": ok,
        "read_wrong": wrong,
        "unreadable": n_unread,
        "abstained": abst,
        "ms_per_crop": round(1000 * (time.perf_counter() - t0) / max(1, len(crops)), 1),
        "rows": rows,
    }


# ----------------------------------------------------------------------------------------------------------------
# Text search


def _ndcg(gains: list[int], ideal: list[int], k: int = 10) -> float:
    def dcg(g: list[int]) -> float:
        return sum((2**x - 1) / math.log2(i + 2) for i, x in enumerate(g[:k]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(gains) / best if best > 0 else 0.0


def eval_search(split: str, cache: Path) -> dict[str, Any]:
    from matsearch.core.settings import Settings
    from matsearch.indexer.sources import pdf as pdf_source
    from matsearch.search.figures import search_text
    from matsearch.server.service import Service
    from training import figures_synth as synth

    spec = json.loads((REAL / "text_queries.json").read_text("utf-8"))[split]
    if split == "dev":
        meta = json.loads((DEV_FIGURES / "figures.json").read_text("utf-8"))
        figs = [(str(DEV_FIGURES / e["file"]), e["caption"], e["file"]) for e in meta]
    else:
        texts = {c["id"]: c["caption"] for c in json.loads((cache / "captions.json").read_text("utf-8"))}
        figs = [
            (str(cache / "figures" / f"ncomms5946_fig{k}.jpg"), texts[f"ncomms5946#{k - 1}"], f"fig{k}")
            for k in range(1, 10)
        ]
    t0 = time.perf_counter()
    per_query = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pdf = tmp / f"{split}.pdf"
        synth.build_figures_pdf([(f, c) for f, c, _ in figs], str(pdf), title=split)
        items = list(pdf_source.read_pdf(pdf))
        names = {str(item.figure_id): figs[k][2] for k, item in enumerate(items)}
        settings = Settings(data_dir=tmp / "data")
        service = Service(settings)
        service.ingest_figures(items)
        # the ingestion path's scales (split_panels + fill_scales on the pipeline's panels), against the same truth
        truth = {
            (Path(str(f["image"])).name, p["label"]): p["nm_per_px"]
            for f in _scale_figures(split, cache)
            for p in f["panels"]
        }
        file_of = {str(item.figure_id): Path(figs[k][0]).name for k, item in enumerate(items)}
        bar_n = bar_ok = barless_n = false_acc = 0
        misses: list[dict[str, Any]] = []
        points, offset = [], None
        while True:
            page, offset = service.store.scroll("figures", None, limit=256, offset=offset)
            points += page
            if offset is None:
                break
        for pt in points:
            key = (file_of.get(str(pt.payload.get("figure_id"))), pt.payload.get("panel_label"))
            if key not in truth:
                continue
            have, want = pt.payload.get("nm_per_px"), truth[key]
            if (want is None) != (have is None) or (want and have and abs(have / want - 1) > 0.1):
                misses.append({"panel": f"{key[0]}:{key[1]}", "truth": want, "nm_per_px": have})
            if want is not None:
                bar_n += 1
                bar_ok += have is not None and abs(have / want - 1) <= 0.1
            else:
                barless_n += 1
                false_acc += have is not None
        ingest_scales = {
            "bar_panels_matched": bar_n,
            "nm_per_px_within_10pct": round(bar_ok / bar_n, 4) if bar_n else None,
            "barless_panels_matched": barless_n,
            "barless_given_nm_per_px": false_acc,
            "failures": misses,
        }
        for q in spec:
            grades = {(f, lab): g for f, lab, g in q["relevant"]}
            hits = search_text(service.store, settings, q["q"], limit=10)
            keys = [(names.get(str(h.payload.get("figure_id"))), h.payload.get("panel_label")) for h in hits]
            gains = [grades.get(k, 0) for k in keys]
            score = _ndcg(gains, list(grades.values()))
            per_query.append({"q": q["q"], "ndcg10": round(score, 4), "top3": [f"{f}{lab}" for f, lab in keys[:3]]})
        service.close()
    mean = sum(r["ndcg10"] for r in per_query) / max(1, len(per_query))
    return {
        "queries": len(per_query),
        "ndcg_at_10": round(mean, 4),
        "seconds": round(time.perf_counter() - t0, 1),
        "ingested_scales": ingest_scales,
        "per_query": per_query,
    }


# ----------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="captions,scales,labels,search")
    ap.add_argument("--failures", action="store_true", help="print the failures too")
    ap.add_argument(
        "--splits",
        default=",".join(SPLITS),
        help="dev, heldout (first session), dev2, heldout2 (captions added in the second session), dev3, heldout3 "
        "(materials-science captions, second session's second shift), dev4, heldout4 (session 4: captions from PDFs "
        "in PyPI sdists, panels of bench/real_figures/manifest4.json), dev5, heldout5 (session 5, manifest5.json), "
        "dev6, heldout6 (session 6: CC BY materials-science captions), dev7, heldout7 (session 7: CC BY "
        "Sci. Adv. / NRL / Hindawi captions), dev8, heldout8 (session 8: CC BY captions from journal figure pages); "
        "tune on dev* only",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    from bench.real_text.fetch import ensure
    from matsearch.core.settings import Settings

    cache = ensure()
    from bench.real_text.fetch4 import ensure as ensure4

    ensure4(cache)
    try:  # session 5's caption texts (figdata), when its fetch script is there
        from bench.real_text.fetch5 import ensure as ensure5
    except ImportError:
        pass
    else:
        ensure5(cache)
    from bench.real_text.fetch6 import ensure as ensure6

    ensure6(cache)
    from bench.real_text.fetch7 import ensure as ensure7

    ensure7(cache)
    from bench.real_text.fetch8 import ensure as ensure8

    ensure8(cache)
    from bench.real_text.fetch11 import ensure as ensure11

    ensure11(cache)
    parts = args.only.split(",")
    results: dict[str, Any] = {}
    for split in args.splits.split(","):
        if "captions" in parts and (split not in FOURTH or _has(split, "captions")):
            results[f"captions_{split}"] = eval_captions(split, cache)
        if split == "dev3" and "scales" in parts:
            results["instrument_bars_dev3"] = eval_instrument_bars(cache)
        if split in FOURTH and "scales" in parts and _has(split, "panels") and split not in CAPTIONS_ONLY:
            results[f"scales_{split}"] = eval_scales(split, cache, Settings())
            results[f"scales_e2e_{split}"] = eval_scales_e2e(split, cache, Settings())
        if split in FOURTH and "labels" in parts and _has(split, "labels"):
            results[f"labels_{split}"] = eval_labels(split, cache)
        if split in NEW_SPLITS or split in FOURTH:
            continue  # the later sessions' parts hold captions (+ dev3's instrument images, dev4/heldout4's panels)
        if "scales" in parts:
            results[f"scales_{split}"] = eval_scales(split, cache, Settings())
            results[f"scales_e2e_{split}"] = eval_scales_e2e(split, cache, Settings())
        if "labels" in parts:
            results[f"labels_{split}"] = eval_labels(split, cache)
        if "search" in parts:
            results[f"search_{split}"] = eval_search(split, cache)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))

    def both(part: str, key: str, fmt: str = "{:.3f}") -> str:
        vals = [results.get(f"{part}_{s}", {}).get(key) for s in SPLITS]
        cells = (fmt.format(v) if isinstance(v, float) else ("" if v is None else str(v)) for v in vals)
        return "  ".join(f"{c:>10}" for c in cells)

    names = (
        "dev",
        "held-out",
        "dev2",
        "h-out2",
        "dev3",
        "h-out3",
        "dev4",
        "h-out4",
        "dev5",
        "h-out5",
        "dev6",
        "h-out6",
        "dev7",
        "h-out7",
        "dev8",
        "h-out8",
        "dev9",
        "dev11",
        "h-out11",
    )
    head = "  ".join(f"{h:>10}" for h in names)
    print(f"\n{'figure text on real data':<52} {head}   target (held-out)")
    if "captions" in parts:
        print(f"{'captions: labels annotated':<52} {both('captions', 'labels')}")
        print(f"{'captions: segments right (token F1 >= 0.9)':<52} {both('captions', 'segments_f1_0.9')}   >= 0.90")
        print(f"{'captions: panel caption token F1 >= 0.8':<52} {both('captions', 'panel_caption_f1_0.8')}   >= 0.90")
        print(f"{'captions: scale values right':<52} {both('captions', 'scale_value_accuracy')}")
        print(f"{'captions: labels not in the caption (invented)':<52} {both('captions', 'invented_labels')}")
    if "scales" in parts:
        print(f"{'scales: panels that draw a bar':<52} {both('scales', 'bar_panels')}")
        print(f"{'scales: nm/px within 10 % (bar panels)':<52} {both('scales', 'nm_per_px_within_10pct')}   >= 0.90")
        print(f"{'scales: bar panels without nm/px (false rejects)':<52} {both('scales', 'bar_panels_missed')}")
        print(f"{'scales: bar panels with a wrong nm/px':<52} {both('scales', 'bar_panels_wrong')}")
        print(f"{'scales: barless panels':<52} {both('scales', 'barless_panels')}")
        label = "scales: barless panels given nm/px (false accepts)"
        print(f"{label:<52} {both('scales', 'barless_given_nm_per_px')}   0")
        label = "scales, splitter's panels: nm/px within 10 %"
        print(f"{label:<52} {both('scales_e2e', 'nm_per_px_within_10pct')}")
        label = "scales, splitter's panels: barless given nm/px"
        print(f"{label:<52} {both('scales_e2e', 'barless_given_nm_per_px')}")
    if "scales" in parts and "instrument_bars_dev3" in results:
        ib = results["instrument_bars_dev3"]
        label = "SEM data bars (file metadata), dev3: within 10 %"
        print(f"{label:<52} {ib['within_10pct']} of {ib['images']} (missed {ib['missed']}, wrong {ib['wrong']})")
    if "labels" in parts:
        print(f"{'labels: readable crops':<52} {both('labels', 'readable')}")
        print(f"{'labels: read right':<52} {both('labels', 'read_right')}   >= 5 of 6")
        print(f"{'labels: read wrong (false accepts)':<52} {both('labels', 'read_wrong')}")
        print(f"{'labels: unreadable crops':<52} {both('labels', 'unreadable')}")
        print(f"{'labels: unreadable abstained':<52} {both('labels', 'abstained')}   all")
    if "search" in parts:
        print(f"{'text search: graded queries':<52} {both('search', 'queries')}")
        print(f"{'text search: nDCG@10':<52} {both('search', 'ndcg_at_10')}   >= 0.90")
        for key, label in (
            ("bar_panels_matched", "ingested paper: bar panels found by label"),
            ("nm_per_px_within_10pct", "ingested paper: nm/px within 10 %"),
            ("barless_given_nm_per_px", "ingested paper: barless panels given nm/px"),
        ):
            vals = [results.get(f"search_{s}", {}).get("ingested_scales", {}).get(key) for s in SPLITS]
            cells = (f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v)) for v in vals)
            print(f"{label:<52} " + "  ".join(f"{c:>10}" for c in cells))
    if args.failures:
        for key, r in results.items():
            for f in r.get("failures", []) + [q for q in r.get("per_query", []) if q["ndcg10"] < 1.0]:
                print(f"  {key}: {json.dumps(f, ensure_ascii=False)}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
