"""Recall of the store on real embeddings, not just the synthetic clusters of ``bench/data.py``.

    .venv/bin/python -m bench.real_vectors                  # 8k image + 8k caption vectors (cached after the first run)
    .venv/bin/python -m bench.real_vectors --per-panel 40   # fewer

Data (all offline):
- **image**: the 114 hand-boxed panels of the shared real figure set (``bench/real_figures``: panels.json, images
  fetched into the cache by ``bench/real_figures/fetch.py``), each augmented ``--per-panel`` times (random crop of
  60-100 %, rotation within ±8°, flips, scale 0.5-1.5, brightness/contrast, noise, JPEG quality 40-95 — what
  re-published, re-scanned and cropped copies of a figure look like), encoded with EfficientNet-Lite0 (1280-d);
- **caption**: real captions (the figure set's captions and the chemdataextractor papers' captions that figtext
  cached), split into sentences and panel segments, each varied by word dropout, sentence order and truncation,
  encoded with MiniLM (384-d).
Queries are separate augmentations (another seed) of the same sources; the truth is exact numpy top-10 on the same
vectors. Near-duplicate clusters with a shared background (all panels are figures) are what makes HNSW work for its
recall here, unlike Gaussian clusters. Vectors are cached in ``~/.cache/matsearch/bench/``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from bench.common import blas_threads
from bench.store_bench import COLLECTION, VECTOR, exact_topk, point_id, point_index
from matsearch.store.base import CollectionSpec, PointRecord, VectorQuery, VectorSpec
from matsearch.store.edge import EdgeStore

ROOT = Path(__file__).resolve().parent
CACHE = Path("~/.cache/matsearch/bench").expanduser()
RESULTS = ROOT / "results" / "real_vectors.json"
K = 10


def panels() -> list[Image.Image]:
    from bench.real_figures import fetch

    cache = fetch.DEFAULT_CACHE
    boxes = json.loads((ROOT / "real_figures" / "panels.json").read_text())["figures"]
    out = []
    for name, items in sorted(boxes.items()):
        path = cache / name
        if not path.exists():
            path = fetch.SHARED_DEV / name
        if not path.exists():
            continue
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        for p in items:
            x0, y0, x1, y1 = p["bbox"]
            if x1 - x0 >= 16 and y1 - y0 >= 16:
                out.append(rgb.crop((x0, y0, x1, y1)))
    return out


def augment(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = image.size
    f = rng.uniform(0.6, 1.0)
    cw, ch = max(8, int(w * f)), max(8, int(h * rng.uniform(0.6, 1.0)))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    im = image.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    im = im.rotate(float(rng.uniform(-8, 8)), expand=False, fillcolor=(255, 255, 255))
    s = rng.uniform(0.5, 1.5)
    im = im.resize((max(8, int(im.width * s)), max(8, int(im.height * s))), Image.Resampling.BILINEAR)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.7, 1.3))
    a = np.asarray(im, dtype=np.float32) + rng.normal(0, rng.uniform(0, 8), size=(im.height, im.width, 3))
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(rng.integers(40, 96)))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def captions() -> list[str]:
    """Real caption fragments: whole captions, their sentences and their (a)/(b) segments."""
    texts: list[str] = []
    for path in (
        Path("~/.cache/matsearch/realdata/text/captions.json").expanduser(),
        Path("~/.cache/matsearch/realdata/figures/captions.json").expanduser(),
    ):
        if path.exists():
            data = json.loads(path.read_text())
            texts += [d["caption"] for d in data] if isinstance(data, list) else [str(v) for v in data.values() if v]
    dev = Path(__file__).resolve().parents[2] / "shared/data/dev/figures/figures.json"
    if dev.exists():
        texts += [e["caption"] for e in json.loads(dev.read_text())]
    out: list[str] = []
    for t in texts:
        out.append(t)
        out += [s for s in re.split(r"(?<=[.;])\s+", t) if len(s) > 20]
        out += [s for s in re.split(r"\s\(?[a-h]\)\s", t) if len(s) > 20]
    return sorted(set(out))


def vary(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    keep = [w for w in words if rng.random() > rng.uniform(0.05, 0.3)] or words[:3]
    if rng.random() < 0.3:
        keep = keep[: max(3, int(len(keep) * rng.uniform(0.5, 1.0)))]
    if rng.random() < 0.3 and len(keep) > 6:
        cut = int(rng.integers(1, len(keep) - 1))
        keep = keep[cut:] + keep[:cut]
    return " ".join(keep)


def vectors(kind: str, per_source: int, n_queries: int, log: Any = print) -> tuple[np.ndarray, np.ndarray, int]:
    """(data, queries, number of sources), from the cache when it has them."""
    from matsearch.core.settings import Settings
    from matsearch.encoders import get_encoder

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"real_{kind}_{per_source}_{n_queries}.npz"
    if path.exists():
        z = np.load(path)
        return z["data"], z["queries"], int(z["sources"])
    t = time.perf_counter()
    settings = Settings()
    if kind == "image":
        src: list[Any] = panels()
        make: Any = augment
        encoder = get_encoder("efficientnet-lite0", settings)
    else:
        src = captions()
        make = vary
        encoder = get_encoder("all-minilm-l6-v2", settings)
    if not src:
        raise SystemExit(f"no real {kind} sources found (run bench/real_figures/fetch.py first)")
    per = max(1, per_source if kind == "image" else max(1, per_source * 114 // max(1, len(src))))
    rng, qrng = np.random.default_rng(7), np.random.default_rng(8)
    parts = []
    for i in range(0, len(src)):
        parts.append(encoder.encode([make(src[i], rng) for _ in range(per)]))
    data = np.concatenate(parts).astype(np.float32)
    picks = qrng.integers(0, len(src), size=n_queries)
    queries = encoder.encode([make(src[int(i)], qrng) for i in picks]).astype(np.float32)
    np.savez(path, data=data, queries=queries, sources=len(src))
    log(f"[real {kind}] {len(src)} sources x {per} -> {len(data)} vectors in {time.perf_counter() - t:.0f} s")
    return data, queries, len(src)


def recall_table(data: np.ndarray, queries: np.ndarray, ef_sweep: tuple[int, ...] = (64, 128)) -> dict[str, Any]:
    with blas_threads(1):
        truth = exact_topk(data, queries)
    with tempfile.TemporaryDirectory(prefix="matsearch-realvec-") as tmp:
        store = EdgeStore(Path(tmp))
        try:
            spec = CollectionSpec(COLLECTION, (VectorSpec(VECTOR, data.shape[1], "cosine"),))
            store.ensure_collection(spec)
            for s in range(0, len(data), 256):
                store.upsert(
                    COLLECTION, [PointRecord(point_id(i), {VECTOR: data[i]}) for i in range(s, min(len(data), s + 256))]
                )
            t = time.perf_counter()
            store.optimize(COLLECTION)
            build_s = time.perf_counter() - t
            # untimed warm-up with data points as queries (not the timed ones): right after a build the first
            # queries pay page faults on the memory-mapped originals
            warm = data[np.random.default_rng(9).choice(len(data), size=min(200, len(data)), replace=False)]
            for q in warm:
                store.query(COLLECTION, VectorQuery(vector=q, using=VECTOR, limit=K))
            rows = []
            for ef in (None, *ef_sweep):
                lat, cpu, rec = [], [], []
                for q, tr in zip(queries, truth, strict=True):
                    t, c = time.perf_counter(), time.process_time()
                    hits = store.query(COLLECTION, VectorQuery(vector=q, using=VECTOR, limit=K, hnsw_ef=ef))
                    lat.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
                    rec.append(len({point_index(h.id) for h in hits} & set(tr.tolist())) / K)
                rows.append(
                    {
                        "hnsw_ef": ef,
                        "recall_at_10": round(float(np.mean(rec)), 4),
                        "min_recall": round(float(np.min(rec)), 2),
                        "p50_ms": round(1000 * float(np.median(lat)), 3),
                        "cpu_p50_ms": round(1000 * float(np.median(cpu)), 3),  # process CPU, all threads
                    }
                )
            info = store._shard(COLLECTION).info()  # noqa: SLF001 - was HNSW built?
        finally:
            store.close()
    gap = np.sort(queries @ data.T, axis=1)[:, ::-1]
    return {
        "points": len(data),
        "dim": int(data.shape[1]),
        "queries": len(queries),
        "indexed": info.indexed_vectors_count,
        "build_s": round(build_s, 2),
        "score_10th_minus_11th": round(float(np.median(gap[:, 9] - gap[:, 10])), 5),
        "rows": rows,
    }


def bench_real(per_panel: int = 70, n_queries: int = 200, log: Any = print) -> dict[str, Any]:
    """The real-embedding recall table's data (``bench.run`` calls this too)."""
    result: dict[str, Any] = {"load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    for kind in ("image", "caption"):
        data, queries, sources = vectors(kind, per_panel, n_queries, log=log)
        result[kind] = {"sources": sources, **recall_table(data, queries)}
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "recall@10 on real embeddings (augmented real panels / caption variants; truth = exact numpy top-10):",
        f"{'vectors':<8} {'sources':>7} {'points':>7} {'dim':>5} {'ef':>6} {'recall@10':>9} {'min':>5} {'p50 ms':>7} "
        f"{'CPU p50 ms':>10}",
    ]
    for kind in ("image", "caption"):
        r = result[kind]
        for row in r["rows"]:
            lines.append(
                f"{kind:<8} {r['sources']:>7} {r['points']:>7} {r['dim']:>5} {str(row['hnsw_ef'] or 'dflt'):>6} "
                f"{row['recall_at_10']:>9.4f} {row['min_recall']:>5.2f} {row['p50_ms']:>7.3f} "
                f"{row.get('cpu_p50_ms', float('nan')):>10.3f}"
            )
        lines.append(
            f"  {kind}: HNSW build {r['build_s']} s, indexed {r['indexed']}, median gap 10th-11th score "
            f"{r['score_10th_minus_11th']}"
        )
    lines.append(f"  load average {result['load_avg_start']} -> {result['load_avg_end']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    ap.add_argument("--per-panel", type=int, default=70, help="augmentations per real panel (114 panels)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    result = bench_real(args.per_panel, args.queries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
