r"""Train the panel-type classifier on generated and real DEV panels and write its weights.

    .venv/bin/python -m training.train_panel_type --per-class 250 --extra-per-kind 120 --annotated-per-kind 120 \
        --real-aug 6 --seed 0

Panels: :mod:`training.figures_synth` (``--per-class`` of each type) and :mod:`training.panel_type_synth`
(``--extra-per-kind`` of each kind in its ``EXTRA``: colour maps, 3-D surfaces, graph grids, networks, fluorescence,
structure models, diffraction detector images, Kikuchi patterns),
seed ``--seed`` for training and ``--seed + 1000`` for the synthetic held-out check; plus the hand-typed panels of
the REAL dev parts (``--real-splits``, default dev/dev4/dev5 of ``bench/real_figures`` and dev8t of
``bench/real_types/panels8t.json``: figures of four Elemental Microscopy papers typed whole and by panel, their files
copied from the papers' repositories by ``python -m bench.real_types.fetch``; never a held-out part;
panels marked ``type_ambiguous`` are left out), each as its true box and ``--real-aug`` jittered copies (box
cut or padded by up to 6 %, 0.5-1.3x size, the label/JPEG augmentation below), weight ``--real-weight``. Features
are EfficientNet-Lite0 vectors + image statistics (:func:`matsearch.indexer.figures.panel_type.features`); the model
is a multinomial logistic regression. Output: ``encoders/matsearch/encoders/weight_files/panel_type.pt`` (the
recipe, the real files used and the synthetic held-out accuracy are stored in its ``meta``) and its SHA-256 (put it in
``WEIGHTS["panel-type"]``). ``--real-splits ''`` trains on generated panels only; ``--real-splits`` can name every real
dev part (:data:`ALL_DEV_SPLITS`: figvision's dev7 / dev8 / dev9 boxes and dev9t too; the figures of
:data:`HELD_OUT_PAPERS` are never read) — measured leave-one-unit-out in session 10 and not the default (no better).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from matsearch.core.images import to_rgb
from matsearch.core.settings import Settings
from matsearch.indexer.figures.panel_type import PANEL_TYPES, STATS_DIM, features, image_vectors_of
from training import figures_synth as synth
from training.panel_type_synth import EXTRA

OUT = Path(__file__).resolve().parents[1] / "encoders/matsearch/encoders/weight_files/panel_type.pt"
_TYPES = Path(__file__).resolve().parents[1] / "bench/real_types"
TYPED_PANELS = (_TYPES / "panels8t.json", _TYPES / "panels9t.json", _TYPES / "panels11t.json")  # dev8t, dev9t, dev11t
# every real dev part (session 10: figvision's dev7 / dev8 / dev9 boxes too, and dev9t)
ALL_DEV_SPLITS = "dev,dev4,dev5,dev7,dev8,dev9,dev8t,dev9t"
# the papers figtype holds out although figtext's rule puts them on the dev side (bench/real_types split_rule): their
# boxes in figvision's dev7 / dev8 are never trained on
HELD_OUT_PAPERS = ("msa-em/microscopy-seg-track", "msa-em/hrtem-transfer-learning")
_MSA_FILES = {  # bench/real_figures file prefix -> the paper's repository (the unit of bench/real_types)
    "msa_high_throughput_sem": "msa-em/high-throughput-sem",
    "msa_tilt_corrected_bf_stem": "msa-em/tilt-corrected-bf-stem",
    "msa_um_methods": "msa-em/um-methods",
    "msa_guide_tem_simulation": "msa-em/guide-tem-simulation",
    "msa_microscopy_seg_track": "msa-em/microscopy-seg-track",
    "msa_hrtem_transfer_learning": "msa-em/hrtem-transfer-learning",
}
_OLD_GROUPS = ("s41467", "influence", "jner")  # manifest.json has no unit: its sources by file name


def figure_unit(name: str, fig: dict[str, Any]) -> str:
    """The leave-one-out unit of a figure of ``bench/real_figures``: the paper's repository for an msa-em paper (the
    unit ``bench/real_types`` uses), else the manifest's ``unit``, else its source by file name."""
    for prefix, repo in _MSA_FILES.items():
        if name.startswith(prefix):
            return repo
    if fig.get("unit"):
        return str(fig["unit"])
    return next((g for g in _OLD_GROUPS if name.startswith(g)), "exsclaim")


def figure_annotations(
    fetch: bool = False,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]], Path]:
    """Manifest, panel annotations and cache folder of every part of ``bench/real_figures`` (manifest.json, 4, 5 and
    the session-7/8/9 files); ``fetch``: fetch missing images first."""
    from bench import eval_real_figures as erf
    from bench.real_figures import fetch as rf

    cache = erf.ensure(erf.DEFAULT_CACHE) if fetch else erf.DEFAULT_CACHE
    if fetch:
        rf.ensure(cache, (rf.MANIFEST7, rf.MANIFEST8, rf.MANIFEST9))
    manifest = rf.figures() | rf.figures7() | rf.figures8() | rf.figures9()
    panels = erf.panel_annotations() | erf.panel_annotations7() | erf.panel_annotations8() | erf.panel_annotations9()
    return manifest, panels, cache


def _trained_figures(
    manifest: dict[str, dict[str, Any]], panels: dict[str, list[dict[str, Any]]], splits: list[str]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """(file, trained panels) of the ``bench/real_figures`` figures of ``splits`` (not of a held-out paper)."""
    return [
        (name, _typed(truth))
        for name, truth in sorted(panels.items())
        if manifest[name]["split"] in splits and figure_unit(name, manifest[name]) not in HELD_OUT_PAPERS
    ]


def augment(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """What real panel crops look like: a label letter in the corner, a white margin, JPEG artefacts."""
    if rng.random() < 0.5:
        m = int(rng.integers(2, 14))
        canvas = Image.new("RGB", (img.width + m + 2, img.height + m + 2), (255, 255, 255))
        canvas.paste(img, (m, m))
        ImageDraw.Draw(canvas).text(
            (0, 0), chr(97 + int(rng.integers(0, 8))), fill=(0, 0, 0), font=synth._font(12, True)
        )
        img = canvas
    if rng.random() < 0.5:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(60, 95)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


_MARK_COLOURS = ((255, 0, 255), (255, 255, 0), (0, 255, 255), (255, 40, 40), (40, 220, 40), (255, 255, 255), (0, 0, 0))
_MARK_WORDS = ("sample", "grain", "pore", "crack", "edge", "void", "chatter", "film", "particle", "knife", "A", "B")
ANNOTATED_KINDS = ("microscopy", "diffraction", "photo")  # pictures that papers mark up


def annotate(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A picture as papers mark it up: coloured arrows, words, a dashed guide line, an outlined region (real
    micrographs and photos with such marks were typed illustration). The picture's type does not change."""
    img = img.convert("RGB").copy()
    d = ImageDraw.Draw(img)
    w, h = img.size
    s = min(w, h)
    for _ in range(int(rng.integers(1, 5))):  # arrows: a shaft and a triangular head
        col = _MARK_COLOURS[int(rng.integers(0, len(_MARK_COLOURS)))]
        x0, y0 = float(rng.uniform(0.1, 0.9) * w), float(rng.uniform(0.1, 0.9) * h)
        ang, length = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.1, 0.3) * s)
        x1, y1 = x0 + length * np.cos(ang), y0 + length * np.sin(ang)
        lw = max(2, int(s * rng.uniform(0.006, 0.015)))
        d.line([(x0, y0), (x1, y1)], fill=col, width=lw)
        hl, hw = 4 * lw, 2.5 * lw
        bx, by = x1 - hl * np.cos(ang), y1 - hl * np.sin(ang)
        px, py = -np.sin(ang) * hw, np.cos(ang) * hw
        d.polygon([(x1 + np.cos(ang) * lw, y1 + np.sin(ang) * lw), (bx + px, by + py), (bx - px, by - py)], fill=col)
    for _ in range(int(rng.integers(0, 4))):  # words beside the marks
        col = _MARK_COLOURS[int(rng.integers(0, len(_MARK_COLOURS)))]
        word = _MARK_WORDS[int(rng.integers(0, len(_MARK_WORDS)))]
        size = max(8, int(h * rng.uniform(0.04, 0.09)))
        d.text((float(rng.uniform(0, 0.8) * w), float(rng.uniform(0, 0.9) * h)), word, fill=col, font=synth._font(size))
    if rng.random() < 0.35:  # a dashed guide line across the picture
        col = _MARK_COLOURS[int(rng.integers(0, len(_MARK_COLOURS)))]
        x, vertical = float(rng.uniform(0.15, 0.85)), rng.random() < 0.5
        n = int(rng.integers(8, 20))
        for k in range(n):
            a, b = k / n, (k + 0.55) / n
            seg = [(x * w, a * h), (x * w, b * h)] if vertical else [(a * w, x * h), (b * w, x * h)]
            d.line(seg, fill=col, width=max(2, s // 150))
    if rng.random() < 0.35:  # an outlined region
        col = _MARK_COLOURS[int(rng.integers(0, len(_MARK_COLOURS)))]
        cx, cy = float(rng.uniform(0.3, 0.7) * w), float(rng.uniform(0.3, 0.7) * h)
        r = float(rng.uniform(0.05, 0.2) * s)
        t = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
        pts = [(cx + r * rng.uniform(0.6, 1.2) * np.cos(a), cy + r * rng.uniform(0.6, 1.2) * np.sin(a)) for a in t]
        d.line([*pts, pts[0]], fill=col, width=max(2, s // 120))
    return img


def make(per_class: int, seed: int, per_extra: int = 0, per_annotated: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Generated panels: ``per_class`` of each type, ``per_extra`` of each ``EXTRA`` kind and ``per_annotated``
    marked-up pictures of each ``ANNOTATED_KINDS`` type (own random stream: the other panels do not depend on it)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k, kind in enumerate(PANEL_TYPES):
        for _ in range(per_class):
            images.append(augment(synth.panel(kind, rng), rng))
            labels.append(k)
    for kind, gen in EXTRA.values():
        for _ in range(per_extra):
            images.append(augment(gen(rng), rng))
            labels.append(PANEL_TYPES.index(kind))
    marks = np.random.default_rng(seed + 3000)
    for kind in ANNOTATED_KINDS:
        for _ in range(per_annotated):
            images.append(augment(annotate(synth.panel(kind, marks), marks), marks))
            labels.append(PANEL_TYPES.index(kind))
    return images, np.asarray(labels)


def jitter(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A real panel as another split or another print would give it: box cut or padded, resized, augmented."""
    w, h = img.size
    if rng.random() < 0.5:
        left, top, right, bottom = (int(rng.uniform(0, 0.06) * s) for s in (w, h, w, h))
        img = img.crop((left, top, w - right, h - bottom))
    else:
        m = int(rng.uniform(0, 0.06) * max(w, h))
        canvas = Image.new("RGB", (w + 2 * m, h + 2 * m), (255, 255, 255))
        canvas.paste(img, (m, m))
        img = canvas
    s = float(rng.uniform(0.5, 1.3))
    img = img.resize((max(16, int(img.width * s)), max(16, int(img.height * s))), Image.Resampling.BILINEAR)
    return augment(img, rng)


def _typed(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panels of a figure that are trained on: typed, not marked ambiguous."""
    return [p for p in truth if not p.get("type_ambiguous") and p.get("type") in PANEL_TYPES]


def real_digest(splits: list[str]) -> str:
    """SHA-256 of what the real part of the training set is made of: for every figure of ``splits`` its file, the
    image's SHA-256 in the manifest and each trained panel's label, box and type. Part of the features-cache recipe
    and of the weights' ``meta``, so a changed annotation (a moved box, a new type, a panel added) is noticed."""
    manifest, panels, _ = figure_annotations()
    rows = [
        [name, manifest[name]["sha256"], [[p.get("label"), list(p["bbox"]), p["type"]] for p in typed]]
        for name, typed in _trained_figures(manifest, panels, splits)
    ]
    rows += [  # the typed panels of bench/real_types (a part named in splits, e.g. dev8t), by git blob SHA-1
        [
            _file_id(f),
            f.get("png_sha256", f["blob_sha1"]),
            [[p.get("label"), list(p["bbox"]), p["type"]] for p in typed],
        ]
        for f, typed in _typed_figures(splits)
    ]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _file_id(f: dict[str, Any]) -> str:
    """repo:path of a typed figure (``#<k>`` for the k-th image output of a notebook)."""
    return f"{f['repo']}:{f['path']}" + (f"#{f['output']}" if f.get("output") is not None else "")


def _checksum(f: dict[str, Any]) -> str:
    """The checksum a typed figure's image is checked by: the decoded image's SHA-256 for a notebook output, else
    the file's git blob SHA-1."""
    return str(f.get("png_sha256") or f["blob_sha1"])


def _typed_figures(splits: list[str]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(figure, its trained panels) of the parts of ``bench/real_types/panels8t.json`` / ``panels9t.json`` named in
    ``splits``."""
    figs = [f for path in TYPED_PANELS for f in json.loads(path.read_text())["figures"]]
    return [(f, _typed(f["panels"])) for f in figs if f["split"] in splits and _typed(f["panels"])]


def iter_real_panels(splits: list[str], n_aug: int, seed: int, files: list[str]) -> Iterator[tuple[Image.Image, int]]:
    """(image, type index) of the hand-typed panels of the real dev parts (true boxes) and ``n_aug`` jittered copies of
    each, one at a time (whole figures jittered up to 1.3x are large: holding them all took > 15 GB); the name of each
    figure used is appended to ``files``."""
    from bench.real_types.fetch import image_path

    if any(s.startswith("heldout") for s in splits):
        raise SystemExit("held-out parts are never trained on")
    manifest, panels, cache = figure_annotations(fetch=True)
    rng = np.random.default_rng(seed + 7)
    for name, typed in _trained_figures(manifest, panels, splits):
        fig = to_rgb(Image.open(cache / name))  # as ingest reads it (transparency onto white)
        used = False
        for p in typed:
            crop = fig.crop(tuple(p["bbox"]))
            yield crop, PANEL_TYPES.index(p["type"])
            for _ in range(n_aug):
                yield jitter(crop, rng), PANEL_TYPES.index(p["type"])
            used = True
        if used:
            files.append(name)
    for f, typed in _typed_figures(splits):  # bench/real_types: papers' figures typed whole and by panel
        fig = to_rgb(Image.open(image_path(f)))
        for p in typed:
            crop = fig.crop(tuple(p["bbox"]))
            yield crop, PANEL_TYPES.index(p["type"])
            for _ in range(n_aug):
                yield jitter(crop, rng), PANEL_TYPES.index(p["type"])
        files.append(_file_id(f))


def real_panels(splits: list[str], n_aug: int, seed: int) -> tuple[list[Image.Image], np.ndarray, list[str]]:
    """Hand-typed panels of the real dev parts (true boxes) and ``n_aug`` jittered copies of each (all in memory: see
    :func:`real_features` for training)."""
    files: list[str] = []
    pairs = list(iter_real_panels(splits, n_aug, seed, files))
    return [im for im, _ in pairs], np.asarray([k for _, k in pairs], dtype=int), files


def real_features(
    splits: list[str], n_aug: int, seed: int, settings: Settings, chunk: int = 128
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`features` of :func:`iter_real_panels`, computed ``chunk`` images at a time (a multiple of the image
    encoder's batch size, so every batch, and every vector, is what one call on the whole list gives)."""
    files: list[str] = []
    rows, labels, images = [], [], []
    for im, k in iter_real_panels(splits, n_aug, seed, files):
        images.append(im)
        labels.append(k)
        if len(images) == chunk:
            rows.append(features(images, image_vectors_of(images, settings)))
            images = []
    if images:
        rows.append(features(images, image_vectors_of(images, settings)))
    x = np.concatenate(rows) if rows else np.zeros((0, 1280 + STATS_DIM), np.float32)
    return x, np.asarray(labels, dtype=int), files


def save_reproducible(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` with the same bytes for the same ``state``, so a re-run of the documented command gives the
    shipped file (and its SHA-256). torch's zip format is deterministic but for one record, a random
    ``.data/serialization_id`` (torch's legacy format keys storages by memory address instead); that record is
    replaced by digits of the SHA-256 of the rest of the file, and its CRC-32 in the zip headers fixed."""
    buf = io.BytesIO()
    torch.save(state, buf)  # to a buffer: the archive's folder is "archive", whatever the file is called
    data = bytearray(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(".data/serialization_id"))
        old, start_dir = z.read(info), z.start_dir
    if data.count(old) != 1:
        raise RuntimeError("serialization id not unique in the file")
    digits = str(int(hashlib.sha256(bytes(data).replace(old, b"0" * len(old))).hexdigest(), 16))
    new = digits[: len(old)].zfill(len(old)).encode()
    data = data.replace(old, new)
    crc = struct.pack("<I", zlib.crc32(new))
    data[info.header_offset + 14 : info.header_offset + 18] = crc  # the local file header's CRC-32
    pos, name = start_dir, info.filename.encode()
    while data[pos : pos + 4] == b"PK\x01\x02":  # central directory records
        n_name, n_extra, n_comment = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        if data[pos + 46 : pos + 46 + n_name] == name:
            data[pos + 16 : pos + 20] = crc
            break
        pos += 46 + n_name + n_extra + n_comment
    else:
        raise RuntimeError("serialization id record not found in the central directory")
    path.write_bytes(bytes(data))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=250)
    ap.add_argument("--extra-per-kind", type=int, default=120, help="panels of each panel_type_synth.EXTRA kind")
    ap.add_argument("--annotated-per-kind", type=int, default=0, help="marked-up pictures of each ANNOTATED_KINDS")
    ap.add_argument(
        "--real-splits",
        default="dev,dev4,dev5,dev8t",
        help="real dev parts to train on: of bench/real_figures and bench/real_types ('' = none)",
    )
    ap.add_argument("--real-aug", type=int, default=6, help="jittered copies of each real panel")
    ap.add_argument("--real-weight", type=float, default=1.0)
    ap.add_argument("--test-per-class", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=0.5)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--features-cache", type=Path, help="npz file: reuse/store features (refit without recomputing)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    from sklearn.linear_model import LogisticRegression

    splits = [s for s in args.real_splits.split(",") if s]
    digest = real_digest(splits) if splits else None
    # what the cached features were built from (the real annotations too): a cache of another recipe is refused
    recipe = json.dumps(
        [args.per_class, args.extra_per_kind, list(EXTRA), splits, args.real_aug, args.test_per_class, args.seed]
        + [digest]
        + ([args.annotated_per_kind] if args.annotated_per_kind else [])
    )
    if args.features_cache and args.features_cache.exists():
        z = np.load(args.features_cache)
        if "recipe" not in z.files or str(z["recipe"]) != recipe:
            raise SystemExit(f"{args.features_cache} was built with another recipe: delete it or pass another path")
        xtr, ytr, xte, yte, xre, yre = z["xtr"], z["ytr"], z["xte"], z["yte"], z["xre"], z["yre"]
        files = [str(f) for f in z["files"]]
    else:
        t = time.time()
        tr_img, ytr = make(args.per_class, args.seed, args.extra_per_kind, args.annotated_per_kind)
        te_img, yte = make(args.test_per_class, args.seed + 1000, args.test_per_class // 2)
        print(f"generated {len(tr_img)}+{len(te_img)} panels in {time.time() - t:.0f}s", flush=True)
        t = time.time()
        settings = Settings(image_backend="onnx", onnx_threads=2)  # fixed, so a re-run computes the same features
        xtr = features(tr_img, image_vectors_of(tr_img, settings))
        xte = features(te_img, image_vectors_of(te_img, settings))
        del tr_img, te_img
        xre, yre, files = (
            real_features(splits, args.real_aug, args.seed, settings)
            if splits
            else (np.zeros((0, xtr.shape[1]), np.float32), np.zeros(0, int), [])
        )
        print(f"features of those and {len(yre)} real panels in {time.time() - t:.0f}s", flush=True)
        if args.features_cache:
            np.savez_compressed(
                args.features_cache,
                xtr=xtr,
                ytr=ytr,
                xte=xte,
                yte=yte,
                xre=xre,
                yre=yre,
                files=np.asarray(files),
                recipe=np.asarray(recipe),
            )
    x_all = np.concatenate([xtr, xre])
    y_all = np.concatenate([ytr, yre])
    weight = np.concatenate([np.ones(len(ytr)), np.full(len(yre), args.real_weight)])
    mean, std = x_all.mean(axis=0), x_all.std(axis=0) + 1e-3
    clf = LogisticRegression(C=args.C, max_iter=3000)
    clf.fit((x_all - mean) / std, y_all, sample_weight=weight)
    acc = float((clf.predict((xte - mean) / std) == yte).mean())
    conf = np.zeros((len(PANEL_TYPES), len(PANEL_TYPES)), dtype=int)
    for a, b in zip(yte, clf.predict((xte - mean) / std), strict=True):
        conf[a, b] += 1
    print(f"held-out synthetic accuracy {acc:.3f}\n{conf}", flush=True)
    meta = {
        "seed": args.seed,
        "per_class": args.per_class,
        "extra_per_kind": args.extra_per_kind,
        "extra_kinds": list(EXTRA),
        "annotated_per_kind": args.annotated_per_kind,
        "real_splits": splits,
        "real_aug": args.real_aug,
        "real_weight": args.real_weight,
        "real_panels": int(len(yre) // (args.real_aug + 1)),
        "real_files": files,
        "real_digest": digest,
        "C": args.C,
        "heldout_accuracy": round(acc, 4),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_reproducible(
        {
            "classes": list(PANEL_TYPES),
            "mean": torch.from_numpy(mean.astype(np.float32)),
            "std": torch.from_numpy(std.astype(np.float32)),
            "coef": torch.from_numpy(clf.coef_.astype(np.float32)),
            "intercept": torch.from_numpy(clf.intercept_.astype(np.float32)),
            "meta": json.dumps(meta),
        },
        args.out,
    )
    from matsearch.encoders.weights import WEIGHTS, sha256_file

    sha = sha256_file(args.out)
    same = "the shipped file" if sha == WEIGHTS["panel-type"].sha256 else "NOT the shipped file"
    print(f"wrote {args.out} sha256 {sha} ({same})", flush=True)
    shipped = OUT if OUT.exists() and OUT.resolve() != args.out.resolve() else None
    if sha != WEIGHTS["panel-type"].sha256 and shipped is not None:
        print(f"  vs the shipped file: {compare_weights(args.out, shipped)}", flush=True)


WEIGHT_TOLERANCE = 1e-5  # float noise of another CPU / ONNX build (session 11: max |difference| 6e-7)


def compare_weights(a: Path, b: Path, tol: float = WEIGHT_TOLERANCE) -> str:
    """How two panel-type weight files differ: the same recipe (``meta``) and tensors within ``tol`` is what the
    documented command gives on another machine, whose EfficientNet features differ in the last float bits (the
    bytes, and so the SHA-256, then differ). Returns a one-line verdict starting with "same recipe" or "different"."""
    sa, sb = (torch.load(p, weights_only=True) for p in (a, b))
    if sa["meta"] != sb["meta"] or list(sa["classes"]) != list(sb["classes"]):
        return "different recipe (meta or classes differ)"
    keys = ("mean", "std", "coef", "intercept")
    if any(sa[k].shape != sb[k].shape for k in keys):
        return "different (tensor shapes differ)"
    diff = max(float((sa[k] - sb[k]).abs().max()) for k in keys)
    verdict = "same recipe, tensors within" if diff <= tol else "different: same recipe but tensors beyond"
    return f"{verdict} {tol:g} (max |difference| {diff:.2g})"


if __name__ == "__main__":
    main()
