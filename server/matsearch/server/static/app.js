/* matsearch web page: every query kind of the API, its filters as controls, and views of the answers.
 * Plain browser JavaScript (no build step); the chart library (uPlot) is vendored under /static/vendor/.
 * The DOM is built with h() (no HTML strings), so payload text is never interpreted as markup. */
"use strict";

const $ = (id) => document.getElementById(id);
const LIB_WAVELENGTH = 1.54056; // Å, Cu Kα1: the XRD library's wavelength (2θ of hits and peaks)
const WAVELENGTHS = {CuKa: 1.54184, CuKa1: 1.54056, CoKa: 1.79026, FeKa: 1.93735, CrKa: 2.291, MoKa: 0.71073, AgKa: 0.560885};
const PHASE_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
const PANEL_TYPES = ["microscopy", "diffraction", "graph", "illustration", "photo", "other"];
const CRYSTAL_SYSTEMS = ["cubic", "hexagonal", "trigonal", "tetragonal", "orthorhombic", "monoclinic", "triclinic"];
const SCORE_MEANING = {
  text: "caption relevance: cosine similarity of sentence embeddings plus a bonus for query words in the panel's own caption (higher is better)",
  image: "visual similarity: cosine of image features, re-ranked by local-feature matches (higher is better)",
  sketch: "cosine similarity of contour features of your drawing and the panel",
  similar: "cosine similarity to the chosen panel",
  stem: "lattice-spectrum correlation with the simulated structure (the search abstains below its threshold)",
  spectrum: "phase fit score √(coverage × explained share of the measured peaks)",
  spectra: "similarity of your pattern to the digitised literature spectrum",
};

/* ---------------------------------------------------------------- DOM helper */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const svg = (tag, attrs) => {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  return el;
};
const fmt = (x, digits = 3) => (x === null || x === undefined || Number.isNaN(Number(x)) ? "–" : Number(x).toPrecision(digits));
const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(0)} %`);

/* ---------------------------------------------------------------- API calls with loading/error states */
let busy = 0;
function setStatus(text, isBusy = false) {
  $("status").textContent = text;
  $("status").classList.toggle("busy", isBusy);
}
function showError(msg) {
  $("error").hidden = !msg;
  $("error").textContent = msg || "";
}
async function api(url, opts = {}, what = "searching") {
  busy++;
  showError("");
  setStatus(`${what}…`, true);
  document.querySelectorAll("button.go").forEach((b) => (b.disabled = true));
  const t0 = performance.now();
  try {
    const r = await fetch(url, opts);
    const type = r.headers.get("content-type") || "";
    const body = type.includes("json") ? await r.json() : await r.text();
    if (!r.ok) {
      const detail = body && typeof body === "object" && body.detail ? body.detail : String(body).slice(0, 300);
      throw new ApiError(r.status, typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    const ms = Math.round(performance.now() - t0);
    setStatus("done");
    $("status").title = `the request took ${ms} ms`;
    $("status").dataset.ms = String(ms);
    return body;
  } catch (err) {
    setStatus("");
    showError(err instanceof ApiError ? `${err.status}: ${err.message}` : `request failed: ${err.message}`);
    throw err;
  } finally {
    busy--;
    if (!busy) document.querySelectorAll("button.go").forEach((b) => (b.disabled = false));
  }
}
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
/** The end of a failed action: API errors are on screen already; anything else is a bug of the page — say so. */
function failed(err) {
  if (err instanceof ApiError || (err && err.name === "TypeError" && String(err.message).includes("fetch"))) return;
  showError(`the page failed to show the answer: ${err && err.message ? err.message : err}`);
  console.error(err);
}

/* ---------------------------------------------------------------- tabs */
const TABS = ["text", "image", "sketch", "spectrum", "stem", "plot"];
let currentTab = "text";
function selectTab(name, focus = false) {
  currentTab = name;
  for (const t of TABS) {
    const b = $(`t-${t}`), p = $(`tab-${t}`);
    const on = t === name;
    b.setAttribute("aria-selected", on ? "true" : "false");
    b.tabIndex = on ? 0 : -1;
    p.hidden = !on;
    p.classList.toggle("on", on);
  }
  if (focus) $(`t-${name}`).focus();
  buildFilters();
  updateLink();
}
document.querySelectorAll('nav [role="tab"]').forEach((b) => {
  b.addEventListener("click", () => selectTab(b.dataset.tab));
  b.addEventListener("keydown", (e) => {
    const visible = TABS.filter((t) => !$(`t-${t}`).hidden);
    const i = visible.indexOf(b.dataset.tab);
    let j = null;
    if (e.key === "ArrowRight") j = (i + 1) % visible.length;
    else if (e.key === "ArrowLeft") j = (i - 1 + visible.length) % visible.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = visible.length - 1;
    if (j !== null) { e.preventDefault(); selectTab(visible[j], true); }
  });
});

/* ---------------------------------------------------------------- filters as controls */
// Each control maps to one key of the API's filter shorthand (or to a query parameter for XRD options).
const FILTER_SETS = {
  figures: ["type", "techniques", "nm_per_px", "year", "elements", "journal", "licence", "limit"],
  stem: ["elements", "crystal_system", "spacegroup_symbol", "limit"],
  xrd: ["wavelength", "xrd_elements", "max_phases", "crystal_system", "limit"],
  plot: [],
};
const controlValues = {}; // id -> value, survives tab switches
let maxPhases = 3; // the API's maximum (read from /openapi.json at start)
const apiHas = {spectraCollection: false}; // optional API features, from /openapi.json
let extraFilter = {}; // filter keys typed into the JSON box that no control shows

function ctl(id, label, input) {
  input.id = `f-${id}`;
  if (controlValues[id] !== undefined) input.value = controlValues[id];
  input.addEventListener("input", () => { controlValues[id] = input.value; filterChanged(); });
  input.addEventListener("change", () => { controlValues[id] = input.value; filterChanged(); });
  return h("label", {}, label, input);
}
function pairCtl(id, label, placeholderA, placeholderB, step) {
  const a = h("input", {type: "number", step, placeholder: placeholderA, "aria-label": `${label} from`});
  const b = h("input", {type: "number", step, placeholder: placeholderB, "aria-label": `${label} to`});
  for (const [el, key] of [[a, `${id}_min`], [b, `${id}_max`]]) {
    el.id = `f-${key}`;
    if (controlValues[key] !== undefined) el.value = controlValues[key];
    el.addEventListener("input", () => { controlValues[key] = el.value; filterChanged(); });
  }
  return h("label", {}, label, h("span", {class: "pair"}, a, b));
}
const select = (options, blank) => h("select", {}, blank !== undefined ? h("option", {value: ""}, blank) : null,
  options.map((o) => (Array.isArray(o) ? h("option", {value: o[0]}, o[1]) : h("option", {value: o}, o))));
const CONTROLS = {
  type: () => ctl("type", "panel type", select(PANEL_TYPES, "any")),
  techniques: () => ctl("techniques", "technique (any of)", h("input", {type: "text", placeholder: "TEM, HRTEM, XRD"})),
  nm_per_px: () => pairCtl("nm", "nm/px range", "min", "max", "any"),
  year: () => pairCtl("year", "year range", "from", "to", "1"),
  elements: () => h("div", {class: "col"},
    ctl("elements", "elements", h("input", {type: "text", placeholder: "Au, O"})),
    ctl("elements_mode", "", select([["all", "all of them"], ["any", "any of them"]]))),
  journal: () => ctl("journal", "journal", h("input", {type: "text", placeholder: "Nature Communications", list: "dl-journal"})),
  licence: () => ctl("licence", "licence", h("input", {type: "text", placeholder: "http://creativecommons.org/licenses/by/4.0/", list: "dl-licence"})),
  crystal_system: () => ctl("crystal_system", "crystal system", select(CRYSTAL_SYSTEMS, "any")),
  spacegroup_symbol: () => ctl("spacegroup_symbol", "space group", h("input", {type: "text", placeholder: "Fm-3m"})),
  wavelength: () => h("div", {class: "col"},
    ctl("wavelength", "wavelength", select([...Object.keys(WAVELENGTHS).map((k) => [k, `${k} (${WAVELENGTHS[k]} Å)`]), ["custom", "other (Å)…"]])),
    ctl("wavelength_a", "", h("input", {type: "number", step: "any", min: "0.1", max: "5", placeholder: "Å, e.g. 0.8285"}))),
  xrd_elements: () => h("div", {class: "col"},
    ctl("xrd_elements", "elements", h("input", {type: "text", placeholder: "Mg, O"})),
    ctl("xrd_elements_mode", "", select([["only", "only these"], ["all", "all of them"], ["any", "any of them"]]))),
  max_phases: () => ctl("max_phases", "max phases", select(Array.from({length: maxPhases}, (_, k) => String(maxPhases - k)))),
  limit: () => ctl("limit", "results", select(["24", "12", "48", "100"])),
};
function kindOf(tab) { return $(`tab-${tab}`).dataset.kind; }
function buildFilters() {
  const grid = $("fgrid");
  grid.replaceChildren(...FILTER_SETS[kindOf(currentTab)].map((c) => CONTROLS[c]()));
  grid.append(h("datalist", {id: "dl-journal"}, [...seenValues.journal].map((v) => h("option", {value: v}))),
    h("datalist", {id: "dl-licence"}, [...seenValues.licence].map((v) => h("option", {value: v}))));
  $("filters").hidden = FILTER_SETS[kindOf(currentTab)].length === 0;
  const wl = $("f-wavelength_a");
  if (wl) wl.parentElement.hidden = ($("f-wavelength").value !== "custom");
  $("filter-json").value = JSON.stringify(currentFilter()) === "{}" ? "" : JSON.stringify(currentFilter());
  $("filter-json").classList.remove("invalid");
}
const seenValues = {journal: new Set(), licence: new Set()};
const v = (id) => (controlValues[id] ?? "").toString().trim();
const list = (text) => text.split(/[,;\s]+/).map((s) => s.trim()).filter(Boolean);
const elementList = (text) => list(text).map((s) => s[0].toUpperCase() + s.slice(1).toLowerCase());
function range(lo, hi, int) {
  const r = {};
  const parse = (s) => (int ? parseInt(s, 10) : parseFloat(s));
  if (lo !== "" && !Number.isNaN(parse(lo))) r.gte = parse(lo);
  if (hi !== "" && !Number.isNaN(parse(hi))) r.lte = parse(hi);
  return Object.keys(r).length ? r : null;
}
/** The filter object the API takes, from the controls of the current kind (plus keys typed into the JSON box). */
function currentFilter() {
  const kind = kindOf(currentTab);
  const f = {};
  const set = FILTER_SETS[kind];
  if (set.includes("type") && v("type")) f.type = v("type");
  if (set.includes("techniques") && v("techniques")) f.techniques = list(v("techniques"));
  if (set.includes("nm_per_px")) { const r = range(v("nm_min"), v("nm_max")); if (r) f.nm_per_px = r; }
  if (set.includes("year")) { const r = range(v("year_min"), v("year_max"), true); if (r) f.year = r; }
  if (set.includes("elements") && v("elements")) f.elements = {[v("elements_mode") || "all"]: elementList(v("elements"))};
  if (set.includes("journal") && v("journal")) f.journal = v("journal");
  if (set.includes("licence") && v("licence")) f.licence = v("licence");
  if (set.includes("crystal_system") && v("crystal_system")) f.crystal_system = v("crystal_system");
  if (set.includes("spacegroup_symbol") && v("spacegroup_symbol")) f.spacegroup_symbol = v("spacegroup_symbol");
  return {...extraFilter, ...f};
}
/** Put a filter object (from the JSON box or a permalink) back into the controls; unknown keys stay as they are. */
function filterToControls(obj) {
  const extra = {};
  for (const k of ["type", "techniques", "nm_min", "nm_max", "year_min", "year_max", "elements", "elements_mode", "journal", "licence", "crystal_system", "spacegroup_symbol"]) delete controlValues[k];
  const isRange = (x) => x && typeof x === "object" && !Array.isArray(x) && Object.keys(x).every((k) => ["gte", "lte"].includes(k));
  for (const [k, val] of Object.entries(obj || {})) {
    if (["type", "journal", "licence", "crystal_system", "spacegroup_symbol"].includes(k) && typeof val === "string") controlValues[k] = val;
    else if (k === "techniques" && Array.isArray(val)) controlValues.techniques = val.join(", ");
    else if (k === "techniques" && typeof val === "string") controlValues.techniques = val;
    else if (k === "nm_per_px" && isRange(val)) { controlValues.nm_min = val.gte ?? ""; controlValues.nm_max = val.lte ?? ""; }
    else if (k === "year" && isRange(val)) { controlValues.year_min = val.gte ?? ""; controlValues.year_max = val.lte ?? ""; }
    else if (k === "elements" && val && typeof val === "object" && !Array.isArray(val) && Object.keys(val).length === 1 && (val.all || val.any)) {
      controlValues.elements_mode = val.all ? "all" : "any";
      controlValues.elements = (val.all || val.any).join(", ");
    } else extra[k] = val;
  }
  extraFilter = extra;
}
function filterChanged() {
  const wl = $("f-wavelength_a");
  if (wl) wl.parentElement.hidden = ($("f-wavelength").value !== "custom");
  const f = currentFilter();
  $("filter-json").value = Object.keys(f).length ? JSON.stringify(f) : "";
  $("filter-json").classList.remove("invalid");
  updateLink();
}
$("filter-json").addEventListener("change", () => {
  const text = $("filter-json").value.trim();
  let obj = {};
  if (text) {
    try { obj = JSON.parse(text); } catch (e) { $("filter-json").classList.add("invalid"); showError(`filter is not valid JSON: ${e.message}`); return; }
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) { $("filter-json").classList.add("invalid"); showError("filter must be a JSON object"); return; }
  }
  showError("");
  filterToControls(obj);
  buildFilters();
  $("filter-json").value = text ? JSON.stringify(currentFilter()) : "";
  updateLink();
});

/* ---------------------------------------------------------------- permalink */
function queryParams() {
  const p = new URLSearchParams();
  p.set("tab", currentTab);
  const kind = kindOf(currentTab);
  const f = currentFilter();
  if (currentTab === "text" && $("text-q").value.trim()) p.set("q", $("text-q").value.trim());
  if (Object.keys(f).length) p.set("filter", JSON.stringify(f));
  if (v("limit") && v("limit") !== "24" && kind !== "plot") p.set("limit", v("limit"));
  if (currentTab === "image" && $("image-nm").value) p.set("nm_per_px", $("image-nm").value);
  if (currentTab === "stem" && $("stem-nm").value) p.set("nm_per_px", $("stem-nm").value);
  if (kind === "xrd") {
    const wl = xrdWavelength();
    if (wl) p.set("wavelength", wl);
    if (v("xrd_elements")) { p.set("elements", elementList(v("xrd_elements")).join(",")); p.set("elements_mode", v("xrd_elements_mode") || "only"); }
    if (v("max_phases")) p.set("max_phases", v("max_phases"));
  }
  return p;
}
let linkExtra = null; // e.g. {similar: "figures:ID"} while showing "more like this"
function updateLink() {
  const p = linkExtra ? new URLSearchParams(linkExtra) : queryParams();
  const url = `${location.origin}/?${p}`;
  $("permalink").href = url;
  $("permalink").textContent = linkExtra || currentTab === "text" ? "permalink" : "permalink (settings; upload the file again)";
}
$("copy-link").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText($("permalink").href); setStatus("permalink copied"); } catch { setStatus($("permalink").href); }
});
function pushState(params) {
  const url = `/?${params}`;
  if (`${location.pathname}${location.search}` !== url) history.pushState(null, "", url);
}
$("text-q").addEventListener("input", updateLink);

/* ---------------------------------------------------------------- files: choose, drop, paste, preview */
const files = {};
const FILE_TABS = {image: "image-file", stem: "stem-file", spectrum: "spectrum-file", plot: "plot-file"};
function setFile(tab, file) {
  files[tab] = file;
  const preview = $(`${tab}-preview`);
  if (preview) {
    if (preview.dataset.url) URL.revokeObjectURL(preview.dataset.url);
    preview.hidden = true;
    if (file && /^image\/(png|jpeg|gif|webp|bmp|svg\+xml)$/.test(file.type)) {
      const url = URL.createObjectURL(file);
      preview.dataset.url = url;
      preview.src = url;
      preview.alt = file.name;
      preview.hidden = false;
    }
  }
  const drop = $(`${tab}-drop`);
  const text = drop.querySelector(".droptext");
  text.textContent = file ? `${file.name} · ${(file.size / 1024).toFixed(1)} KiB — drop or paste another to replace` : text.dataset.orig;
  if (tab === "spectrum") previewPattern(file);
}
for (const [tab, inputId] of Object.entries(FILE_TABS)) {
  const input = $(inputId), drop = $(`${tab}-drop`);
  drop.querySelector(".droptext").dataset.orig = drop.querySelector(".droptext").textContent;
  input.addEventListener("change", () => setFile(tab, input.files[0] || null));
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) setFile(tab, e.dataTransfer.files[0]);
  });
}
// a file dropped anywhere else must not navigate away from the page
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());
document.addEventListener("paste", (e) => {
  const items = [...(e.clipboardData?.files || [])];
  if (!items.length) return;
  const tab = FILE_TABS[currentTab] ? currentTab : (items[0].type.startsWith("image/") ? "image" : null);
  if (!tab) return;
  e.preventDefault();
  if (tab !== currentTab) selectTab(tab);
  setFile(tab, items[0]);
  setStatus(`pasted ${items[0].name || "image"} — press ${tab === "spectrum" ? "Identify" : "Search"}`);
});
async function previewPattern(file) {
  $("spectrum-info").textContent = "";
  if (!file) return;
  const pts = parsePattern(await file.text());
  $("spectrum-info").textContent = pts
    ? `${pts.x.length} points, ${fmt(pts.x[0], 4)}–${fmt(pts.x[pts.x.length - 1], 4)} (x units as in the file)`
    : "not a two-column text file: the server will try its own readers";
}
/** Two/three-column text (x y [esd]); comments and headers skipped. null when it does not look like a pattern. */
function parsePattern(text) {
  if (text.length > 20e6) return null;
  const x = [], y = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (!s || /^[#;!%*'"a-df-zA-DF-Z_]/.test(s)) continue;
    const nums = s.split(/[\s,;]+/).map(Number);
    if (nums.length < 2 || !Number.isFinite(nums[0]) || !Number.isFinite(nums[1])) continue;
    x.push(nums[0]); y.push(nums[1]);
  }
  if (x.length < 20) return null;
  const order = x.map((_, i) => i).sort((a, b) => x[a] - x[b]);
  return {x: order.map((i) => x[i]), y: order.map((i) => y[i])};
}

/* ---------------------------------------------------------------- sketch pad: brush, eraser, undo */
const pad = $("pad"), ctx = pad.getContext("2d");
const undoStack = [];
let erasing = false, drawing = false;
function clearPad() { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, pad.width, pad.height); }
clearPad();
function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener("pointerdown", (e) => {
  undoStack.push(ctx.getImageData(0, 0, pad.width, pad.height));
  if (undoStack.length > 40) undoStack.shift();
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  ctx.lineWidth = Number($("pad-size").value) * (erasing ? 3 : 1);
  ctx.lineCap = "round"; ctx.lineJoin = "round";
  ctx.strokeStyle = erasing ? "#fff" : "#000";
  const [x, y] = padPoint(e);
  ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 0.01, y); ctx.stroke();
});
pad.addEventListener("pointermove", (e) => { if (drawing) { const [x, y] = padPoint(e); ctx.lineTo(x, y); ctx.stroke(); } });
for (const ev of ["pointerup", "pointercancel"]) pad.addEventListener(ev, () => { drawing = false; });
function undo() { if (undoStack.length) ctx.putImageData(undoStack.pop(), 0, 0); }
function setEraser(on) { erasing = on; $("pad-eraser").setAttribute("aria-pressed", on); $("pad-pen").setAttribute("aria-pressed", !on); }
$("pad-pen").addEventListener("click", () => setEraser(false));
$("pad-eraser").addEventListener("click", () => setEraser(true));
$("pad-undo").addEventListener("click", undo);
$("pad-clear").addEventListener("click", () => { undoStack.push(ctx.getImageData(0, 0, pad.width, pad.height)); clearPad(); });
document.addEventListener("keydown", (e) => {
  if (currentTab === "sketch" && (e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z" && document.activeElement?.tagName !== "INPUT") { e.preventDefault(); undo(); }
});

/* ---------------------------------------------------------------- running queries */
const limit = () => Number(v("limit") || 24);
function filterParam(p) { const f = currentFilter(); if (Object.keys(f).length) p.set("filter", JSON.stringify(f)); return p; }
function upload(file, name) { const f = new FormData(); f.append("file", file, name || file.name); return {method: "POST", body: f}; }
function needFile(tab) {
  if (files[tab]) return true;
  showError("choose a file first (or drop / paste one)");
  return false;
}

async function runText(push = true) {
  const q = $("text-q").value.trim();
  if (!q) { showError("type a query first"); return; }
  const p = filterParam(new URLSearchParams({q, limit: limit()}));
  linkExtra = null; updateLink();
  if (push) pushState(queryParams());
  const body = await api(`/v1/search/text?${p}`);
  showCards(body.hits, "text", `“${q}”`);
}
async function runImage() {
  if (!needFile("image")) return;
  const p = filterParam(new URLSearchParams({collection: "figures", limit: limit()}));
  if ($("image-nm").value) p.set("nm_per_px", $("image-nm").value);
  linkExtra = null; updateLink();
  const body = await api(`/v1/search/image?${p}`, upload(files.image));
  showCards(body.hits, "image", files.image.name);
}
async function runSketch() {
  const blob = await new Promise((res) => pad.toBlob(res, "image/png"));
  const p = filterParam(new URLSearchParams({limit: limit()}));
  linkExtra = null; updateLink();
  const body = await api(`/v1/search/sketch?${p}`, upload(blob, "sketch.png"));
  showCards(body.hits, "sketch", "your sketch");
}
async function runSimilar(collection, id, push = true) {
  const p = filterParam(new URLSearchParams({limit: limit()}));
  linkExtra = {similar: `${collection}:${id}`};
  updateLink();
  if (push) pushState(new URLSearchParams(linkExtra));
  const body = await api(`/v1/points/${encodeURIComponent(collection)}/${encodeURIComponent(id)}/similar?${p}`);
  showCards(body.hits, "similar", "the chosen panel");
}
function xrdWavelength() {
  const w = v("wavelength");
  if (w === "custom") return v("wavelength_a");
  return w && w !== "CuKa" ? w : "";
}
async function runSpectrum() {
  if (!needFile("spectrum")) return;
  const p = new URLSearchParams({limit: Math.min(limit(), 50)});
  const wl = xrdWavelength();
  if (wl) p.set("wavelength", wl);
  if (v("xrd_elements")) { p.set("elements", elementList(v("xrd_elements")).join(",")); p.set("elements_mode", v("xrd_elements_mode") || "only"); }
  if (v("max_phases")) p.set("max_phases", v("max_phases"));
  const f = currentFilter();
  if (Object.keys(f).length) p.set("filter", JSON.stringify(f));
  linkExtra = null; updateLink();
  const file = files.spectrum;
  const [body, text] = await Promise.all([api(`/v1/search/spectrum?${p}`, upload(file), "identifying phases"), file.text()]);
  showXrd(body, parsePattern(text), wl ? (WAVELENGTHS[wl] || Number(wl)) : WAVELENGTHS.CuKa, file.name);
}
async function runStem() {
  if (!needFile("stem")) return;
  const p = filterParam(new URLSearchParams({collection: "stem", limit: Math.min(limit(), 8)}));
  if ($("stem-nm").value) p.set("nm_per_px", $("stem-nm").value);
  linkExtra = null; updateLink();
  const file = files.stem;
  const body = await api(`/v1/search/image?${p}`, upload(file), "identifying the structure");
  await showStem(body.hits, file, $("stem-nm").value ? Number($("stem-nm").value) : null);
}
async function runPlot() {
  if (!needFile("plot")) return;
  linkExtra = null; updateLink();
  const body = await api("/v1/plots/digitize", upload(files.plot), "digitising");
  showDigitised(body, files.plot);
}
const RUN = {text: runText, image: runImage, sketch: runSketch, spectrum: runSpectrum, stem: runStem, plot: runPlot};
for (const tab of TABS) {
  $(`tab-${tab}`).addEventListener("submit", (e) => {
    e.preventDefault();
    if (tab !== "text") pushState(queryParams());
    RUN[tab]().catch(failed);
  });
}

/* ---------------------------------------------------------------- result cards (figure panels) */
function scaleText(p) {
  if (!p.nm_per_px) return null;
  const src = p.scale && p.scale.source ? ` (${p.scale.source})` : "";
  return `${fmt(p.nm_per_px)} nm/px${src}`;
}
function docLine(p) {
  const bits = [p.journal, p.year].filter(Boolean).join(" ");
  return h("div", {class: "doc"},
    p.title ? h("div", {class: "title", title: p.title, text: p.title}) : null,
    bits ? h("span", {text: bits}) : null,
    p.doi ? [bits ? " · " : "", h("a", {href: `https://doi.org/${p.doi}`, target: "_blank", rel: "noopener", text: `doi:${p.doi}`})] : null,
    !p.doi && p.url ? [bits ? " · " : "", h("a", {href: p.url, target: "_blank", rel: "noopener", text: "source"})] : null);
}
function openCaption(text) { $("cap-body").textContent = text; $("caption-dialog").showModal(); }
function card(hit, kind) {
  const p = hit.payload || {};
  for (const k of ["journal", "licence"]) if (p[k]) seenValues[k].add(p[k]);
  const sub = p.sub_caption || p.caption || "";
  const full = p.figure_caption || p.caption || "";
  const canOpen = !!p.image_sha256 && hit.collection === "figures";
  return h("article", {class: "hit", dataset: {id: hit.id, label: p.panel_label || ""}},
    hit.thumbnail_url ? h("button", {class: "thumb", type: "button", title: canOpen ? "open the figure" : "", "aria-label": "open the figure",
      onclick: () => canOpen && openFigure(p.image_sha256, hit.id)}, h("img", {src: hit.thumbnail_url, alt: sub.slice(0, 80), loading: "lazy"})) : null,
    h("div", {class: "head"},
      h("span", {class: "score", title: SCORE_MEANING[kind] || "similarity", text: hit.score.toFixed(3)}),
      p.panel_label ? h("span", {class: "label", title: "panel label", text: p.panel_label}) : null,
      p.type ? h("span", {class: "tag", title: p.type_confidence ? `type confidence ${fmt(p.type_confidence, 2)}` : "", text: p.type}) : null,
      scaleText(p) ? h("span", {class: "tag", title: "scale and where it came from", text: scaleText(p)}) : null),
    docLine(p),
    sub ? h("div", {class: "cap", text: sub}) : null,
    h("div", {class: "acts"},
      full ? h("button", {type: "button", onclick: () => openCaption(full), text: "full caption"}) : null,
      h("button", {type: "button", class: "similar", onclick: () => runSimilar(hit.collection, hit.id).catch(failed), text: "more like this"}),
      canOpen ? h("button", {type: "button", class: "openfig", onclick: () => openFigure(p.image_sha256, hit.id), text: "open figure"}) : null));
}
let generation = 0;
/** Replace the results area; ``data-gen`` counts the answers shown (the browser tests wait on it). */
function render(results, ...nodes) {
  results.replaceChildren(...nodes);
  results.dataset.gen = String(++generation);
}
function showCards(hits, kind, what) {
  const results = $("results");
  const note = hits.length ? `${hits.length} hits for ${what}` : `no confident match for ${what}`;
  setStatus(`${note}`);
  render(results, 
    h("p", {class: "sub", text: `score: ${SCORE_MEANING[kind]}`}),
    h("div", {class: "hits", dataset: {kind}}, hits.map((hit) => card(hit, kind))));
}

/* ---------------------------------------------------------------- figure view */
async function openFigure(sha, selectedId, push = true) {
  let fig;
  try { fig = await api(`/v1/figures/${sha}`, {}, "loading the figure"); } catch { return; }
  figurePushed = push && !new URLSearchParams(location.search).has("figure");
  if (figurePushed) pushState(new URLSearchParams({figure: sha}));
  const doc = fig.document || {};
  $("fig-title").textContent = doc.title || fig.figure_id || fig.source_file || "Figure";
  const W = fig.width || 1, H = fig.height || 1;
  const overlay = svg("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "group", "aria-label": "panels"});
  const list = h("div", {class: "panels"});
  const fontSize = Math.max(12, Math.round(Math.min(W, H) / 30));
  for (const panel of fig.panels) {
    const p = panel.payload;
    const [x0, y0, x1, y1] = p.bbox || [0, 0, W, H];
    const sel = panel.id === selectedId;
    const rect = svg("rect", {x: x0, y: y0, width: x1 - x0, height: y1 - y0, tabindex: "0", class: sel ? "sel" : "", "data-id": panel.id});
    const title = svg("title", {}); title.textContent = `panel ${p.panel_label || "?"}: click for similar panels`;
    rect.append(title);
    const go = () => { $("figure-dialog").close(); runSimilar("figures", panel.id).catch(failed); };
    rect.addEventListener("click", go);
    rect.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    overlay.append(rect);
    if (p.panel_label) {
      const t = svg("text", {x: x0 + 4, y: y0 + fontSize + 2, "font-size": fontSize});
      t.textContent = p.panel_label;
      overlay.append(t);
    }
    list.append(h("div", {class: `panel${sel ? " sel" : ""}`, dataset: {id: panel.id}},
      h("div", {class: "head"},
        h("span", {class: "label", text: p.panel_label || "–"}),
        p.type ? h("span", {class: "tag", text: p.type}) : null,
        scaleText(p) ? h("span", {class: "tag", text: scaleText(p)}) : null,
        h("button", {type: "button", onclick: go, text: "similar"})),
      p.sub_caption ? h("div", {text: p.sub_caption}) : null));
  }
  const prov = h("dl", {class: "prov"});
  const row = (k, val) => val !== undefined && val !== null && val !== "" && prov.append(h("dt", {text: k}), h("dd", {}, val));
  row("title", doc.title);
  row("journal", [doc.journal, doc.year].filter(Boolean).join(", "));
  row("DOI", doc.doi ? h("a", {href: `https://doi.org/${doc.doi}`, target: "_blank", rel: "noopener", text: doc.doi}) : null);
  row("URL", doc.url && !doc.doi ? h("a", {href: doc.url, target: "_blank", rel: "noopener", text: doc.url}) : null);
  row("licence", doc.licence ? (/^https?:/.test(doc.licence) ? h("a", {href: doc.licence, target: "_blank", rel: "noopener", text: doc.licence}) : doc.licence) : "not stated");
  row("source", [fig.source, fig.source_file].filter(Boolean).join(" · "));
  if (fig.provenance) row("provenance", Object.entries(fig.provenance).map(([k, val]) => `${k}: ${typeof val === "object" ? JSON.stringify(val) : val}`).join("; "));
  row("image", h("a", {href: fig.image_url, target: "_blank", text: `${W}×${H} px, sha256 ${fig.image_sha256.slice(0, 12)}…`}));
  $("fig-body").replaceChildren(
    h("div", {class: "figwrap"}, h("img", {src: fig.image_url, alt: fig.caption.slice(0, 120)}), overlay),
    h("div", {}, prov, h("h3", {text: `${fig.panels.length} panels — click one to find similar panels`}), list),
    h("p", {class: "figcap", text: fig.caption}));
  $("figure-dialog").showModal();
}
$("fig-close").addEventListener("click", () => $("figure-dialog").close());
$("cap-close").addEventListener("click", () => $("caption-dialog").close());
for (const d of ["figure-dialog", "caption-dialog"]) {
  $(d).addEventListener("click", (e) => { if (e.target === $(d)) $(d).close(); }); // click on the backdrop
}
let closingFigure = false, figurePushed = false;
$("figure-dialog").addEventListener("close", () => {
  if (!new URLSearchParams(location.search).has("figure")) return;
  if (figurePushed) { closingFigure = true; figurePushed = false; history.back(); } // back to the search
  else { const p = new URLSearchParams(location.search); p.delete("figure"); history.replaceState(null, "", `/?${p}`); }
});

/* ---------------------------------------------------------------- XRD view */
const toRad = (deg) => deg * Math.PI / 180;
const dOf = (tt, lam) => lam / (2 * Math.sin(toRad(tt / 2)));
const ttOf = (d, lam) => { const s = lam / (2 * d); return s > 0 && s < 1 ? 2 * Math.asin(s) * 180 / Math.PI : NaN; };

/** The sticks of a hit: the API's ``reflections`` when it sends them, else the stored main peaks shifted by the
 * fitted strain (d → d·(1+ε)); positions at the library wavelength. */
function sticksOf(hit, lam) {
  if (Array.isArray(hit.reflections) && hit.reflections.length) {
    return hit.reflections.map((r) => ({tt: r.two_theta, d: r.d, i: r.intensity, hkl: r.hkl}));
  }
  const eps = hit.strain || 0, shift = zeroShift(hit) || 0;
  return (hit.payload.main_peaks || []).map((pk) => {
    const d = pk.d * (1 + eps);
    return {tt: ttOf(d, lam) + shift, d, i: pk.intensity, hkl: pk.hkl, relative: true};
  }).filter((s) => Number.isFinite(s.tt));
}
const zeroShift = (hit) => (hit.refined && hit.refined.zero_shift != null ? hit.refined.zero_shift : hit.zero_shift);
function showXrd(body, parsed, userLambda, name) {
  // Positions come at the query's own wavelength when the API says which one (``wavelength``); older answers
  // gave everything at the library's Cu Kα1, and then the file's 2θ is converted through d.
  const lam = Number(body.wavelength) || LIB_WAVELENGTH;
  const convert = !body.wavelength && Math.abs(userLambda - LIB_WAVELENGTH) > 1e-6;
  const hits = body.hits || [];
  const phases = hits.filter((x) => x.phase);
  const results = $("results");
  const note = phases.length ? `${phases.length} phase${phases.length > 1 ? "s" : ""} identified from ${body.peaks} peaks` : `no confident match (${body.peaks} peaks found)`;
  setStatus(`${note}`);
  // the measured pattern at the library wavelength: the API's when it sends one, else the file converted via d
  let px = [], py = [];
  if (body.pattern && body.pattern.two_theta) { px = body.pattern.two_theta; py = body.pattern.intensity; }
  else if (parsed) {
    for (let k = 0; k < parsed.x.length; k++) {
      const tt = convert ? ttOf(dOf(parsed.x[k], userLambda), LIB_WAVELENGTH) : parsed.x[k];
      if (Number.isFinite(tt)) { px.push(tt); py.push(parsed.y[k]); }
    }
  }
  if (py.length) {
    const lo = Math.min(...py), hi = Math.max(...py);
    py = py.map((y) => (100 * (y - lo)) / (hi - lo || 1));
  }
  const colourOf = new Map();
  hits.forEach((hit, k) => colourOf.set(hit.id, PHASE_COLOURS[k % PHASE_COLOURS.length]));
  const shown = new Set(phases.map((x) => x.id));
  const plotBox = h("div", {class: "plot", id: "xrd-plot", role: "img", "aria-label": `XRD pattern ${name} with phase sticks`});
  const tip = h("div", {class: "tip", hidden: true});
  plotBox.append(tip);
  const table = h("table", {class: "phases"},
    h("thead", {}, h("tr", {}, ["show", "phase", "formula", "space group", "confidence", "share", "fit", "coverage", "explained", "strain", "zero shift", "peaks", "structure"].map((t) => h("th", {text: t})))),
    h("tbody", {}, hits.map((hit) => {
      const p = hit.payload;
      const box = h("input", {type: "checkbox", "aria-label": `show sticks of ${p.formula}`});
      box.checked = shown.has(hit.id);
      box.addEventListener("change", () => { if (box.checked) shown.add(hit.id); else shown.delete(hit.id); plot && plot.redraw(); });
      return h("tr", {dataset: {id: hit.id, phase: hit.phase || ""}},
        h("td", {}, box),
        h("td", {}, h("span", {class: "swatch", style: {background: colourOf.get(hit.id)}}), " ", hit.phase ? `${hit.phase}` : "candidate"),
        h("td", {text: p.formula}),
        h("td", {text: `${p.spacegroup_symbol || ""} (${p.spacegroup_number || "?"})`}),
        h("td", {title: "calibrated confidence (the search abstains below its threshold)", text: hit.confidence != null ? fmt(hit.confidence, 2) : "–"}),
        h("td", {title: "the phase's share of the explained measured intensity", text: hit.share != null ? pct(hit.share) : "–"}),
        h("td", {title: SCORE_MEANING.spectrum, text: fmt(hit.fit_score ?? hit.score, 2)}),
        h("td", {title: "share of the phase's expected intensity seen in the pattern", text: pct(hit.coverage)}),
        h("td", {title: "share of the measured peak weight this phase explains", text: pct(hit.explained_fraction)}),
        h("td", {title: "fitted isotropic lattice strain d_measured/d_library − 1", text: hit.strain != null ? `${(100 * hit.strain).toFixed(2)} %` : "–"}),
        h("td", {title: "fitted zero shift of 2θ", text: zeroShift(hit) != null ? `${fmt(zeroShift(hit), 2)}°` : "–"}),
        h("td", {text: `${(hit.explained_peaks || []).length} explained / ${(hit.unexplained_peaks || []).length} not`}),
        h("td", {text: [p.structure_id, p.source].filter(Boolean).join(" · ")}));
    })));
  const unexplained = body.unexplained_peaks || [];
  render(results, h("div", {class: "xrd", dataset: {phases: phases.length}},
    h("p", {class: "sub", text: `2θ at ${body.wavelength ? `your pattern's wavelength (${fmt(lam, 6)} Å${body.wavelength_source ? `, ${body.wavelength_source}` : ""})` : `the library wavelength (Cu Kα1, ${LIB_WAVELENGTH} Å)`}. Drag to zoom, double-click to reset; hover a stick or a peak for hkl, d and strain. ▼ explained peak (phase colour), ✕ unexplained peak.`}),
    plotBox,
    h("div", {class: "tablewrap"}, table),
    h("p", {class: "sub", text: unexplained.length ? `unexplained measured peaks: ${unexplained.map((pk) => `${fmt(pk.two_theta, 4)}°`).join(", ")}` : "every measured peak is explained by the identified phases"})));

  // what is drawn, in data units
  const features = []; // hover targets: {tt, y0, y1, text}
  const scaleOf = (hit) => {
    const ex = hit.explained_peaks || [];
    return ex.length ? Math.max(...ex.map((pk) => pk.intensity)) / 100 : 0.5;
  };
  const nRows = hits.length;
  const ROW = 6; // tick-row height (y units) under the pattern, one row per hit
  const yMin = -ROW * (nRows + 0.5);
  const drawHook = (u) => {
    const c = u.ctx;
    features.length = 0;
    let sticks = 0;
    c.save();
    c.beginPath(); c.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height); c.clip();
    hits.forEach((hit, k) => {
      if (!shown.has(hit.id)) return;
      const col = colourOf.get(hit.id);
      const sc = scaleOf(hit), phaseSticks = sticksOf(hit, lam);
      const label = `${hit.phase ? `phase ${hit.phase}` : "candidate"} ${hit.payload.formula} ${hit.payload.spacegroup_symbol || ""}`;
      c.strokeStyle = col; c.fillStyle = col;
      for (const s of phaseSticks) {
        const xpx = u.valToPos(s.tt, "x", true);
        const top = s.relative ? s.i * sc : s.i, rowTop = -ROW * (k + 0.15), rowBot = -ROW * (k + 0.85);
        c.globalAlpha = 0.75; c.lineWidth = 1.5 * devicePixelRatio;
        c.beginPath();
        c.moveTo(xpx, u.valToPos(0, "y", true)); c.lineTo(xpx, u.valToPos(top, "y", true));
        c.moveTo(xpx, u.valToPos(rowTop, "y", true)); c.lineTo(xpx, u.valToPos(rowBot, "y", true));
        c.stroke();
        sticks++;
        features.push({tt: s.tt, y0: rowBot, y1: Math.max(top, rowTop), text: `${label}\nhkl (${s.hkl || "?"})  2θ ${fmt(s.tt, 5)}°  d ${fmt(s.d, 4)} Å\nI ${fmt(s.i, 3)} (${s.relative ? "simulated" : "refined"})  strain ${hit.strain != null ? (100 * hit.strain).toFixed(2) : "–"} %${zeroShift(hit) != null ? `  zero ${fmt(zeroShift(hit), 2)}°` : ""}`});
      }
      c.globalAlpha = 1;
      for (const pk of hit.explained_peaks || []) {
        const xpx = u.valToPos(pk.two_theta, "x", true), ypx = u.valToPos(Math.min(pk.intensity + 4, 104), "y", true);
        const r = 4 * devicePixelRatio;
        c.beginPath(); c.moveTo(xpx - r, ypx - r); c.lineTo(xpx + r, ypx - r); c.lineTo(xpx, ypx + r * 0.6); c.closePath(); c.fill();
        features.push({tt: pk.two_theta, y0: pk.intensity, y1: pk.intensity + 8, text: `measured peak 2θ ${fmt(pk.two_theta, 5)}°  d ${fmt(pk.d, 4)} Å  I ${fmt(pk.intensity, 3)}\nexplained by ${label} (${pk.hkl || "?"})`});
      }
      c.font = `${11 * devicePixelRatio}px system-ui`;
      const txt = hit.payload.formula, tw = c.measureText(txt).width, pad = 3 * devicePixelRatio;
      const tx = u.bbox.left + u.bbox.width - tw - 2 * pad, ty = u.valToPos(-ROW * (k + 0.5), "y", true);
      c.fillStyle = "#ffffffd0"; c.fillRect(tx - pad, ty - 7 * devicePixelRatio, tw + 2 * pad, 14 * devicePixelRatio);
      c.fillStyle = col; c.textBaseline = "middle"; c.fillText(txt, tx, ty);
    });
    c.strokeStyle = "#b3261e"; c.lineWidth = 2 * devicePixelRatio;
    for (const pk of unexplained) {
      const xpx = u.valToPos(pk.two_theta, "x", true), ypx = u.valToPos(Math.min(pk.intensity + 5, 104), "y", true), r = 4 * devicePixelRatio;
      c.beginPath(); c.moveTo(xpx - r, ypx - r); c.lineTo(xpx + r, ypx + r); c.moveTo(xpx + r, ypx - r); c.lineTo(xpx - r, ypx + r); c.stroke();
      features.push({tt: pk.two_theta, y0: pk.intensity, y1: pk.intensity + 10, text: `unexplained peak 2θ ${fmt(pk.two_theta, 5)}°  d ${fmt(pk.d, 4)} Å  I ${fmt(pk.intensity, 3)}`});
    }
    c.restore();
    plotBox.dataset.sticks = String(sticks);
    plotBox.dataset.unexplained = String(unexplained.length);
  };
  // the measured range when there is a pattern; else the range of the sticks
  const allTT = px.length ? px : hits.flatMap((hit) => sticksOf(hit, lam).map((s) => s.tt));
  const xMin = allTT.length ? Math.max(0, Math.min(...allTT) - (px.length ? 0 : 1)) : 5;
  const xMax = allTT.length ? Math.max(...allTT) + (px.length ? 0 : 1) : 90;
  const xs = px.length ? px : [xMin, xMax], ys = px.length ? py : [null, null];
  const width = () => Math.max(300, plotBox.clientWidth || results.clientWidth || 800);
  let plot = null;
  plot = new uPlot({
    width: width(), height: 380,
    legend: {show: false},
    cursor: {drag: {x: true, y: false}, points: {show: false}},
    scales: {x: {time: false, min: xMin, max: xMax}, y: {range: [yMin, 108]}},
    axes: [
      {label: `2θ (°, λ = ${fmt(lam, 6)} Å)`, stroke: "#333", grid: {stroke: "#eee"}},
      {label: "intensity (max 100)", stroke: "#333", grid: {stroke: "#eee"}, values: (u, vals) => vals.map((x) => (x < 0 ? "" : x))},
    ],
    series: [{}, {label: name, stroke: "#222", width: 1.2, points: {show: false}, spanGaps: false}],
    hooks: {
      draw: [drawHook],
      setCursor: [(u) => {
        const {left, top} = u.cursor;
        if (left == null || left < 0) { tip.hidden = true; return; }
        const xv = u.posToVal(left, "x"), yv = u.posToVal(top, "y");
        let best = null, bestD = 7;
        for (const f of features) {
          const d = Math.abs(u.valToPos(f.tt, "x") - left);
          if (d < bestD && yv >= f.y0 - 3 && yv <= f.y1 + 3) { best = f; bestD = d; }
        }
        tip.textContent = best ? best.text : `2θ ${fmt(xv, 5)}°  d ${fmt(dOf(xv, lam), 4)} Å`;
        tip.style.whiteSpace = "pre";
        tip.hidden = false;
        const over = u.over.getBoundingClientRect(), box = plotBox.getBoundingClientRect();
        tip.style.left = `${Math.min(over.left - box.left + left + 12, box.width - 260)}px`;
        tip.style.top = `${over.top - box.top + top + 12}px`;
      }],
    },
  }, [xs, ys], plotBox);
  plotBox.addEventListener("mouseleave", () => { tip.hidden = true; });
  new ResizeObserver(() => { if (plot && plotBox.isConnected) plot.setSize({width: width(), height: 380}); }).observe(plotBox);
  window.xrdPlot = plot; // for debugging and the browser tests (hover targets: window.xrdFeatures)
  window.xrdFeatures = features;
}

/* ---------------------------------------------------------------- STEM view */
function imageSize(file) {
  return new Promise((resolve) => {
    if (!file || !/^image\/(png|jpeg|gif|webp|bmp)$/.test(file.type)) { resolve(null); return; }
    const img = new Image();
    const url = URL.createObjectURL(file);
    img.onload = () => resolve({w: img.naturalWidth, h: img.naturalHeight, url});
    img.onerror = () => resolve(null);
    img.src = url;
  });
}
async function showStem(hits, file, nmGiven) {
  const results = $("results");
  const note = hits.length ? `${hits.length} candidate structures` : "no confident match: the structure is probably not in the library";
  setStatus(`${note}`);
  const size = await imageSize(file);
  const W = size ? size.w : 256, H = size ? size.h : 256;
  const scale = Math.min(1, 512 / Math.max(W, H));
  const rows = hits.map((hit) => {
    const p = hit.payload;
    const nm = nmGiven || hit.query_nm_per_px || hit.measured_nm_per_px || null;
    const simNm = (nm || 0.025) / scale;
    const zone = (p.zone || []).join(",") || (p.zone_axis || "0,0,1").replace(/[[\]\s]/g, "");
    const q = new URLSearchParams({structure: p.structure_id, source: p.source || "", zone, nm_per_px: simNm.toPrecision(4), width: Math.max(16, Math.round(W * scale)), height: Math.max(16, Math.round(H * scale))});
    if (Number.isFinite(hit.rotation_deg)) q.set("rotation", hit.rotation_deg.toFixed(2));
    const lattice = hit.measured_lattice || p.measured_lattice || hit.query_lattice || null;
    const match = p.lattice_match || hit.lattice_match || null;
    const dl = h("dl", {});
    const row = (k, val) => val !== undefined && val !== null && val !== "" && dl.append(h("dt", {text: k}), h("dd", {text: val}));
    row("score", `${hit.score.toFixed(3)} — ${SCORE_MEANING.stem}`);
    row("formula", p.formula);
    row("space group", `${p.spacegroup_symbol || ""} (${p.spacegroup_number || "?"}) ${p.crystal_system || ""}`);
    row("zone axis", p.zone_axis || `[${zone}]`);
    row("zone chosen because", p.zone_reason);
    const pxFrom = nmGiven ? "given" : hit.pixel_size_source || (hit.query_scale_assumed ? "estimated from the lattice" : "");
    row("pixel size", nm ? `${fmt(nm)} nm/px${pxFrom ? ` (${pxFrom})` : ""}` : "unknown: simulated at the library's 0.025 nm/px");
    if (lattice && typeof lattice === "object" && "a" in lattice) {
      const u = lattice.unit || "Å";
      row("measured lattice", `a ${fmt(lattice.a, 4)} ${u}, b ${fmt(lattice.b, 4)} ${u}, γ ${fmt(lattice.gamma, 3)}°` +
        (lattice.spots ? ` (${lattice.spots} spots${lattice.indexed != null ? `, ${pct(lattice.indexed)} indexed` : ""})` : "") +
        (lattice.d_spacings && lattice.d_spacings.length ? `; d ${lattice.d_spacings.map((d) => fmt(d, 3)).join(", ")} ${u}` : ""));
    } else if (lattice) row("measured lattice", typeof lattice === "object" ? JSON.stringify(lattice) : String(lattice));
    if (match && match.checked) {
      row("lattice check", `${match.consistent ? "consistent" : "inconsistent"} with this structure` +
        (match.length_ratio_misfit != null ? `; length-ratio misfit ${fmt(match.length_ratio_misfit, 2)}` : "") +
        (match.angle_diff_deg != null ? `, angle off by ${fmt(match.angle_diff_deg, 2)}°` : ""));
    }
    if (hit.query_file && typeof hit.query_file === "object") row("file", Object.entries(hit.query_file).filter(([, val]) => val !== null && typeof val !== "object").map(([k, val]) => `${k}: ${val}`).join(", "));
    row("library lattice", p.lattice ? Object.entries(p.lattice).filter(([k]) => ["a", "b", "c", "alpha", "beta", "gamma"].includes(k)).map(([k, val]) => `${k} ${fmt(val, 4)}`).join(" ") : null);
    row("structure", [p.structure_id, p.source, p.licence].filter(Boolean).join(" · "));
    return h("div", {class: "stemrow", dataset: {id: hit.id, structure: p.structure_id || ""}},
      h("figure", {}, size ? h("img", {src: size.url, alt: "query image", class: "query"}) : h("div", {class: "sub", text: "(no browser preview of this file type)"}),
        h("figcaption", {text: `your image ${W}×${H} px${nm ? ` at ${fmt(nm)} nm/px` : ""}`})),
      h("figure", {}, h("img", {src: `/v1/stem/simulate?${q}`, alt: `simulated ${p.formula} along ${p.zone_axis}`, class: "sim"}),
        h("figcaption", {text: `simulated ${p.formula} ${p.zone_axis || ""}, same field of view`})),
      h("div", {class: "meta"}, dl));
  });
  render(results, h("div", {class: "stem", dataset: {hits: hits.length}}, rows.length ? rows : h("p", {text: note})));
}

/* ---------------------------------------------------------------- plot digitiser view */
function axisMap(axis, lo, hi) {
  // px = a + b·f(value) from the ticks (least squares); f = log10 for log axes
  if (axis && axis.relative) return (val) => lo + val * (hi - lo); // values are fractions of the plot box
  const ticks = (axis && axis.ticks) || [];
  const f = axis && axis.scale === "log" ? (x) => Math.log10(x) : (x) => x;
  const pts = ticks.filter((t) => Number.isFinite(t.value) && Number.isFinite(t.px) && (axis.scale !== "log" || t.value > 0));
  if (pts.length >= 2) {
    const n = pts.length, mx = pts.reduce((s, t) => s + f(t.value), 0) / n, my = pts.reduce((s, t) => s + t.px, 0) / n;
    const sxx = pts.reduce((s, t) => s + (f(t.value) - mx) ** 2, 0), sxy = pts.reduce((s, t) => s + (f(t.value) - mx) * (t.px - my), 0);
    if (sxx > 0) { const b = sxy / sxx; return (val) => my + b * (f(val) - mx); }
  }
  return (val, vmin, vmax) => lo + ((val - vmin) / ((vmax - vmin) || 1)) * (hi - lo); // no ticks: the series' range over the box
}
const OVERLAY_COLOURS = ["#ff7f0e", "#e6007e", "#00b050", "#ffd000", "#00c0ff"];
function showDigitised(d, file) {
  const results = $("results");
  const W = d.width || 1, H = d.height || 1;
  const [bx0, by0, bx1, by1] = d.plot_box || [0, 0, W, H];
  const overlay = svg("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none"});
  overlay.append(svg("rect", {x: bx0, y: by0, width: bx1 - bx0, height: by1 - by0}));
  const series = d.series || [];
  const allX = series.flatMap((s) => s.x), allY = series.flatMap((s) => s.y.filter((y) => y !== null));
  const mx = axisMap(d.x_axis, bx0, bx1), my = axisMap(d.y_axis, by1, by0);
  const [xlo, xhi, ylo, yhi] = [Math.min(...allX), Math.max(...allX), Math.min(...allY), Math.max(...allY)];
  series.forEach((s, k) => {
    const col = OVERLAY_COLOURS[k % OVERLAY_COLOURS.length]; // contrasting with the plot's own line colours
    const segs = [[]];
    s.x.forEach((x, i) => { if (s.y[i] === null || s.y[i] === undefined) segs.push([]); else segs[segs.length - 1].push(`${mx(x, xlo, xhi).toFixed(1)},${my(s.y[i], ylo, yhi).toFixed(1)}`); });
    for (const seg of segs) if (seg.length > 1) overlay.append(svg("polyline", {points: seg.join(" "), stroke: col}));
  });
  for (const [axis, horizontal] of [[d.x_axis, true], [d.y_axis, false]]) {
    for (const t of (axis && axis.ticks) || []) {
      const c = horizontal ? svg("circle", {cx: t.px, cy: by1, r: Math.max(2, W / 200), fill: "#00a0ff"}) : svg("circle", {cx: bx0, cy: t.px, r: Math.max(2, W / 200), fill: "#00a0ff"});
      overlay.append(c);
    }
  }
  const url = URL.createObjectURL(file);
  const axisText = (a) => {
    if (!a) return "not found";
    const title = a.label || a.quantity || "?";
    const unit = a.unit && !title.includes(a.unit) ? ` (${a.unit})` : "";
    const rel = a.relative ? ", no numeric ticks: relative values" : "";
    return `${title}${unit}, ${a.scale || "linear"}, ${(a.ticks || []).length} ticks read${rel}`;
  };
  const csv = () => {
    const lines = ["series,label,x,y"];
    series.forEach((s, k) => s.x.forEach((x, i) => lines.push(`${k + 1},"${String(s.label || "").replace(/"/g, '""')}",${x},${s.y[i] ?? ""}`)));
    return new Blob([lines.join("\n") + "\n"], {type: "text/csv"});
  };
  const side = h("div", {},
    h("p", {}, h("b", {text: "kind: "}), d.kind || "unknown"),
    h("p", {}, h("b", {text: "x axis: "}), axisText(d.x_axis)),
    h("p", {}, h("b", {text: "y axis: "}), axisText(d.y_axis)),
    h("ul", {}, series.map((s, k) => h("li", {},
      h("span", {class: "swatch", style: {background: OVERLAY_COLOURS[k % OVERLAY_COLOURS.length]}}),
      ` ${s.label || `series ${k + 1}`}${s.color ? ` (line colour ${s.color})` : ""}: ${s.x.length} points, confidence ${fmt(s.confidence, 2)} `,
      d.kind === "xrd" ? h("button", {type: "button", class: "identify", onclick: () => identifySeries(s).catch(failed), text: "identify phases"}) : null,
      apiHas.spectraCollection ? h("button", {type: "button", class: "papers", onclick: () => findSpectra(s, d.kind).catch(failed), text: "papers with a pattern like this"}) : null))),
    h("button", {type: "button", class: "csv", onclick: () => { const a = h("a", {href: URL.createObjectURL(csv()), download: `${file.name.replace(/\.[^.]+$/, "")}-digitised.csv`}); document.body.append(a); a.click(); a.remove(); }, text: "download CSV"}));
  render(results, h("div", {class: "digi", dataset: {series: series.length}},
    h("div", {class: "figwrap"}, h("img", {src: url, alt: file.name}), overlay), side));
  setStatus(`${series.length} series`);
}
/** A digitised XRD series → the XRD view (phase identification from the arrays). */
async function identifySeries(series) {
  const pts = series.x.map((x, i) => [x, series.y[i]]).filter(([, y]) => y !== null && y !== undefined);
  const body = {x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), limit: 10};
  const res = await api("/v1/search/spectrum", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)}, "identifying phases");
  showXrd(res, {x: body.x, y: body.y}, WAVELENGTHS.CuKa, series.label || "digitised series");
}
async function findSpectra(series, kind) {
  const pts = series.x.map((x, i) => [x, series.y[i]]).filter(([, y]) => y !== null && y !== undefined);
  // the digitised series as a two-column text file: the literature-spectra search takes what a user uploads
  const text = pts.map(([x, y]) => `${x}\t${y}`).join("\n") + "\n";
  const params = new URLSearchParams({kind: kind || "other", limit: String(limit())});
  const res = await api(`/v1/search/spectra?${params}`, upload(new Blob([text], {type: "text/plain"}), "series.xy"), "searching literature spectra");
  const hits = res.hits || [];
  $("results").append(h("h3", {text: `papers with a pattern like this: ${hits.length}`}), h("div", {class: "hits", dataset: {kind: "spectra"}}, hits.map((hit) => card(hit, "spectra"))));
}

/* ---------------------------------------------------------------- start: counts, optional views, permalink */
async function start() {
  if (window.matchMedia("(max-width: 720px)").matches) $("filters").open = false; // phones: results first
  selectTab(currentTab); // controls usable at once; the URL's state is applied once the API's schema is read
  fetch("/v1/collections").then((r) => r.json()).then((b) => {
    $("counts").textContent = b.collections.map((c) => `${c.name}: ${c.count}`).join(" · ");
  }).catch(() => {});
  try {
    const spec = await (await fetch("/openapi.json")).json();
    $("t-plot").hidden = !(spec.paths && spec.paths["/v1/plots/digitize"]);
    const mp = ((spec.paths["/v1/search/spectrum"] || {}).post?.parameters || []).find((x) => x.name === "max_phases");
    if (mp && mp.schema && mp.schema.maximum) maxPhases = Number(mp.schema.maximum);
    apiHas.spectraCollection = !!spec.paths["/v1/search/spectra"];
  } catch { $("t-plot").hidden = true; }
  await fromUrl();
  document.body.dataset.ready = "1"; // the URL's query (if any) has been run
}
async function fromUrl() {
  const p = new URLSearchParams(location.search);
  const tab = TABS.includes(p.get("tab")) && !$(`t-${p.get("tab")}`).hidden ? p.get("tab") : (p.get("q") ? "text" : currentTab);
  let filter = {};
  if (p.get("filter")) { try { filter = JSON.parse(p.get("filter")); } catch { showError("the link's filter is not valid JSON"); } }
  filterToControls(filter);
  if (p.get("limit")) controlValues.limit = p.get("limit");
  if (p.get("nm_per_px")) { $("image-nm").value = p.get("nm_per_px"); $("stem-nm").value = p.get("nm_per_px"); }
  if (p.get("wavelength")) {
    const w = p.get("wavelength");
    if (WAVELENGTHS[w]) controlValues.wavelength = w; else { controlValues.wavelength = "custom"; controlValues.wavelength_a = w; }
  }
  if (p.get("elements")) { controlValues.xrd_elements = p.get("elements"); controlValues.xrd_elements_mode = p.get("elements_mode") || "only"; }
  if (p.get("max_phases")) controlValues.max_phases = p.get("max_phases");
  if (p.get("q")) $("text-q").value = p.get("q");
  selectTab(tab);
  if (p.get("similar")) {
    const [c, ...rest] = p.get("similar").split(":");
    await runSimilar(c, rest.join(":"), false).catch(failed);
  } else if (tab === "text" && p.get("q")) {
    await runText(false).catch(failed);
  }
  if (p.get("figure")) await openFigure(p.get("figure"), null, false);
}
window.addEventListener("popstate", () => {
  if (closingFigure) { closingFigure = false; return; }
  if ($("figure-dialog").open) $("figure-dialog").close();
  fromUrl();
});
start();
