"""Text search over the figures collection: MRR, hit@1, hit@5 for queries a materials scientist would type.

    .venv/bin/python bench/eval_figures_search.py      # prints a table, writes bench/results/eval_figures_search.json

Queries and truths: ``bench/annotations/text_queries.json``. The 5 dev figures go through the real pipeline (PDF
built from them and their captions → ``Service.ingest_figures``: splitting, sub-captions, keywords); the held-out
captions (written for this eval only) are indexed as pre-split panels so that only the text ranking is measured.
A query scores by the rank of its first expected panel (figure, label) among all panels.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "indexer/matsearch/indexer/demo_data/figures"
QUERIES = ROOT / "bench/annotations/text_queries.json"
RESULTS = ROOT / "bench/results/eval_figures_search.json"


def heldout_items(captions: list[dict[str, str]]) -> list[Any]:
    import io

    from matsearch.indexer.figures.captions import split_caption
    from matsearch.indexer.items import FigureItem, PanelDraft

    items = []
    for k, entry in enumerate(captions):
        split = split_caption(entry["caption"])
        labels = split.labels
        rng = np.random.default_rng(90000 + k)
        w = 200 * len(labels)
        img = Image.fromarray(rng.integers(0, 255, (200, w, 3), dtype=np.uint8))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        drafts = [
            PanelDraft(
                bbox=(200 * i, 0, 200 * (i + 1), 200),
                label=lab,
                caption=split.panel_caption(lab),
                extra={"sub_caption": split.segment(lab), "label_focus": split.focus(lab)},
            )
            for i, lab in enumerate(labels)
        ]
        items.append(FigureItem(buf.getvalue(), entry["id"], entry["caption"], figure_id=entry["id"], panels=drafts))
    return items


def evaluate(
    service: Any, queries: list[dict[str, Any]], fig_names: dict[str, str], dense_only: bool
) -> dict[str, Any]:
    """``dense_only``: the caption vector alone (what search_text did before the lexical re-rank)."""
    from matsearch.search.common import search_vector
    from matsearch.search.figures import search_text

    ranks: list[int | None] = []
    misses = []
    for entry in queries:
        want = {(f, lab) for f, lab in entry["expect"]}
        if dense_only:
            vector = service.encoder("all-minilm-l6-v2").encode_one(entry["q"])
            hits = search_vector(service.store, service.settings, "figures", "caption", vector, None, 50)
        else:
            hits = search_text(service.store, service.settings, entry["q"], limit=50)
        keys = [
            (fig_names.get(str(h.payload.get("figure_id")), h.payload.get("figure_id")), h.payload.get("panel_label"))
            for h in hits
        ]
        rank = next((i + 1 for i, k in enumerate(keys) if k in want), None)
        ranks.append(rank)
        if rank != 1:
            misses.append({"q": entry["q"], "rank": rank, "top": [f"{f}:{lab}" for f, lab in keys[:3]]})
    n = len(ranks)
    return {
        "queries": n,
        "mrr": round(sum(1.0 / r for r in ranks if r) / n, 4),
        "hit_at_1": round(sum(1 for r in ranks if r == 1) / n, 4),
        "hit_at_5": round(sum(1 for r in ranks if r and r <= 5) / n, 4),
        "misses": misses,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    from matsearch.core.settings import Settings
    from matsearch.indexer.sources import pdf as pdf_source
    from matsearch.server.service import Service
    from training import figures_synth as synth

    spec = json.loads(QUERIES.read_text())
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        meta = json.loads((DEV / "figures.json").read_text())
        pdf = tmp / "dev.pdf"
        synth.build_figures_pdf([(str(DEV / e["file"]), e["caption"]) for e in meta], str(pdf), title="dev")
        items = list(pdf_source.read_pdf(pdf))
        # the PDF source names figures "<pdf>/Fig. N"; the annotations name the dev files (in caption order)
        fig_names = {str(item.figure_id): meta[k]["file"] for k, item in enumerate(items)}
        service = Service(Settings(data_dir=tmp / "data"))
        service.ingest_figures(items + heldout_items(spec["heldout_captions"]))
        results: dict[str, Any] = {}
        for mode, dense in (("dense", True), ("search_text", False)):
            for part in ("dev", "heldout"):
                results[f"{part}_{mode}"] = evaluate(service, spec[part], fig_names, dense)
        service.close()
    results["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(f"{'set':<20} {'n':>3} {'MRR':>6} {'hit@1':>6} {'hit@5':>6}")
    for key in ("dev_dense", "heldout_dense", "dev_search_text", "heldout_search_text"):
        r = results[key]
        print(f"{key:<20} {r['queries']:>3} {r['mrr']:>6.3f} {r['hit_at_1']:>6.3f} {r['hit_at_5']:>6.3f}")
        for m in r["misses"]:
            print(f"   miss: {m['q']!r} rank {m['rank']} top {m['top']}")
    print(f"wrote {args.out} ({results['seconds']} s)")


if __name__ == "__main__":
    main()
