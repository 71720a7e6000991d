"""The house rules that keep the code navigable: one way data flows, no import cycles, no string registries.

Rooms (``matsearch.<room>``): core, store → encoders → indexer; search (queries) over core/store/encoders;
server and cli on top. Checked on the source (``ast``), so a violating import fails here before it confuses anyone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "encoders", "indexer", "search", "server", "cli")
# what each room may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "encoders": {"core"},
    "indexer": {"core", "store", "encoders"},
    "search": {"core", "store", "encoders"},
    "server": {"core", "store", "encoders", "indexer", "search"},
    "cli": {"core", "store", "encoders", "indexer", "search", "server"},
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for folder in FOLDERS:
        base = ROOT / folder
        for f in (base / "matsearch").rglob("*.py"):
            name = ".".join(f.relative_to(base).with_suffix("").parts).removesuffix(".__init__")
            mods[name] = f
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("matsearch."):
                edges[m].add(node.module)
                edges[m].update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods)
            elif isinstance(node, ast.Import):
                edges[m].update(a.name for a in node.names if a.name.startswith("matsearch."))
    return {m: {t for t in ts if t in mods} for m, ts in edges.items()}


def test_rooms_import_only_downstream() -> None:
    bad = []
    for m, targets in _imports(_modules()).items():
        room = m.split(".")[1]
        for t in targets:
            other = t.split(".")[1]
            if other != room and other not in ALLOWED[room]:
                bad.append(f"{m} imports {t}")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    edges = _imports(_modules())
    # a package's __init__ may re-export its children; that is not a cycle between files
    graph = {m: {t for t in ts if not (t.startswith(m + ".") or m.startswith(t + "."))} for m, ts in edges.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(u: str, path: list[str]) -> None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(path[path.index(v) :] + [v])
            elif v not in state:
                visit(v, path)
        path.pop()
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            visit(u, [])
    assert not cycles, cycles


def test_no_string_registries() -> None:
    pattern = re.compile(r"import_module|PLUGINS|_MODULES")
    hits = [
        f"{f.relative_to(ROOT)}:{i}"
        for folder in (*FOLDERS, "bench", "training")
        for f in (ROOT / folder).rglob("*.py")
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, hits


def test_training_code_is_not_in_the_runtime_package() -> None:
    names = {p.name for folder in FOLDERS for p in (ROOT / folder / "matsearch").rglob("*.py")}
    assert not {"synth.py", "train.py", "augment.py", "figures_synth.py", "train_stem.py", "train_xrd.py"} & names
