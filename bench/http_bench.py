"""End-to-end HTTP latency of ``matsearch serve`` at ~10k figure points: image query (upload + decode + EfficientNet
encode + search + JSON) and text query (MiniLM encode + search), sequential requests after warm-up.

The data dir is built the way users build it: real figures go through ``matsearch ingest figures DIR`` (splitting,
encoders, content-addressed images, real payloads), then clustered synthetic points fill the ``figures`` collection
(FIGURES spec: image 1280-d, caption 384-d, sketch 1280-d) up to the target count, then it is optimised.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.common import ms_stats, rss_mib
from bench.data import Mixture
from matsearch.store.base import PointRecord
from matsearch.store.collections import FIGURES
from matsearch.store.edge import EdgeStore

REPO = Path(__file__).resolve().parents[1]
DEMO_FIGURES = REPO / "indexer" / "matsearch" / "indexer" / "demo_data" / "figures"
BIN = Path(sys.executable).parent
WARMUP = 5

TECHNIQUES = ("SEM", "TEM", "HRTEM", "HAADF-STEM", "EDX", "EELS", "XRD", "AFM", "Raman", "XPS")
MATERIALS = (
    "Au nanorods",
    "Ag2MnO4 nanoplates",
    "MoS2 monolayer",
    "perovskite film",
    "Pt/C catalyst",
    "graphene oxide",
    "TiO2 nanotubes",
    "Cu grain boundaries",
    "zeolite crystals",
    "LiFePO4 particles",
)
TYPES = ("microscopy", "spectrum", "diffraction", "plot", "schematic", "photo")
TEXT_QUERIES = tuple(
    f"{t} image of {m}" if i % 3 else f"{m} characterised by {t}"
    for i, (t, m) in enumerate((t, m) for t in TECHNIQUES for m in MATERIALS)
)

Log = Callable[[str], None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MATSEARCH_QDRANT_URL", "MATSEARCH_API_KEY")}
    env["MATSEARCH_DATA_DIR"] = str(data_dir)
    return env


def query_images(n: int, seed: int = 0) -> list[tuple[str, bytes, str]]:
    """``n`` real-looking 512x512 query images: random crops of the demo figures, alternately PNG and JPEG."""
    rng = np.random.default_rng(seed)
    sources = [Image.open(p).convert("RGB") for p in sorted(DEMO_FIGURES.glob("*.jpg"))]
    out = []
    for i in range(n):
        img = sources[i % len(sources)]
        side = int(min(img.size) * rng.uniform(0.3, 1.0))
        x0 = int(rng.integers(0, img.width - side + 1))
        y0 = int(rng.integers(0, img.height - side + 1))
        crop = img.crop((x0, y0, x0 + side, y0 + side)).resize((512, 512), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        if i % 2:
            crop.save(buf, format="JPEG", quality=90)
            out.append((f"q{i}.jpg", buf.getvalue(), "image/jpeg"))
        else:
            crop.save(buf, format="PNG")
            out.append((f"q{i}.png", buf.getvalue(), "image/png"))
    return out


def ingest_real_figures(data_dir: Path, work: Path) -> dict[str, Any]:
    """The demo figures (CC-BY, with captions) through the real pipeline: ``matsearch ingest figures DIR --json``."""
    figs = work / "figs"
    shutil.copytree(DEMO_FIGURES, figs)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "matsearch"), "ingest", "figures", str(figs), "--json"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"matsearch ingest figures failed: {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout)
    return {
        "figures": report.get("items"),
        "points": report.get("points"),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def fill_synthetic(store_dir: Path, total: int, seed: int = 0) -> int:
    """Top the ``figures`` collection up to ``total`` points with clustered vectors and figure-like payloads."""
    store = EdgeStore(store_dir)
    try:
        have = store.count(FIGURES.name)
        n = max(0, total - have)
        rng = np.random.default_rng(seed)
        clusters = max(8, total // 100)
        # Centre the synthetic vectors on the mean direction of the real ones, so real queries land among them
        # (the search walks the graph through synthetic neighbours, and real panels compete with synthetic ones).
        real, _ = store.scroll(FIGURES.name, limit=1000, with_vectors=True)
        means = {
            name: np.mean([np.asarray(p.vectors[name]) for p in real if name in p.vectors], axis=0)
            if any(name in p.vectors for p in real)
            else None
            for name in ("image", "caption", "sketch")
        }
        image_mix = Mixture.make(1280, clusters, rng, mean_dir=means["image"], mean_weight=1.5)
        image_vecs, labels = image_mix.sample(n, rng)
        # captions and sketches follow the same clusters as the images (a panel's caption matches its picture)
        caption_mix = Mixture.make(384, clusters, rng, mean_dir=means["caption"], mean_weight=1.0)
        sketch_mix = Mixture.make(1280, clusters, rng, mean_dir=means["sketch"], mean_weight=1.5)
        for start in range(0, n, 256):
            idx = range(start, min(n, start + 256))
            lab = labels[start : start + len(idx)]
            cap = _sample_from(caption_mix, lab, rng)
            sk = _sample_from(sketch_mix, lab, rng)
            points = []
            for j, i in enumerate(idx):
                sha = hashlib.sha256(f"bench-synthetic-{seed}-{i}".encode()).hexdigest()
                tech, mat = TECHNIQUES[lab[j] % len(TECHNIQUES)], MATERIALS[(lab[j] // 10) % len(MATERIALS)]
                payload = {
                    "kind": "figure_panel",
                    "source": "bench-synthetic",
                    "source_file": f"synthetic_{i}.png",
                    "figure_id": f"synthetic-{i // 4}",
                    "panel_label": "abcd"[i % 4],
                    "caption": f"{tech} image of {mat}",
                    "figure_caption": f"Synthetic figure {i // 4}: {tech} of {mat}.",
                    "type": TYPES[lab[j] % len(TYPES)],
                    "techniques": [tech],
                    "materials": [mat],
                    "year": int(1995 + i % 30),
                    "image_sha256": sha,
                }
                vectors = {"image": image_vecs[i], "caption": cap[j], "sketch": sk[j]}
                points.append(PointRecord(str(uuid.UUID(sha[:32])), vectors, payload))
            store.upsert(FIGURES.name, points)
        store.optimize(FIGURES.name)
        return store.count(FIGURES.name)
    finally:
        store.close()


def _sample_from(mix: Mixture, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((len(labels), mix.dim), dtype=np.float32)
    block = mix.centres[labels] + (z @ mix.noise_basis) * mix.scales[labels, None]
    return block / np.linalg.norm(block, axis=1, keepdims=True)


class Server:
    """``matsearch serve`` on a free port, in its own process (like tests/conftest.py's LiveServer)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN / "matsearch"), "serve", "--port", str(self.port)],
            env=_env(data_dir),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not become healthy in 180 s")
            time.sleep(0.3)
        self.startup_s = round(time.perf_counter() - t0, 1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def encode_breakdown(images: list[tuple[str, bytes, str]], data_dir: Path) -> dict[str, Any]:
    """In process, no HTTP: where an image query's time goes (decode; EfficientNet encode on the configured
    backend). Run after the server stops so the two do not compete."""
    from matsearch.core.images import load_image, to_rgb
    from matsearch.core.settings import Settings
    from matsearch.encoders import get_encoder

    settings = Settings(data_dir=data_dir)
    encoder = get_encoder("efficientnet-lite0", Settings())
    decoded = [to_rgb(load_image(b, settings, what=name)) for name, b, _ in images[:WARMUP]]
    for img in decoded:
        encoder.encode_one(img)
    decode_t, encode_t = [], []
    for name, b, _ in images[WARMUP:]:
        t = time.perf_counter()
        img = to_rgb(load_image(b, settings, what=name))
        decode_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        encoder.encode_one(img)
        encode_t.append(time.perf_counter() - t)
    return {
        "backend": settings.image_backend,
        "decode": ms_stats(decode_t),
        "encode": ms_stats(encode_t),
    }


def bench_http(points: int = 10_000, n_queries: int = 100, *, seed: int = 0, log: Log = print) -> dict[str, Any]:
    result: dict[str, Any] = {"collection": FIGURES.name, "target_points": points, "queries": n_queries}
    with tempfile.TemporaryDirectory(prefix="matsearch-bench-http-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        data_dir.mkdir()
        result["real_ingest"] = ingest_real_figures(data_dir, work)
        log(f"[http] ingested the demo figures for real: {result['real_ingest']}")
        t0 = time.perf_counter()
        result["points"] = fill_synthetic(data_dir / "qdrant", points, seed=seed)
        result["fill_and_optimize_s"] = round(time.perf_counter() - t0, 1)
        log(f"[http] figures collection: {result['points']} points ({result['fill_and_optimize_s']} s)")
        images = query_images(n_queries + WARMUP, seed=seed)
        texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] for i in range(n_queries + WARMUP)]
        server = Server(data_dir)
        try:
            result["server_startup_s"] = server.startup_s
            with httpx.Client(base_url=server.url, timeout=120) as client:

                def image_query(item: tuple[str, bytes, str]) -> list[dict[str, Any]]:
                    r = client.post("/v1/search/image", params={"limit": 10}, files={"file": item})
                    r.raise_for_status()
                    return r.json()["hits"]

                def text_query(q: str) -> list[dict[str, Any]]:
                    r = client.get("/v1/search/text", params={"q": q, "limit": 10})
                    r.raise_for_status()
                    return r.json()["hits"]

                for item in images[:WARMUP]:
                    image_query(item)
                for q in texts[:WARMUP]:
                    text_query(q)
                times, real_hits, n_hits = [], 0, 0
                for item in images[WARMUP:]:
                    t = time.perf_counter()
                    hits = image_query(item)
                    times.append(time.perf_counter() - t)
                    n_hits += len(hits)
                    real_hits += sum(1 for h in hits if h["payload"].get("source") != "bench-synthetic")
                result["image"] = {
                    **ms_stats(times),
                    "mean_hits": round(n_hits / len(times), 1),
                    "real_payload_hits_frac": round(real_hits / max(1, n_hits), 3),
                    "mean_upload_kib": round(float(np.mean([len(b) for _, b, _ in images])) / 1024, 1),
                }
                log(f"[http] image: {result['image']}")
                times = []
                for q in texts[WARMUP:]:
                    t = time.perf_counter()
                    text_query(q)
                    times.append(time.perf_counter() - t)
                result["text"] = ms_stats(times)
                log(f"[http] text: {result['text']}")
            result["server_rss_mib"] = rss_mib(server.proc.pid)
        finally:
            server.stop()
        result["in_process"] = encode_breakdown(images, data_dir)
        log(f"[http] in process (no HTTP): {result['in_process']}")
    return result
