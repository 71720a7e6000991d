"""Evaluate caption splitting and scale-bar reading on data not used for tuning; print a table, write JSON.

    .venv/bin/python -m bench.eval_figures_text [--synthetic 150] [--tune-too]

Parts:

* **captions**: ``bench/annotations/figures_text/captions_heldout.json`` (hand-written, other journals' styles,
  held out) and ``captions_dev.json`` (the 5 real dev captions, hand-annotated). A label's segment is correct when
  its token F1 against the annotation is ≥ 0.9; labels the splitter misses count as wrong; extra labels are
  reported. Scale values per label are compared exactly (value and canonical unit).
* **synthetic scale bars**: ``bench.scalebar_synth`` panels of the *held-out* split (other fonts, backgrounds and
  seeds than the ones used while developing): bar found (IoU ≥ 0.5), length error, value+unit accuracy,
  label-text accuracy (whitespace-insensitive, NFKC), nm/px within 10 %.
* **real dev figures**: ``scalebars_dev.json`` — panels of the dev figures with hand-measured bars; values come
  from the caption (as in production: ``split_caption(caption).scale_for(label)``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import unicodedata
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent
ANN = ROOT / "annotations" / "figures_text"
RESULTS = ROOT / "results"
DEV_FIGURES = Path("/work/shared/data/dev/figures")


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKC", text).lower())


def token_f1(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    if not ta and not tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    common: dict[str, int] = {}
    for t in ta:
        common[t] = common.get(t, 0) + 1
    hit = 0
    for t in tb:
        if common.get(t, 0) > 0:
            hit += 1
            common[t] -= 1
    if hit == 0:
        return 0.0
    p, r = hit / len(tb), hit / len(ta)
    return 2 * p * r / (p + r)


def eval_captions(path: Path) -> dict[str, Any]:
    from matsearch.indexer.figures.captions import split_caption
    from matsearch.indexer.figures.units import canonical_unit

    data = json.loads(path.read_text(encoding="utf-8"))
    n_lab = ok_lab = extra = 0
    n_shared = ok_shared = 0
    n_scale = ok_scale = 0
    failures: list[dict[str, Any]] = []
    for item in data["captions"]:
        got = split_caption(item["caption"])
        for lab, gold in item["segments"].items():
            n_lab += 1
            pred = got.segments.get(lab)
            f1 = token_f1(gold, pred or "")
            if pred is not None and f1 >= 0.9:
                ok_lab += 1
            else:
                failures.append({"id": item["id"], "label": lab, "gold": gold, "pred": pred, "f1": round(f1, 3)})
        extra += len(set(got.segments) - set(item["segments"]))
        n_shared += 1
        if token_f1(item["shared"], got.shared) >= 0.9:
            ok_shared += 1
        else:
            failures.append({"id": item["id"], "label": "<shared>", "gold": item["shared"], "pred": got.shared})
        gold_scale = {k: (float(v[0]), canonical_unit(v[1])) for k, v in item.get("scale", {}).items()}
        default = item.get("scale_default")
        labels = set(item["segments"]) | set(gold_scale)
        for lab in sorted(labels):
            want = gold_scale.get(lab) or ((float(default[0]), canonical_unit(default[1])) if default else None)
            if want is None:
                continue
            n_scale += 1
            have = got.scale_for(lab)
            if have is not None and abs(have[0] - want[0]) < 1e-9 and have[1] == want[1]:
                ok_scale += 1
            else:
                failures.append({"id": item["id"], "label": lab, "scale_gold": want, "scale_pred": have})
        if not item["segments"] and default is not None:
            n_scale += 1
            d = (float(default[0]), canonical_unit(default[1]))
            if got.scale_default == d:
                ok_scale += 1
            else:
                failures.append(
                    {"id": item["id"], "label": "<default>", "scale_gold": d, "scale_pred": got.scale_default}
                )
    return {
        "captions": len(data["captions"]),
        "labels": n_lab,
        "segment_accuracy": ok_lab / max(1, n_lab),
        "extra_labels": extra,
        "shared_accuracy": ok_shared / max(1, n_shared),
        "scale_values": n_scale,
        "scale_value_accuracy": ok_scale / max(1, n_scale) if n_scale else None,
        "failures": failures,
    }


def _norm_text(s: str | None) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    found = [r for r in rows if r["bar_found"]]
    errs = [abs(r["length_err"]) for r in found]
    rel = [abs(r["length_err"]) / r["length_true"] for r in found]
    scaled = [r for r in rows if r["nm_per_px_true"] is not None]
    within = [r for r in scaled if r["nm_per_px"] is not None and abs(r["nm_per_px"] / r["nm_per_px_true"] - 1) <= 0.1]
    out: dict[str, Any] = {
        "panels": n,
        "bar_found": len(found) / max(1, n),
        "length_err_px_median": statistics.median(errs) if errs else None,
        "length_err_px_mean": statistics.fmean(errs) if errs else None,
        "length_err_rel_median": statistics.median(rel) if rel else None,
        "value_unit_accuracy": sum(r["value_ok"] for r in rows) / max(1, n),
        "nm_per_px_within_10pct": len(within) / max(1, len(scaled)),
        "panels_with_real_scale": len(scaled),
    }
    if any("text_ok" in r for r in rows):
        out["label_text_accuracy"] = sum(r.get("text_ok", False) for r in rows) / max(1, n)
    return out


def eval_synthetic(n: int, split: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from bench.scalebar_synth import make_panel
    from matsearch.indexer.figures.scalebar import read_scale

    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for seed in range(n):
        p = make_panel(seed, split)
        t = p.truth
        r = read_scale(p.image)
        found = r.bbox is not None and _iou([float(v) for v in r.bbox], t["bbox"]) >= 0.5
        rows.append(
            {
                "seed": seed,
                "font": t["font"],
                "text_true": t["text"],
                "text": r.text,
                "bar_found": found,
                "length_true": t["length_px"],
                "length_err": (r.length_px - t["length_px"]) if found and r.length_px is not None else None,
                "value_ok": r.value == t["value"] and r.unit == t["unit"],
                "text_ok": _norm_text(r.text) == _norm_text(t["text"]),
                "nm_per_px_true": t["nm_per_px"],
                "nm_per_px": r.nm_per_px if found else None,
                "confidence": r.confidence,
            }
        )
    summary = _summary(rows)
    summary["seconds_per_panel"] = (time.perf_counter() - t0) / max(1, n)
    return summary, rows


def eval_real() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from matsearch.indexer.figures.captions import split_caption
    from matsearch.indexer.figures.scalebar import read_scale
    from matsearch.indexer.figures.units import to_nm

    ann = json.loads((ANN / "scalebars_dev.json").read_text(encoding="utf-8"))
    captions = {f["file"]: f["caption"] for f in json.loads((DEV_FIGURES / "figures.json").read_text("utf-8"))}
    rows: list[dict[str, Any]] = []
    for p in ann["panels"]:
        fig = Image.open(DEV_FIGURES / p["figure"]).convert("RGB")
        x0, y0, x1, y1 = p["panel_bbox"]
        panel = fig.crop((x0, y0, x1, y1))
        cap_value = split_caption(captions[p["figure"]]).scale_for(p["label"])
        r = read_scale(panel, cap_value)
        bar_true = [p["bar_bbox"][0] - x0, p["bar_bbox"][1] - y0, p["bar_bbox"][2] - x0, p["bar_bbox"][3] - y0]
        found = r.bbox is not None and _iou([float(v) for v in r.bbox], bar_true) >= 0.3
        true_nm = to_nm(p["value"], p["unit"])
        rows.append(
            {
                "figure": p["figure"],
                "label": p["label"],
                "bar_found": found,
                "length_true": p["length_px"],
                "length_err": (r.length_px - p["length_px"]) if found and r.length_px is not None else None,
                "value_ok": r.value == p["value"] and r.unit == p["unit"],
                "nm_per_px_true": None if true_nm is None else true_nm / p["length_px"],
                "nm_per_px": r.nm_per_px if found else None,
                "source": r.source,
                "confidence": r.confidence,
            }
        )
    return _summary(rows), rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synthetic", type=int, default=150, help="held-out synthetic panels (default 150)")
    ap.add_argument("--tune-too", action="store_true", help="also report the development (tune) split")
    ap.add_argument("--out", type=Path, default=RESULTS / "figures_text.json")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {}
    results["captions_heldout"] = eval_captions(ANN / "captions_heldout.json")
    results["captions_dev"] = eval_captions(ANN / "captions_dev.json")
    syn, syn_rows = eval_synthetic(args.synthetic, "heldout")
    results["scalebar_synthetic_heldout"] = syn
    if args.tune_too:
        results["scalebar_synthetic_tune"], _ = eval_synthetic(args.synthetic, "tune")
    real, real_rows = eval_real()
    results["scalebar_real_dev"] = real
    results["rows"] = {"synthetic_heldout": syn_rows, "real_dev": real_rows}

    print(f"{'captions':<28} {'n':>5} {'segments':>9} {'shared':>7} {'extra':>6} {'scale val':>9}")
    for key in ("captions_heldout", "captions_dev"):
        c = results[key]
        print(
            f"{key:<28} {c['labels']:>5} {_fmt(c['segment_accuracy']):>9} {_fmt(c['shared_accuracy']):>7} "
            f"{c['extra_labels']:>6} {_fmt(c['scale_value_accuracy']):>9}"
        )
    print()
    cols = ("bar_found", "length_err_px_median", "length_err_rel_median", "value_unit_accuracy")
    cols2 = ("nm_per_px_within_10pct", "label_text_accuracy")
    print(f"{'scale bars':<28} {'n':>5} " + " ".join(f"{c[:14]:>14}" for c in cols + cols2))
    for key in ("scalebar_synthetic_heldout", "scalebar_synthetic_tune", "scalebar_real_dev"):
        if key not in results:
            continue
        s = results[key]
        print(f"{key:<28} {s['panels']:>5} " + " ".join(f"{_fmt(s.get(c)):>14}" for c in cols + cols2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
