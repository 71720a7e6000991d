"""Plot lines inside the axes rectangle: colour clusters, then tracking of same-coloured lines column by column.

1. *Clean the box*: pixels differing from the background are ink; grid lines (rows/columns mostly covered by one
   light, low-chroma colour) are removed, and so are text boxes and legend entries (found by the caller).
2. *Colour clusters*: ink pixels in CIELAB are clustered greedily (densest colour bin first, members within ΔE);
   near-identical clusters merge; very light grey clusters (legend frames, fills) are dropped.
3. *Tracking*: per cluster, each column's vertical runs of pixels are the observations. The number of lines of
   that colour is the most common run count; tracks start at a column showing exactly that many runs and are
   extended left and right, each run going to the track whose predicted position (last position + slope) it
   contains or is nearest to; a run may serve two tracks where same-coloured lines cross. The value of a run is its
   centre, except at an apex or a valley (the run reaches well beyond both neighbours): then its outer end minus
   half the line width — this is what keeps sharp XRD peaks at their height.
4. *Gaps*: gaps up to a few line widths (dashes, dots) are interpolated; longer gaps stay empty (hidden line).
   Tracks covering too little of their own extent (stick markers, arrows, stray text) are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from matsearch.indexer.plots.axes import channel_stats

__all__ = ["Track", "extract_lines"]

# a colour's unclaimed ink is tracked once more when it shows in at least this share of the box's columns
RESIDUAL_MIN_COLUMNS = 0.2
# Gaps a colour track may bridge (px): 6 x a nominal 2-px pen, fixed (not the measured pen width), at least 8.
GAP = 12


@dataclass
class Track:
    color: tuple[int, int, int]
    y: np.ndarray  # float row per column of the region, NaN where absent
    confidence: float = 0.0
    label: str | None = None
    ambiguous: int = 0
    meta: dict[str, float] = field(default_factory=dict)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def remove_grid(rgb: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """Clear rows / columns that are mostly one light low-chroma colour (grid lines, incl. dashed ones)."""
    f = rgb.astype(np.int16)
    gray, hi, lo = channel_stats(f)
    chroma = hi - lo
    light = ink & (gray > 120) & (chroma < 40)
    out = ink.copy()
    h, w = ink.shape
    rows = light.mean(axis=1) > 0.35
    cols = light.mean(axis=0) > 0.35
    for r in np.flatnonzero(rows):
        out[r, light[r]] = False
    for c in np.flatnonzero(cols):
        out[light[:, c], c] = False
    # A dark full-height rule at the box's left or right edge (a frame) is not data. Dark full-width rows are kept
    # here: a stacked pattern's flat baseline fills a row just like a zero line does; straight dark tracks across
    # the box are dropped after tracking instead (see extract_lines).
    darkline = ink & (gray < 120) & (chroma < 60)
    cols_d = np.flatnonzero(darkline.mean(axis=0) > 0.9)
    for c in cols_d[(cols_d < 2) | (cols_d >= w - 2)]:
        out[:, c] = False
    return out


def cluster_colors(
    lab: np.ndarray, mask: np.ndarray, max_clusters: int = 10, radius: float = 22.0, bg_lab: np.ndarray | None = None
) -> list[np.ndarray]:
    """Greedy colour clusters of the ink pixels (CIELAB).

    With ``bg_lab`` the centre is re-estimated from each cluster's *core* — its members farther from the background
    than their median — so anti-aliased edge pixels (a large share of thin, dotted or JPEG-blurred strokes) do not
    pull a colour towards the background, where it would pass for a blend of another colour (blue dots for grey).
    """
    pts = lab[mask]
    if len(pts) == 0:
        return []
    min_count = max(15, int(0.1 * mask.shape[1]))
    centres: list[np.ndarray] = []
    remaining = pts
    for _ in range(max_clusters):
        if len(remaining) < min_count:
            break
        q = np.floor(remaining / np.array([8.0, 8.0, 8.0])).astype(np.int32)
        keys = (q[:, 0] + 64) * 100000 + (q[:, 1] + 64) * 300 + (q[:, 2] + 64)
        uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        k = int(np.argmax(counts))
        c = remaining[inv == k].mean(axis=0)
        for _it in range(3):
            d = np.linalg.norm(remaining - c, axis=1)
            mem = d < radius
            if not mem.any():
                break
            members = remaining[mem]
            if bg_lab is not None and len(members) >= 8:
                strength = np.linalg.norm(members - bg_lab, axis=1)
                members = members[strength >= np.median(strength)]
            c = np.median(members, axis=0)
        d = np.linalg.norm(remaining - c, axis=1)
        mem = d < radius
        if mem.sum() < min_count:
            remaining = remaining[~mem]
            continue
        centres.append(c)
        remaining = remaining[~mem]
    # merge near-identical
    merged: list[np.ndarray] = []
    for c in centres:
        if all(np.linalg.norm(c - m) >= 12 for m in merged):
            merged.append(c)
    return merged


def _blend(p: np.ndarray, c: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best α with p ≈ bg + α (c − bg), and the residual distance (RGB)."""
    d = (c - bg).astype(np.float32)
    dd = float(d @ d) + 1e-6
    alpha = np.clip(((p - bg) @ d) / dd, 0.0, 1.0)
    res = np.linalg.norm(p - (bg + alpha[:, None] * d), axis=1)
    return alpha, res


def _runs(col: np.ndarray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(col)
    if idx.size == 0:
        return []
    br = np.flatnonzero(np.diff(idx) > 2) + 1
    return [(int(g[0]), int(g[-1])) for g in np.split(idx, br)]


def column_runs(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """``_runs`` of every column at once (vectorised): runs of ink with 1-pixel holes bridged, top to bottom."""
    m = mask.astype(bool)
    closed = m.copy()
    closed[1:-1] |= m[:-2] & m[2:]  # a single missing pixel between two ink pixels joins the run
    pad = np.zeros((closed.shape[0] + 2, closed.shape[1]), dtype=np.int8)
    pad[1:-1] = closed
    d = np.diff(pad, axis=0).T  # columns first, so nonzero() comes out column by column
    sc, sr = np.nonzero(d == 1)
    _ec, er = np.nonzero(d == -1)
    counts = np.bincount(sc, minlength=m.shape[1])
    starts, ends = sr.tolist(), (er - 1).tolist()
    out: list[list[tuple[int, int]]] = []
    pos = 0
    for c in counts.tolist():
        out.append(list(zip(starts[pos : pos + c], ends[pos : pos + c], strict=True)))
        pos += c
    return out


def joined_runs(mask: np.ndarray, other: np.ndarray) -> list[list[tuple[int, int]]]:
    """Like :func:`column_runs` of ``mask``, but two runs whose gap is wholly covered by ``other`` ink are one run.

    A line drawn under another one (an earlier series hidden at its peaks by a later one, or at a crossing) shows
    its own colour on both sides of the occluder: it passes underneath, so the occluded rows belong to it too.
    """
    own = column_runs(mask)
    cs = np.cumsum(other.astype(np.int32), axis=0)
    for x, runs in enumerate(own):
        if len(runs) < 2:
            continue
        merged = [runs[0]]
        for a, b in runs[1:]:
            pa, pb = merged[-1]
            gap = a - pb - 1
            if gap > 0 and int(cs[a - 1, x] - cs[pb, x]) == gap:
                merged[-1] = (pa, b)
            else:
                merged.append((a, b))
        own[x] = merged
    return own


def _uncut_runs(mask: np.ndarray, other: np.ndarray) -> list[list[tuple[int, int]]]:
    """:func:`column_runs` of ``mask`` without the runs that have ``other`` ink just beyond either end (runs cut by
    another stroke), vectorised."""
    m = mask.astype(bool)
    closed = m.copy()
    closed[1:-1] |= m[:-2] & m[2:]
    pad = np.zeros((closed.shape[0] + 2, closed.shape[1]), dtype=np.int8)
    pad[1:-1] = closed
    d = np.diff(pad, axis=0).T
    sc, sr = np.nonzero(d == 1)
    _ec, er = np.nonzero(d == -1)
    er = er - 1
    n = m.shape[0]
    above = np.zeros(sr.shape, bool)
    below = np.zeros(sr.shape, bool)
    ok_a = sr > 0
    above[ok_a] = other[sr[ok_a] - 1, sc[ok_a]]
    ok_b = er + 1 < n
    below[ok_b] = other[er[ok_b] + 1, sc[ok_b]]
    keep = ~(above | below)
    out: list[list[tuple[int, int]]] = [[] for _ in range(m.shape[1])]
    for c, a, b in zip(sc[keep].tolist(), sr[keep].tolist(), er[keep].tolist(), strict=True):
        out[c].append((a, b))
    return out


def stroke_width(runs: list[list[tuple[int, int]]]) -> float:
    """Pen width: a low percentile of single-run vertical run lengths (noise and slope only lengthen runs)."""
    lens = [r[0][1] - r[0][0] + 1 for r in runs if len(r) == 1]
    if len(lens) < 5:
        lens = [b - a + 1 for r in runs for a, b in r]
    return float(np.percentile(lens, 10)) if lens else 1.0


def _baseline(y: np.ndarray, win: int) -> np.ndarray:
    """Running lowest point (largest row) of a track over ``win`` columns; gaps interpolated."""
    from scipy.ndimage import maximum_filter1d

    idx = np.flatnonzero(~np.isnan(y))
    if idx.size < 2:
        return np.full(y.shape, np.nan)
    filled = np.interp(np.arange(y.size), idx, y[idx])
    out = maximum_filter1d(filled, size=win, mode="nearest")
    out[: idx[0]] = np.nan
    out[idx[-1] + 1 :] = np.nan
    return out


def _unswap(ys: np.ndarray, tops: np.ndarray, bots: np.ndarray) -> None:
    """Undo exchanges of same-coloured stacked tracks at a peak that reaches into the next pattern (in place).

    Stacked patterns keep the vertical order of their baselines. When two tracks' running baselines change order
    abruptly — from about the usual offset on one side to about minus it on the other, within a few windows — the
    tracks took each other's line at a shared tall run (a peak crossing the pattern above): the side in the
    unusual order is exchanged at the column where they meet. Lines that really cross pass through zero offset
    gradually and stay.
    """
    k, w = ys.shape
    win = max(15, int(0.04 * w))
    for _pass in range(3):
        changed = False
        order = np.argsort([np.nanmedian(y) if (~np.isnan(y)).any() else np.inf for y in ys])
        for a_, b_ in zip(order[:-1], order[1:], strict=True):
            i, j = int(a_), int(b_)
            d = _baseline(ys[j], win) - _baseline(ys[i], win)  # > 0: j's baseline below i's (the usual order)
            ok = ~np.isnan(d)
            if ok.sum() < 4 * win:
                continue
            typical = float(np.median(np.abs(d[ok])))
            if typical < 4:
                continue
            at = np.flatnonzero(ok & (d != 0))
            flips = at[:-1][np.sign(d[at[:-1]]) != np.sign(d[at[1:]])]
            for f in flips.tolist():
                lo, hi = f - win, f + win + 1
                lo = int(at[at <= lo][-1]) if (at <= lo).any() else -1
                hi = int(at[at >= hi][0]) if (at >= hi).any() else w
                if lo < 0 or hi >= w:
                    continue
                if min(abs(d[lo]), abs(d[hi])) < 0.6 * typical or d[lo] * d[hi] >= 0:
                    continue
                seg = slice(max(0, f - 2 * win), min(w, f + 2 * win))
                gap = np.abs(ys[i, seg] - ys[j, seg])
                if np.isnan(gap).all():
                    continue
                x_sw = seg.start + int(np.nanargmin(gap))
                # the side in the unusual order is exchanged (the head when the tracks start out swapped)
                part = slice(x_sw, w) if d[hi] < 0 else slice(0, x_sw)
                for arr in (ys, tops, bots):
                    tail = arr[i, part].copy()
                    arr[i, part] = arr[j, part]
                    arr[j, part] = tail
                changed = True
                break
            if changed:
                break
        if not changed:
            return


def _trim_faint(tops: np.ndarray, bots: np.ndarray, strong: np.ndarray) -> None:
    """Move each run's ends in past faint anti-aliased pixels (``strong``: coverage α ≥ ½ of the colour), in place.

    A steep flank lying mostly in the next column spreads faint pixels into this one (a 1-px peak drawn with a 1.5-px
    pen shows its height in both columns); the rows this column's own curve passes through are drawn strongly.
    A run with no strong pixel is left as it is.
    """
    h = strong.shape[0]
    rows = np.arange(h)[:, None]
    below = np.minimum.accumulate(np.where(strong, rows, h)[::-1], axis=0)[::-1]  # first strong row at or below
    above = np.maximum.accumulate(np.where(strong, rows, -1), axis=0)  # last strong row at or above
    for i in range(tops.shape[0]):
        xs = np.flatnonzero(~np.isnan(tops[i]))
        a, b = tops[i, xs].astype(int), bots[i, xs].astype(int)
        nt, nb = below[a, xs], above[b, xs]
        ok = nt <= b
        tops[i, xs[ok]], bots[i, xs[ok]] = nt[ok], nb[ok]


def _cap_centres(t: np.ndarray, env: np.ndarray, peak: np.ndarray, r: float, q: int) -> np.ndarray:
    """The curve's top bound per column from the stroke's tops ``t`` (rows, inf where absent), a narrow cap at its
    centre.

    ``env`` is the plain envelope (the lowest top over ±q), ``peak`` the columns that keep their own top (the pen is
    narrower than estimated there). A pen wider than a 1–2-column peak draws a cap whose top row is the same within a
    pixel over several columns, and the anti-aliased edge can make a side column the highest: of such a cap — a
    stretch of at most 2q + 2 columns within 1 px of the window's top, more than r + 1 px above the envelope, with
    both outer neighbours more than r + 1 px lower — only the middle column is the apex (the others lie on the
    flanks or the baseline beside it and keep the envelope). The middle of an even-length cap is taken on the side
    whose edge (then whose outer neighbour) is higher.
    """
    from scipy.ndimage import minimum_filter1d

    n = t.size
    out = np.where(peak, t, env)
    with np.errstate(invalid="ignore"):
        cand = (t <= minimum_filter1d(t, size=2 * q + 1, mode="nearest") + 1) & (env - t > r + 1)
    ci = np.flatnonzero(cand)
    if ci.size == 0:
        return out
    for grp in np.split(ci, np.flatnonzero(np.diff(ci) > 1) + 1):
        a, b = int(grp[0]), int(grp[-1])
        ln = b - a + 1
        if ln < 2 or ln > 2 * q + 2:
            continue
        tmin = float(np.min(t[a : b + 1]))
        if (a > 0 and not t[a - 1] > tmin + r + 1) or (b + 1 < n and not t[b + 1] > tmin + r + 1):
            continue
        if ln % 2:
            c = (a + b) // 2
        else:
            m1 = (a + b) // 2
            left = (float(t[a]), float(t[a - 1]) if a > 0 else np.inf)
            right = (float(t[b]), float(t[b + 1]) if b + 1 < n else np.inf)
            c = m1 if left <= right else m1 + 1
        out[a : b + 1] = env[a : b + 1]
        out[c] = tmin
    return out


def _plateau_centres(v: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Middle column(s) of flat tops: stretches of equal ``v`` (within ½ px) above both neighbouring columns.

    A pen wider than a narrow peak draws its round cap over several columns with the same top row; the apex is under
    the cap's middle (two middle columns when the stretch is even), not at every column of the cap.
    """
    n = v.size
    out = np.zeros(n, bool)
    with np.errstate(invalid="ignore"):
        eq = np.abs(np.diff(v)) <= 0.5
    eqi = np.flatnonzero(eq)
    if eqi.size == 0:
        return out
    for a in eqi[np.concatenate([[True], np.diff(eqi) > 1])].tolist():
        b = a + 1
        while b < n - 1 and eq[b]:
            b += 1
        if a == 0 or b + 1 >= n:
            continue
        lev = float(np.min(v[a : b + 1]))
        if v[a - 1] > lev + 0.5 and v[b + 1] > lev + 0.5 and spread[a : b + 1].all():
            out[(a + b) // 2 : (a + b + 1) // 2 + 1] = True
    return out


def _track_cluster(
    mask: np.ndarray,
    other: np.ndarray | None = None,
    strong: np.ndarray | None = None,
    info: dict[str, float] | None = None,
    depth: int = 0,
) -> list[np.ndarray]:
    h, w = mask.shape
    runs = column_runs(mask) if other is None else joined_runs(mask, other)
    counts = np.array([len(r) for r in runs])
    covered = counts > 0
    if covered.sum() < max(8, 0.06 * w):
        return []
    # the pen is measured on runs seen whole: a run that ends against other ink is cut by a later stroke (a sliver
    # of a line hidden under another one) and says nothing about the pen
    if other is not None:
        free_v = _uncut_runs(mask, other)
        lw = stroke_width(free_v) if sum(1 for r in free_v if r) >= 5 else stroke_width(runs)
        hruns = _uncut_runs(mask[::2].T, other[::2].T)
    else:
        lw = stroke_width(runs)
        hruns = column_runs(mask[::2].T)
    # noisy data draw a band much thicker than the pen; steep strokes show the pen width horizontally
    hl = [b - a + 1 for r_ in hruns for a, b in r_]
    if len(hl) >= 20:
        lw = min(lw, max(1.0, float(np.percentile(hl, 25))))
    if info is not None:
        info["lw"] = lw
    nz = counts[covered]
    k = int(np.bincount(np.minimum(nz, 8)).argmax())
    k = max(1, min(k, 6))
    # anchor: middle of the longest stretch of columns with exactly k runs; if the tracks grown from it explain
    # too little of the colour's columns (an anchor on a legend sample or a stray mark, dotted lines whose stretches
    # are all short), the next longest stretches outside those tracks are tried and the best-covering result kept
    good = counts == k
    stretches: list[tuple[int, int]] = []
    cur = 0
    for x in range(w + 1):
        if x < w and good[x]:
            cur += 1
        elif cur:
            stretches.append((cur, x - 1 - (cur - 1) // 2))
            cur = 0
    stretches.sort(key=lambda t: -t[0])
    if not stretches:
        return []

    def follow(anchor: int, k0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a_runs = sorted(runs[anchor], key=lambda r: r[0])[:k0]
        k = len(a_runs)
        ys = np.full((k, w), np.nan)
        tops = np.full((k, w), np.nan)
        bots = np.full((k, w), np.nan)
        for i, (a, b) in enumerate(a_runs):
            ys[i, anchor] = (a + b) / 2
            tops[i, anchor], bots[i, anchor] = a, b
        if k > 1:
            cs = np.array([(a + b) / 2 for a, b in a_runs])
            sep = float(np.diff(cs).min())
        else:
            sep = float(h)
        gate = max(3 * lw + 2, 0.5 * sep)
        max_gap = int(max(8, 6 * lw))
        tall_len = 3 * lw + 2
        miss_limit = max(max_gap * 4, w // 3)
        two_lw = lw * 2
        for direction in (+1, -1):
            # per-track state as Python lists (numpy scalar indexing in this per-column loop cost more than the work)
            level: list[float] = ys[:, anchor].tolist()  # the track's own height, not moved by tall (peak) runs
            last_top: list[float] = tops[:, anchor].tolist()
            last_bot: list[float] = bots[:, anchor].tolist()
            slope = [0.0] * k
            miss = [0] * k
            x = anchor + direction
            while 0 <= x < w:
                cand = runs[x]
                if not cand:
                    miss = [m_ + 1 for m_ in miss]
                    x += direction
                    continue
                choices: list[list[tuple[float, float, int]]] = []
                for i in range(k):
                    opts = []
                    if miss[i] <= miss_limit:
                        pred = level[i] + slope[i] * (miss[i] + 1)
                        for j, (a, b) in enumerate(cand):
                            # connected to the previous run (8-connectivity) or containing the prediction
                            touch = miss[i] == 0 and a <= last_bot[i] + 1 and b >= last_top[i] - 1
                            inside = a - lw <= pred <= b + lw
                            dist = 0.0 if (touch or inside) else min(abs(a - pred), abs(b - pred))
                            if miss[i] == 0:  # a steep flank: the next column's run starts just past this one's
                                dist = min(dist, max(0.0, a - last_bot[i] - 1, last_top[i] - b - 1))
                            # a thin run that neither touches nor contains the prediction may be the line coming
                            # back after a gap (dashes, dots, occlusion): as far as a steep line moves in that many
                            # columns; tall runs (peaks, noise bands) keep the wide gate
                            near = gate if b - a + 1 > tall_len else min(gate, max(3 * lw + 2, 2 * lw * (miss[i] + 1)))
                            if dist <= near:
                                opts.append((dist, abs((a + b) / 2 - pred) if not inside else 0.0, j))
                    opts.sort()
                    choices.append(opts)
                taken: dict[int, list[int]] = {}
                for i in sorted(range(k), key=lambda i_: choices[i_][0][:2] if choices[i_] else (1e9, 1e9)):
                    for _d, _c, j in choices[i]:
                        a, b = cand[j]
                        owners = taken.get(j, [])
                        tall = b - a + 1 > tall_len
                        if owners and not tall:
                            continue  # a thin run belongs to one line
                        taken.setdefault(j, []).append(i)
                        break
                got = {i: j for j, owners in taken.items() for i in owners}
                for i in range(k):
                    if i not in got:
                        miss[i] += 1
                        continue
                    a, b = cand[got[i]]
                    c = (a + b) / 2
                    ys[i, x], tops[i, x], bots[i, x] = c, a, b
                    if b - a + 1 <= tall_len:
                        if miss[i] == 0:
                            slope[i] = 0.5 * slope[i] + 0.5 * min(max(c - level[i], -two_lw), two_lw)
                        else:
                            slope[i] = 0.0
                        level[i] = c
                    last_top[i], last_bot[i] = a, b
                    miss[i] = 0
                x += direction
        return ys, tops, bots

    n_cov = int(covered.sum())
    best: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    best_cov, tried = -1, 0
    for _len, mid in stretches:
        if best is not None and (~np.isnan(best[0][:, mid])).any():
            continue  # this stretch already lies on the tracks found
        if not runs[mid]:
            continue
        res = follow(mid, k)
        cov = int((~np.isnan(res[0])).any(axis=0).sum())
        if cov > best_cov:
            best, best_cov = res, cov
        tried += 1
        if best_cov >= 0.6 * n_cov or tried >= 3:
            break
    if best is None:
        return []
    ys, tops, bots = best
    k = ys.shape[0]
    if k > 1:
        _unswap(ys, tops, bots)
    # A line the modal run count missed (a dotted line among dashed ones of the same colour, sparse dots) leaves its
    # runs unclaimed: the ink no track took is tracked once more (one level deep), see _residual_tracks.
    residual = np.zeros_like(mask)
    if depth == 0:
        rows = np.arange(h)[:, None]
        claimed = np.zeros_like(mask)
        for i in range(k):
            okc = ~np.isnan(tops[i])
            tt = np.where(okc, tops[i], h + 1)
            bb = np.where(okc, bots[i], -1)
            claimed |= (rows >= tt[None, :] - 1) & (rows <= bb[None, :] + 1)
        residual = mask & ~claimed
    if strong is not None:
        _trim_faint(tops, bots, strong)
    # A stroke is the curve widened by the pen (half width r) in every direction, so in a column its top is the
    # curve's highest point within ±q columns lifted by r. Undoing that (a max filter over ±q of the tops, plus r;
    # likewise for the bottoms) bounds where the curve itself passes in each column: [U, D]. Flat parts: U ≈ D.
    # Steep parts: the curve runs through all of [U, D] (take the middle); an apex (U above both neighbours) takes U,
    # a valley takes D — so sharp peaks keep their height and spikes narrower than the pen stay one column wide.
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    r = max(0.0, (lw - 1) / 2)
    q = int(round(lw / 2)) if lw >= 2.5 else 0  # columns the pen reaches beyond the curve (thin pens: none)
    out = []
    for i in range(k):
        t, b_ = tops[i].copy(), bots[i].copy()
        idx = np.flatnonzero(~np.isnan(t))
        if idx.size == 0:
            out.append(ys[i])
            continue
        # fill gaps for the filters with neutral values (no pixels: cannot constrain)
        t_f = np.where(np.isnan(t), -np.inf, t)
        b_f = np.where(np.isnan(b_), np.inf, b_)
        U = maximum_filter1d(t_f, size=2 * q + 1, mode="nearest") + r if q > 0 else t_f + r
        D = minimum_filter1d(b_f, size=2 * q + 1, mode="nearest") - r if q > 0 else b_f - r
        if q > 0:
            # A pen reaching q columns sideways draws an apex's cap over all of them (within r of its top). Where a
            # column is the highest of its ±q window and a neighbour there is far lower, the pen is narrower than
            # estimated (vertical runs of an anti-aliased pen overstate it): that column keeps its own top; same
            # for valleys.
            t_hi = np.where(np.isnan(t), np.inf, t)
            b_lo = np.where(np.isnan(b_), -np.inf, b_)
            with np.errstate(invalid="ignore"):
                peak = (t_hi <= minimum_filter1d(t_hi, size=2 * q + 1, mode="nearest")) & (U - r - t > r + 1)
                dip = (b_lo >= maximum_filter1d(b_lo, size=2 * q + 1, mode="nearest")) & (b_ - (D + r) > r + 1)
            # a narrow peak's cap is read at its centre only (see _cap_centres); likewise a narrow dip's
            U = _cap_centres(t_hi, U - r, peak, r, q) + r
            D = -_cap_centres(-b_lo, -(D + r), dip, r, q) - r
        U = np.where(np.isnan(t), np.nan, np.minimum(U, b_ - r))
        D = np.where(np.isnan(t), np.nan, np.maximum(D, t + r))
        lo, hi = np.minimum(U, D), np.maximum(U, D)
        y = (lo + hi) / 2
        # apex: the top is above both neighbours' tops (where they exist); valley: the bottom below both bottoms
        nan1 = np.full(1, np.nan)
        lo_nb = np.fmin(np.concatenate([nan1, lo[:-1]]), np.concatenate([lo[1:], nan1]))
        hi_nb = np.fmax(np.concatenate([nan1, hi[:-1]]), np.concatenate([hi[1:], nan1]))
        with np.errstate(invalid="ignore"):
            spread = hi - lo >= 2
            apex = spread & (lo < lo_nb - 0.5)
            valley = spread & ~apex & (hi > hi_nb + 0.5)
        apex |= _plateau_centres(lo, spread)
        valley &= ~apex
        y = np.where(apex, lo, np.where(valley, hi, y))
        out.append(y)
    # refinement changes the neighbours too: apexes next to apexes keep their centre values; good enough
    if depth == 0 and int(residual.any(axis=0).sum()) >= max(8, RESIDUAL_MIN_COLUMNS * w):
        out += _residual_tracks(
            residual, (other if other is not None else np.zeros_like(mask)) | (mask & ~residual), strong
        )
    return out


def _residual_tracks(residual: np.ndarray, other: np.ndarray, strong: np.ndarray | None) -> list[np.ndarray]:
    """Tracks of a colour's unclaimed ink that lie mostly away from other ink.

    Unclaimed pixels along other colours' strokes are those strokes' anti-aliased or JPEG fringes that came out in
    this colour, not a line of their own: a residual track is kept only when most of its columns (> ½) have no other
    ink within 2 px.
    """
    h = residual.shape[0]
    grown = cv2.dilate(other.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    kept = []
    for yr in _track_cluster(residual, other, strong, None, depth=1):
        xs = np.flatnonzero(~np.isnan(yr))
        if xs.size and float(grown[np.clip(np.round(yr[xs]).astype(int), 0, h - 1), xs].mean()) < 0.5:
            kept.append(yr)
    return kept


def _lazy_runs(mask: np.ndarray) -> Callable[[], list[list[tuple[int, int]]]]:
    """:func:`column_runs` of ``mask``, computed on the first call only."""
    made: list[list[list[tuple[int, int]]]] = []

    def get() -> list[list[tuple[int, int]]]:
        if not made:
            made.append(column_runs(mask))
        return made[0]

    return get


def _follow_under(
    y0: float, cols: range, other_runs: list[list[tuple[int, int]]], lw: float, h: int, max_tall: int
) -> tuple[list[float], float] | None:
    """Follow a hidden line from row ``y0`` through ``cols`` under other ink; None when it cannot be followed.

    In each column the other ink's run within ``lw + 1`` px of the current position: under a thin run (a line's
    stroke, ≤ 3 lw + 2 px) the line is at its middle, under a taller one (another series' peak) it keeps its height
    inside the run. It fails where a column has no such run, or where runs taller than max(3 lw + 2, 8 % of the box)
    last more than ``max_tall`` columns in a row (an inset, a shaded area, a filled box is not a line).
    Returns the rows and the last position.
    """
    tol = lw + 1
    thin = 3 * lw + 2
    tall = max(thin, 0.08 * h)
    ref = y0
    vals: list[float] = []
    n_tall = 0
    for x in cols:
        best = None
        for s, e in other_runs[x]:
            d = max(0.0, s - ref, ref - e)
            if d <= tol and (best is None or d < best[0]):
                best = (d, s, e)
        if best is None:
            return None
        _d, s, e = best
        n_tall = n_tall + 1 if e - s + 1 > tall else 0
        if n_tall > max_tall:
            return None
        ref = (s + e) / 2 if e - s + 1 <= thin else min(max(ref, s), e)
        vals.append(ref)
    return vals, ref


def _fill_hidden(y: np.ndarray, other_runs: list[list[tuple[int, int]]], lw: float, min_gap: int, h: int) -> np.ndarray:
    """Follow a line through gaps longer than ``min_gap`` where it passes under other lines' strokes.

    A series drawn first is hidden wherever a later one covers it — over long stretches when both share a baseline
    (several XRD patterns on one axis). From the last visible column the line is followed through the other ink
    (:func:`_follow_under`, taller runs lasting at most ``min_gap`` columns in a row); the gap is filled only when
    the path arrives within 3 lw + 2 px of where the line shows again; otherwise it stays empty (hidden, position
    unknown).
    """
    idx = np.flatnonzero(~np.isnan(y))
    out = y.copy()
    if idx.size < 2:
        return out
    for a, b in zip(idx[:-1], idx[1:], strict=False):
        if b - a <= min_gap + 1:
            continue
        got = _follow_under(float(y[a]), range(a + 1, b), other_runs, lw, h, min_gap)
        if got is not None and abs(got[1] - float(y[b])) <= max(lw + 1, 3 * lw + 2):
            out[a + 1 : b] = got[0]
    return out


def _extend_hidden_ends(
    y: np.ndarray, runs_of_other: Callable[[], list[list[tuple[int, int]]]], lw: float, min_gap: int, h: int
) -> np.ndarray:
    """Continue a line that disappears under other ink for good (more than ``min_gap`` columns before the box edge)
    to that edge, when it can be followed there throughout (:func:`_follow_under`): a series drawn first can be
    hidden under a later one from some column to the end (two curves sharing a plateau). Otherwise the end stays.
    """
    idx = np.flatnonzero(~np.isnan(y))
    if idx.size < 2:
        return y
    w = y.size
    out = y.copy()
    a, b = int(idx[0]), int(idx[-1])
    if a > min_gap:
        got = _follow_under(float(y[a]), range(a - 1, -1, -1), runs_of_other(), lw, h, min_gap)
        if got is not None:
            out[:a] = got[0][::-1]
    if w - 1 - b > min_gap:
        got = _follow_under(float(y[b]), range(b + 1, w), runs_of_other(), lw, h, min_gap)
        if got is not None:
            out[b + 1 :] = got[0]
    return out


def _short_occluded(
    y: np.ndarray,
    other: np.ndarray,
    runs_of_other: Callable[[], list[list[tuple[int, int]]]],
    lw: float,
    max_gap: int,
    h: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Short gaps (2..``max_gap`` columns) that other ink covers: followed under that ink, else left empty.

    A short gap is a dash/dot gap — interpolated by :func:`_fill_gaps` — unless other ink lies on the straight path
    across it (within lw + 1 px): then the line passes under another stroke there (a crossing, another series'
    peak or noisy band over it), and a straight line across the gap may cut through a peak of its own. Such a gap is
    followed under the other ink as long gaps are (:func:`_follow_under`); if it cannot be followed to where the line
    shows again, its columns stay empty (``empty``) instead of being interpolated. Returns the line with followed
    gaps filled and the mask of columns to leave empty. ``other`` is the other ink (a pixel of it within lw + 1 rows
    of the path covers the gap); ``runs_of_other`` gives its column runs, made only when a gap is covered.
    """
    idx = np.flatnonzero(~np.isnan(y))
    out = y.copy()
    empty = np.zeros(y.size, bool)
    tol = lw + 1
    for a, b in zip(idx[:-1], idx[1:], strict=False):
        if not 1 < b - a <= max_gap + 1:
            continue
        ya, yb = float(y[a]), float(y[b])
        occluded = False
        for x in range(a + 1, b):
            yi = ya + (yb - ya) * (x - a) / (b - a)
            r0, r1 = max(0, int(np.ceil(yi - tol))), min(h - 1, int(np.floor(yi + tol)))
            if r0 <= r1 and other[r0 : r1 + 1, x].any():
                occluded = True
                break
        if not occluded:
            continue
        got = _follow_under(ya, range(a + 1, b), runs_of_other(), lw, h, max_gap)
        if got is not None and abs(got[1] - yb) <= max(tol, 3 * lw + 2):
            out[a + 1 : b] = got[0]
        else:
            empty[a + 1 : b] = True
    return out, empty


def _drop_detached(y: np.ndarray, lw: float, max_gap: int, h: int) -> np.ndarray:
    """Remove short pieces of a track that a long gap and a jump separate from the rest (legend samples, marks).

    After a long miss the tracker accepts a run far from the track's last level (a line coming back after a hidden
    stretch may have moved), so a legend sample or a stray mark of the line's colour can start or end a track, or
    sit in its middle. A piece (visible columns between gaps longer than ``max_gap``) is not that line when it has
    under 15 % of the track's visible columns and lies more than max(6 lw + 4, 10 % of the box) from its neighbours
    on every side it has one — while those neighbours, for a middle piece, agree with each other.
    """
    idx = np.flatnonzero(~np.isnan(y))
    if idx.size < 2:
        return y
    br = np.flatnonzero(np.diff(idx) > max_gap + 1)
    if br.size == 0:
        return y
    pieces = np.split(idx, br + 1)
    thr = max(6 * lw + 4, 0.1 * h)
    n = idx.size
    out = y.copy()
    for i, pc in enumerate(pieces):
        if pc.size >= 0.15 * n:
            continue
        jumps = []
        if i > 0:
            jumps.append(abs(float(y[pc[0]]) - float(y[pieces[i - 1][-1]])))
        if i + 1 < len(pieces):
            jumps.append(abs(float(y[pc[-1]]) - float(y[pieces[i + 1][0]])))
        if not all(j > thr for j in jumps):
            continue
        if 0 < i < len(pieces) - 1 and abs(float(y[pieces[i + 1][0]]) - float(y[pieces[i - 1][-1]])) > thr:
            continue
        out[pc] = np.nan
    return out


def _drop_fringe_specks(m: np.ndarray, other: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """A colour's pixels without the pieces that are only another stroke's fringe.

    At the anti-aliased edge of a stroke (a peak's flank, a noisy band) a faint pixel can come out nearer another
    series' colour than its own (an edge pixel of vermillion at α ≈ 0.3 fits orange's blend as well). Such a piece —
    a connected component (8-connectivity) all of whose pixels touch another tracked colour's strong ink (``other``)
    and none of which is drawn strongly in this colour (``strong``: α ≥ ½) — is dropped: joined across the other
    stroke to the line's own run (:func:`joined_runs`) it made one-column spikes to the other series' peaks. A hidden
    line's slivers peeking out beside an occluder are drawn strongly in their colour and stay.
    """
    if not other.any():
        return m
    near = cv2.dilate(other.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if not (m & near & ~strong).any():
        return m  # every piece has a pixel of its own
    n, lab_, _stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    own = np.bincount(lab_[m & (~near | strong)], minlength=n)
    drop = own == 0
    drop[0] = False
    return m & ~drop[lab_] if drop.any() else m


def _fill_gaps(y: np.ndarray, max_gap: int) -> tuple[np.ndarray, float]:
    """Interpolate gaps up to ``max_gap`` columns (dashes, dots, short occlusions); longer gaps stay empty.

    (Leaving a gap empty wherever the interpolated path runs over other ink — a line hidden behind another — was
    tried: it cost more on overlaid lines that share a baseline than it gained at occluded peaks; dev seeds 0–59.)
    """
    idx = np.flatnonzero(~np.isnan(y))
    if idx.size < 2:
        return y, 0.0
    out = y.copy()
    extent = idx[-1] - idx[0] + 1
    coverage = idx.size / extent
    for a, b in zip(idx[:-1], idx[1:], strict=False):
        if 1 < b - a <= max_gap + 1:
            out[a + 1 : b] = np.interp(np.arange(a + 1, b), [a, b], [y[a], y[b]])
    return out, float(coverage)


def extract_lines(
    rgb: np.ndarray, ink: np.ndarray, exclude: np.ndarray | None = None, min_extent: float = 0.08
) -> list[Track]:
    """Tracks (one y per column, NaN = absent) of every plotted line in a cleaned box crop."""
    h, w = ink.shape
    mask = remove_grid(rgb, ink)
    if exclude is not None:
        mask &= ~exclude
    lab = _lab(rgb)
    bgc = np.median(rgb[~ink], axis=0).astype(np.float32) if (~ink).any() else np.full(3, 255, np.float32)
    bg_lab = _lab(bgc.reshape(1, 1, 3)).reshape(3)
    centres = cluster_colors(lab, mask, bg_lab=bg_lab)
    tracks: list[Track] = []
    if not centres:
        return tracks
    # colours in RGB; a cluster that is only an anti-aliased blend of a stronger one with the background merges
    rgb_c = [cv2.cvtColor(c.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_LAB2RGB).reshape(3) * 255 for c in centres]
    order = sorted(range(len(centres)), key=lambda i: -float(np.abs(rgb_c[i] - bgc).max()))
    # provisional pixels of each centre (nearest in Lab): an anti-aliased blend lies along its parent's strokes,
    # a separate line (e.g. JPEG-desaturated blue dots next to black ones) mostly does not
    near = np.argmin(np.stack([np.linalg.norm(lab[mask] - c, axis=1) for c in centres]), axis=0)
    prov = np.full(mask.shape, -1, dtype=np.int32)
    prov[mask] = near

    grown: dict[int, np.ndarray] = {}  # a kept cluster's provisional pixels grown by one, made once

    def beside(mi: np.ndarray, j: int) -> float:
        """Share of cluster i's provisional pixels (``mi``) lying on or next to cluster j's."""
        if not mi.any():
            return 1.0
        if j not in grown:
            grown[j] = cv2.dilate((prov == j).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        return float(grown[j][mi].mean())

    # a cluster merges into a kept one when it is that colour's anti-aliased blend with the background lying along
    # its strokes, or a similar colour nearly all of whose pixels lie along that colour's strokes (JPEG ringing gives
    # darker and lighter fringes); distinct lines, even sharing a baseline, lie beside each other far less
    keep: list[int] = []
    parent: dict[int, int] = {}
    for i in order:
        best_j, best_b = -1, 0.0
        mi = prov == i
        for j in keep:
            alpha, res = _blend(rgb_c[i][None, :], rgb_c[j], bgc)
            near_colour = res[0] < 45 or float(np.linalg.norm(centres[i] - centres[j])) < 25
            if not near_colour:  # both tests below need it (res < 22 is near in colour too)
                continue
            b_ij = beside(mi, j)
            if (res[0] < 22 and alpha[0] < 0.92 and b_ij >= 0.5) or (b_ij >= 0.75 and near_colour):
                if b_ij > best_b:
                    best_j, best_b = j, b_ij
        if best_j >= 0:
            parent[i] = best_j
        else:
            keep.append(i)
    pts = rgb[mask].astype(np.float32)
    best_res = np.full(len(pts), np.inf)
    best_k = np.full(len(pts), -1)
    strong: dict[int, np.ndarray] = {}  # per colour: the ink pixels drawn at least half in it
    for k in keep:
        alpha, res = _blend(pts, rgb_c[k], bgc)
        strong[k] = np.zeros(mask.shape, bool)
        strong[k][mask] = alpha >= 0.5
        res = np.where(alpha >= 0.3, res, np.inf)
        better = res < best_res
        best_res[better], best_k[better] = res[better], k
    # pixels no kept colour explains go to the parent of their provisional (merged) cluster, if any
    fallback = np.array([parent.get(int(c), int(c) if int(c) in keep else -1) for c in range(len(centres))])
    assigned = np.where(best_res < 35, best_k, fallback[near])
    labels = np.full(mask.shape, -1, dtype=np.int32)
    labels[mask] = assigned
    # every tracked colour's strongly drawn pixels (light-grey clusters are not tracked)
    solid = np.zeros(mask.shape, bool)
    for ci in keep:
        L, a, b = (float(v) for v in centres[ci])
        if not (L > 80 and float(np.hypot(a, b)) < 12):
            solid |= (labels == ci) & strong[ci]
    for ci in keep:
        c = centres[ci]
        L, a, b = (float(v) for v in c)
        chroma = float(np.hypot(a, b))
        if L > 80 and chroma < 12:
            continue  # light grey: frames, fills, shading
        m = labels == ci
        rgbc = np.median(rgb[m], axis=0) if m.any() else np.zeros(3)
        m = _drop_fringe_specks(m, solid & (labels != ci), strong[ci])
        info: dict[str, float] = {}
        other = mask & ~m
        ys_c = _track_cluster(m, other, strong.get(ci), info)
        runs_of_other = _lazy_runs(other)  # the other ink's column runs, made when a track first needs them

        for y in ys_c:
            y = _drop_detached(y, info.get("lw", 2.0), GAP, h)
            idx = np.flatnonzero(~np.isnan(y))
            if idx.size < max(8, min_extent * w):
                continue
            # coverage counts the line's own columns only (not the ones followed under other ink)
            cov = _fill_gaps(y, GAP)[1]
            if cov < 0.25:
                continue
            lw_c = info.get("lw", 2.0)
            y_s, empty = _short_occluded(y, other, runs_of_other, lw_c, GAP, h)
            y2 = _fill_gaps(y_s, GAP)[0]
            y2[empty] = np.nan
            vis = np.flatnonzero(~np.isnan(y2))
            if (np.diff(vis) > GAP + 1).any():
                y2 = _fill_hidden(y2, runs_of_other(), lw_c, GAP, h)
            y2 = _extend_hidden_ends(y2, runs_of_other, lw_c, GAP, h)
            dark = float(np.mean(rgbc)) < 120 and float(np.ptp(rgbc)) < 60
            if dark and idx.size >= 0.9 * w and float(np.ptp(y[idx])) <= 1.5:
                continue  # a straight dark rule across the box (frame, zero line), not data
            conf = float(min(1.0, cov) * min(1.0, idx.size / (0.5 * w)) ** 0.5)
            color = (int(rgbc[0]), int(rgbc[1]), int(rgbc[2]))
            tracks.append(Track(color, y2, conf, meta={"coverage": cov}))
    return tracks
