"""Shared fixtures: settings on a temp data dir, a small figure folder, and a live server on a free port."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from matsearch.core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEV_FIGURES = REPO / "indexer" / "matsearch" / "indexer" / "demo_data" / "figures"
BIN = Path(sys.executable).parent


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def synthetic_image(seed: int, size: int = 160) -> Image.Image:
    """Distinct, deterministic images: shapes of random colours on a textured background."""
    rng = np.random.default_rng(seed)
    base = (rng.normal(128, 30, (size, size, 3))).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.integers(0, size - 40, 2)
        w, h = rng.integers(15, 60, 2)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            draw.ellipse([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=colour)
        else:
            draw.rectangle([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=colour)
    return image


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def figure_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two dev figures with their captions, plus generated images (one of them without a caption)."""
    folder = tmp_path_factory.mktemp("figs")
    meta = json.loads((DEV_FIGURES / "figures.json").read_text())
    entries = []
    for entry in meta[:2]:
        (folder / entry["file"]).write_bytes((DEV_FIGURES / entry["file"]).read_bytes())
        entries.append(entry)
    for i in range(4):
        name = f"synthetic_{i}.png"
        (folder / name).write_bytes(png_bytes(synthetic_image(i)))
        if i < 3:
            entries.append({"file": name, "caption": f"Synthetic test image number {i} with shapes.", "year": 2020 + i})
    (folder / "captions.json").write_text(json.dumps(entries))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, data_dir: Path, api_key: str | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MATSEARCH_DATA_DIR": str(data_dir), **(env or {})}
        if api_key:
            self.env["MATSEARCH_API_KEY"] = api_key
        self.log = open(data_dir.parent / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(BIN / "matsearch"), "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("server did not become healthy in time")

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, check=check)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_cli(*args: str, env: dict[str, str], check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "matsearch"), *args], env=env, capture_output=True, text=True, check=check, timeout=600
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, figure_dir: Path) -> Iterator[LiveServer]:
    """A real `matsearch serve` (own process, embedded Edge store) with figure_dir ingested, API key "sekret"."""
    data_dir = tmp_path_factory.mktemp("live") / "data"
    data_dir.mkdir()
    server = LiveServer(data_dir, api_key="sekret")
    try:
        env = {**server.env}
        result = run_cli("ingest", "figures", str(figure_dir), "--json", env=env)
        assert result.returncode == 0, result.stderr
        yield server
    finally:
        server.stop()
