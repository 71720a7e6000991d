"""The issues' Must-show lines as one table, read from the result files the evaluations and benches already wrote.

    .venv/bin/python -m bench.must_show            # print the table (nothing is run)
    .venv/bin/python -m bench.must_show --json     # the rows as JSON

One row per Must-show line of issues 9, 10, 11, 12 and the ingest line of 15: the line, its target, the dev value(s),
the held-out value(s) and whether the line is met, computed from ``bench/results/*.json`` (never re-run, never typed
in here). "not run": a result file the line needs is missing; "no number": the file is there but does not hold the
value (the row says which key is missing). Where an eval has several held-out parts (one per session), every part
is shown and the line is met only when every part that has data meets it; dev parts are shown for comparison only.
Bench lines (speed) have no dev/held-out split: their number is in the held-out column, marked "bench".
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ANNOTATIONS = Path(__file__).resolve().parent / "annotations"

Results = dict[str, Any]  # result file name -> its parsed JSON (files that exist only)


class NoNumber(Exception):
    """The result file is there but lacks the value a line needs (``dev``: the dev cell, when dev parts have it)."""

    def __init__(self, message: str, dev: str = "—") -> None:
        super().__init__(message)
        self.dev = dev


@dataclass(frozen=True)
class Outcome:
    dev: str
    heldout: str
    met: bool | None  # None: the line has no numeric target (a rate to report)


@dataclass(frozen=True)
class Line:
    issue: int
    text: str
    target: str
    files: tuple[str | tuple[str, ...], ...]  # the result files it reads; a tuple: any one of them
    measure: Callable[[Results], Outcome]


@dataclass(frozen=True)
class Row:
    issue: int
    line: str
    target: str
    dev: str
    heldout: str
    status: str  # "met" | "not met" | "reported" | "not run" | "no number"
    files: list[str]


def get(d: Any, *keys: str | int) -> Any:
    """``d[k0][k1]…``; a missing key raises NoNumber naming the path."""
    cur = d
    for k in keys:
        try:
            cur = cur[k]
        except (KeyError, IndexError, TypeError):
            raise NoNumber("missing key " + "/".join(str(x) for x in keys)) from None
    return cur


def fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def is_dev(part: str) -> bool:
    return part.startswith("dev")


def is_heldout(part: str) -> bool:
    return part.startswith(("heldout", "held_out"))


def by_part(
    values: dict[str, Any], ok: Callable[[Any], bool], show: Callable[[Any], str] = fmt, need: str = "held-out"
) -> Outcome:
    """Dev and held-out cells from {part: value}; met when every held-out part with a value passes ``ok``."""
    have = {k: v for k, v in values.items() if v is not None}
    dev = " · ".join(f"{k} {show(v)}" for k, v in have.items() if is_dev(k)) or "—"
    held = {k: v for k, v in have.items() if is_heldout(k)}
    if not held:
        raise NoNumber(f"no {need} part in the results", dev)
    failing = [k for k, v in held.items() if not ok(v)]
    cell = " · ".join(f"{k} {show(v)}" for k, v in held.items())
    if failing:
        cell += f"  (below: {', '.join(failing)})"
    return Outcome(dev, cell, not failing)


def parts_of(d: dict[str, Any], prefix: str, key: str | Sequence[str]) -> dict[str, Any]:
    """{part: d[prefix + part][key…]} for every key of ``d`` that starts with ``prefix`` (a value may be missing)."""
    keys = (key,) if isinstance(key, str) else tuple(key)
    out: dict[str, Any] = {}
    for name, block in d.items():
        if name.startswith(prefix) and isinstance(block, dict):
            cur: Any = block
            for k in keys:
                cur = cur.get(k) if isinstance(cur, dict) else None
            out[name[len(prefix) :]] = cur
    return out


def at_least(t: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and v >= t


def at_most(t: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and v <= t


# ---------------------------------------------------------------------------------------------------------------
# Issue 9: real figures (eval_real_figures.json, eval_figtext_real.json)

RF, FT = "eval_real_figures.json", "eval_figtext_real.json"


def _split_key(key: str, target: float) -> Callable[[Results], Outcome]:
    def measure(r: Results) -> Outcome:
        split = get(r[RF], "split")
        vals = {k: v.get(key) for k, v in split.items() if isinstance(v, dict) and (is_dev(k) or is_heldout(k))}
        return by_part(vals, at_least(target))

    return measure


RT = "eval_real_types.json"  # bench.eval_real_types: typed boxes of paper figures (dev7t/8t/9t, heldout7t/8t/9t)


def _types(r: Results) -> Outcome:
    """Type accuracy of every part of eval_real_figures.json and, where it was run, of eval_real_types.json."""
    split = get(r[RF], "split")
    vals = {k: v.get("type_accuracy") for k, v in split.items() if isinstance(v, dict) and (is_dev(k) or is_heldout(k))}
    for k, v in r.get(RT, {}).items():
        if isinstance(v, dict) and v.get("items") and (is_dev(k) or is_heldout(k)):
            vals[k] = v.get("accuracy")
    return by_part(vals, at_least(0.95))


def _figtext(prefix: str, key: str, ok: Callable[[Any], bool]) -> Callable[[Results], Outcome]:
    def measure(r: Results) -> Outcome:
        return by_part(parts_of(r[FT], prefix, key), ok)

    return measure


def _scale_labels(r: Results) -> Outcome:
    blocks = {k: v for k, v in parts_of(r[FT], "labels_", ()).items() if isinstance(v, dict)}

    blocks = {k: v for k, v in blocks.items() if v.get("readable", 0) + v.get("unreadable", 0) > 0}  # parts with crops

    def ok(b: dict[str, Any]) -> bool:
        readable, right = b.get("readable", 0), b.get("read_right", 0)
        return bool(readable) and 6 * right >= 5 * readable and b.get("abstained") == b.get("unreadable")

    def show(b: dict[str, Any]) -> str:
        return (
            f"{b.get('read_right')}/{b.get('readable')} read, "
            f"{b.get('abstained')}/{b.get('unreadable')} unreadable abstained"
        )

    return by_part(blocks, ok, show)


def _reverse(key: str, target: float) -> Callable[[Results], Outcome]:
    def measure(r: Results) -> Outcome:
        rv = get(r[RF], "reverse_image")
        vals = {
            k: v.get(key)
            for k, v in rv.items()
            if isinstance(v, dict) and v.get("queries") and (is_dev(k) or is_heldout(k))
        }
        return by_part(vals, at_least(target))

    return measure


# ---------------------------------------------------------------------------------------------------------------
# Issue 10: XRD (eval_xrd_real.json, eval_xrd.json, eval_xrd_absent.json, bench_xrd.json)

XR, XS, XA, XB = "eval_xrd_real.json", "eval_xrd.json", "eval_xrd_absent.json", "bench_xrd.json"


def _xrd_annotations() -> dict[str, dict[str, Any]]:
    """The committed annotations of the measured patterns, by id (texture, mixture components, file names)."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("xrd_real.json", "xrd_real6.json", "xrd_real9.json"):
        path = ANNOTATIONS / name
        if path.exists():
            out |= {p["id"]: p for p in json.loads(path.read_text())["patterns"]}
    return out


def _xrd_rows(r: Results, keep: Callable[[dict[str, Any], dict[str, Any]], bool]) -> dict[str, list[bool]]:
    """{split: [ok, …]} over the rows of eval_xrd_real.json that ``keep(row, annotation)`` selects."""
    ann = _xrd_annotations()
    out: dict[str, list[bool]] = {}
    for row in get(r[XR], "rows"):
        if keep(row, ann.get(row["id"], {})):
            out.setdefault(row["split"], []).append(bool(row["ok"]))
    return out


def _all_ok(vals: list[bool]) -> bool:
    return bool(vals) and all(vals)


def _count(vals: list[bool]) -> str:
    return f"{sum(vals)}/{len(vals)}"


def _xrd_rank1(r: Results) -> Outcome:
    singles = _xrd_rows(r, lambda row, a: row.get("check") == "rank 1")
    textured = _xrd_rows(r, lambda row, a: row.get("check") == "rank 1" and bool(a.get("textured")))
    out = by_part(dict(singles), _all_ok, lambda v: _count(v) + " rank 1", need="held-out single-phase")
    tex_held = [ok for k, v in textured.items() if is_heldout(k) for ok in v]
    tex_dev = [ok for k, v in textured.items() if is_dev(k) for ok in v]
    met = bool(out.met) and _all_ok(tex_held)
    return Outcome(
        out.dev + (f"; textured {_count(tex_dev)}" if tex_dev else ""),
        out.heldout + (f"; textured {_count(tex_held)}" if tex_held else "; no textured held-out pattern"),
        met,
    )


def _xrd_two_phase(r: Results) -> Outcome:
    rows = _xrd_rows(
        r,
        lambda row, a: (
            row.get("check") == "every phase in the top 5"
            and len(a.get("phases", [])) == 2
            and not a.get("absent_phases")
        ),
    )
    return by_part(dict(rows), _all_ok, lambda v: _count(v) + " both in top 5", need="held-out two-phase")


def _xrd_absent_real(r: Results) -> Outcome:
    rows = _xrd_rows(r, lambda row, a: str(row.get("check", "")).startswith(("abstain", "rank <= 5")))
    return by_part(
        dict(rows), _all_ok, lambda v: _count(v) + " abstained / rank ≤ 5 once added", need="held-out absent"
    )


def _xrd_tiers(r: Results, held: Sequence[str], dev: Sequence[str] | None, ok: Callable[[Any], bool]) -> Outcome:
    tiers = get(r[XS], "tiers")
    if not tiers:
        raise NoNumber("missing key tiers/<tier>")
    h: dict[str, Any] = {}
    d: dict[str, Any] = {}
    for name, res in tiers.items():
        h[f"heldout[{name}]"] = get(res, *held)
        if dev is not None:
            d[f"dev[{name}]"] = get(res, *dev)
    return by_part(d | h, ok)


def _xrd_xrdml(r: Results) -> Outcome:
    ann = _xrd_annotations()
    sources: dict[str, list[bool]] = {}
    for row in get(r[XR], "rows"):
        a = ann.get(row["id"], {})
        member = a.get("member") or a.get("source", {}).get("member") or a.get("source", {}).get("file") or ""
        if str(member).lower().endswith(".xrdml"):
            sources.setdefault(row["split"], []).append(row.get("wavelength_source") == "file")
    cells = dict(sources)
    if not any(is_heldout(k) for k in cells):  # the line is not about held-out data: every part counts
        cells = {f"heldout({k})": v for k, v in cells.items()}
    return by_part(cells, _all_ok, lambda v: _count(v) + " .xrdml read with the file's wavelength", need=".xrdml")


def _bench_cell(value: float, unit: str, load: Any) -> str:
    lo = f", load {load:.1f}" if isinstance(load, int | float) else ""
    return f"bench {value:g} {unit}{lo}"


def _xrd_p50(r: Results) -> Outcome:
    p50 = get(r[XB], "query_ms_p50")
    return Outcome("—", _bench_cell(p50, "ms", r[XB].get("load_average_1min")), p50 <= 50)


# ---------------------------------------------------------------------------------------------------------------
# Issue 11: STEM (eval_stem.json — or eval_stem_quick.json from ``--quick`` —, bench_stem.json)

ST, ST_QUICK, SB = "eval_stem.json", "eval_stem_quick.json", "bench_stem.json"
STEM = (ST, ST_QUICK)  # the full run, or the --quick one


def _stem(r: Results) -> dict[str, Any]:
    d = r.get(ST, r.get(ST_QUICK))
    if d is None:
        raise NoNumber("no eval_stem.json")
    return d


def _stem_real_crops(r: Results) -> list[dict[str, Any]]:
    real = get(_stem(r), "real")
    if "skipped" in real:
        raise NoNumber(f"real images {real['skipped']}")
    crops: list[dict[str, Any]] = get(real, "crops")
    return crops


def _stem_file_px(r: Results) -> Outcome:
    by: dict[str, list[bool]] = {}
    for c in _stem_real_crops(r):
        by.setdefault(c["split"], []).append(c.get("pixel_size_source") == "file metadata")
    # the line asks for one file anywhere; shown per part, met when any crop used its file's own pixel size
    dev = " · ".join(f"{k} {sum(v)}/{len(v)} crops" for k, v in by.items() if is_dev(k)) or "—"
    held = " · ".join(f"{k} {sum(v)}/{len(v)} crops" for k, v in by.items() if is_heldout(k)) or "—"
    return Outcome(dev, held, any(x for v in by.values() for x in v))


def _stem_real_top5(r: Results) -> Outcome:
    real = get(_stem(r), "real")
    # parts dev / heldout (manifest.json), dev9 / heldout9 (manifest9.json); a part without in-library crops: no top-5
    vals = {k: v.get("top5") for k, v in real.items() if k != "crops" and isinstance(v, dict) and "top5" in v}
    return by_part(vals, at_least(1.0))


def _stem_lattice(r: Results) -> Outcome:
    by: dict[str, list[bool]] = {}
    for c in _stem_real_crops(r):
        if c.get("expected"):
            by.setdefault(c["split"], []).append(c.get("measured_lattice") is not None)
    return by_part(dict(by), _all_ok, lambda v: _count(v) + " with a measured lattice")


def _stem_absent(r: Results) -> Outcome:
    d = _stem(r)
    vals: dict[str, Any] = {}
    real = d.get("real", {})
    for part in ("dev", "heldout", "dev9", "heldout9"):
        if isinstance(real.get(part), dict):
            vals[f"{part}[real]"] = real[part].get("absent_abstained")
            if not str(real[part].get("negatives_abstained", "0/0")).endswith("/0"):  # images of absent structures
                vals[f"{part}[real negatives abstained]"] = real[part]["negatives_abstained"]
    for name, block in d.items():
        if name.startswith("synthetic_") and isinstance(block, dict):
            reg = name[len("synthetic_") :]
            vals[f"dev[{reg}]"] = get(block, "abstain_tune", "absent_abstained")
            vals[f"heldout[{reg}]"] = get(block, "abstain_test", "absent_abstained")
    out = by_part(vals, lambda v: True)
    return Outcome(out.dev, out.heldout, None)  # "more often than today": no baseline in the results


def _stem_synth(r: Results) -> Outcome:
    block = get(_stem(r), "synthetic_query")
    vals = {
        "dev(tune)": get(block, "physics_heldout_gallery_tune", "top5"),
        "heldout(test)": get(block, "physics_heldout_gallery_test", "top5"),
    }
    return by_part(vals, at_least(0.85))


def _stem_p50(r: Results) -> Outcome:
    b = r[SB]
    p50 = get(b, "query_known_pixel_size_ms", "p50")
    n = get(b, "library_points")
    load = b.get("load_average")
    cell = _bench_cell(p50, "ms", load[0] if isinstance(load, list) and load else None) + f", {n} images"
    return Outcome("—", cell, p50 <= 100 and n >= 20000)


# ---------------------------------------------------------------------------------------------------------------
# Issue 12: plots (eval_plots.json, eval_plots_real.json, eval_spectra_ingest.json, bench_plots.json)

PL, PR, PB = "eval_plots.json", "eval_plots_real.json", "bench_plots.json"


def _plots(key: str, ok: Callable[[Any], bool]) -> Callable[[Results], Outcome]:
    def measure(r: Results) -> Outcome:
        vals = {k: get(v, "summary", key) for k, v in r[PL].items() if isinstance(v, dict)}
        return by_part(vals, ok)

    return measure


def _plots_real_x(r: Results) -> Outcome:
    rp = get(r[PR], "real_panels")
    x, n = get(rp, "x_right"), get(rp, "x_panels")
    return Outcome(f"dev {x:.3f} of {n} panels", "— (dev only)", bool(n) and x >= 0.90)


def _plots_e2e(r: Results) -> Outcome:
    e2e = get(r[PR], "end_to_end_xrd")
    top5, n = get(e2e, "top5"), get(e2e, "plots")
    cell = f"top-5 {top5:.3f} of {n} digitised plots (seeds 5000+)"
    return Outcome(cell, "— (no held-out part)", bool(n) and top5 >= 1.0)


def _plots_known(r: Results) -> Outcome:
    kd = get(r[PR], "known_data_plot")
    kp = get(r[PR], "known_data_plots")
    within, of = get(kp, "within_0.03"), get(kp, "of")
    dev_v = kd.get("nrmse_known_series")
    dev = f"powerxrd nRMSE {fmt(dev_v)}"
    held = f"{within}/{of} lines within 0.03, median {fmt(kp.get('median_nrmse'))}"
    return Outcome(dev, held, bool(of) and within == of)


SI = "eval_spectra_ingest.json"


def _plots_spectra(r: Results) -> Outcome:
    """bench.eval_spectra_ingest: measured-looking .xy queries against ingested PDFs' XRD panels; "returned" read as
    "in the hits of the CLI's default limit (10)" for every held-out query."""

    def cell(part: str) -> str:
        d = get(r[SI], part)
        at1, at5, top10, n = (get(d, k) for k in ("recall_at_1", "recall_at_5", "found_in_top10", "queries"))
        return f"{part} recall@1 {at1:.3f}, @5 {at5:.3f}, in 10 hits {top10:.3f} (n {n})"

    dev = cell("dev") if "dev" in r[SI] else "—"
    if "heldout" not in r[SI]:
        raise NoNumber("missing key heldout", dev)
    top10 = get(r[SI], "heldout", "found_in_top10")
    return Outcome(dev, cell("heldout"), top10 >= 1.0)


def _plots_time(r: Results) -> Outcome:
    b = r[PB]
    sets = {k: v for k, v in b.items() if isinstance(v, dict) and "cpu_max_s" in v}
    if not sets:
        raise NoNumber("missing key <set>/cpu_max_s")
    worst = max(v["cpu_max_s"] for v in sets.values())
    load = b.get("load_average_before")
    cells = ", ".join(f"{k} CPU max {v['cpu_max_s']:.3f} s (wall median {v['median_s']:.3f})" for k, v in sets.items())
    lo = f"; load {load[0]:.1f}" if isinstance(load, list) and load else ""
    return Outcome("—", f"bench {cells}{lo}", worst <= 1.0)


# ---------------------------------------------------------------------------------------------------------------
# Issue 15: ingest (bench/results/ingest_bench.json)

IB = "ingest_bench.json"


def _ingest(key: str, ok: Callable[[float], bool], unit: str) -> Callable[[Results], Outcome]:
    def measure(r: Results) -> Outcome:
        v = get(r[IB], key)
        load = r[IB].get("load_avg_start")
        return Outcome("—", _bench_cell(v, unit, load[0] if isinstance(load, list) and load else None), ok(v))

    return measure


LINES: tuple[Line, ...] = (
    Line(9, "panel F1 (label + IoU ≥ 0.5), real", "≥ 0.92", (RF,), _split_key("f1", 0.92)),
    Line(9, "label precision, real", "≥ 0.98", (RF,), _split_key("label_precision", 0.98)),
    Line(
        9,
        "panel caption token-F1 ≥ 0.8, share of panels",
        "≥ 0.90",
        (FT,),
        _figtext("captions_", "panel_caption_f1_0.8", at_least(0.90)),
    ),
    Line(9, "caption segments right", "≥ 0.90", (FT,), _figtext("captions_", "segments_f1_0.9", at_least(0.90))),
    Line(9, "panel type accuracy, real", "≥ 0.95", (RF,), _types),
    Line(
        9,
        "nm/px within 10 %, panels that draw a bar",
        "≥ 0.90",
        (FT,),
        _figtext("scales_", "nm_per_px_within_10pct", at_least(0.90)),
    ),
    Line(9, "barless panels given nm/px", "0", (FT,), _figtext("scales_", "barless_given_nm_per_px", at_most(0))),
    Line(9, "scale-label text, real crops", "≥ 5/6 read, rest abstained", (FT,), _scale_labels),
    Line(9, "reverse image search recall@1, perturbed crops", "≥ 0.85", (RF,), _reverse("rerank_recall_at_1", 0.85)),
    Line(9, "reverse image search recall@5, perturbed crops", "≥ 0.95", (RF,), _reverse("rerank_recall_at_5", 0.95)),
    Line(
        9,
        "text search nDCG@10, ingested real paper",
        "≥ 0.90",
        (FT,),
        _figtext("search_", "ndcg_at_10", at_least(0.90)),
    ),
    Line(10, "measured: in-library phase at rank 1, even textured", "every pattern", (XR,), _xrd_rank1),
    Line(10, "measured: two-phase mixture, both in top 5", "every mixture", (XR,), _xrd_two_phase),
    Line(
        10,
        "measured: absent phase abstained (or rank ≤ 5 once added)",
        "every pattern",
        (XR,),
        _xrd_absent_real,
    ),
    Line(
        10,
        "synthetic tiers: single-phase top-1",
        "≥ 0.90",
        (XS,),
        lambda r: _xrd_tiers(r, ("single_phase", "top1"), None, at_least(0.90)),
    ),
    Line(
        10,
        "synthetic tiers: false abstain (dev = calibration)",
        "≤ 0.05",
        (XS,),
        lambda r: _xrd_tiers(r, ("single_phase", "false_abstain"), ("calibration", "false_abstain"), at_most(0.05)),
    ),
    Line(
        10,
        "synthetic: absent abstain, no elements (dev = calibration)",
        "≥ 0.90",
        (XS,),
        lambda r: _xrd_tiers(
            r, ("left_out_phases", "abstain_rate"), ("calibration", "left_out_abstained"), at_least(0.90)
        ),
    ),
    Line(
        10,
        "absent phases of real chemistry (organics, zeolite, ice)",
        "≥ 0.90",
        (XA,),
        lambda r: Outcome(
            "—",
            f"heldout {fmt(get(r[XA], 'summary', 'abstain_rate'))} of {get(r[XA], 'summary', 'queries')} queries",
            get(r[XA], "summary", "abstain_rate") >= 0.90,
        ),
    ),
    Line(10, ".xrdml with its own wavelength (identify_phases path)", "works", (XR,), _xrd_xrdml),
    Line(10, "XRD query p50", "≤ 50 ms (quiet)", (XB,), _xrd_p50),
    Line(11, "real microscope file opened with its own pixel size", "≥ 1 file", (STEM,), _stem_file_px),
    Line(11, "real held-out: expected structure in top 5", "all crops", (STEM,), _stem_real_top5),
    Line(11, "real: measured lattice in the answer", "every crop", (STEM,), _stem_lattice),
    Line(11, "absent structures abstained (rate)", "more than today (report)", (STEM,), _stem_absent),
    Line(11, "synthetic held-out top-5 (held-out gallery, query)", "≥ 0.85", (STEM,), _stem_synth),
    Line(11, "STEM query p50 at ≥ 20k library images", "≤ 100 ms", (SB,), _stem_p50),
    Line(12, "synthetic: lines matched at 2 px", "≥ 0.95", (PL,), _plots("matched_2px", at_least(0.95))),
    Line(12, "synthetic: normalised RMSE (found lines)", "≤ 0.018", (PL,), _plots("nrmse_found_mean", at_most(0.018))),
    Line(12, "synthetic: x-tick values right", "≥ 0.95", (PL,), _plots("x_tick_values_right", at_least(0.95))),
    Line(12, "real dev graph panels: x ticks read right", "≥ 0.90", (PR,), _plots_real_x),
    Line(12, "digitised single-phase XRD plot: phase in top 5", "every plot", (PR,), _plots_e2e),
    Line(12, "real published plot with known data: nRMSE", "≤ 0.03", (PR,), _plots_known),
    Line(12, "ingested XRD panel found by search spectrum (spectra)", "every query, in 10 hits", (SI,), _plots_spectra),
    Line(12, "digitising one panel", "≤ 1 s on 2 cores", (PB,), _plots_time),
    Line(
        15,
        "ingest figures/s end to end (bench.ingest_bench)",
        "≥ 4",
        (IB,),
        _ingest("figures_per_s", lambda v: v >= 4.0, "fig/s"),
    ),
    Line(
        15,
        "ingest CPU-s per figure (bench.ingest_bench)",
        "≤ 0.45",
        (IB,),
        _ingest("cpu_seconds_per_figure", lambda v: v <= 0.45, "CPU-s/fig"),
    ),
)


def load_results(results_dir: Path) -> Results:
    """Every *.json result file of the directory that parses (a half-written file counts as missing)."""
    out: Results = {}
    for path in sorted(results_dir.glob("*.json")):
        try:
            out[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return out


def _present(need: str | tuple[str, ...], results: Results) -> str | None:
    """The result file that satisfies one requirement of a line, or None."""
    names = (need,) if isinstance(need, str) else need
    return next((n for n in names if n in results), None)


def evaluate(results: Results, lines: Sequence[Line] = LINES) -> list[Row]:
    rows = []
    for line in lines:
        found = [_present(need, results) for need in line.files]
        files = [
            f if f is not None else (n if isinstance(n, str) else n[0]) for f, n in zip(found, line.files, strict=True)
        ]
        if line.issue == 15 and None in found:  # the ingest line only when its bench has run
            continue
        if None in found:
            rows.append(Row(line.issue, line.text, line.target, "—", "—", "not run", files))
            continue
        try:
            o = line.measure(results)
        except NoNumber as exc:
            rows.append(Row(line.issue, line.text, line.target, exc.dev, f"({exc})", "no number", files))
            continue
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a file of another shape (older script)
            note = f"(unexpected shape: {type(exc).__name__}: {exc})"
            rows.append(Row(line.issue, line.text, line.target, "—", note, "no number", files))
            continue
        status = "reported" if o.met is None else ("met" if o.met else "not met")
        rows.append(Row(line.issue, line.text, line.target, o.dev, o.heldout, status, files))
    return rows


def table(rows: Sequence[Row], results_dir: Path = RESULTS) -> str:
    mark = {"met": "✓ met", "not met": "✗ not met"}
    out = [f"{'#':>2}  {'Must-show line':<58} {'target':<26} {'status':<11} {'dev':<40} held-out"]
    for r in rows:
        dev = r.dev if len(r.dev) <= 40 else r.dev + "\n" + " " * 101
        out.append(
            f"{r.issue:>2}  {r.line:<58.58} {r.target:<26} {mark.get(r.status, r.status):<11} {dev:<40} {r.heldout}"
        )
    met = sum(r.status == "met" for r in rows)
    read = sorted({f for r in rows if r.status != "not run" for f in r.files})
    when = [f"{f} ({_mtime(results_dir / f)})" for f in read]
    out.append(f"{met} of {len(rows)} lines met; read under {results_dir}: {', '.join(when) or 'no result file'}")
    return "\n".join(out)


def _mtime(path: Path) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime))
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="directory of the result files")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    rows = evaluate(load_results(args.results))
    print(
        json.dumps([asdict(r) for r in rows], indent=1, ensure_ascii=False) if args.json else table(rows, args.results)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
