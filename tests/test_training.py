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
    from training import train_panel_type

    out = tmp_path / "panel-type.pt"
    args = ["--per-class", "3", "--test-per-class", "2", "--extra-per-kind", "1", "--real-splits", ""]
    train_panel_type.main([*args, "--out", str(out)])
    assert _shapes(out) == _shapes(locate("panel-type"))
