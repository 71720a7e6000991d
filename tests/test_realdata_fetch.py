"""The session-4 real-data fetch helpers (bench.real_figures.fetch): captions cut from a packaged document's own text,
vector figures rendered from a PDF page, and the manifest/annotation files agreeing with each other."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from bench.real_figures import fetch as F
from training import figures_synth as synth

ROOT = Path(__file__).resolve().parents[1]


def _pdf(tmp_path: Path) -> bytes:
    img = tmp_path / "plot.png"
    Image.new("RGB", (120, 80), "white").save(img)
    out = tmp_path / "paper.pdf"
    caption = "Fig. 1 (a) TEM image of Ag nanoparticles. (b) Size histogram."
    synth.build_figures_pdf([(str(img), caption)], str(out), title="Fetch test", body_words=30)
    return out.read_bytes()


def test_pdf_caption_from_start_to_stop(tmp_path: Path) -> None:
    raw = _pdf(tmp_path)
    full = F.text_caption(raw, {"kind": "pdf", "pages": [0], "start": "Fig. 1 (a)", "stop": []})
    assert full is not None and full.startswith("Fig. 1 (a) TEM image of Ag nanoparticles.")
    cut = F.text_caption(raw, {"kind": "pdf", "pages": [0], "start": "Fig. 1 (a)", "stop": [" (b) Size"]})
    assert cut == "Fig. 1 (a) TEM image of Ag nanoparticles."
    assert F.text_caption(raw, {"kind": "pdf", "pages": [0], "start": "Figure 9.", "stop": []}) is None


def test_markdown_caption_lines_and_links() -> None:
    md = (
        b"Body text.\n\n![](_page_6_Figure_0.jpeg)\n\n(a) Upscale split. (b) Original split.\n\n"
        b'<span id="page-6-1"></span>Figure 3. Counts over time, see [\\[18\\]](#page-8-4).\n\nNext paragraph.\n'
    )
    one = F.text_caption(md, {"kind": "md", "start": "Figure 3.", "lines": 1})
    assert one == "Figure 3. Counts over time, see [18]."
    two = F.text_caption(md, {"kind": "md", "start": "(a) Upscale", "lines": 2})
    assert two == "(a) Upscale split. (b) Original split. Figure 3. Counts over time, see [18]."


def test_pdf_render_crop_is_deterministic(tmp_path: Path) -> None:
    raw = _pdf(tmp_path)
    a = F._pdf_render(raw, 0, 1.0, [10, 10, 210, 160])
    b = F._pdf_render(raw, 0, 1.0, [10, 10, 210, 160])
    assert a == b
    assert Image.open(io.BytesIO(a)).size == (200, 150)


def test_session4_annotations_agree_with_the_manifest() -> None:
    man = json.loads((ROOT / "bench/real_figures/manifest4.json").read_text())["figures"]
    panels = json.loads((ROOT / "bench/real_figures/panels4.json").read_text())["figures"]
    assert {f["file"] for f in man} == set(panels)
    old = {f["file"] for f in json.loads(F.MANIFEST.read_text())["figures"]}
    for f in man:
        assert f["file"] not in old
        want = "heldout4" if hashlib.sha256(f["unit"].encode()).hexdigest()[0] in "0123456" else "dev4"
        assert f["split"] == want, f["file"]
        w, h = f["size"]
        for p in panels[f["file"]]:
            x0, y0, x1, y1 = p["bbox"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (f["file"], p)
    sources = json.loads((ROOT / "bench/real_text/captions4_sources.json").read_text())
    for s in sources:
        want = "heldout4" if hashlib.sha256(s["unit"].encode()).hexdigest()[0] in "0123456" else "dev4"
        assert s["split"] == want, s["id"]
    for split in ("dev4", "heldout4"):
        ids = {c["id"] for c in json.loads((ROOT / f"bench/real_text/captions_{split}.json").read_text())["captions"]}
        assert ids == {s["id"] for s in sources if s["split"] == split}


def _split5(unit: str) -> str:
    old = {"hyperspy": "dev5", "pyprocar": "heldout5", "cellpose": "dev5", "squidpy": "heldout5"}  # earlier sides
    if unit in old:
        return old[unit]
    return "heldout5" if hashlib.sha256(("s5:" + unit).encode()).hexdigest()[0] in "012345" else "dev5"


def test_session5_annotations_agree_with_the_manifest() -> None:
    man = json.loads(F.MANIFEST5.read_text())["figures"]
    panels = json.loads((ROOT / "bench/real_figures/panels5.json").read_text())["figures"]
    assert {f["file"] for f in man} == set(panels)
    old = {f["file"] for path in (F.MANIFEST, F.MANIFEST4) for f in json.loads(path.read_text())["figures"]}
    for f in man:
        assert f["file"] not in old
        assert f["split"] == _split5(f["unit"]), f["file"]
        assert f["kind"] in ("paper", "docs-real-data", "docs-example")
        w, h = f["size"]
        labels = [p["label"] for p in panels[f["file"]]]
        assert labels == [None] or None not in labels, f["file"]  # an unlabelled figure is one panel
        for p in panels[f["file"]]:
            x0, y0, x1, y1 = p["bbox"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (f["file"], p)
            assert p["type"] in ("microscopy", "diffraction", "graph", "illustration", "photo", "other")


def test_session7_figures_committed_annotated_and_split_like_their_captions(tmp_path: Path) -> None:
    """dev7 / heldout7: each committed image has the manifest's checksum and is copied into a cache by the fetch; each
    figure's split is its caption's (figtext's sha256("s7:" + unit) rule), its caption the committed text."""
    man = json.loads(F.MANIFEST7.read_text())["figures"]
    panels = json.loads((ROOT / "bench/real_figures/panels7.json").read_text())["figures"]
    captions = {c["id"]: c for c in json.loads((ROOT / "bench/real_text/captions7_sources.json").read_text())}
    assert {f["file"] for f in man} == set(panels)
    assert not {f["file"] for f in man} & {
        f["file"] for path in F.MANIFESTS for f in json.loads(path.read_text())["figures"]
    }
    for f in man:
        c = captions[f["caption_id"]]
        rule = "heldout7" if hashlib.sha256(("s7:" + c["unit"]).encode()).hexdigest()[0] in "01234" else "dev7"
        assert f["split"] == c["split"] == rule and f["caption"] == c["caption"], f["file"]
        data = (F.COMMITTED / f["fetch"]["member"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        w, h = f["size"]
        for p in panels[f["file"]]:
            x0, y0, x1, y1 = p["bbox"]
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (f["file"], p)
            assert p["type"] in ("microscopy", "diffraction", "graph", "illustration", "photo", "other")
    assert F.main(["--cache", str(tmp_path), "--manifest", str(F.MANIFEST7)]) == 0
    assert all((tmp_path / f["file"]).exists() for f in man)


def test_debian_package_member_and_html_image(tmp_path: Path) -> None:
    """A figure inside a Debian package: the data part is read with dpkg-deb, the n-th base64 PNG of an HTML page
    comes back byte for byte."""
    import base64
    import shutil
    import subprocess

    if shutil.which("dpkg-deb") is None:  # not a Debian machine: the fetcher's Debian kinds cannot run either
        pytest.skip("dpkg-deb not installed")
    pngs = []
    for colour in ("red", "blue"):
        buf = io.BytesIO()
        Image.new("RGB", (7, 5), colour).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    page = "".join(f'<p><img src="data:image/png;base64,{base64.b64encode(b).decode()}"></p>' for b in pngs)
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: figtest\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    (root / "usr/share/doc/figtest").mkdir(parents=True)
    (root / "usr/share/doc/figtest/page.html").write_text(page)
    deb = tmp_path / "figtest_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    raw = F._member(deb, "doc/figtest/page.html")
    assert raw.decode() == page
    assert F._html_image(raw, 1) == pngs[1]
    assert Image.open(io.BytesIO(F._html_image(raw, 0))).getpixel((0, 0)) == (255, 0, 0)


def test_session6_captions_agree_with_their_sources(tmp_path: Path) -> None:
    """dev6/heldout6: every caption text is CC BY and committed with its citation; the split is the fixed hash of the
    paper's DOI; the annotations match the texts (SHA-256, spans inside the text); fetch6 copies them into a cache."""
    from bench.real_text import fetch6

    sources = json.loads(fetch6.SOURCES.read_text("utf-8"))
    assert len({s["id"] for s in sources}) == len(sources)
    texts = {s["id"]: s["caption"] for s in sources}
    for s in sources:
        want = "heldout6" if hashlib.sha256(("s6:" + s["unit"]).encode()).hexdigest()[0] in "012345" else "dev6"
        assert s["split"] == want, s["id"]
        assert "CC BY" in s["licence"] and "NC" not in s["licence"] and s["citation"], s["id"]
    for split in ("dev6", "heldout6"):
        caps = json.loads((ROOT / f"bench/real_text/captions_{split}.json").read_text("utf-8"))["captions"]
        assert {c["id"] for c in caps} == {s["id"] for s in sources if s["split"] == split}
        for c in caps:
            text = texts[c["id"]]
            assert hashlib.sha256(text.encode()).hexdigest() == c["caption_sha256"], c["id"]
            for a, b in [sp for spans in c["segments"].values() for sp in spans] + c["shared"]:
                assert 0 <= a < b <= len(text), c["id"]
            assert set(c["scale"]) <= set(c["segments"]), c["id"]  # a caption scale value belongs to a labelled panel
    cache = fetch6.ensure(tmp_path)
    got = json.loads((cache / fetch6.CACHE_FILE).read_text("utf-8"))
    assert {c["id"]: c["caption"] for c in got} == texts
