"""``Client``: one method per kind of query. Accepts file paths, bytes, PIL images and numpy arrays."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import httpx

from matsearch_client.errors import error_for
from matsearch_client.models import (
    Collection,
    DigitizedPlot,
    FigureSplit,
    FigureView,
    GcReport,
    Health,
    IngestReport,
    Limits,
    Point,
    SearchResult,
)

ImageInput = str | PathLike[str] | bytes | Any  # Any: PIL.Image.Image or numpy.ndarray (optional extras)


def _upload(image: ImageInput, default_name: str = "image.png") -> tuple[str, bytes]:
    """(file name, bytes) for a path, raw bytes, a PIL image (PNG) or a numpy array (PNG if 8-bit, else .npy)."""
    if isinstance(image, str | PathLike):
        path = Path(image)
        return path.name, path.read_bytes()
    if isinstance(image, bytes | bytearray):
        return default_name, bytes(image)
    if hasattr(image, "save") and hasattr(image, "mode"):  # PIL image
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return default_name, buf.getvalue()
    if hasattr(image, "dtype") and hasattr(image, "shape"):  # numpy array
        import numpy as np

        if image.dtype == np.uint8:
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="PNG")
            return default_name, buf.getvalue()
        buf = io.BytesIO()
        np.save(buf, image)
        return "image.npy", buf.getvalue()
    raise TypeError(f"cannot upload {type(image).__name__}: give a path, bytes, a PIL image or a numpy array")


def _filter_json(flt: Mapping[str, Any] | str | None) -> str | None:
    if flt is None:
        return None
    return flt if isinstance(flt, str) else json.dumps(flt)


def _params(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


class Client:
    """A matsearch server. ``Client("http://127.0.0.1:8000", api_key=None)``; use as a context manager or close()."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise error_for(0, f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = str(response.json().get("detail", response.text))
            except ValueError:
                detail = response.text
            raise error_for(response.status_code, detail)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    # -- queries -----------------------------------------------------------------------------------------------
    def search_image(
        self,
        image: ImageInput,
        *,
        collection: str = "figures",
        limit: int = 10,
        filter: Mapping[str, Any] | str | None = None,
        score_threshold: float | None = None,
        nm_per_px: float | None = None,
    ) -> SearchResult:
        """Images like ``image`` (``collection="stem"``: identify the structure of a STEM image)."""
        name, data = _upload(image)
        params = _params(
            collection=collection,
            limit=limit,
            filter=_filter_json(filter),
            score_threshold=score_threshold,
            nm_per_px=nm_per_px,
        )
        body = self._request("POST", "/v1/search/image", params=params, files={"file": (name, data)})
        return SearchResult.model_validate(body)

    def search_sketch(
        self,
        sketch: ImageInput,
        *,
        collection: str = "figures",
        limit: int = 10,
        filter: Mapping[str, Any] | str | None = None,
        score_threshold: float | None = None,
        group_by: str | None = None,
    ) -> SearchResult:
        """Figure panels whose contours look like the drawing ``sketch`` (e.g. a PNG from a canvas).
        ``group_by="material"``: ``result.groups`` answers with materials (best first, ``limit`` groups, each with
        its best panels and papers)."""
        name, data = _upload(sketch)
        params = _params(
            collection=collection,
            limit=limit,
            filter=_filter_json(filter),
            score_threshold=score_threshold,
            group_by=group_by,
        )
        body = self._request("POST", "/v1/search/sketch", params=params, files={"file": (name, data)})
        return SearchResult.model_validate(body)

    def search_text(
        self,
        q: str,
        *,
        collection: str = "figures",
        limit: int = 10,
        filter: Mapping[str, Any] | str | None = None,
        score_threshold: float | None = None,
    ) -> SearchResult:
        """Figure panels whose captions match ``q``. The server validates the filter (422 names the problem)."""
        params = _params(
            q=q, collection=collection, limit=limit, filter=_filter_json(filter), score_threshold=score_threshold
        )
        return SearchResult.model_validate(self._request("GET", "/v1/search/text", params=params))

    def search_spectrum(
        self,
        pattern: str | PathLike[str] | bytes | Any,
        *,
        wavelength: str | float | None = None,
        x_kind: str = "auto",
        elements: Sequence[str] | str | None = None,
        elements_mode: str = "only",
        max_phases: int | None = None,
        limit: int = 10,
        filter: Mapping[str, Any] | str | None = None,
        score_threshold: float | None = None,
        collection: str = "xrd",
        kind: str = "xrd",
    ) -> SearchResult:
        """Phases of a powder XRD pattern: a file (path or bytes: text .xy/.xye/.csv/..., or an instrument file
        .xrdml/.brml/.raw/.uxd/.ras/.rasx/.gsa/.fxye/.chi/powder .cif, whose wavelength is used), an (n, 2) array
        or an ``(x, y)`` pair. Hits carry ``phase`` (1…5), ``confidence``, ``share``, ``reflections``,
        ``explained_peaks``, ``unexplained_peaks``, ``refined`` and ``fom`` (docs/xrd.md); the result's
        ``unexplained_peaks`` lists peaks no phase explains. No hits = no confident match. ``max_phases`` (1…5) caps
        how many phases are listed; unset, it is not sent and the server's default (5) applies.

        ``collection="spectra"``: instead, the literature panels (digitised graph panels of ingested papers) that
        show a pattern like this one — hits carry the panel's caption, DOI and ``image_url``; ``kind`` (xrd,
        raman, xps, ftir, uv-vis, xas, eds, other) picks which plotted spectra to compare with."""
        if collection == "spectra":
            return self._search_spectra(pattern, kind, wavelength, limit, filter, score_threshold)
        if isinstance(pattern, str | PathLike | bytes):
            data = pattern if isinstance(pattern, bytes) else Path(pattern).read_bytes()
            name = "pattern.xy" if isinstance(pattern, bytes) else Path(pattern).name
            els = ",".join(elements) if elements is not None and not isinstance(elements, str) else elements
            params = _params(
                wavelength=wavelength,
                x_kind=x_kind,
                elements=els,
                elements_mode=elements_mode,
                max_phases=max_phases,
                limit=limit,
                filter=_filter_json(filter),
                score_threshold=score_threshold,
            )
            body = self._request("POST", "/v1/search/spectrum", params=params, files={"file": (name, data)})
            return SearchResult.model_validate(body)
        if isinstance(pattern, tuple) and len(pattern) == 2:
            x, y = ([float(v) for v in pattern[0]], [float(v) for v in pattern[1]])
        else:
            rows = [[float(v) for v in row] for row in pattern]  # (n, 2) or (n, 3) array-like
            x, y = [r[0] for r in rows], [r[1] for r in rows]
        payload: dict[str, Any] = {
            "x": x,
            "y": y,
            "x_kind": "2theta" if x_kind == "auto" else x_kind,
            "wavelength": wavelength,
            "elements": list(elements) if elements is not None and not isinstance(elements, str) else elements,
            "elements_mode": elements_mode,
            "limit": limit,
            "filter": json.loads(filter) if isinstance(filter, str) else filter,
            "score_threshold": score_threshold,
        }
        if max_phases is not None:  # unset: the server's default rules
            payload["max_phases"] = max_phases
        return SearchResult.model_validate(self._request("POST", "/v1/search/spectrum", json=payload))

    def _search_spectra(
        self,
        pattern: Any,
        kind: str,
        wavelength: str | float | None,
        limit: int,
        filter: Mapping[str, Any] | str | None,
        score_threshold: float | None,
    ) -> SearchResult:
        if isinstance(pattern, str | PathLike | bytes):
            data = pattern if isinstance(pattern, bytes) else Path(pattern).read_bytes()
            name = "pattern.xy" if isinstance(pattern, bytes) else Path(pattern).name
        else:
            pairs = zip(pattern[0], pattern[1], strict=True) if isinstance(pattern, tuple) else pattern
            data = "".join(f"{float(r[0])!r} {float(r[1])!r}\n" for r in pairs).encode()
            name = "pattern.xy"
        params = _params(
            kind=kind, wavelength=wavelength, limit=limit, filter=_filter_json(filter), score_threshold=score_threshold
        )
        body = self._request("POST", "/v1/search/spectra", params=params, files={"file": (name, data)})
        return SearchResult.model_validate(body)

    def literature_for_phase(
        self, phase_id: str, *, limit: int = 10, filter: Mapping[str, Any] | str | None = None
    ) -> SearchResult:
        """Literature XRD panels (digitised graph panels) showing the phase ``phase_id`` — a hit id of
        ``search_spectrum``."""
        params = _params(limit=limit, filter=_filter_json(filter))
        return SearchResult.model_validate(self._request("GET", f"/v1/search/spectra/phase/{phase_id}", params=params))

    def get(self, collection: str, point_id: str) -> Point:
        return Point.model_validate(self._request("GET", f"/v1/points/{collection}/{point_id}"))

    def similar(
        self,
        collection: str,
        point_id: str,
        *,
        using: str | None = None,
        limit: int = 10,
        filter: Mapping[str, Any] | str | None = None,
        score_threshold: float | None = None,
    ) -> SearchResult:
        """Points most like a stored one (itself excluded)."""
        params = _params(using=using, limit=limit, filter=_filter_json(filter), score_threshold=score_threshold)
        return SearchResult.model_validate(
            self._request("GET", f"/v1/points/{collection}/{point_id}/similar", params=params)
        )

    def collections(self) -> list[Collection]:
        body = self._request("GET", "/v1/collections")
        return [Collection.model_validate(c) for c in body["collections"]]

    def collection(self, name: str) -> Collection:
        """One collection: count, vectors (and their encoders), indexed fields."""
        return Collection.model_validate(self._request("GET", f"/v1/collections/{name}"))

    def figure(self, image_sha256: str) -> FigureView:
        """A figure and all its panels (boxes, labels, captions, types, scales), with its paper's provenance; the
        SHA-256 is any panel's ``payload["image_sha256"]``."""
        return FigureView.model_validate(self._request("GET", f"/v1/figures/{image_sha256}"))

    def simulate_stem(
        self,
        structure: str,
        *,
        zone: Sequence[int] | str = (0, 0, 1),
        source: str | None = None,
        nm_per_px: float = 0.025,
        width: int = 256,
        height: int = 256,
        mode: str = "haadf",
        rotation: float = 0.0,
    ) -> bytes:
        """PNG of a library structure's simulated STEM image (e.g. a STEM hit's ``structure_id``, ``zone_axis`` and
        ``source``) at the given pixel size: what the web page shows beside a query."""
        zone_text = zone if isinstance(zone, str) else ",".join(str(int(z)) for z in zone)
        params = _params(
            structure=structure,
            zone=zone_text,
            source=source,
            nm_per_px=nm_per_px,
            width=width,
            height=height,
            mode=mode,
            rotation=rotation,
        )
        data: bytes = self._request("GET", "/v1/stem/simulate", params=params)
        return data

    def health(self) -> Health:
        return Health.model_validate(self._request("GET", "/healthz"))

    def image(self, ref: str, *, thumbnail: bool = False) -> bytes:
        """Bytes of a stored image: a SHA-256 or a hit's ``image_url``."""
        path = ref if ref.startswith("/v1/images/") else f"/v1/images/{ref}"
        data: bytes = self._request("GET", path, params=_params(thumbnail=thumbnail or None))
        return data

    def split_figure(self, figure: ImageInput, *, caption: str | None = None) -> FigureSplit:
        """Panels of a compound figure (labels, boxes, types, sub-captions, scale bars); nothing is indexed."""
        name, data = _upload(figure, default_name="figure.png")
        fields = {"caption": caption} if caption is not None else None
        return FigureSplit.model_validate(
            self._request("POST", "/v1/figures/split", files={"file": (name, data)}, data=fields)
        )

    def digitize_plot(self, plot: ImageInput, *, caption: str | None = None) -> DigitizedPlot:
        """Axes (ticks, linear/log, titles), spectrum kind and every line of a plot image in data units."""
        name, data = _upload(plot, default_name="plot.png")
        fields = {"caption": caption} if caption is not None else None
        return DigitizedPlot.model_validate(
            self._request("POST", "/v1/plots/digitize", files={"file": (name, data)}, data=fields)
        )

    def set_scale(
        self,
        point_id: str,
        *,
        nm_per_px: float | None = None,
        value: float | None = None,
        unit: str | None = None,
        length_px: float | None = None,
    ) -> Point:
        """Set a figure panel's scale by hand: ``nm_per_px``, or a bar (``value`` + ``unit`` + ``length_px``)."""
        body = _params(nm_per_px=nm_per_px, value=value, unit=unit, length_px=length_px)
        return Point.model_validate(self._request("PATCH", f"/v1/points/figures/{point_id}/scale", json=body))

    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Remove stored images no point refers to and leftover temporary files (needs the API key)."""
        return GcReport.model_validate(self._request("POST", "/v1/admin/gc", params={"dry_run": dry_run}))

    # -- ingest ------------------------------------------------------------------------------------------------
    def _limits(self) -> Limits:
        health = self.health()
        if health.limits is not None:
            return health.limits
        return Limits(max_upload_bytes=32 * 2**20, max_request_bytes=32 * 2**20, max_image_pixels=60_000_000)

    def _post_batches(
        self,
        path: str,
        files: list[tuple[str, bytes]],
        *,
        field: str = "files",
        form: Callable[[list[tuple[str, bytes]]], dict[str, str] | None] | None = None,
        extra_files: Callable[[list[tuple[str, bytes]]], list[tuple[str, tuple[str, bytes, str]]]] | None = None,
        progress: Callable[[int, int], None] | None = None,
        max_files: int = 16,
    ) -> IngestReport:
        """POST ``files`` in batches under the server's request limit; one merged report."""
        limit = self._limits().max_request_bytes
        groups: list[list[tuple[str, bytes]]] = []
        current: list[tuple[str, bytes]] = []
        used = 4096
        for name, data in files:
            cost = len(data) + 512 + len(name.encode())
            names = {n for n, _ in current}
            if current and (used + cost > limit or len(current) >= max_files or name in names):
                groups.append(current)
                current, used = [], 4096
            current.append((name, data))
            used += cost
        if current:
            groups.append(current)
        reports: list[IngestReport] = []
        done = 0
        for group in groups:
            uploads: list[tuple[str, tuple[str, bytes, str]]] = list(extra_files(group)) if extra_files else []
            uploads += [(field, (n, d, "application/octet-stream")) for n, d in group]
            body = self._request("POST", path, files=uploads, data=form(group) if form else None)
            reports.append(IngestReport.model_validate(body))
            done += len(group)
            if progress is not None:
                progress(done, len(files))
        if not reports:
            raise ValueError("nothing to ingest")
        merged = reports[-1].model_copy()
        merged.items = sum(r.items for r in reports)
        merged.points = sum(r.points for r in reports)
        merged.new_points = sum(r.new_points for r in reports)
        merged.stale_deleted = sum(r.stale_deleted for r in reports)
        merged.skipped = [s for r in reports for s in r.skipped]
        merged.ids = [i for r in reports for i in r.ids]
        return merged

    def ingest_figures(
        self,
        images: Sequence[ImageInput],
        metadata: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Ingest figures; ``metadata`` maps file name → {"caption", "doi", "title", "journal", "year", "url",
        "licence", "figure_id", "source", "provenance"}. Sent in batches under the server's limits; ``progress``
        is called with (files sent, total) after each batch."""
        files = [_upload(image, default_name=f"image_{i}.png") for i, image in enumerate(images)]
        meta = dict(metadata or {})

        def form(group: list[tuple[str, bytes]]) -> dict[str, str] | None:
            part = {n: meta[n] for n, _ in group if n in meta}
            return {"metadata": json.dumps(part)} if part else None

        return self._post_batches("/v1/ingest/figures", files, form=form, progress=progress)

    def ingest_pdf(
        self, pdfs: Sequence[str | PathLike[str] | bytes], *, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Ingest the figures of PDF papers (paths or bytes): captions, title, DOI, year, journal come from the PDF.
        Unreadable PDFs are listed in ``skipped``."""
        files = [_file(p, f"paper_{i}.pdf") for i, p in enumerate(pdfs)]
        return self._post_batches("/v1/ingest/pdf", files, progress=progress)

    def ingest_exsclaim(
        self,
        results: str | PathLike[str] | bytes | Mapping[str, Any],
        images: Mapping[str, ImageInput] | Sequence[str | PathLike[str]],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestReport:
        """Import EXSCLAIM results as-is. ``results``: the exsclaim.json (path, bytes or the parsed object);
        ``images``: figure images by the name the JSON uses (its key or its ``figure_path``'s file name), or a list
        of paths (named by their file names). The server looks images up only among those sent."""
        if isinstance(results, Mapping):
            data: dict[str, Any] = dict(results)
            json_name = "exsclaim.json"
        else:
            json_name, raw = _file(results, "exsclaim.json")
            data = json.loads(raw)
        if isinstance(images, Mapping):
            files = [(str(name), _upload(img, default_name=str(name))[1]) for name, img in images.items()]
        else:
            files = [_file(p, "figure.png") for p in images]

        def results_part(group: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
            names = {n for n, _ in group}
            sub = {
                key: entry
                for key, entry in data.items()
                if key in names
                or str((entry or {}).get("figure_path", "")).replace("\\", "/").rsplit("/", 1)[-1] in names
            }
            return [("results", (json_name, json.dumps(sub).encode(), "application/json"))]

        return self._post_batches("/v1/ingest/exsclaim", files, extra_files=results_part, progress=progress)

    def ingest_cif(
        self, cifs: Sequence[str | PathLike[str] | bytes], *, progress: Callable[[int, int], None] | None = None
    ) -> IngestReport:
        """Add crystal structures (CIF files: paths or bytes) to the ``xrd`` collection."""
        files = [_file(c, f"structure_{i}.cif") for i, c in enumerate(cifs)]
        return self._post_batches("/v1/ingest/cif", files, progress=progress, max_files=64)


def _file(value: str | PathLike[str] | bytes, default_name: str) -> tuple[str, bytes]:
    if isinstance(value, bytes | bytearray):
        return default_name, bytes(value)
    path = Path(value)
    return path.name, path.read_bytes()
