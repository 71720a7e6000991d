"""Copy the images of the typed lists (``figures7t.json``, ``panels8t.json``, ``heldout8t.json``, ``panels9t.json``,
``heldout9t.json``, ``panels11t.json``) from the papers' git repositories into the cache.

    .venv/bin/python -m bench.real_types.fetch --clone                      # git clone github.com/msa-em/<repo>
    .venv/bin/python -m bench.real_types.fetch --git-dirs '/work/.mirror/{owner}+{name}/repo'   # existing clones

The files are not on a package registry (the papers are GitHub repositories of the Elemental Microscopy journal);
each is read at its recorded commit (``git show``) and checked against its git blob SHA-1 before it is written to
``~/.cache/matsearch/realdata/types/<repo>/<path>`` (what ``bench.eval_real_types`` and the panel-type trainer
read). An item with ``output`` is the ``output``-th image/png output stored in a Jupyter notebook (``path``): the
notebook is checked against ``blob_sha1``, the decoded image against ``png_sha256``, and it is written as
``<path>#<output>.png``. An item with ``deb`` is a documentation image of a Debian package (``repo`` is
``debian/<package>``): the package is fetched with ``apt-get download <package>=<version>`` and the member ``path``
read from its data part (git blob SHA-1 checked as for the others). Attribution: the authors of each paper
(``myst.yml`` of each repository) or of each package (its ``copyright`` file).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILES = tuple(
    HERE / f
    for f in ("figures7t.json", "panels8t.json", "heldout8t.json", "panels9t.json", "heldout9t.json", "panels11t.json")
)
CACHE = Path("~/.cache/matsearch/realdata/types").expanduser()


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def items() -> list[dict[str, Any]]:
    """Every annotated file of both lists (repo, commit, path, blob_sha1)."""
    out: list[dict[str, Any]] = []
    for f in FILES:
        out.extend(json.loads(f.read_text())["figures"])
    return out


def image_path(item: dict[str, Any], root: Path = CACHE) -> Path:
    rel = item["path"] + (f"#{item['output']}.png" if item.get("output") is not None else "")
    return root / item["repo"].split("/", 1)[1] / rel


def notebook_output(notebook: bytes, k: int) -> bytes:
    """The ``k``-th image/png output stored in a Jupyter notebook (in cell order), decoded."""
    cells = json.loads(notebook).get("cells", [])
    pngs = [o["data"]["image/png"] for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    png = pngs[k]
    return base64.b64decode("".join(png) if isinstance(png, list) else png)


def is_annotated_file(item: dict[str, Any], data: bytes) -> bool:
    """Whether ``data`` (the cached file's bytes) is the file ``item`` was typed on."""
    if item.get("output") is not None:
        return hashlib.sha256(data).hexdigest() == item["png_sha256"]
    return git_blob_sha1(data) == item["blob_sha1"]


def deb_members(package: str, version: str, members: set[str]) -> dict[str, bytes]:
    """``members`` (paths without a leading "./") of the data part of Debian package ``package`` at ``version``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "-q", f"{package}={version}"], cwd=tmp, check=True, capture_output=True)
        deb = next(Path(tmp).glob(f"{package}_*.deb"))
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        for m in tf.getmembers():
            name = m.name.removeprefix("./")
            if name in members and m.isfile():
                f = tf.extractfile(m)
                if f is not None:
                    out[name] = f.read()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--git-dirs", default=str(CACHE / "_git/{name}.git"), help="git dir per repo ({owner}, {name})")
    ap.add_argument("--clone", action="store_true", help="clone missing repositories from GitHub (bare)")
    ap.add_argument("--out", type=Path, default=CACHE)
    args = ap.parse_args(argv)
    done = 0
    debs: dict[tuple[str, str], dict[str, bytes]] = {}
    for it in items():
        dst = image_path(it, args.out)
        if dst.exists() and is_annotated_file(it, dst.read_bytes()):
            done += 1
            continue
        if it.get("deb"):  # a Debian package's documentation image
            key = (it["deb"]["package"], it["deb"]["version"])
            if key not in debs:
                wanted = {
                    i["path"] for i in items() if i.get("deb") and (i["deb"]["package"], i["deb"]["version"]) == key
                }
                debs[key] = deb_members(*key, wanted)
            data = debs[key].get(it["path"], b"")
            if not is_annotated_file(it, data):
                raise SystemExit(f"{it['repo']} {key[1]}: {it['path']} missing or differs from the annotated file")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
            done += 1
            continue
        owner, name = it["repo"].split("/", 1)
        git_dir = Path(args.git_dirs.format(owner=owner, name=name)).expanduser()
        if not git_dir.exists():
            if not args.clone:
                raise SystemExit(f"{git_dir} missing: pass --clone or --git-dirs")
            url = f"https://github.com/{it['repo']}"
            subprocess.run(["git", "clone", "--bare", "--quiet", url, str(git_dir)], check=True)
        data = subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{it['commit']}:{it['path']}"], capture_output=True, check=True
        ).stdout
        if git_blob_sha1(data) != it["blob_sha1"]:
            raise SystemExit(f"{it['repo']}:{it['path']} at {it['commit'][:10]} differs from the annotated file")
        if it.get("output") is not None:
            data = notebook_output(data, int(it["output"]))
            if not is_annotated_file(it, data):
                raise SystemExit(f"{it['repo']}:{it['path']} output {it['output']} differs from the annotated image")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        done += 1
    print(f"{done} files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
