"""The web page in a real browser: Debian's chromium driven by selenium against a real `matsearch serve` on a free
port, with the demo figures index and a small structure library (xrd + stem). One server, one browser session.

Every tab runs a real query and the DOM shows the expected hits; the XRD view draws the pattern with the phases'
sticks; a figure view opens and a panel click runs "similar"; the permalink of a filtered text search reproduces
it; a bad upload shows the API's message; the console stays free of errors. Screenshots of each view go to a
pytest temporary folder (pruned by pytest), or to ``MATSEARCH_SCREENSHOTS_DIR`` when set: `make screenshots` renews
docs/screenshots/ (linked from README), so a plain test run leaves the checkout unchanged.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO, LiveServer, run_cli

selenium = pytest.importorskip("selenium", reason="selenium is a dev dependency (requirements-dev.lock)")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as ChromeService  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SHOTS_ENV = os.environ.get("MATSEARCH_SCREENSHOTS_DIR")
SHOTS = Path(SHOTS_ENV or ".")  # set by the `web` fixture: the env folder, or a pytest tmp folder (pruned by pytest)
STATIC = REPO / "server" / "matsearch" / "server" / "static"
WAIT = 90  # s: generous, the machine is shared; waits end as soon as the condition holds
XRD_PHASES = ("cod-9008459", "cod-9008568")  # Ag (Fm-3m) + Sn (Fd-3m): a two-phase mixture
XRD_OTHERS = ("cod-9008460", "cod-9008463", "cod-9008477", "cod-9008490", "cod-9008512", "cod-9008536")
STEM_TARGET = "dd-LiCoO2"
STEM_OTHERS = ("cod-9008459", "cod-9008536", "cod-9008490", "cod-9008568")
SOURCES = ("cod", "dans_diffraction")  # the structures above come from these two bundled sources (quick to load)


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        if os.environ.get("MATSEARCH_SKIP_BROWSER_TESTS") == "1":
            pytest.skip("chromium/chromedriver not installed and MATSEARCH_SKIP_BROWSER_TESTS=1")
        pytest.fail("chromium and chromium-driver are needed (make sysdeps installs them: Debian packages)")
    return browser, driver


def _library(data_dir: Path) -> Any:
    from matsearch.indexer.structures import load_library

    return load_library(SOURCES, cache_dir=data_dir / "cache")


def _build_library(data_dir: Path) -> None:
    """A small structure library: XRD patterns and STEM views of a few structures (seconds, not minutes)."""
    from matsearch.core.settings import Settings
    from matsearch.indexer.stem.build import build_stem_points
    from matsearch.indexer.xrd.build import ingest_entries
    from matsearch.server.service import Service

    lib = _library(data_dir)
    service = Service(Settings(data_dir=data_dir))
    try:
        ingest_entries(service, [lib.get(i) for i in XRD_PHASES + XRD_OTHERS], workers=1, progress=False)
        build_stem_points(
            service, [lib.get(i) for i in (STEM_TARGET, *STEM_OTHERS)], workers=1, cache_dir=data_dir / "cache"
        )
    finally:
        service.close()


def _mixture_pattern(path: Path, lib: Any) -> None:
    """Ag + 0.6 Sn, simulated at Cu Kα1 with a 0.3 % lattice expansion, noise and a flat background."""
    from matsearch.indexer.xrd.simulate import simulate_peaks

    x = np.arange(15.0, 85.0, 0.02)
    y = np.full_like(x, 5.0)
    for weight, sid in zip((1.0, 0.6), XRD_PHASES, strict=True):
        peaks = simulate_peaks(lib.get(sid).conventional)
        for tt, inten in zip(peaks.two_theta, peaks.intensity, strict=True):
            y += weight * inten * np.exp(-0.5 * ((x - tt * 0.997) / 0.05) ** 2)
    y += np.random.default_rng(0).normal(0, 0.4, x.size)
    path.write_text("".join(f"{a:.3f} {b:.3f}\n" for a, b in zip(x, y, strict=True)))


def _stem_query(path: Path, lib: Any) -> None:
    """The target along [001] at 0.02 nm/px, rotated 17°, with shot noise."""
    from matsearch.indexer.stem.simulate import SimParams, project_structure, render

    img = render(
        project_structure(lib.get(STEM_TARGET).conventional, (0, 0, 1)),
        SimParams(size=(200, 200), px=0.2, rotation=17.0, dose=400.0, seed=3),
    )
    Image.fromarray((img * 255).astype(np.uint8)).save(path)


def _plot_image(path: Path, pattern: Path) -> None:
    """A journal-style line plot of the mixture pattern (what a graph panel of a paper looks like)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = np.loadtxt(pattern, unpack=True)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.plot(x, y, color="#1f3fbf", linewidth=1.2)
    ax.set_xlabel("2θ (degree)")
    ax.set_ylabel("Intensity (a.u.)")
    ax.set_yticks([])
    ax.set_xlim(15, 85)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    browser, driver_path = _chromium()
    root = tmp_path_factory.mktemp("web")
    data_dir = root / "data"
    data_dir.mkdir()
    env = {**os.environ, "MATSEARCH_DATA_DIR": str(data_dir)}
    built = run_cli("demo", "build", "--json", env=env)
    assert built.returncode == 0, built.stderr
    _build_library(data_dir)
    files = {"xrd": root / "mixture.xy", "stem": root / "licoo2_001.png", "bad": root / "notes.png"}
    lib = _library(data_dir)
    _mixture_pattern(files["xrd"], lib)
    _stem_query(files["stem"], lib)
    files["bad"].write_bytes(b"this is not an image\n" * 20)
    files["plot"] = root / "xrd_plot.png"
    _plot_image(files["plot"], files["xrd"])
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.brick()).save(buf, format="PNG")
    files["brick"] = root / "brick.png"
    files["brick"].write_bytes(buf.getvalue())

    server = LiveServer(data_dir)
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--window-size=1280,1000",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=ChromeService(driver_path), options=opts)
    drv.set_page_load_timeout(WAIT)
    global SHOTS
    SHOTS = Path(SHOTS_ENV) if SHOTS_ENV else tmp_path_factory.mktemp("shots")
    SHOTS.mkdir(parents=True, exist_ok=True)
    logs: list[dict[str, Any]] = []
    try:
        yield {"driver": drv, "url": server.url, "files": files, "logs": logs}
    finally:
        drv.quit()
        server.stop()


def wait(drv: WebDriver, cond: Any, what: str) -> Any:
    return WebDriverWait(drv, WAIT, poll_frequency=0.1).until(cond, message=f"timed out waiting for {what}")


def load(drv: WebDriver, url: str) -> None:
    """Open ``url`` and wait until the page has applied it (``body[data-ready]``, set after the URL's query ran)."""
    drv.get(url)
    wait(drv, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"), f"page ready: {url}")


def idle(drv: WebDriver) -> None:
    """The page has no request in flight (buttons re-enabled) and shows no spinner."""
    wait(drv, lambda d: "busy" not in (d.find_element(By.ID, "status").get_attribute("class") or ""), "idle page")


def hit_ids(drv: WebDriver) -> list[str]:
    ids: list[str] = drv.execute_script(
        "return [...document.querySelectorAll('#results .hits .hit')].map((e) => e.dataset.id)"
    )
    return ids


def generation(drv: WebDriver) -> int:
    """How many answers the page has shown (``#results[data-gen]``): a new answer is a larger number."""
    return int(drv.execute_script("return Number(document.getElementById('results').dataset.gen || 0)"))


def submit_and_wait(drv: WebDriver, tab: str, what: str) -> None:
    """Press the tab's submit button and wait until its answer (or an error) is shown and the page is idle."""
    before = generation(drv)
    drv.find_element(By.CSS_SELECTOR, f"#tab-{tab} button.go").click()
    wait(drv, lambda d: generation(d) > before or d.find_element(By.ID, "error").is_displayed(), what)
    idle(drv)


def collect_logs(web: dict[str, Any]) -> None:
    web["logs"].extend(web["driver"].get_log("browser"))


def shot(drv: WebDriver, name: str, scroll_to: str | None = None) -> None:
    """Save <SHOTS>/<name>.png (of the viewport, scrolled so that ``scroll_to`` is at the top)."""
    if scroll_to:
        drv.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'start'})", scroll_to)
    drv.save_screenshot(str(SHOTS / f"{name}.png"))


def test_filtered_text_search_and_its_permalink(web: dict[str, Any]) -> None:
    drv = web["driver"]
    load(drv, web["url"] + "/")
    wait(drv, lambda d: d.find_element(By.ID, "counts").text, "collection counts")
    box = drv.find_element(By.ID, "text-q")
    box.send_keys("HAADF-STEM of silver manganate")
    Select(drv.find_element(By.ID, "f-type")).select_by_value("microscopy")
    drv.find_element(By.ID, "f-year_min").send_keys("2015")
    assert json.loads(drv.find_element(By.ID, "filter-json").get_attribute("value") or "") == {
        "type": "microscopy",
        "year": {"gte": 2015},
    }
    submit_and_wait(drv, "text", "text hits")
    ids = hit_ids(drv)
    assert ids
    cards = drv.find_elements(By.CSS_SELECTOR, "#results .hit")
    assert all("microscopy" in c.text for c in cards)
    assert "doi:10.1038/s41467-018-06211-3" in cards[0].text and "nm/px" in drv.find_element(By.ID, "results").text
    link = drv.find_element(By.ID, "permalink").get_attribute("href") or ""
    query = parse_qs(urlparse(link).query)
    assert query["q"] == ["HAADF-STEM of silver manganate"] and json.loads(query["filter"][0]) == {
        "type": "microscopy",
        "year": {"gte": 2015},
    }
    shot(drv, "search")
    # the permalink, opened fresh, shows the same controls and the same hits in the same order
    drv.get("about:blank")
    load(drv, link)
    wait(drv, lambda d: generation(d) > 0, "hits from the permalink")
    idle(drv)
    assert hit_ids(drv) == ids
    assert drv.find_element(By.ID, "text-q").get_attribute("value") == "HAADF-STEM of silver manganate"
    assert drv.find_element(By.ID, "f-type").get_attribute("value") == "microscopy"
    assert drv.find_element(By.ID, "f-year_min").get_attribute("value") == "2015"
    collect_logs(web)


def test_figure_view_and_panel_click_runs_similar(web: dict[str, Any]) -> None:
    drv = web["driver"]
    first = drv.find_element(By.CSS_SELECTOR, "#results .hit")
    first.find_element(By.CSS_SELECTOR, "button.openfig").click()
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#fig-body svg rect"), "figure view with panel boxes")
    wait(drv, lambda d: d.execute_script("return document.querySelector('#fig-body img').complete"), "figure image")
    body = drv.find_element(By.ID, "fig-body")
    assert "10.1038/s41467-018-06211-3" in body.text and "creativecommons.org/licenses/by/4.0" in body.text
    rects = body.find_elements(By.CSS_SELECTOR, "svg rect")
    assert len(rects) >= 4 and body.find_elements(By.CSS_SELECTOR, "rect.sel")  # the card's panel is selected
    labels = {t.text for t in body.find_elements(By.CSS_SELECTOR, "svg text")}
    assert {"a", "b", "c"} <= labels
    shot(drv, "figure")
    target = rects[1].get_attribute("data-id")
    before = generation(drv)
    drv.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", rects[1])
    wait(drv, lambda d: generation(d) > before, "similar hits")
    idle(drv)
    assert not drv.find_element(By.ID, "figure-dialog").get_attribute("open")
    assert f"similar=figures%3A{target}" in (drv.find_element(By.ID, "permalink").get_attribute("href") or "")
    assert hit_ids(drv) and target not in hit_ids(drv)  # "more like this" leaves the panel itself out
    collect_logs(web)


def test_image_search_finds_the_uploaded_image(web: dict[str, Any]) -> None:
    drv = web["driver"]
    load(drv, web["url"] + "/?tab=image")
    wait(drv, lambda d: d.find_element(By.ID, "tab-image").is_displayed(), "image tab")
    drv.find_element(By.ID, "image-file").send_keys(str(web["files"]["brick"]))
    wait(drv, lambda d: d.find_element(By.ID, "image-preview").is_displayed(), "file preview")
    submit_and_wait(drv, "image", "image hits")
    top = drv.find_element(By.CSS_SELECTOR, "#results .hit")
    assert "scikit-image sample image 'brick'" in top.text  # the very image, first
    collect_logs(web)


def test_drop_paste_and_keyboard(web: dict[str, Any]) -> None:
    """A file dropped on the upload area or pasted from the clipboard becomes the query; tabs follow the arrow keys."""
    from selenium.webdriver.common.keys import Keys

    drv = web["driver"]
    make_file = """const mk = (name) => new Promise((ok) => {
          const c = document.createElement('canvas'); c.width = c.height = 64;
          const g = c.getContext('2d'); g.fillStyle = '#888'; g.fillRect(0, 0, 64, 64);
          g.fillStyle = '#000'; g.beginPath(); g.arc(32, 32, 20, 0, 7); g.fill();
          c.toBlob((b) => ok(new File([b], name, {type: 'image/png'})));
        });
        const transfer = async (name) => { const dt = new DataTransfer(); dt.items.add(await mk(name)); return dt; };"""
    drop = "new DragEvent('drop', {dataTransfer: dt, bubbles: true})"
    drv.execute_script(
        make_file + "return transfer('dropped.png').then((dt) => "
        f"document.getElementById('image-drop').dispatchEvent({drop}));"
    )
    wait(drv, lambda d: "dropped.png" in d.find_element(By.ID, "image-drop").text, "dropped file taken")
    assert drv.find_element(By.ID, "image-preview").is_displayed()
    drv.find_element(By.ID, "t-text").click()  # pasting an image on the text tab goes to the image tab
    paste = "new ClipboardEvent('paste', {clipboardData: dt, bubbles: true})"
    drv.execute_script(make_file + f"return transfer('pasted.png').then((dt) => document.dispatchEvent({paste}));")
    wait(drv, lambda d: "pasted.png" in d.find_element(By.ID, "image-drop").text, "pasted file taken")
    assert drv.find_element(By.ID, "t-image").get_attribute("aria-selected") == "true"
    submit_and_wait(drv, "image", "hits for the pasted image")
    assert hit_ids(drv)
    tab = drv.find_element(By.ID, "t-image")
    tab.send_keys(Keys.ARROW_RIGHT)
    assert drv.find_element(By.ID, "t-sketch").get_attribute("aria-selected") == "true"
    assert drv.switch_to.active_element.get_attribute("id") == "t-sketch"
    drv.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    assert drv.find_element(By.ID, "tab-image").is_displayed()
    collect_logs(web)


def test_bad_upload_shows_the_api_message(web: dict[str, Any]) -> None:
    drv = web["driver"]
    drv.find_element(By.ID, "image-file").send_keys(str(web["files"]["bad"]))
    submit_and_wait(drv, "image", "error message")
    text = drv.find_element(By.ID, "error").text
    assert text.startswith("415: ") and "notes.png is not a recognised image file" in text
    logs = drv.get_log("browser")
    # the refused request itself is logged by the browser as a failed resource; nothing else may be
    assert all("/v1/search/image" in e["message"] and "415" in e["message"] for e in logs), logs


def test_sketch_search_with_undo(web: dict[str, Any]) -> None:
    drv = web["driver"]
    drv.find_element(By.ID, "t-sketch").click()
    pad = drv.find_element(By.ID, "pad")
    ink = (
        "const d = document.getElementById('pad').getContext('2d').getImageData(0, 0, 256, 256).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++; return n;"
    )
    chain = ActionChains(drv, duration=10)  # ms per pointer move (the default 250 ms makes drawing slow)
    for cx, cy in ((-60, -50), (50, -40), (0, 60)):  # three round particles
        chain.move_to_element_with_offset(pad, cx + 22, cy).click_and_hold()
        for k in range(1, 25):
            a = 2 * np.pi * k / 24
            chain.move_to_element_with_offset(pad, int(cx + 22 * np.cos(a)), int(cy + 22 * np.sin(a)))
        chain.release()
    chain.perform()
    drawn = drv.execute_script(ink)
    assert drawn > 100
    ActionChains(drv).move_to_element_with_offset(pad, 80, 80).click_and_hold().move_by_offset(
        30, 30
    ).release().perform()
    assert drv.execute_script(ink) > drawn
    drv.find_element(By.ID, "pad-undo").click()
    assert drv.execute_script(ink) == drawn
    submit_and_wait(drv, "sketch", "sketch hits")
    assert hit_ids(drv) and drv.find_element(By.CSS_SELECTOR, "#results .hits").get_attribute("data-kind") == "sketch"
    shot(drv, "sketch", "nav")
    collect_logs(web)


def test_xrd_upload_plots_pattern_with_phase_sticks(web: dict[str, Any]) -> None:
    drv = web["driver"]
    drv.find_element(By.ID, "t-spectrum").click()
    drv.find_element(By.ID, "spectrum-file").send_keys(str(web["files"]["xrd"]))
    wait(drv, lambda d: "3500 points" in d.find_element(By.ID, "spectrum-info").text, "pattern preview")
    Select(drv.find_element(By.ID, "f-wavelength")).select_by_value("CuKa1")
    submit_and_wait(drv, "spectrum", "XRD answer")
    plot = wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#xrd-plot[data-sticks]"), "XRD plot")[0]
    rows = drv.find_elements(
        By.CSS_SELECTOR, "table.phases tbody tr[data-phase='1'], table.phases tbody tr[data-phase='2']"
    )
    formulas = {r.find_elements(By.TAG_NAME, "td")[2].text for r in rows}
    assert formulas == {"Ag", "Sn"}, drv.find_element(By.CSS_SELECTOR, "table.phases").text
    assert int(plot.get_attribute("data-sticks") or 0) >= 8
    canvas = plot.find_element(By.TAG_NAME, "canvas")
    # the measured pattern is drawn (dark line) and the two phases' sticks in their colours
    colours = drv.execute_script(
        """const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = {red: 0, blue: 0, dark: 0};
        for (let i = 0; i < d.length; i += 4) {
          const [r, g, b, a] = [d[i], d[i+1], d[i+2], d[i+3]];
          if (a < 100) continue;
          if (r > 150 && g < 110 && b < 110) seen.red++;
          else if (b > 130 && r < 90 && g < 160 && g > 80) seen.blue++;
          else if (r < 60 && g < 60 && b < 60) seen.dark++;
        }
        return seen;""",
        canvas,
    )
    assert colours["red"] > 50 and colours["blue"] > 50 and colours["dark"] > 500, colours
    # hover the (111) stick of Ag: the tooltip names the phase, its hkl and the strain
    target = drv.execute_script(
        """const f = window.xrdFeatures.find((f) => f.text.includes(" Ag ") && f.text.includes("hkl (111)"));
        const u = window.xrdPlot;
        return f && [u.valToPos(f.tt, "x") - u.over.clientWidth / 2, u.valToPos((f.y0 + f.y1) / 2, "y") -
          u.over.clientHeight / 2];"""
    )
    assert target, "no (111) stick of Ag drawn"
    over = plot.find_element(By.CSS_SELECTOR, ".u-over")
    ActionChains(drv).move_to_element_with_offset(over, int(target[0]), int(target[1])).perform()
    found = wait(drv, lambda d: plot.find_element(By.CSS_SELECTOR, ".tip").text, "tooltip")
    assert "hkl (111)" in found, found
    shot(drv, "xrd", "#status")
    collect_logs(web)


def test_stem_view_shows_simulated_hits_beside_the_query(web: dict[str, Any]) -> None:
    drv = web["driver"]
    drv.find_element(By.ID, "t-stem").click()
    drv.find_element(By.ID, "stem-file").send_keys(str(web["files"]["stem"]))
    drv.find_element(By.ID, "stem-nm").send_keys("0.02")
    submit_and_wait(drv, "stem", "STEM hits")
    wait(
        drv,
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) == 200
            for i in d.find_elements(By.CSS_SELECTOR, ".stemrow img.sim")
        ),
        "simulated images at the query's size",
    )
    rows = drv.find_elements(By.CSS_SELECTOR, ".stemrow")
    structures = [r.get_attribute("data-structure") for r in rows]
    assert STEM_TARGET in structures[:3], structures
    row = rows[structures.index(STEM_TARGET)]
    assert "LiCoO2" in row.text and "R-3m" in row.text and "[001]" in row.text and "0.0200 nm/px" in row.text
    import httpx

    answer = httpx.post(
        f"{web['url']}/v1/search/image",
        params={"collection": "stem", "nm_per_px": 0.02, "limit": 8},
        files={"file": ("q.png", web["files"]["stem"].read_bytes())},
        timeout=WAIT,
    ).json()["hits"]
    lattice = next(h for h in answer if h["payload"]["structure_id"] == STEM_TARGET)["payload"].get("measured_lattice")
    if lattice:  # the search measures the query's lattice: the view shows it
        shown = row.text.split("measured lattice", 1)[-1]
        assert "measured lattice" in row.text and "γ" in shown and f"{float(lattice['a']):.2f}"[:3] in shown, row.text
    shot(drv, "stem", "#status")
    collect_logs(web)


def test_plot_digitiser_draws_axes_and_series(web: dict[str, Any]) -> None:
    drv = web["driver"]
    tab = drv.find_element(By.ID, "t-plot")
    assert tab.is_displayed(), "the server has POST /v1/plots/digitize, so the digitiser tab must show"
    tab.click()
    drv.find_element(By.ID, "plot-file").send_keys(str(web["files"]["plot"]))
    submit_and_wait(drv, "plot", "digitised plot")
    view = drv.find_element(By.CSS_SELECTOR, "#results .digi")
    assert int(view.get_attribute("data-series") or 0) >= 1
    assert view.find_elements(By.CSS_SELECTOR, "svg polyline") and view.find_elements(By.CSS_SELECTOR, "svg rect")
    assert "kind: xrd" in view.text and "degree" in view.text
    assert view.find_element(By.CSS_SELECTOR, "button.csv").is_displayed()
    # "papers with a pattern like this": the digitised series against the literature spectra of the demo papers
    papers = view.find_element(By.CSS_SELECTOR, "button.papers")
    papers.click()
    wait(
        drv,
        lambda d: (
            any("papers with a pattern like this" in e.text for e in d.find_elements(By.CSS_SELECTOR, "#results h3"))
            or d.find_element(By.ID, "error").is_displayed()
        ),
        "literature spectra",
    )
    idle(drv)
    assert not drv.find_element(By.ID, "error").is_displayed(), drv.find_element(By.ID, "error").text
    shot(drv, "plot", "#status")
    collect_logs(web)


def test_figure_and_stem_endpoints(web: dict[str, Any]) -> None:
    """The API the views use: a figure with its panels, simulated STEM images, the page's own files."""
    import hashlib

    import httpx

    base = web["url"]
    http = httpx.Client(timeout=WAIT)
    hit = http.get(f"{base}/v1/search/text", params={"q": "silver manganate", "limit": 1}).json()["hits"][0]
    fig = http.get(f"{base}/v1/figures/{hit['payload']['image_sha256']}").json()
    assert fig["document"]["doi"] == "10.1038/s41467-018-06211-3" and fig["width"] and fig["height"]
    assert hit["id"] in {p["id"] for p in fig["panels"]} and len(fig["panels"]) >= 2
    labels = [p["payload"]["panel_label"] for p in fig["panels"] if p["payload"].get("panel_label")]
    assert labels == sorted(labels)
    assert http.get(f"{base}/v1/figures/not-a-sha").status_code == 400
    missing = http.get(f"{base}/v1/figures/{'0' * 64}")
    assert missing.status_code == 404 and "no indexed figure" in missing.json()["detail"]

    sim = http.get(
        f"{base}/v1/stem/simulate",
        params={
            "structure": STEM_TARGET,
            "source": "dans_diffraction",
            "zone": "0,0,1",
            "nm_per_px": 0.02,
            "width": 120,
            "height": 80,
        },
    )
    assert sim.status_code == 200 and sim.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(sim.content))
    assert img.size == (120, 80) and np.asarray(img).std() > 10  # columns, not a flat image
    unknown = http.get(f"{base}/v1/stem/simulate", params={"structure": "nope-1", "source": "cod"})
    assert unknown.status_code == 404 and "nope-1" in unknown.json()["detail"]
    assert http.get(f"{base}/v1/stem/simulate", params={"structure": STEM_TARGET, "zone": "1,1"}).status_code == 400
    assert http.get(f"{base}/v1/stem/simulate", params={"structure": STEM_TARGET, "nm_per_px": 5}).status_code == 422

    js = http.get(f"{base}/static/vendor/uplot/uPlot.iife.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    sums = (STATIC / "vendor" / "uplot" / "SHA256SUMS").read_text().split()
    for digest, name in zip(sums[::2], sums[1::2], strict=True):
        assert hashlib.sha256((STATIC / "vendor" / "uplot" / name).read_bytes()).hexdigest() == digest, name
    assert hashlib.sha256(js.content).hexdigest() == sums[0]
    assert http.get(f"{base}/static/../app.py").status_code == 404
    assert http.get(f"{base}/static/%2e%2e/app.py").status_code == 404
    http.close()


def test_phone_width_and_no_console_errors(web: dict[str, Any]) -> None:
    drv = web["driver"]
    drv.set_window_size(390, 844)
    try:
        load(drv, web["url"] + "/?tab=text&q=silver%20manganate%20nanoplates")
        wait(drv, lambda d: generation(d) > 0, "hits on a phone")
        idle(drv)
        assert hit_ids(drv)
        width = drv.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"page is {width} px wide at a 390 px viewport"
        assert drv.find_element(By.ID, "filters").get_attribute("open") is None  # collapsed: results first
        shot(drv, "phone")
    finally:
        drv.set_window_size(1280, 1000)
    collect_logs(web)
    errors = [e for e in web["logs"] if e["level"] == "SEVERE"]
    assert not errors, errors
