"""The store benchmark runs end to end at a tiny size and writes the JSON it promises. No timing asserts."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = ("unfiltered", "keyword_10pct", "range_10pct")


def test_store_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sizes", "2000", "--queries", "20", "--ef-sweep", "64"]
        + ["--skip-http", "--skip-ingest", "--skip-real", "--out", str(out), "--workdir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["machine"]["cpu_count"] >= 1
    assert len(result["machine"]["load_avg_start"]) == 3
    [size] = result["store"]
    assert size["points"] == 2000 and size["dim"] == 512 and size["queries"] == 20
    assert size["upsert"]["points_per_s"] > 0
    assert size["optimize_s"] >= 0
    assert size["memory"]["rss_mib_after_build"] > 0
    assert size["memory"]["peak_rss_mib"] >= size["memory"]["peak_anon_mib"] > 0  # sampled from a child process
    for name in CASES:
        case = size["cases"][name]
        expected = 1.0 if name == "unfiltered" else 0.1
        assert abs(case["selectivity"] - expected) < 0.05
        for run in (case["default"], *case["ef_sweep"]):
            assert isinstance(run["recall_at_10"], float) and 0.0 <= run["recall_at_10"] <= 1.0
            assert math.isfinite(run["p50_ms"]) and math.isfinite(run["p95_ms"])
        assert case["numpy"]["p50_ms"] >= 0
    assert "http" not in result
    assert "recall" in proc.stdout and "unfiltered" in proc.stdout  # the printed table
