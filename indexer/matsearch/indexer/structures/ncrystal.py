"""Crystal structures from NCrystal's data library (``.ncmat`` files, Apache-2.0) → ``data/ncrystal_structures.json``.

NCrystal (https://mctools.github.io/ncrystal/) ships ~130 materials for neutron transport; the crystalline ones
carry a unit cell, a space group and the full list of atom positions, converted by the NCrystal developers from
COD / AMCSD entries of published structures (each file's header cites its source). They are exactly the phases a
powder lab meets daily and the bundled library lacked: metals (Al, Cu, Ni, Fe α/γ, W, Mo, Ti, Zr, …), halides,
hydroxides (brucite, portlandite), carbonates (aragonite, magnesite), quartz, forsterite, spinel, YAG, …

The conversion is run once by a developer and its output committed (the library build stays offline, one command)::

    apt-get download libncrystal-data=3.4.1+ds1-1 && dpkg-deb -x libncrystal-data_*.deb x
    python -m matsearch.indexer.structures.ncrystal x/usr/share/NCrystal/data

Only the structural sections are read (``@CELL``, ``@SPACEGROUP``, ``@ATOMPOSITIONS``; the dynamics are not
needed for X-ray patterns); gases, liquids, amorphous polymers (no ``@CELL``) and deuterated materials are skipped.
"""

from __future__ import annotations

import json
import re
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

NCRYSTAL_FILE = Path(__file__).resolve().parent / "data" / "ncrystal_structures.json"
NCRYSTAL_LICENCE = (
    "Apache-2.0 (NCrystal data library, © NCrystal developers); structures from the COD/AMCSD entries cited"
)
NCRYSTAL_VERSION = "libncrystal-data 3.4.1+ds1-1 (Debian bookworm)"


def _number(token: str) -> float:
    return float(Fraction(token)) if "/" in token else float(token)


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("@"):
            current = line[1:].split()[0].upper()
            out.setdefault(current, [])
        elif current is not None:
            out[current].append(line)
    return out


def _header(text: str) -> str:
    """The file's leading comment block up to the dynamics notes: what the material is and where its structure is
    from (authors, journal, COD/AMCSD entry)."""
    lines: list[str] = []
    for raw in text.splitlines()[1:]:
        if not raw.startswith("#"):
            break
        body = raw[1:].strip()
        if re.match(r"(The VDOS|References:|The VDOS curves|Due to the low)", body):
            break
        lines.append(body)
    return " ".join(" ".join(lines).split())


def parse_ncmat(text: str, name: str) -> dict[str, Any] | None:
    """The structure of one ``.ncmat`` text as a JSON-ready dict, or None when it has no crystal structure.
    ValueError names the problem when the structure sections are malformed."""
    if not text.startswith("NCMAT"):
        raise ValueError(f"{name}: not an NCMAT file")
    sec = _sections(text)
    if "CELL" not in sec or "ATOMPOSITIONS" not in sec or "SPACEGROUP" not in sec:
        return None
    cell: dict[str, float] = {}
    for line in sec["CELL"]:
        key, *vals = line.split()
        key = key.lower()
        if key == "cubic":
            a = _number(vals[0])
            cell.update(a=a, b=a, c=a, alpha=90.0, beta=90.0, gamma=90.0)
        elif key in ("lengths", "angles"):
            names = ("a", "b", "c") if key == "lengths" else ("alpha", "beta", "gamma")
            prev: float | None = None
            for n, v in zip(names, vals, strict=True):
                value = prev if v == "!!" else _number(v)
                if value is None:
                    raise ValueError(f"{name}: '!!' with no previous value in @CELL")
                cell[n] = value
                prev = value
        else:
            raise ValueError(f"{name}: unknown @CELL keyword {key!r}")
    if set(cell) != {"a", "b", "c", "alpha", "beta", "gamma"}:
        raise ValueError(f"{name}: incomplete @CELL {cell}")
    sites = []
    for line in sec["ATOMPOSITIONS"]:
        el, *xyz = line.split()
        if len(xyz) != 3:
            raise ValueError(f"{name}: bad atom position line {line!r}")
        sites.append([el, [round(_number(v) % 1.0, 10) for v in xyz]])
    cod = re.search(r"crystallography\.net/cod/(\d+)", text)
    amcsd = re.search(r"entry (\d+) in the AMCSD", text)
    return {
        "id": name.removesuffix(".ncmat"),
        "file": name,
        "spacegroup_number": int(sec["SPACEGROUP"][0].split()[0]),
        "cell": cell,
        "sites": sites,
        "about": _header(text),
        **({"cod_id": cod.group(1)} if cod else {}),
        **({"amcsd_id": amcsd.group(1)} if amcsd else {}),
    }


def convert(directory: Path) -> dict[str, Any]:
    """Every crystalline, non-deuterated ``.ncmat`` file of ``directory`` (sorted by name)."""
    out = []
    for path in sorted(directory.glob("*.ncmat")):
        item = parse_ncmat(path.read_text(), path.name)
        if item is None or any(el == "D" for el, _ in item["sites"]):
            continue
        out.append(item)
    return {
        "_about": (
            "Crystal structures (cell, space group, all atom positions) read from NCrystal's data library by "
            "matsearch.indexer.structures.ncrystal; the header of each NCrystal file (source, authors, COD/AMCSD "
            "entry) is kept under 'about'."
        ),
        "licence": NCRYSTAL_LICENCE,
        "from": NCRYSTAL_VERSION,
        "structures": out,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m matsearch.indexer.structures.ncrystal <NCrystal data dir>", file=sys.stderr)
        return 2
    doc = convert(Path(args[0]))
    NCRYSTAL_FILE.write_text(json.dumps(doc, indent=0, ensure_ascii=False) + "\n")
    print(f"{len(doc['structures'])} structures -> {NCRYSTAL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
