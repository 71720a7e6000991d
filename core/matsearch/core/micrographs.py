"""Microscope files → one 2-D image and its calibrated pixel size, read with rosettasciio (HyperSpy's readers).

Formats: Gatan DigitalMicrograph ``.dm3``/``.dm4``, Velox / Berkeley ``.emd``, FEI TIA ``.ser`` (its ``.emi`` holds
only metadata and needs the ``.ser`` beside it), ``.mrc``, HyperSpy ``.hspy`` and TIFF with instrument tags (FEI/
Thermo, Zeiss, Olympus SIS, ImageJ, DM-exported, TVIPS ...). The pixel size comes from the file's own axes
(scale + unit) and is returned in nm/px; an uncalibrated file (no unit, or a scale of 1 without a length unit)
gives ``nm_per_px = None`` and says so.

A file can hold several signals (a Velox ``.emd`` with HAADF + EDS, a DM file with several images): we take the
first 2-D image whose axes are lengths, preferring one whose title names a STEM detector. Image stacks (time
series, frame series, a 4-D scan) are reduced to one frame — the first (default) or the sum of all frames — and
``frames_note`` says which, so an answer can report it.

rosettasciio reads from a path, so the bytes go to a private temporary file that is removed afterwards. Upload
size and pixel-count limits are those of ``matsearch.core.images`` (checked before any pixel is decoded).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from matsearch.core.errors import BadInput, TooLarge, UnsupportedMedia
from matsearch.core.images import check_pixels
from matsearch.core.settings import Settings

Stack = Literal["first", "sum"]

# extension → rosettasciio plug-in module
READERS: dict[str, str] = {
    ".dm3": "digitalmicrograph",
    ".dm4": "digitalmicrograph",
    ".emd": "emd",
    ".ser": "tia",
    ".mrc": "mrc",
    ".hspy": "hspy",
    ".tif": "tiff",
    ".tiff": "tiff",
}
MICROSCOPE_SUFFIXES = tuple(s for s in READERS if s not in (".tif", ".tiff"))
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_DETECTOR_WORDS = ("haadf", "adf", "abf", "bf", "df", "stem", "maadf", "idpc", "dpc")

_TO_NM = {
    "m": 1e9,
    "mm": 1e6,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "nm": 1.0,
    "a": 0.1,
    "å": 0.1,
    "Å": 0.1,
    "angstrom": 0.1,
    "pm": 1e-3,
}


@dataclass
class Micrograph:
    """One image from a microscope file."""

    data: np.ndarray  # 2-D float64
    nm_per_px: float | None  # from the file's axes; None when the file is not calibrated
    format: str  # rosettasciio reader used
    title: str = ""
    frames: int = 1  # frames in the file's stack (1 = a single image)
    stack: Stack = "first"
    calibration: str = ""  # how the pixel size was found, e.g. "file axes: 0.0075 nm"
    notes: list[str] = field(default_factory=list)

    @property
    def frames_note(self) -> str:
        if self.frames <= 1:
            return "single frame"
        if self.stack == "sum":
            return f"sum of {self.frames} frames"
        return f"first of {self.frames} frames"

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "title": self.title,
            "frames": self.frames,
            "frames_used": self.frames_note,
            "nm_per_px": self.nm_per_px,
            "calibration": self.calibration,
            "shape": list(self.data.shape),
            "notes": list(self.notes),  # e.g. a skipped EDS spectrum image, non-square pixels
        }


def suffix_of(filename: str) -> str:
    return os.path.splitext(filename or "")[1].lower()


def is_microscope_file(data: bytes, filename: str) -> bool:
    """A format only rosettasciio reads (by extension, or HDF5 / DM magic bytes). TIFFs are read by it too, but
    ``read_micrograph`` is also fine for them; callers decide."""
    suf = suffix_of(filename)
    if suf in MICROSCOPE_SUFFIXES:
        return True
    head = data[:8]
    return head == _HDF5_MAGIC or head[:4] in (b"\x00\x00\x00\x03", b"\x00\x00\x00\x04")


def to_nm(scale: float, unit: Any) -> float | None:
    """A length per pixel in nm, or None when the unit is not a length."""
    if unit is None:
        return None
    u = str(unit).strip()
    factor = _TO_NM.get(u, _TO_NM.get(u.lower()))
    if factor is None or not math.isfinite(scale) or scale <= 0:
        return None
    return float(scale) * factor


def is_reciprocal(unit: Any) -> bool:
    """An inverse length ('1/nm', 'nm^-1', '1/Å' ...): the axis of a diffraction pattern or an FFT, not of an image."""
    u = str(unit or "").strip().replace(" ", "").lower()
    for pre in ("1/", "/"):
        if u.startswith(pre) and u[len(pre) :] in _TO_NM:
            return True
    return any(u.endswith(suf) and u[: -len(suf)] in _TO_NM for suf in ("^-1", "-1", "⁻¹"))


def _reader(name: str) -> Any:
    """The rosettasciio plug-in (imported on first use: it pulls in dask and h5py)."""
    if name == "digitalmicrograph":
        from rsciio import digitalmicrograph

        return digitalmicrograph
    if name == "emd":
        from rsciio import emd

        return emd
    if name == "tia":
        from rsciio import tia

        return tia
    if name == "mrc":
        from rsciio import mrc

        return mrc
    if name == "hspy":
        from rsciio import hspy

        return hspy
    if name == "tiff":
        from rsciio import tiff

        return tiff
    raise UnsupportedMedia(f"no reader for {name!r} files")


def _read_emd(path: str, lazy: bool) -> tuple[Any, str | None]:
    """rosettasciio's EMD reader, images only (``select_type="images"``: a Velox file's spectra are not decoded).

    A Velox file that also holds an EDS spectrum image (the usual HAADF + EDS acquisition) needs the optional
    ``sparse`` package for the spectra, and rosettasciio raises on its absence *after* it has read the images. We
    only want an image, so then the images already read are used, and the returned note says the EDS part was
    skipped (second element; None when nothing was skipped)."""
    emd = _reader("emd")
    try:
        return emd.file_reader(path, lazy=lazy, select_type="images"), None
    except ModuleNotFoundError as exc:
        if "sparse" not in str(exc):
            raise
    import h5py
    from rsciio.emd._emd_velox import FeiEMDReader

    reader = FeiEMDReader(lazy=lazy, select_type="images")
    fh = h5py.File(path, "r")
    try:
        reader.read_file(fh)
    except ModuleNotFoundError:  # raised after the images were read: keep them
        pass
    finally:
        if not lazy:
            fh.close()
    if not reader.dictionaries:
        raise BadInput("the Velox file's images could not be read without the 'sparse' package")
    return reader.dictionaries, "the file's EDS spectrum image was not read (images only)"


def _signal_axes(axes: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nav = [a for a in axes if a.get("navigate")]
    sig = [a for a in axes if not a.get("navigate")]
    return nav, sig


def _kind(d: dict[str, Any]) -> str:
    """What a dataset is, for the error message: '2-D signal', '2-D complex signal (an FFT?)', '2-D RGB signal'."""
    n = len(_signal_axes(d.get("axes") or [])[1])
    dtype = getattr(d.get("data"), "dtype", None)
    if dtype is not None and dtype.names:
        return f"{n}-D RGB signal"
    if dtype is not None and dtype.kind == "c":
        return f"{n}-D complex signal (an FFT?)"
    return f"{n}-D signal"


def _choose(datasets: list[dict[str, Any]]) -> dict[str, Any]:
    """The dataset to use: a 2-D image with length axes, preferring a STEM detector title."""
    images = []
    for d in datasets:
        axes = d.get("axes") or []
        _, sig = _signal_axes(axes)
        if len(sig) != 2:
            continue
        dtype = getattr(d.get("data"), "dtype", None)
        if dtype is None or dtype.kind not in "biuf":
            continue
        images.append(d)
    if not images:
        kinds = sorted({_kind(d) for d in datasets})
        raise BadInput(f"the file holds no grey-level 2-D image (found: {', '.join(kinds) or 'nothing'})")

    def rank(d: dict[str, Any]) -> tuple[int, int]:
        _, sig = _signal_axes(d["axes"])
        lengths = all(to_nm(float(a.get("scale", 1.0)), a.get("units")) is not None for a in sig)
        title = str(((d.get("metadata") or {}).get("General") or {}).get("title") or "").lower()
        detector = any(w == title or title.startswith(w) or f" {w}" in title for w in _DETECTOR_WORDS)
        return (0 if lengths else 1, 0 if detector else 1)

    return min(images, key=rank)


def read_micrograph(data: bytes, filename: str, settings: Settings, *, stack: Stack = "first") -> Micrograph:
    """Read a microscope file's image and pixel size (see the module docstring)."""
    what = filename or "upload"
    if not data:
        raise BadInput(f"{what} is an empty file (0 bytes)")
    if len(data) > settings.max_upload_bytes:
        raise TooLarge(f"{what} is {len(data)} bytes; the limit is {settings.max_upload_bytes} bytes")
    if stack not in ("first", "sum"):
        raise BadInput(f"stack must be 'first' or 'sum', got {stack!r}")
    suf = suffix_of(filename)
    if suf == ".emi":
        raise UnsupportedMedia(f"{what}: an .emi file holds only metadata; upload its .ser file instead")
    if suf not in READERS:
        if data[:8] == _HDF5_MAGIC:
            suf = ".emd"
        elif data[:4] in (b"\x00\x00\x00\x03", b"\x00\x00\x00\x04"):
            suf = ".dm4" if data[3] == 4 else ".dm3"
        elif data[:4] in _TIFF_MAGIC:
            suf = ".tif"
        else:
            raise UnsupportedMedia(f"{what}: not a microscope file this reader knows ({', '.join(sorted(READERS))})")
    # HDF5 containers (.emd, .hspy) may be compressed: read lazily so the pixel limit is checked before decoding.
    hdf5 = data[:8] == _HDF5_MAGIC
    names = [READERS[suf]] + (["hspy" if READERS[suf] == "emd" else "emd"] if hdf5 else [])
    with tempfile.TemporaryDirectory(prefix="matsearch-mg-") as tmp:
        path = os.path.join(tmp, "upload" + suf)
        with open(path, "wb") as fh:
            fh.write(data)
        datasets: Any = None
        used = names[0]
        errors: list[str] = []
        read_note: str | None = None
        for name in names:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if name == "emd":
                        datasets, read_note = _read_emd(path, hdf5)
                    else:
                        datasets = _reader(name).file_reader(path, lazy=hdf5)
                used = name
                break
            except Exception as exc:  # noqa: BLE001 - readers raise anything on a corrupt file
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        if datasets is None:
            raise BadInput(f"{what} is not a readable microscope file ({'; '.join(errors)})")
        if isinstance(datasets, dict):
            datasets = [datasets]
        chosen = _choose(list(datasets))
        nav, sig = _signal_axes(chosen["axes"])
        arr_lazy = chosen["data"]
        shape = tuple(int(s) for s in arr_lazy.shape)
        h, w = (int(sig[0]["size"]), int(sig[1]["size"])) if len(shape) >= 2 else (0, 0)
        check_pixels(w, h, settings, what=what)
        frames = int(np.prod([int(a["size"]) for a in nav])) if nav else 1
        if frames * h * w > 8 * settings.max_image_pixels:
            raise TooLarge(f"{what}: a stack of {frames} frames of {w}x{h} is too large to read")
        try:
            lazy = np.asarray(arr_lazy) if not hasattr(arr_lazy, "compute") else arr_lazy
            flat = lazy.reshape((frames, h, w))
            img = flat.sum(axis=0) if stack == "sum" else flat[0]
            img = np.asarray(img.compute() if hasattr(img, "compute") else img, dtype=np.float64)
        except (TooLarge, BadInput):
            raise
        except Exception as exc:  # noqa: BLE001
            raise BadInput(f"{what}: could not read the image data: {type(exc).__name__}: {exc}") from exc
    title = str(((chosen.get("metadata") or {}).get("General") or {}).get("title") or "")
    sx, sy = sig[1], sig[0]
    if is_reciprocal(sx.get("units")) and is_reciprocal(sy.get("units")):
        raise BadInput(
            f"{what} holds a diffraction pattern or FFT (axes in {sx.get('units')}), not a real-space image; "
            "a STEM structure search needs the atomic-resolution image itself"
        )
    nm_x = to_nm(float(sx.get("scale", 1.0)), sx.get("units"))
    nm_y = to_nm(float(sy.get("scale", 1.0)), sy.get("units"))
    notes: list[str] = [read_note] if read_note else []
    if nm_x is None and nm_y is None:
        nm = None
        calibration = "not calibrated (the file's axes carry no length unit)"
    elif nm_x is None or nm_y is None:  # e.g. a streak camera's time (ps) x wavelength (nm): not a pixel size
        nm = None
        axes = ", ".join(f"{a.get('name') or k} in {a.get('units') or 'no unit'}" for k, a in (("y", sy), ("x", sx)))
        calibration = f"not calibrated (only one image axis is a length: {axes})"
    else:
        nm = nm_x
        calibration = f"file axes: {float(sx.get('scale', 1.0)):g} {sx.get('units')} per pixel"
        if nm_y is not None and abs(nm_y / nm_x - 1.0) > 0.01:
            notes.append(f"non-square pixels ({nm_x:g} x {nm_y:g} nm); the x pixel size is used")
    return Micrograph(
        data=img,
        nm_per_px=nm,
        format=used,
        title=title,
        frames=frames,
        stack=stack,
        calibration=calibration,
        notes=notes,
    )
