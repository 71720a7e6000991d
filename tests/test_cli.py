"""The `matsearch` command line, run as a user would (subprocesses), on its own data directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from matsearch.core.ids import sha256_bytes
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**os.environ, "MATSEARCH_DATA_DIR": str(tmp_path_factory.mktemp("cli") / "data")}


@pytest.fixture(scope="module")
def first_report(env: dict[str, str], figure_dir: Path) -> dict:
    first = run_cli("ingest", "figures", str(figure_dir), "--json", env=env)
    assert first.returncode == 0, first.stderr
    return dict(json.loads(first.stdout))


def test_ingest_search_and_reingest(env: dict[str, str], figure_dir: Path, first_report: dict) -> None:
    report = first_report
    assert report["items"] == 6 and report["skipped"] == []
    assert report["points"] == report["new_points"] == report["count"] > 6  # dev figures split into panels

    collections = json.loads(run_cli("collections", "--json", env=env, check=True).stdout)
    figures = {c["name"]: c for c in collections["collections"]}["figures"]
    assert figures["count"] == report["count"]

    for name in ("synthetic_1.png", "s41467-018-06211-3_fig1.jpg"):
        out = run_cli("search", "image", str(figure_dir / name), "--json", "--limit", "3", env=env, check=True)
        hits = json.loads(out.stdout)["hits"]
        assert hits[0]["payload"]["image_sha256"] == sha256_bytes((figure_dir / name).read_bytes())
        assert hits[0]["payload"]["source_file"] == name

    again = json.loads(run_cli("ingest", "figures", str(figure_dir), "--json", env=env, check=True).stdout)
    assert again["new_points"] == 0 and again["count"] == report["count"]
    assert json.loads(run_cli("collections", "--json", env=env, check=True).stdout) == collections


def test_text_search_filters_and_get(env: dict[str, str], first_report: dict) -> None:
    out = run_cli("search", "text", "HAADF-STEM atomic resolution", "--json", "--limit", "2", env=env, check=True)
    hits = json.loads(out.stdout)["hits"]
    assert "HAADF" in hits[0]["payload"]["caption"]
    flt = '{"year": {"gte": 2021}}'
    filtered = json.loads(run_cli("search", "text", "shapes", "--filter", flt, "--json", env=env, check=True).stdout)
    assert sorted(h["payload"]["year"] for h in filtered["hits"]) == [2021, 2022]
    point = json.loads(run_cli("get", "figures", hits[0]["id"], "--json", env=env, check=True).stdout)
    assert point["payload"] == hits[0]["payload"]
    similar = json.loads(run_cli("search", "similar", "figures", hits[0]["id"], "--json", env=env, check=True).stdout)
    assert hits[0]["id"] not in {h["id"] for h in similar["hits"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "image", "{missing}"], "No such file"),
        (["search", "image", "{text_png}"], "not a recognised image"),
        (["search", "image", "{empty_png}"], "empty file"),
        (["search", "text", "x", "--filter", "{oops"], "not valid JSON"),
        (["search", "text", "x", "--collection", "nope"], "unknown collection"),
        (["ingest", "figures", "{missing}"], "folder not found"),
        (["get", "figures", "not-a-uuid"], "invalid point id"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(
    env: dict[str, str], tmp_path: Path, first_report: dict, args: list[str], message: str
) -> None:
    (tmp_path / "text.png").write_text("hello, not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    paths = {
        "missing": str(tmp_path / "missing.png"),
        "text_png": str(tmp_path / "text.png"),
        "empty_png": str(tmp_path / "empty.png"),
    }
    for key, value in paths.items():
        args = [a.replace("{" + key + "}", value) for a in args]
    result = run_cli(*args, "--json", env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert result.stdout == ""


def test_every_command_has_help(env: dict[str, str]) -> None:
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["ingest", "figures", "--help"],
        ["search", "image", "--help"],
        ["search", "text", "--help"],
        ["collections", "--help"],
        ["demo", "build", "--help"],
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 0 and "Usage:" in result.stdout
