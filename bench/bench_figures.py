"""Throughput: PDF → indexed panels, end to end (PDF parsing, label OCR, layout, scale bars, panel types, image +
sketch + caption encoders, store upserts), with where the time goes.

    .venv/bin/python bench/bench_figures.py                 # dev PDF + a synthetic PDF, 2 threads
    .venv/bin/python bench/bench_figures.py --synthetic 20

Writes bench/results/bench_figures.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "indexer/matsearch/indexer/demo_data/figures"
RESULTS = ROOT / "bench/results/bench_figures.json"

TIMES: dict[str, float] = defaultdict(float)


def timed(owner: Any, attr: str, key: str) -> None:
    fn: Callable[..., Any] = getattr(owner, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[key] += time.perf_counter() - t

    setattr(owner, attr, wrapper)


def build_pdfs(tmp: Path, n_synthetic: int) -> list[Path]:
    from training import figures_synth as synth

    meta = json.loads((DEV / "figures.json").read_text())
    dev = tmp / "dev.pdf"
    m = meta[0]
    synth.build_figures_pdf(
        [(str(DEV / e["file"]), e["caption"]) for e in meta],
        str(dev),
        title=m["title"],
        doi=m["doi"],
        journal=m["journal"],
        year=m["year"],
        licence=m["license"],
    )
    figs = []
    for k in range(n_synthetic):
        fig = synth.compound_figure(np.random.default_rng(70000 + k))
        path = tmp / f"syn{k}.png"
        fig.image.save(path)
        figs.append((str(path), fig.caption))
    syn = tmp / "synthetic.pdf"
    synth.build_figures_pdf(figs, str(syn), title="Synthetic figures", doi="10.0000/synthetic", year=2024)
    return [dev, syn]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic", type=int, default=15, help="synthetic compound figures in the second PDF")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from matsearch.core.settings import Settings
    from matsearch.encoders import get_encoder
    from matsearch.indexer.figures import panel_type, panels, scalebar
    from matsearch.indexer.sources import pdf as pdf_source
    from matsearch.server.service import Service

    timed(panels, "analyse", "labels + layout (OCR)")
    timed(scalebar, "read_scales", "scale bars (find + OCR)")
    timed(panel_type, "classify_panels", "panel type")
    for name in ("efficientnet-lite0", "sketch", "all-minilm-l6-v2"):
        enc = get_encoder(name, Settings())
        enc.load()
        timed(enc, "encode", f"encoder {name}")

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pdfs = build_pdfs(tmp, args.synthetic)
        service = Service(Settings(data_dir=tmp / "data"))
        # warm-up: OCR and encoder sessions
        service.ingest_figures(list(pdf_source.read_pdf(pdfs[0]))[:1])
        TIMES.clear()
        t0 = time.perf_counter()
        c0 = time.process_time()
        items = [item for p in pdfs for item in pdf_source.read_pdf(p)]  # read_pdf streams: timed here, whole
        TIMES["pdf parse + extract"] += time.perf_counter() - t0
        report = service.ingest_figures(items)
        total = time.perf_counter() - t0
        cpu = time.process_time() - c0
        service.close()
    figures = report.items
    result = {
        "figures": figures,
        "panels": report.points,
        "seconds": round(total, 2),
        "figures_per_s": round(figures / total, 3),
        "panels_per_s": round(report.points / total, 3),
        "threads": args.threads,
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_figure": round(cpu / figures, 3),
        "load_average_1min": round(__import__("os").getloadavg()[0], 2),
        "time_s": {k: round(v, 2) for k, v in sorted(TIMES.items(), key=lambda kv: -kv[1])},
        "note": "encoder sketch includes its own EfficientNet pass; timings overlap where calls nest",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{figures} figures → {report.points} panels in {total:.1f} s: {figures / total:.2f} figures/s")
    print(f"CPU {cpu:.1f} s ({cpu / figures:.2f} CPU-s/figure; load average {result['load_average_1min']})")
    for k, v in result["time_s"].items():
        print(f"  {k:<28} {v:7.2f} s  {100 * v / total:5.1f}%")


if __name__ == "__main__":
    main()
