"""Plot2Spectra-style metrics of a digitiser answer against synthetic truth."""

from __future__ import annotations

from typing import Any

import numpy as np


def _truth_columns(s: dict[str, Any], box: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel column of the box: the span [lo, hi] the plotted curve covers within the column (px and data).

    A curve drawn from dense (noisy) samples passes through a vertical interval in each pixel column; one value per
    column can only be judged against that interval (distance 0 inside it).
    """
    px = np.asarray(s["px_x"], dtype=float)
    py = np.asarray(s["px_y"], dtype=float)
    yd = np.asarray(s["y"], dtype=float)
    o = np.argsort(px)
    px, py, yd = px[o], py[o], yd[o]
    lo = max(np.ceil(px[0]), np.ceil(box[0]) + 1)
    hi = min(np.floor(px[-1]), np.floor(box[2]) - 1)
    cols = np.arange(lo, hi + 1)
    edges = np.concatenate([cols - 0.5, [cols[-1] + 0.5]]) if len(cols) else np.array([])
    ey, ed = np.interp(edges, px, py), np.interp(edges, px, yd)
    pos = np.searchsorted(px, edges)
    spans_px = np.zeros((len(cols), 2))
    spans_d = np.zeros((len(cols), 2))
    for i in range(len(cols)):
        a, b = pos[i], pos[i + 1]
        vp = np.concatenate([[ey[i], ey[i + 1]], py[a:b]])
        vd = np.concatenate([[ed[i], ed[i + 1]], yd[a:b]])
        spans_px[i] = vp.min(), vp.max()
        spans_d[i] = vd.min(), vd.max()
    return cols, spans_px, spans_d


def _dist(v: np.ndarray, span: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, np.maximum(span[:, 0] - v, v - span[:, 1]))


def score(answer: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    box = truth["plot_box"]
    preds = []
    for s in answer["series"]:
        x0 = s["px_x0"]
        py = np.array([np.nan if v is None else v for v in s["px_y"]], dtype=float)
        yv = np.array([np.nan if v is None else v for v in s["y"]], dtype=float)
        cols = np.arange(x0, x0 + len(py), dtype=float)
        preds.append((cols, py, yv, np.asarray(s["x"], dtype=float)))
    rel = bool(answer["y_axis"].get("relative"))
    lines = []
    used: set[int] = set()
    for ts in truth["series"]:
        cols, ty, tyd = _truth_columns(ts, box)
        if rel:
            tyd = ((box[3] - ty) / (box[3] - box[1]))[:, ::-1]
        # normalised by the plotted y span (the axis range): a flat series would make its own range ~0
        yr = 1.0 if rel else float(abs(truth["ylim"][1] - truth["ylim"][0])) or 1.0
        best = None
        for k, (pc, py, yv, _xv) in enumerate(preds):
            idx = (cols - pc[0]).astype(int)
            ok = (idx >= 0) & (idx < len(pc))
            if ok.sum() == 0:
                continue
            pyk = np.full(len(cols), np.nan)
            yvk = np.full(len(cols), np.nan)
            pyk[ok] = py[idx[ok]]
            yvk[ok] = yv[idx[ok]]
            both = ~np.isnan(pyk)
            cov = float(both.mean())
            if cov < 0.5:
                continue
            d = float(_dist(pyk[both], ty[both]).mean())
            nrmse = float(np.sqrt(np.mean(_dist(yvk[both], tyd[both]) ** 2)) / yr)
            if best is None or d < best[0]:
                best = (d, k, cov, nrmse)
        if best is None:
            lines.append({"found": False, "mean_px": None, "nrmse": None, "coverage": 0.0})
        else:
            used.add(best[1])
            lines.append({"found": True, "mean_px": best[0], "nrmse": best[3], "coverage": best[2]})
    # ticks
    got = answer["x_axis"]["ticks"]
    right = 0
    for t in truth["x_ticks"]:
        if any(
            abs(g["px"] - t["px"]) <= 3 and abs(g["value"] - t["value"]) <= 1e-6 * max(1.0, abs(t["value"]))
            for g in got
        ):
            right += 1
    wrong = sum(
        1
        for g in got
        if not any(
            abs(g["px"] - t["px"]) <= 3 and abs(g["value"] - t["value"]) <= 1e-6 * max(1.0, abs(t["value"]))
            for t in truth["x_ticks"]
        )
    )
    pb = answer["plot_box"]
    mis = (abs(pb[0] - box[0]) + abs(pb[3] - box[3])) / 2
    return {
        "lines": lines,
        "extra_series": len(preds) - len(used),
        "x_ticks_total": len(truth["x_ticks"]),
        "x_ticks_right": right,
        "x_ticks_wrong": wrong,
        "misalignment_px": float(mis),
    }


def summarize(results: list[dict[str, Any]]) -> dict[str, float]:
    lines = [ln for r in results for ln in r["lines"]]
    n = max(1, len(lines))
    found = [ln for ln in lines if ln["found"]]
    m1 = sum(1 for ln in found if ln["mean_px"] <= 1.0) / n
    m2 = sum(1 for ln in found if ln["mean_px"] <= 2.0) / n
    nr = [ln["nrmse"] for ln in found if ln["mean_px"] <= 2.0]
    nr_all = [ln["nrmse"] for ln in found]
    tt = sum(r["x_ticks_total"] for r in results)
    return {
        "plots": len(results),
        "lines": len(lines),
        "lines_found": len(found) / n,
        "matched_1px": m1,
        "matched_2px": m2,
        "nrmse_matched_mean": float(np.mean(nr)) if nr else float("nan"),
        "nrmse_found_mean": float(np.mean(nr_all)) if nr_all else float("nan"),
        "nrmse_found_median": float(np.median(nr_all)) if nr_all else float("nan"),
        "x_tick_values_right": sum(r["x_ticks_right"] for r in results) / max(1, tt),
        "x_ticks_wrong": sum(r["x_ticks_wrong"] for r in results),
        "misalignment_px_mean": float(np.nanmean([r["misalignment_px"] for r in results])),
        "extra_series": sum(r["extra_series"] for r in results),
    }


def missing(truth: dict[str, Any]) -> dict[str, Any]:
    """The score of a plot the digitiser refused: every line missed, no tick right."""
    return {
        "lines": [{"found": False, "mean_px": None, "nrmse": None, "coverage": 0.0} for _ in truth["series"]],
        "extra_series": 0,
        "x_ticks_total": len(truth["x_ticks"]),
        "x_ticks_right": 0,
        "x_ticks_wrong": 0,
        "misalignment_px": float("nan"),
    }
