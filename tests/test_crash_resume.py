"""Ingest through a live server equals ingest without one, and survives kill -9.

One folder of figures (captions, DOIs) is ingested twice: (A) by ``matsearch ingest figures`` against a running
server that is killed with SIGKILL after the first batches landed, restarted, and ingested again (resume); (B) by
the same command with no server (local). A must hold exactly B's points: same ids, same payloads (provenance and
source included), no duplicate panel, every referenced image on disk; ``matsearch gc`` then finds nothing to remove
but the temporary files the kill left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from matsearch.core.settings import Settings
from matsearch.store.edge import EdgeStore
from tests.conftest import BIN, LiveServer, png_bytes, run_cli, synthetic_image

N_FIGURES = 6
MAX_REQUEST = 300_000  # small, so that the CLI sends several batches (two or three figures each)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash-figs")
    entries = []
    for i in range(N_FIGURES):
        name = f"fig_{i:02d}.png"
        (folder / name).write_bytes(png_bytes(synthetic_image(500 + i, size=200)))
        entries.append({"file": name, "caption": f"TEM of sample {i} showing particles", "doi": f"10.5555/crash.{i}"})
    (folder / "captions.json").write_text(json.dumps(entries))
    return folder


def all_points(data_dir: Path) -> dict[str, dict]:
    store = EdgeStore(Settings(data_dir=data_dir).store_dir)
    try:
        out, offset = {}, None
        while True:
            page, offset = store.scroll("figures", None, limit=500, offset=offset)
            out.update({p.id: p.payload for p in page})
            if offset is None:
                return out
    finally:
        store.close()


def test_kill_9_mid_ingest_then_resume_equals_local_ingest(tmp_path: Path, folder: Path) -> None:
    env_extra = {"MATSEARCH_MAX_REQUEST_BYTES": str(MAX_REQUEST), "MATSEARCH_GC_GRACE_SECONDS": "0"}
    served = tmp_path / "served" / "data"
    served.mkdir(parents=True)
    server = LiveServer(served, env=env_extra)
    ingest = None
    try:
        # (A) ingest over HTTP, killed with SIGKILL once some batches are in the store
        ingest = subprocess.Popen(
            [str(BIN / "matsearch"), "ingest", "figures", str(folder), "--json"],
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        count = 0
        while time.monotonic() < deadline and ingest.poll() is None:
            count = httpx.get(f"{server.url}/healthz", timeout=30).json()["collections"].get("figures", 0)
            if count > 0:
                break
            time.sleep(0.2)
        assert 0 < count, "no batch landed before the deadline"
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        _, err = ingest.communicate(timeout=120)
        assert ingest.returncode != 0 and "cannot reach" in err  # the client saw the server die
    finally:
        server.log.close()
    partial = all_points(served)
    assert 0 < len(partial), "nothing was written before the kill"
    # resume: restart on the same data dir (the WAL replays) and run the same command again
    server = LiveServer(served, env=env_extra)
    try:
        resumed = server.cli("ingest", "figures", str(folder), "--json")
        assert resumed.returncode == 0, resumed.stderr
        report = json.loads(resumed.stdout)
        assert report["items"] == N_FIGURES and not report["skipped"]
        gc = json.loads(server.cli("gc", "--json", check=True).stdout)
        assert gc["images_removed"] == 0  # every stored image is referenced
        for p in (served / "images").rglob(".tmp-*"):
            raise AssertionError(f"temporary file left after gc: {p}")
    finally:
        server.stop()
    # (B) the same folder, no server: a clean local ingest
    local = tmp_path / "local" / "data"
    local.mkdir(parents=True)
    clean = run_cli("ingest", "figures", str(folder), "--json", env={**os.environ, "MATSEARCH_DATA_DIR": str(local)})
    assert clean.returncode == 0, clean.stderr
    a, b = all_points(served), all_points(local)
    assert len(a) == len(b) == json.loads(clean.stdout)["count"]
    assert set(a) == set(b) and set(partial) <= set(a)
    print(f"killed with {len(partial)} of {len(b)} points written; resumed to {len(a)}")
    for pid in b:
        assert a[pid] == b[pid], f"payload of {pid} differs between server-mode and local ingest"
    assert {p["source"] for p in a.values()} == {"folder"} and all(p["provenance"]["path"] for p in a.values())
    panels = [(p["image_sha256"], tuple(p["bbox"])) for p in a.values()]
    assert len(panels) == len(set(panels))  # no duplicate panel
    shas = {p["image_sha256"] for p in a.values()} | {p["panel_sha256"] for p in a.values()}
    stored = {f.name.split(".")[0] for f in (served / "images").rglob("*") if f.is_file()}
    assert shas <= stored
