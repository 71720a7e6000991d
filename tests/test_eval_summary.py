"""The Must-show summary of ``make eval`` (bench.must_show), fed small result files: no evaluation runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import must_show


def write(d: Path, name: str, data: Any) -> None:
    (d / name).write_text(json.dumps(data))


def rows_by_line(d: Path) -> dict[str, must_show.Row]:
    return {r.line: r for r in must_show.evaluate(must_show.load_results(d))}


def test_met_not_met_and_missing(tmp_path: Path) -> None:
    write(
        tmp_path,
        "eval_real_figures.json",
        {
            "split": {
                "dev": {"f1": 1.0, "label_precision": 1.0, "type_accuracy": 0.99},
                "heldout": {"f1": 0.95, "label_precision": 0.99, "type_accuracy": 0.96},
                "heldout2": {"f1": 0.90, "label_precision": 1.0, "type_accuracy": 0.97},
                "figures": [],
            }
        },
    )
    write(tmp_path, "ingest_bench.json", {"figures_per_s": 4.2, "cpu_seconds_per_figure": 0.5, "load_avg_start": [1.0]})
    rows = rows_by_line(tmp_path)

    f1 = rows["panel F1 (label + IoU ≥ 0.5), real"]
    assert f1.status == "not met"  # one held-out part (0.90) is under 0.92
    assert "heldout 0.950" in f1.heldout and "heldout2 0.900" in f1.heldout and "below: heldout2" in f1.heldout
    assert f1.dev == "dev 1.000"
    assert rows["label precision, real"].status == "met"
    assert rows["panel type accuracy, real"].status == "met"
    assert rows["ingest figures/s end to end (bench.ingest_bench)"].status == "met"
    assert rows["ingest CPU-s per figure (bench.ingest_bench)"].status == "not met"
    # the reverse-image block is not in the file: the file ran, the number is missing
    assert rows["reverse image search recall@1, perturbed crops"].status == "no number"
    # no eval_figtext_real.json / eval_plots.json / eval_stem*.json: "not run"
    assert rows["caption segments right"].status == "not run"
    assert rows["synthetic: lines matched at 2 px"].status == "not run"
    assert rows["real held-out: expected structure in top 5"].status == "not run"
    text = must_show.table(list(rows.values()), tmp_path)
    assert "✓ met" in text and "✗ not met" in text and "not run" in text


def test_ingest_line_only_when_its_bench_ran_and_other_shapes(tmp_path: Path) -> None:
    write(tmp_path, "eval_plots.json", [{"seed": 1}])  # an older script's list: reported, not a crash
    write(tmp_path, "bench_xrd.json", {"query_ms_p50": 41.0, "load_average_1min": 0.5})
    write(
        tmp_path,
        "eval_stem_quick.json",  # the --quick run's file stands in for eval_stem.json
        {
            "synthetic_query": {
                "physics_heldout_gallery_tune": {"top5": 0.9},
                "physics_heldout_gallery_test": {"top5": 0.8},
            }
        },
    )
    part = {"recall_at_1": 0.9, "recall_at_5": 1.0, "queries": 8}
    write(
        tmp_path,
        "eval_spectra_ingest.json",
        {"dev": {**part, "found_in_top10": 1.0}, "heldout": {**part, "found_in_top10": 0.875}},
    )
    rows = rows_by_line(tmp_path)
    assert not any(r.issue == 15 for r in rows.values())
    spectra = rows["ingested XRD panel found by search spectrum (spectra)"]
    assert spectra.status == "not met" and "in 10 hits 0.875 (n 8)" in spectra.heldout
    assert spectra.dev.startswith("dev recall@1 0.900, @5 1.000")
    assert rows["synthetic: lines matched at 2 px"].status == "no number"
    assert rows["XRD query p50"].status == "met" and "41" in rows["XRD query p50"].heldout
    stem = rows["synthetic held-out top-5 (held-out gallery, query)"]
    assert stem.status == "not met" and stem.files == ["eval_stem_quick.json"]
    assert "dev(tune) 0.900" in stem.dev and "heldout(test) 0.800" in stem.heldout


def test_type_line_reads_the_typed_paper_parts_too(tmp_path: Path) -> None:
    """The panel-type line takes every part of eval_real_figures.json and, when bench.eval_real_types ran, its parts
    as well (a held-out part there under 0.95 makes the line not met; parts with no items are skipped)."""
    split = {"dev": {"type_accuracy": 0.99}, "heldout": {"type_accuracy": 0.97}}
    write(tmp_path, "eval_real_figures.json", {"split": split})
    assert rows_by_line(tmp_path)["panel type accuracy, real"].status == "met"
    types = {
        "dev9t": {"items": 10, "correct": 9, "accuracy": 0.9},
        "heldout8t": {"items": 99, "correct": 71, "accuracy": 0.717},
        "heldout9t": {"items": 0, "correct": 0, "accuracy": 0.0},
    }
    write(tmp_path, "eval_real_types.json", types)
    row = rows_by_line(tmp_path)["panel type accuracy, real"]
    assert row.status == "not met" and "below: heldout8t" in row.heldout and "heldout9t" not in row.heldout
    assert "dev9t 0.900" in row.dev
