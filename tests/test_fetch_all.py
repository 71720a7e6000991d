"""`make eval-data` (bench.fetch_all) must know every fetch script of bench/, so a fresh machine's `make eval` has
every real-data cache; a new fetch script that is not listed fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import fetch_all

BENCH = Path(__file__).resolve().parents[1] / "bench"


def fetch_modules_on_disk() -> set[str]:
    found = set()
    for path in BENCH.rglob("*.py"):
        rel = path.relative_to(BENCH.parent).with_suffix("")
        if path.stem.startswith("fetch") and path.stem != "fetch_all":
            found.add(".".join(rel.parts))
    return found


def test_every_fetch_script_is_listed() -> None:
    listed = {module for module, _ in fetch_all.FETCHES.values()} | {"bench.real_types.fetch"}
    missing = fetch_modules_on_disk() - listed
    assert not missing, f"add to bench/fetch_all.py FETCHES: {sorted(missing)}"
    assert all((BENCH.parent / (m.replace(".", "/") + ".py")).exists() for m in listed)


def test_real_types_uses_git_dirs_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATSEARCH_GIT_DIRS", "/mirrors/{owner}+{name}/repo")
    assert fetch_all.real_types_args() == ["--git-dirs", "/mirrors/{owner}+{name}/repo"]
    monkeypatch.delenv("MATSEARCH_GIT_DIRS")
    assert fetch_all.real_types_args() == ["--clone"]


def test_unknown_fetch_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        fetch_all.main(["--only", "nonesuch"])
    assert info.value.code == 2
    assert "unknown fetch" in capsys.readouterr().err
