"""Ingested papers' XRD panels found by spectrum search: ``python -m bench.eval_spectra_ingest``.

Issue 12's Must-show line "an ingested paper's XRD panel is returned by ``search spectrum --collection spectra`` for
that pattern", measured end to end with the real parts:

1. **Phases**: the structure library of ``bench.eval_plots_real``'s end-to-end part (COD + ase + Materials Project,
   ``limit=120`` per source), peaks simulated by the library builder (Cu Kα1). A phase is usable when it has at
   least 3 reflections above 5 % between 10° and 80° 2θ (a plotted pattern with fewer peaks identifies nothing).
2. **Papers**: per set, ``--figures`` compound figures, each of 2 XRD graph panels (two different phases, rendered
   by ``training.plots_synth.render(kind="xrd", n_series=1)`` — journal-style plots, cropped 2θ windows, noise,
   JPEG) and one other panel (a particle micrograph from ``training.figures_synth`` or a Raman plot), labelled
   (a)–(c) above the panels, with a caption naming each panel ("(a) XRD pattern (Cu Kα) of …"). Two figures make a
   paper-like PDF (``training.figures_synth.build_figures_pdf``: title page, DOI, body text, "Fig. N" captions).
   The PDFs are read by the PDF source (``read_pdf``) and ingested by the real pipeline
   (``Service.ingest_figures``: panel splitting, typing, OCR, digitising graph panels into ``spectra``) into a
   temporary data dir with the embedded Qdrant Edge store and the real encoders.
3. **Queries, as a user has them**: for each XRD panel, a measured-looking ``.xy`` file of the same phase
   (``bench.xrd_measured.measured_like``: another strain and texture, zero shift and sample displacement, Cu Kα2
   in 80 %, pseudo-Voigt widths, background, Poisson noise, its own 2θ range) — not the plotted data and not the
   digitised pixels. Searched with ``search_literature_file`` (what ``matsearch search spectrum FILE --collection
   spectra`` calls locally), ``limit=10``; the first ``--cli`` queries of each set are also run through the CLI
   (subprocess) and must give the same hits.
4. **Measure**: the rank of the first hit that is the right panel (same figure, the hit's panel box centre inside
   the panel's drawn box); recall@1, recall@5 over the queries (a panel the pipeline did not index counts as a
   miss), plus how many XRD panels were indexed at all.

**Split rule (fixed 2026-12-02 02:10 UTC, before any run):** a phase belongs to the held-out set when the first
hex digit of sha256("spectra-ingest:" + structure id) is odd, else to dev. Each set draws its phases (without
replacement), panel kinds and layouts with ``numpy.random.default_rng(seed)``, dev seed 12000, held-out seed 12500;
plot ``k`` of a set is rendered with seed ``seed + k``, its query with ``default_rng(seed + 500 + k)``. Dev and
held-out are ingested into separate stores (the papers of one set are the distractors of its queries). The held-out
set is run once, at the end.

    .venv/bin/python -m bench.eval_spectra_ingest                 # dev and held-out, 12 figures (24 queries) each
    .venv/bin/python -m bench.eval_spectra_ingest --only dev      # while developing
    .venv/bin/python -m bench.eval_spectra_ingest --quick         # 4 figures per set
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SOURCES, LIMIT = ("cod", "ase", "materials_project"), 120  # bench.eval_plots_real's end-to-end library
SEEDS = {"dev": 12000, "heldout": 12500}
CELL = (420, 320)  # a panel's cell in the compound figure (plots are scaled down into it)


def is_heldout(structure_id: str) -> bool:
    return int(hashlib.sha256(f"spectra-ingest:{structure_id}".encode()).hexdigest()[0], 16) % 2 == 1


@dataclass
class Phase:
    id: str
    formula: str
    sticks: list[tuple[float, float]]  # (2θ Cu Kα1, relative intensity 0–1) as plotted in the paper
    candidate: Any  # bench.xrd_measured's view of the entry (for the measured-looking query)


@dataclass
class Panel:
    figure_id: str
    doi: str
    box: tuple[int, int, int, int]  # in the figure's pixels
    phase: Phase
    seed: int


def load_phases(data_dir: Path) -> list[Phase]:
    from bench.xrd_measured import candidate
    from matsearch.indexer.structures import load_library
    from matsearch.indexer.xrd.build import simulate_entries

    lib = list(load_library(SOURCES, limit=LIMIT, cache_dir=data_dir / "cache"))
    peaks, _errors = simulate_entries(lib, data_dir, workers=1, progress=False)
    out = []
    for entry in sorted(lib, key=lambda e: str(e.id)):
        pk = peaks.get(str(entry.id))
        if pk is None:
            continue
        sticks = [(float(a), float(b) / 100) for a, b in zip(pk.two_theta, pk.intensity, strict=True) if b > 0.5]
        if sum(1 for a, b in sticks if 10 <= a <= 80 and b > 0.05) < 3:
            continue
        out.append(Phase(str(entry.id), entry.formula, sticks, candidate(entry, pk)))
    return out


def _other_panel(rng: np.random.Generator, seed: int) -> tuple[Image.Image, str]:
    from training import figures_synth, plots_synth

    if rng.random() < 0.5:
        return figures_synth.particle_micrograph(str(rng.choice(figures_synth.SHAPES)), rng), "SEM image of the film"
    image, _ = plots_synth.render(seed, kind="raman", n_series=1)
    return image, "Raman spectrum of the film"


def compound(
    phases: list[Phase], rng: np.random.Generator, seeds: list[int], figure_id: str, doi: str
) -> tuple[Image.Image, str, list[Panel]]:
    """Two XRD plots and one other panel in a row (or 2+1), labels (a)–(c) above them, and the caption."""
    from training import figures_synth, plots_synth

    images: list[tuple[Image.Image, str, Phase | None, int]] = []
    for phase, seed in zip(phases, seeds, strict=True):
        image, _ = plots_synth.render(seed, kind="xrd", xrd_peaks=phase.sticks, n_series=1)
        images.append((image, f"XRD pattern (Cu Kα) of the {phase.formula} film", phase, seed))
    other, text = _other_panel(rng, seeds[-1] + 250)
    images.insert(int(rng.integers(0, 3)), (other, text, None, -1))
    cols = 3 if rng.random() < 0.6 else 2
    gutter, lab_h = int(rng.choice([6, 10, 16])), 22
    rows = -(-len(images) // cols)
    W, H = cols * CELL[0] + (cols - 1) * gutter, rows * (CELL[1] + lab_h) + (rows - 1) * gutter
    fig = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(fig)
    font = figures_synth._font(16, bold=True)
    panels, segments = [], []
    for k, (im, text, ph, seed) in enumerate(images):
        r, c = divmod(k, cols)
        x0, y0 = c * (CELL[0] + gutter), r * (CELL[1] + lab_h + gutter)
        im = im.copy()
        im.thumbnail(CELL)
        fig.paste(im, (x0, y0 + lab_h))
        label = chr(97 + k)
        draw.text((x0 + 2, y0 + 2), f"({label})", fill="black", font=font)
        segments.append(f"({label}) {text}.")
        if ph is not None:
            panels.append(Panel(figure_id, doi, (x0, y0 + lab_h, x0 + im.width, y0 + lab_h + im.height), ph, seed))
    return fig, " ".join(segments), panels


def build_papers(phases: list[Phase], n_figures: int, seed: int, out: Path) -> tuple[list[Path], list[Panel]]:
    from training.figures_synth import build_figures_pdf

    rng = np.random.default_rng(seed)
    chosen = [phases[int(i)] for i in rng.choice(len(phases), size=2 * n_figures, replace=False)]
    pdfs, panels = [], []
    for paper in range(-(-n_figures // 2)):
        doi = f"10.5555/spectra-ingest.{seed}.{paper}"
        figs = []
        for j in range(2):
            k = 2 * paper + j
            if k >= n_figures:
                break
            fig, caption, ps = compound(
                chosen[2 * k : 2 * k + 2], rng, [seed + 2 * k, seed + 2 * k + 1], f"{doi}/Fig. {j + 1}", doi
            )
            path = out / f"paper{paper}_fig{j + 1}.png"
            fig.save(path)
            figs.append((str(path), caption))
            panels += ps
        pdf = out / f"paper{paper}.pdf"
        build_figures_pdf(figs, str(pdf), title=f"Thin films, study {paper}", doi=doi, year=2024, rng_seed=paper)
        pdfs.append(pdf)
    return pdfs, panels


def query_xy(phase: Phase, rng: np.random.Generator) -> bytes:
    """A measured-looking two-column .xy of the phase (its own range, noise, Kα2), as a diffractometer exports it."""
    from bench.xrd_measured import measured_like
    from matsearch.encoders.xrd import GRID_2THETA

    y = measured_like([(phase.candidate, 1.0)], rng)
    inside = y > 0
    lo, hi = int(np.argmax(inside)), len(y) - int(np.argmax(inside[::-1]))
    step = int(rng.integers(1, 3))  # the grid's step or twice it
    return "".join(f"{a:.4f} {b:.0f}\n" for a, b in zip(GRID_2THETA[lo:hi:step], y[lo:hi:step], strict=True)).encode()


def _right(hit: dict[str, Any], panel: Panel) -> bool:
    p = hit["payload"]
    box = p.get("bbox")
    if p.get("figure_id") != panel.figure_id or not box:
        return False
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return panel.box[0] <= cx <= panel.box[2] and panel.box[1] <= cy <= panel.box[3]


def run_set(name: str, phases: list[Phase], n_figures: int, n_cli: int) -> dict[str, Any]:
    from matsearch.core.settings import Settings
    from matsearch.indexer.sources.pdf import read_pdf
    from matsearch.search.literature import search_literature_file
    from matsearch.server.service import Service

    seed = SEEDS[name]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        pdfs, panels = build_papers(phases, n_figures, seed, work)
        settings = Settings(data_dir=data)
        service = Service(settings)
        t0 = time.perf_counter()
        c0 = time.process_time()
        try:
            items = [it for pdf in pdfs for it in read_pdf(pdf, settings=settings)]
            service.ingest_figures(items)
            ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
            points, _ = service.store.scroll("spectra", None, limit=10_000)
            xrd_points = [{"payload": p.payload} for p in points if p.payload.get("kind") == "xrd"]
            figure_points, _ = service.store.scroll("figures", None, limit=10_000)
            figure_panels = [{"payload": p.payload} for p in figure_points]
            rows: list[dict[str, Any]] = []
            xys: list[bytes] = []
            for k, panel in enumerate(panels):
                xy = query_xy(panel.phase, np.random.default_rng(seed + 500 + k))
                q0 = time.perf_counter()
                found = search_literature_file(service.store, settings, xy, "q.xy", limit=10)
                hits = [h.model_dump() for h in found]
                ms = 1000 * (time.perf_counter() - q0)
                xys.append(xy)
                rank = next((i + 1 for i, h in enumerate(hits) if _right(h, panel)), None)
                rows.append(
                    {
                        "structure": panel.phase.id,
                        "formula": panel.phase.formula,
                        "figure_id": panel.figure_id,
                        "plot_seed": panel.seed,
                        "indexed": any(_right(p, panel) for p in xrd_points),
                        # where a miss comes from: the pipeline's panel at that place and its type
                        "panel_type": next((p["payload"].get("type") for p in figure_panels if _right(p, panel)), None),
                        "rank": rank,
                        "query_ms": round(ms, 1),
                        "top_ids": [h["id"] for h in hits],
                    }
                )
        finally:
            service.close()
        cli = []
        env = {**os.environ, "MATSEARCH_DATA_DIR": str(data)}
        for row, xy in zip(rows[:n_cli], xys, strict=False):
            q = work / "q.xy"
            q.write_bytes(xy)
            res = subprocess.run(
                [str(Path(sys.executable).parent / "matsearch"), "search", "spectrum", str(q)]
                + ["--collection", "spectra", "--limit", "10", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            ids = [h["id"] for h in json.loads(res.stdout)["hits"]] if res.returncode == 0 else None
            cli.append({"structure": row["structure"], "exit": res.returncode, "same_hits": ids == row["top_ids"]})
    ranks = [r["rank"] for r in rows]
    n = len(rows)
    return {
        "seed": seed,
        "figures": n_figures,
        "pdfs": len(pdfs),
        "queries": n,
        "recall_at_1": sum(1 for r in ranks if r == 1) / max(1, n),
        "recall_at_5": sum(1 for r in ranks if r is not None and r <= 5) / max(1, n),
        "found_in_top10": sum(1 for r in ranks if r is not None) / max(1, n),
        "panels_indexed": sum(1 for r in rows if r["indexed"]) / max(1, n),
        "xrd_series_points": len(xrd_points),
        "ingest_wall_s": round(ingest_s, 1),
        "ingest_cpu_s": round(ingest_cpu, 1),
        "cli": cli,
        "cli_same_hits": all(c["same_hits"] for c in cli) if cli else None,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--figures", type=int, default=12, help="compound figures per set (2 XRD panels each)")
    ap.add_argument("--quick", action="store_true", help="4 figures per set")
    ap.add_argument("--only", choices=sorted(SEEDS), help="one set (dev while developing)")
    ap.add_argument("--cli", type=int, default=2, help="queries per set also run through the CLI")
    ap.add_argument("--out", type=Path, default=RESULTS / "eval_spectra_ingest.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    n_fig = 4 if args.quick else args.figures
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        phases = load_phases(Path(tmp))
    out: dict[str, Any] = {
        "command": " ".join(["python -m bench.eval_spectra_ingest", *(argv if argv is not None else sys.argv[1:])]),
        "library_phases_usable": len(phases),
        "load_average_before": list(os.getloadavg()),
    }
    for name in [args.only] if args.only else ["dev", "heldout"]:
        pool = [p for p in phases if is_heldout(p.id) == (name == "heldout")]
        res = run_set(name, pool, n_fig, args.cli)
        res["phases_in_set"] = len(pool)
        out[name] = res
        print(
            f"{name}: {res['queries']} queries ({res['figures']} figures in {res['pdfs']} PDFs, "
            f"{len(pool)} phases): recall@1 {res['recall_at_1']:.3f}, recall@5 {res['recall_at_5']:.3f}, "
            f"in top 10 {res['found_in_top10']:.3f}; XRD panels indexed {res['panels_indexed']:.3f}; "
            f"CLI same hits {res['cli_same_hits']} ({len(res['cli'])}); ingest {res['ingest_wall_s']} s wall",
            flush=True,
        )
        if name == "dev":
            for r in res["rows"]:
                print(
                    f"  {r['structure']:<16} {r['formula']:<14} panel {r['panel_type']!s:<12} "
                    f"indexed {r['indexed']!s:<5} rank {r['rank']}"
                )
    out["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(f"wrote {args.out} ({out['seconds']} s, load before {out['load_average_before'][0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
