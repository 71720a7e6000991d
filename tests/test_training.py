"""The training commands (``training/``, outside the runtime package) still produce checkpoints of the shape the
shipped, checksum-registered weights have. Short smoke runs on a small structure source; the full recipes are in
each module's docstring and in docs/."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from matsearch.encoders.weights import locate


def _shapes(path: Path) -> dict[str, tuple[int, ...]]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}


def test_train_xrd_smoke_reproduces_shipped_shape(tmp_path: Path) -> None:
    from training import train_xrd

    out = tmp_path / "xrd-cnn.pt"
    args = ["--minutes", "0.15", "--views", "1", "--batch", "16", "--limit", "24", "--sources", "ase"]
    assert train_xrd.main([*args, "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert _shapes(out) == _shapes(locate("xrd-cnn"))


def test_train_stem_smoke_reproduces_shipped_shape(tmp_path: Path) -> None:
    from training import train_stem

    out = tmp_path / "stem-cnn.pt"
    train_stem.main(
        [
            "--minutes",
            "0.1",
            "--steps",
            "3",
            "--max-structures",
            "6",
            "--sources",
            "ase",
            "--classes-per-batch",
            "4",
            "--views-per-class",
            "2",
            "--workers",
            "1",
            "--threads",
            "1",
            "--out",
            str(out),
            "--log",
            str(tmp_path / "stem.log"),
        ]
    )
    assert _shapes(out) == _shapes(locate("stem-cnn"))


@pytest.mark.filterwarnings("ignore")
def test_train_panel_type_smoke_reproduces_shipped_shape(tmp_path: Path) -> None:
    """The shape of the shipped file, and the same bytes on a re-run (so the documented command gives the shipped
    file: ``save_reproducible`` replaces the random serialization id torch writes into every file)."""
    from training import train_panel_type

    args = ["--per-class", "3", "--test-per-class", "2", "--extra-per-kind", "1", "--real-splits", ""]
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        train_panel_type.main([*args, "--out", str(tmp_path / name / "panel-type.pt")])
    one, two = (tmp_path / name / "panel-type.pt" for name in ("one", "two"))
    assert _shapes(one) == _shapes(locate("panel-type"))
    assert one.read_bytes() == two.read_bytes()


def test_compare_weights_tells_float_noise_from_another_recipe(tmp_path: Path) -> None:
    """A re-run on another machine gives tensors a few float bits off (other bytes, other SHA-256): compare_weights
    calls that the same recipe within tolerance, and a changed tensor or recipe different."""
    import json

    import torch

    from training.train_panel_type import compare_weights, save_reproducible

    def state(coef: torch.Tensor, meta: dict[str, int]) -> dict[str, object]:
        z = torch.zeros(3)
        return {
            "classes": ["a", "b"],
            "mean": z,
            "std": z + 1,
            "coef": coef,
            "intercept": torch.zeros(2),
            "meta": json.dumps(meta),
        }

    coef = torch.arange(6, dtype=torch.float32).reshape(2, 3) / 7
    paths = [tmp_path / f"{k}.pt" for k in range(4)]
    save_reproducible(state(coef, {"seed": 0}), paths[0])
    save_reproducible(state(coef + 3e-7, {"seed": 0}), paths[1])
    save_reproducible(state(coef + 1e-3, {"seed": 0}), paths[2])
    save_reproducible(state(coef, {"seed": 1}), paths[3])
    assert paths[0].read_bytes() != paths[1].read_bytes()
    assert compare_weights(paths[0], paths[1]).startswith("same recipe")
    assert compare_weights(paths[0], paths[2]).startswith("different")
    assert compare_weights(paths[0], paths[3]).startswith("different recipe")


def test_panel_type_weights_match_the_real_annotations(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped panel-type weights record a digest of the real dev panels they were trained on (files, image
    SHA-256s, labels, boxes, types); it must match today's annotations (else: retrain, see docs/figures.md), and
    it changes when an annotation does."""
    import json

    from bench import eval_real_figures
    from training.train_panel_type import real_digest

    meta = json.loads(torch.load(locate("panel-type"), map_location="cpu", weights_only=True)["meta"])
    assert meta["real_digest"] == real_digest(meta["real_splits"])
    panels, manifest = eval_real_figures.panel_annotations(), eval_real_figures.figures()
    name = next(n for n in sorted(panels) if manifest[n]["split"] in meta["real_splits"] and panels[n])
    k = next(k for k, p in enumerate(panels[name]) if not p.get("type_ambiguous"))
    p = panels[name][k]
    for changed in (dict(p, bbox=[0, 0, 9, 9]), dict(p, type="other" if p["type"] != "other" else "photo")):
        edited = dict(panels, **{name: panels[name][:k] + [changed] + panels[name][k + 1 :]})
        monkeypatch.setattr(eval_real_figures, "panel_annotations", lambda edited=edited: edited)
        assert real_digest(meta["real_splits"]) != meta["real_digest"]
