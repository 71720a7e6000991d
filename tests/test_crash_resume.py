"""Ingest through a live server equals ingest without one, and survives kill -9.

One folder of figures (captions, DOIs) is ingested twice: (A) by ``matsearch ingest figures`` against a running
server that is killed with SIGKILL after the first batch landed, restarted, and ingested again (resume); (B) by
the same command with no server (local). A must hold exactly B's points: same ids, same payloads (provenance and
source included), no duplicate panel, every referenced image on disk; ``matsearch gc`` then finds nothing to remove
but the temporary files the kill left behind.

The kill is placed, not timed: the CLI talks to the server through a small forwarding proxy (the server file is
pointed at it), which passes the first upload and then, in two variants of the test:
- ``between``: holds the second upload until the server is dead, then drops the connection — the kill falls between
  two batches (one stored, the next never received);
- ``inside``: forwards the second upload and kills the server as soon as that batch starts writing (a new file appears
  under ``images/``) or, should the server finish first, after it answered but before the client saw the answer — the
  kill falls inside the batch's store writes or between the write and the client's acknowledgement.
Every outcome of either variant must resume to the local result, so no assertion depends on which process is faster
(a timed kill raced the server once: on a fast machine every batch had landed before the poll saw the first).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class HoldSecondUpload:
    """HTTP proxy to ``target``: forwards everything; the second POST to ``path`` sets ``held`` and waits for
    ``release``, then is answered by closing the connection (what a client sees when the server dies mid-request).

    ``forward_second=True``: the second upload is forwarded first, and ``held`` is set once the server starts writing
    it (a new file under ``watch``) or has answered it, whichever comes first."""

    def __init__(self, target: str, path: str, forward_second: bool = False, watch: Path | None = None) -> None:
        self.held = threading.Event()  # set when the kill may come (the first upload has been answered)
        self.release = threading.Event()
        self.uploads = 0
        self.seen_write = False  # inside variant: a file of the second batch appeared before its answer
        proxy = self

        def files_now() -> int:
            return sum(1 for f in watch.rglob("*") if f.is_file()) if watch is not None and watch.exists() else 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _send(self, headers: dict[str, str], body: bytes) -> httpx.Response:
                return httpx.request(self.command, target + self.path, content=body, headers=headers, timeout=300)

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                if self.command == "POST" and self.path == path:
                    proxy.uploads += 1
                    if proxy.uploads >= 2:
                        if forward_second:
                            before = files_now()
                            done = threading.Event()

                            def send() -> None:
                                try:
                                    self._send(headers, body)
                                except httpx.HTTPError:
                                    pass  # the server died under it
                                finally:
                                    done.set()

                            threading.Thread(target=send, daemon=True).start()
                            while not done.is_set() and files_now() == before:
                                done.wait(0.002)
                            proxy.seen_write = not done.is_set()
                        proxy.held.set()
                        proxy.release.wait(120)
                        self.close_connection = True
                        return  # no response: the connection closes
                r = self._send(headers, body)
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy_for() -> Iterator[list[HoldSecondUpload]]:
    made: list[HoldSecondUpload] = []
    yield made
    for p in made:
        p.close()


@pytest.mark.parametrize("kill", ["between", "inside"])
def test_kill_9_mid_ingest_then_resume_equals_local_ingest(
    tmp_path: Path, folder: Path, proxy_for: list[HoldSecondUpload], kill: str
) -> None:
    env_extra = {"MATSEARCH_MAX_REQUEST_BYTES": str(MAX_REQUEST), "MATSEARCH_GC_GRACE_SECONDS": "0"}
    served = tmp_path / "served" / "data"
    served.mkdir(parents=True)
    server = LiveServer(served, env=env_extra)
    ingest = None
    try:
        # (A) ingest over HTTP through the proxy; the server is killed with SIGKILL once the first batch is stored
        proxy = HoldSecondUpload(
            server.url, "/v1/ingest/figures", forward_second=kill == "inside", watch=served / "images"
        )
        proxy_for.append(proxy)
        server_file = Settings(data_dir=served).server_file
        info = json.loads(server_file.read_text())
        server_file.write_text(json.dumps({**info, "url": proxy.url}))  # same pid: the CLI takes it as live
        ingest = subprocess.Popen(
            [str(BIN / "matsearch"), "ingest", "figures", str(folder), "--json"],
            env=server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proxy.held.wait(300), "the CLI never sent a second batch"
        count = httpx.get(f"{server.url}/healthz", timeout=30).json()["collections"].get("figures", 0)
        assert 0 < count, "the first batch is not in the store"
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        proxy.release.set()
        _, err = ingest.communicate(timeout=120)
        assert ingest.returncode != 0 and "cannot reach" in err, err  # the client saw the server die
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
    print(f"{kill}: killed with {len(partial)} of {len(b)} points written (write seen: {proxy.seen_write}); resumed")
    for pid in b:
        assert a[pid] == b[pid], f"payload of {pid} differs between server-mode and local ingest"
    assert {p["source"] for p in a.values()} == {"folder"} and all(p["provenance"]["path"] for p in a.values())
    panels = [(p["image_sha256"], tuple(p["bbox"])) for p in a.values()]
    assert len(panels) == len(set(panels))  # no duplicate panel
    shas = {p["image_sha256"] for p in a.values()} | {p["panel_sha256"] for p in a.values()}
    stored = {f.name.split(".")[0] for f in (served / "images").rglob("*") if f.is_file()}
    assert shas <= stored
