"""Session-6 real measured XRD patterns (``bench/annotations/xrd_real6.json``): where each file comes from.

Two kinds of ``source`` (an entry's ``"source": {"kind": ...}``):

- ``"deb"``: a Debian package whose licence (GPL) allows use but is not ours to commit: ``apt-get download
  NAME=VERSION``, ``dpkg-deb -x``, and the ``member`` converted by ``extract`` into
  ``~/.cache/matsearch/realdata/xrd/s6x/<package>/<file>`` — ``"fox-xml"``: the observed pattern named ``pattern`` in
  an ObjCryst++/Fox XML file (2θ, counts and the file's wavelength, written as ``.xy`` with the wavelength in its
  header), ``"copy"``: the member as it is. ``sha256`` (of the written file) is checked.
- ``"repo"``: a small text file committed under ``bench/realdata_xrd/`` (MIT and BSD-style licences; the licence,
  repository, path and commit of each are in the ``ATTRIBUTION.md`` beside them and in the entry).

Nothing here touches the network except ``apt-get download`` (a Debian registry). Run once:
``python -m bench.fetch_xrd_realdata6`` (root or a user who may run ``apt-get download``; ``apt-get update`` first
on a fresh machine).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ANNOTATIONS6 = Path(__file__).parent / "annotations" / "xrd_real6.json"
COMMITTED = Path(__file__).parent / "realdata_xrd"
CACHE6 = Path.home() / ".cache" / "matsearch" / "realdata" / "xrd" / "s6x"
SPLITS6 = ("dev6x", "heldout6x")


def split_of(unit: str) -> str:
    """The fixed session-6 split of a source unit (a Debian package or a repository): first hex digit of
    sha256("s6x:" + unit) 0–7 → held-out6x, else dev6x."""
    return "heldout6x" if int(hashlib.sha256(f"s6x:{unit}".encode()).hexdigest()[0], 16) < 8 else "dev6x"


def wavelength_arg(entry: dict[str, Any]) -> float | str | None:
    """The wavelength to pass to the reader: a number or a line name; ``"file"`` (or anything else) → None, so
    that the instrument file's own wavelength is used (as ``bench.eval_xrd_real.load_pattern`` does)."""
    wl = entry.get("wavelength")
    return wl if isinstance(wl, int | float) or wl in ("CuKa1", "CuKa") else None


def local_path(entry: dict[str, Any]) -> Path:
    """Where the entry's file is on this machine (committed, or in the cache after ``fetch6``)."""
    src = entry["source"]
    if src["kind"] == "repo":
        return COMMITTED / src["file"]
    if src["kind"] == "deb":
        return CACHE6 / src["package"] / src["file"]
    raise ValueError(f"{entry['id']}: unknown source kind {src['kind']!r}")


def fox_pattern(xml_bytes: bytes, pattern: str) -> tuple[list[float], list[float], float]:
    """2θ (degrees), observed counts and wavelength (Å) of the powder pattern named ``pattern`` in a Fox XML file."""
    if xml_bytes[:2] == b"\x1f\x8b":
        xml_bytes = gzip.decompress(xml_bytes)
    root = ET.fromstring(xml_bytes)
    for pp in root.iter("PowderPattern"):
        if pp.get("Name") != pattern:
            continue
        wl_el = pp.find("Radiation/Par[@Name='Wavelength']")
        if wl_el is None or wl_el.text is None:
            raise ValueError(f"{pattern}: no wavelength")
        wavelength = float(wl_el.text)
        regular = pp.find("IobsSigmaWeightList")
        if regular is not None and regular.text:
            vals = [float(v) for v in regular.text.split()]
            t0, step = float(regular.get("TThetaMin", "nan")), float(regular.get("TThetaStep", "nan"))
            counts = vals[0::3]
            return [t0 + step * i for i in range(len(counts))], counts, wavelength
        listed = pp.find("XIobsSigmaWeightList")
        if listed is not None and listed.text:
            vals = [float(v) for v in listed.text.split()]
            return vals[0::4], vals[1::4], wavelength
        raise ValueError(f"{pattern}: no observed data")
    raise ValueError(f"no powder pattern named {pattern!r}")


def _deb_member(package: str, version: str, member: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "-q", f"{package}={version}"], cwd=tmp, check=True)
        (deb,) = list(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True)
        return (Path(tmp) / "x" / member).read_bytes()


def fetch6(entry: dict[str, Any]) -> Path:
    """The entry's file, fetched and converted into the cache when it is a Debian member not yet there."""
    target = local_path(entry)
    src = entry["source"]
    if target.exists() or src["kind"] == "repo":
        if not target.exists():
            raise FileNotFoundError(f"{entry['id']}: committed file {target} is missing")
        return target
    raw = _deb_member(src["package"], src["version"], src["member"])
    if src["extract"] == "fox-xml":
        x, y, wl = fox_pattern(raw, src["pattern"])
        head = (
            f"# {src['pattern']} from Debian package {src['package']} {src['version']}, {src['member']}\n"
            f"# wavelength = {wl} A (the Fox file's)\n# x = 2theta (deg), y = observed counts\n"
        )
        data = (head + "".join(f"{a:.4f} {b:g}\n" for a, b in zip(x, y, strict=True))).encode()
    elif src["extract"] == "copy":
        data = raw
    else:
        raise ValueError(f"{entry['id']}: unknown extract {src['extract']!r}")
    digest = hashlib.sha256(data).hexdigest()
    if src.get("sha256") and digest != src["sha256"]:
        raise ValueError(f"{entry['id']}: sha256 {digest} differs from the annotation's {src['sha256']}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def main() -> int:
    manifest = json.loads(ANNOTATIONS6.read_text())
    for entry in manifest["patterns"]:
        print(f"{entry['id']}: {fetch6(entry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
