"""``python -m bench.load_bench``: a load run against ``matsearch serve`` on loopback.

N clients (threads, one keep-alive HTTP connection each; default 16) send a fixed mix of queries for a fixed time
(default 60 s): text search (GET and POST), image search, sketch search, more-like-this, point lookup, thumbnails,
collections and health. The data dir holds the demo figures ingested through ``matsearch ingest figures`` (real
pipeline, real encoders). Every answer must be 2xx: an error (status ≥ 400, a timeout, a dropped connection) is
counted per kind and makes the run fail. Requests/s (total and per kind) and p50/p95 latency per kind go to
``bench/results/load.json`` and a table on stdout.

Only loopback addresses are ever targeted (the server is started here, on 127.0.0.1); the loop is bounded in time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageDraw

from bench.common import machine_info, ms_stats
from bench.http_bench import TEXT_QUERIES, Server, ingest_real_figures, query_images
from matsearch.server.guard import is_loopback_host

RESULTS = Path(__file__).resolve().parent / "results"

# kind → relative weight in the mix (image/sketch queries cost ~10x a text query in CPU)
MIX = {
    "text": 30,
    "text_post": 10,
    "image": 15,
    "sketch": 5,
    "similar": 15,
    "point": 10,
    "thumbnail": 10,
    "collections": 3,
    "health": 2,
}


def sketches(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        img = Image.new("L", (256, 256), 255)
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randint(3, 8)):
            x, y, r = rng.randint(20, 236), rng.randint(20, 236), rng.randint(8, 40)
            draw.ellipse([x - r, y - r, x + r, y + r], outline=0, width=3)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


class Mix:
    """Request makers per kind; ``ids``/``shas`` come from the live collection."""

    def __init__(self, ids: list[str], shas: list[str], seed: int) -> None:
        self.ids, self.shas = ids, shas
        self.images = query_images(16, seed=seed)
        self.sketches = sketches(8, seed=seed)
        kinds = [k for k, w in MIX.items() for _ in range(w)]
        self.kinds = kinds

    def request(self, http: httpx.Client, kind: str, rng: random.Random) -> httpx.Response:
        if kind == "text":
            q = rng.choice(TEXT_QUERIES)
            return http.get("/v1/search/text", params={"q": q, "limit": 10})
        if kind == "text_post":
            body = {"q": rng.choice(TEXT_QUERIES), "limit": 5, "filter": {"year": {"gte": 2000}}}
            return http.post("/v1/search/text", json=body)
        if kind == "image":
            name, data, mime = rng.choice(self.images)
            return http.post("/v1/search/image", params={"limit": 10}, files={"file": (name, data, mime)})
        if kind == "sketch":
            return http.post("/v1/search/sketch", files={"file": ("s.png", rng.choice(self.sketches), "image/png")})
        if kind == "similar":
            return http.get(f"/v1/points/figures/{rng.choice(self.ids)}/similar", params={"limit": 10})
        if kind == "point":
            return http.get(f"/v1/points/figures/{rng.choice(self.ids)}")
        if kind == "thumbnail":
            return http.get(f"/v1/images/{rng.choice(self.shas)}", params={"thumbnail": "true"})
        if kind == "collections":
            return http.get("/v1/collections")
        return http.get("/healthz")


def run_load(url: str, clients: int, seconds: float, seed: int = 0) -> dict[str, Any]:
    host = urlsplit(url).hostname or ""
    if not is_loopback_host(host):
        raise SystemExit(f"refusing to load {url}: the load run only targets loopback addresses")
    with httpx.Client(base_url=url, timeout=60) as http:
        points: list[dict[str, Any]] = []
        # ids and stored images of real panels to ask for (text search lists them)
        for q in TEXT_QUERIES[:20]:
            points += http.get("/v1/search/text", params={"q": q, "limit": 50}).json()["hits"]
    ids = sorted({p["id"] for p in points})
    shas = sorted({p["payload"].get("panel_sha256") or p["payload"]["image_sha256"] for p in points})
    if not ids:
        raise SystemExit("the figures collection is empty")
    mix = Mix(ids, shas, seed)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.perf_counter() < deadline:
                kind = rng.choice(mix.kinds)
                t0 = time.perf_counter()
                try:
                    r = mix.request(http, kind, rng)
                    ok, why = r.status_code < 400, f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies[kind].append(dt)
                    else:
                        errors[kind].append(why)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in MIX:
        n_ok, n_err = len(latencies[kind]), len(errors[kind])
        per_kind[kind] = {
            "requests": n_ok + n_err,
            "errors": n_err,
            "requests_per_s": round((n_ok + n_err) / wall, 2),
            **ms_stats(latencies[kind]),
            "first_errors": errors[kind][:3],
        }
    total = sum(v["requests"] for v in per_kind.values())
    n_errors = sum(v["errors"] for v in per_kind.values())
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": total,
        "errors": n_errors,
        "requests_per_s": round(total / wall, 2),
        "kinds": per_kind,
        "points_sampled": len(ids),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"load: {result['clients']} clients x {result['seconds']} s, {result['requests']} requests, "
        f"{result['requests_per_s']} req/s, {result['errors']} errors",
        f"{'kind':<12} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}",
    ]
    for kind, v in result["kinds"].items():
        lines.append(
            f"{kind:<12} {v['requests']:>8} {v['errors']:>6} {v['requests_per_s']:>7} {v['p50_ms']:>8} "
            f"{v['p95_ms']:>8} {v['max_ms']:>8}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--url", help="A running server on loopback (default: start one on a fresh demo data dir).")
    parser.add_argument("--data-dir", type=Path, help="Reuse this data dir (ingested) instead of a fresh one.")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args(argv)
    info: dict[str, Any] = {"machine": machine_info()}
    work = Path(tempfile.mkdtemp(prefix="matsearch-load-"))
    server = None
    try:
        url = args.url
        if url is None:
            data_dir = args.data_dir or work / "data"
            if args.data_dir is None:
                data_dir.mkdir(parents=True)
                info["ingest"] = ingest_real_figures(data_dir, work)
            server = Server(data_dir)
            url = server.url
        result = run_load(url, args.clients, args.seconds)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = {**info, "load_avg_end": list(os.getloadavg()), "load": result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(table(result))
    print(f"wrote {args.out}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
