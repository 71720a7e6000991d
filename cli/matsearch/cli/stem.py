"""STEM commands: ``matsearch stem simulate`` (image of a structure along a zone axis) and ``matsearch stem zones``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from matsearch.cli.output import emit
from matsearch.core.errors import BadInput

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")


def _structure(source: str) -> tuple[Any, str]:
    """(conventional structure, label) from a CIF path or a library structure id."""
    path = Path(source)
    if path.exists():
        from matsearch.indexer.structures import load_cif_path

        entries = load_cif_path(path)
        if not entries:
            raise BadInput(f"{source}: no structure found in the file")
        return entries[0].conventional, entries[0].formula
    from matsearch.indexer.structures import load_library

    entry = load_library().get(source)  # NotFound names the problem
    return entry.conventional, f"{entry.id} {entry.formula}"


def _zone(text: str) -> tuple[int, int, int]:
    parts = text.replace("[", "").replace("]", "").replace(" ", "").split(",")
    try:
        zone = tuple(int(p) for p in parts)
    except ValueError:
        raise BadInput(f"--zone must be three integers like 0,0,1 or 1,-1,0, got {text!r}") from None
    if len(zone) != 3 or zone == (0, 0, 0):
        raise BadInput(f"--zone must be three integers, not all zero, like 0,0,1; got {text!r}")
    return zone[0], zone[1], zone[2]


@click.group("stem")
def stem() -> None:
    """Simulated STEM images of crystal structures (the images the stem collection is built from)."""


@stem.command("simulate")
@click.argument("structure")
@click.option("--zone", default="0,0,1", show_default=True, help="Zone axis [uvw] of the conventional cell.")
@click.option("--mode", type=click.Choice(["haadf", "adf", "abf"]), default="haadf", show_default=True)
@click.option("--size", type=click.IntRange(16, 4096), default=256, show_default=True, help="Image side, px.")
@click.option("--nm-per-px", type=click.FloatRange(0.001, 0.1), default=0.025, show_default=True)
@click.option("--thickness", type=click.FloatRange(1, 5000), default=100.0, show_default=True, help="Å")
@click.option("--probe", type=click.FloatRange(0.3, 5), default=0.9, show_default=True, help="Probe FWHM, Å.")
@click.option("--rotation", type=float, default=0.0, show_default=True, help="In-plane rotation, degrees.")
@click.option("--dose", type=click.FloatRange(1, 1e7), help="Electrons per pixel (Poisson noise); default none.")
@click.option("--drift", type=float, default=0.0, show_default=True, help="Scan shear (fraction).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True, help=".png/.tif/.npy")
@json_option
def simulate_cmd(
    structure: str,
    zone: str,
    mode: str,
    size: int,
    nm_per_px: float,
    thickness: float,
    probe: float,
    rotation: float,
    dose: float | None,
    drift: float,
    seed: int,
    output: Path,
    as_json: bool,
) -> None:
    """Simulate STRUCTURE (a CIF file or a library id such as mbd-00042) along --zone and write --output."""
    import numpy as np

    from matsearch.indexer.stem.simulate import SimParams, project_structure, render

    conv, label = _structure(structure)
    z = _zone(zone)
    params = SimParams(
        size=(size, size),
        px=nm_per_px * 10.0,
        mode=mode,  # type: ignore[arg-type]
        probe_fwhm=probe,
        thickness=thickness,
        rotation=rotation,
        dose=dose,
        drift=(drift, 0.0),
        seed=seed,
    )
    try:
        img = render(project_structure(conv, z), params)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    suffix = output.suffix.lower()
    if suffix == ".npy":
        np.save(output, img)
    elif suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(output, (img * 65535).astype(np.uint16))
    elif suffix == ".png":
        from PIL import Image

        Image.fromarray((img * 65535).astype(np.uint16)).save(output)
    else:
        raise BadInput(f"--output must end in .png, .tif or .npy, got {output.name!r}")
    info = {"output": str(output), "structure": label, "zone": list(z), "nm_per_px": nm_per_px} | params.to_payload()
    emit(info, as_json, f"wrote {output} ({label}, zone {list(z)}, {size}x{size} px at {nm_per_px} nm/px)")


@stem.command("zones")
@click.argument("structure")
@json_option
def zones_cmd(structure: str, as_json: bool) -> None:
    """The zone axes the stem library simulates for STRUCTURE (CIF file or library id)."""
    from matsearch.indexer.stem.zones import select_zones, zone_label

    conv, label = _structure(structure)
    _, views = select_zones(conv)
    rows = [
        {
            "zone_axis": zone_label(v.zone),
            "period_angstrom": round(v.projection.period, 3),
            "columns": v.projection.n_columns,
        }
        for v in views
    ]
    emit(
        {"structure": label, "zones": rows},
        as_json,
        "\n".join(
            [label] + [f"  {r['zone_axis']:<10} period {r['period_angstrom']} Å, {r['columns']} columns" for r in rows]
        ),
    )


def register(groups: dict[str, click.Group]) -> None:
    groups["cli"].add_command(stem)
