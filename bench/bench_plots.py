"""Plot digitiser speed: seconds per panel (``digitize``: axes, OCR of tick labels and titles, lines).

    .venv/bin/python -m bench.bench_plots [--plots 30] [--large 10]

Times ``digitize`` on held-out-style synthetic plots (seeds 200000+, sizes 300–1200 px), on the first ``--large`` of
them rendered at 240 dpi (``dpi_scale=2.4``: 720–2880 px, like 300-dpi document renders; read at the working size
``WORK_SIDE``) and on the real dev graph panels, after one warm-up call (OCR model load). Wall time and CPU time
(process, all threads) per panel; the machine's load average is recorded next to them: on a shared 2-core machine
the wall time grows with the load.
Writes bench/results/bench_plots.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image

from matsearch.indexer.plots.digitize import NoPlotFound, digitize
from training import plots_synth

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plots", type=int, default=30)
    ap.add_argument("--large", type=int, default=10)
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_plots.json")
    args = ap.parse_args(argv)
    synth = [plots_synth.render(200000 + i)[0] for i in range(args.plots)]
    large = [plots_synth.render(200000 + i, dpi_scale=2.4)[0] for i in range(args.large)]
    ann = json.loads((REPO / "bench/annotations/plot_axes_dev.json").read_text())
    figs = REPO.parent / "shared/data/dev/figures"
    real = [Image.open(figs / p["file"]).convert("RGB").crop(tuple(p["bbox"])) for p in ann["panels"]]
    digitize(synth[0])  # warm-up: OCR models
    out: dict[str, object] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_before": os.getloadavg(),
    }
    sets = (("synthetic", synth), ("synthetic_240dpi", large), ("real_dev_panels", real))
    for name, images in sets:
        if not images:
            continue
        times, cpu = [], []
        for im in images:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                digitize(im)
            except NoPlotFound:
                pass
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out[name] = {
            "panels": len(images),
            "median_s": float(np.median(times)),
            "p90_s": float(np.percentile(times, 90)),
            "max_s": float(np.max(times)),
            "cpu_median_s": float(np.median(cpu)),
            "cpu_p90_s": float(np.percentile(cpu, 90)),
            "cpu_max_s": float(np.max(cpu)),
            "mean_px": float(np.mean([im.width * im.height for im in images])),
            "max_side_px": int(max(max(im.size) for im in images)),
        }
    out["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(
        f" set               panels  median s   p90 s   max s  cpu median s  cpu max s"
        f"  (load avg {os.getloadavg()[0]:.1f})"
    )
    for name, _images in sets:
        r = out.get(name)
        if not isinstance(r, dict):
            continue
        print(
            f" {name:<17} {r['panels']:>6} {r['median_s']:>9.3f} {r['p90_s']:>7.3f} {r['max_s']:>7.3f}"
            f" {r['cpu_median_s']:>13.3f} {r['cpu_max_s']:>10.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
