"""POST /v1/search/spectrum: identify the crystalline phases of a powder XRD pattern."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from matsearch.core.errors import BadInput, UnsupportedMedia
from matsearch.core.schemas import Hit, IngestReport, SearchResponse
from matsearch.server.deps import ServiceDep, WriteAuth
from matsearch.server.service import Service

router = APIRouter()


class PeakOut(BaseModel):
    two_theta: float = Field(description="° 2θ at the query's wavelength (response field `wavelength`).")
    d: float = Field(description="d-spacing, Å.")
    intensity: float = Field(description="Height relative to the strongest measured peak (100).")
    hkl: str | None = Field(None, description="Reflection of the phase that explains this peak.")
    kalpha2_of: float | None = Field(None, description="This peak is the Cu Kα2 line of the peak at this 2θ.")


class ReflectionOut(BaseModel):
    two_theta: float = Field(description="° 2θ at the query's wavelength, refined (strain, zero shift, displacement).")
    d: float = Field(description="Refined d-spacing, Å.")
    intensity: float = Field(description="Expected height (scale × texture × simulated), % of the strongest peak.")
    hkl: str = Field(description="Miller indices (hkil for hexagonal cells).")


class PreferredOrientation(BaseModel):
    axis: str = Field(description="Low-index direction (reciprocal lattice) of the March–Dollase texture.")
    r: float = Field(description="March–Dollase r (1 = random; < 1 plates normal to the axis, > 1 needles).")


class Refined(BaseModel):
    strain: float = Field(description="Isotropic lattice strain d_measured / d_library − 1.")
    zero_shift: float = Field(description="° 2θ (Cu Kα1 frame).")
    displacement: float = Field(description="Sample displacement: Δ2θ = displacement · cos θ (° 2θ).")
    preferred_orientation: PreferredOrientation | None = None
    scale: float = Field(description="Phase scale (its strongest reflection relative to the strongest peak).")
    peak_fwhm: float = Field(description="Median measured peak width (° 2θ), sets the matching tolerance.")


class OwnFom(BaseModel):
    """A further phase's terms on its own + the unexplained peaks (its mixture-phase confidence comes from them)."""

    score: float
    explained: float
    seen: float
    intensity_cosine: float
    position_residual: float
    strain: float
    chance: float
    peaks_matched: int
    intensity_log_sd: float
    explained_height: float
    strong_unexplained: float


class Fom(BaseModel):
    explained: float = Field(description="Chance-corrected share of measured peak weight this phase explains.")
    seen: float = Field(description="Chance-corrected share of its expected (in-range, above-noise) intensity seen.")
    explained_raw: float
    seen_raw: float
    chance: float = Field(description="Share of the measured window its reflections cover (chance level).")
    intensity_cosine: float = Field(description="Cosine of observed vs expected heights at its reflections.")
    reflections_in_window: int
    peaks_matched: int
    log_evidence: float | None = Field(None, description="ln(1 + matched peaks × −ln chance): specific evidence.")
    intensity_log_sd: float | None = Field(None, description="Spread of ln(observed / expected) heights.")
    explained_height: float | None = Field(None, description="Share of the measured peak heights explained.")
    strong_unexplained: float | None = Field(None, description="Share of strong (≥ 20 %) peaks left unexplained.")
    own: OwnFom | None = Field(None, description="A further phase: its terms on its own + the unexplained peaks.")
    margin: float | None = Field(
        None, description="Logits above the best different-pattern candidate explaining the same peaks (cap 8)."
    )


class Twin(BaseModel):
    structure_id: str | None = None
    formula: str | None = None
    spacegroup_symbol: str | None = None


class SpectrumHit(Hit):
    phase: int | None = Field(None, description="1…5: this hit is a phase of the identified mixture.")
    confidence: float | None = Field(None, description="Calibrated probability-like confidence (abstain below).")
    share: float | None = Field(None, description="This phase's share of the explained measured intensity.")
    refined: Refined | None = None
    fom: Fom | None = None
    reflections: list[ReflectionOut] = Field(default_factory=list, description="Its refined reflections (sticks).")
    fit_score: float = Field(description="Single-phase fit score (√(coverage × explained)).")
    vector_score: float = Field(description="Cosine similarity of the embeddings (first stage).")
    coverage: float = Field(description="Share of the phase's expected intensity seen in the pattern.")
    explained_fraction: float = Field(description="Share of the measured peak weight this phase explains.")
    strain: float = Field(description="Fitted isotropic lattice strain (d_measured / d_library − 1).")
    explained_peaks: list[PeakOut]
    unexplained_peaks: list[PeakOut]
    twins: list[Twin] = Field(
        default_factory=list, description="Candidates with a near-identical pattern (its group: not told apart)."
    )


MAX_PLOT_POINTS = 4000


class PatternOut(BaseModel):
    two_theta: list[float]
    intensity: list[float]


def pattern_out(two_theta: Any, intensity: Any) -> PatternOut:
    """The pattern for a plot: every point when short, else the maximum of each of ``MAX_PLOT_POINTS`` runs (peaks
    keep their height)."""
    import numpy as np

    x, y = np.asarray(two_theta, dtype=float), np.asarray(intensity, dtype=float)
    if x.size > MAX_PLOT_POINTS:
        edges = np.linspace(0, x.size, MAX_PLOT_POINTS + 1).astype(int)
        idx = np.array([a + int(np.argmax(y[a:b])) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a])
        x, y = x[idx], y[idx]
    return PatternOut(two_theta=[round(float(v), 4) for v in x], intensity=[round(float(v), 4) for v in y])


class SpectrumResponse(SearchResponse):
    hits: list[SpectrumHit] = Field(  # type: ignore[assignment]
        description="Phases first (phase 1, 2, …), then other candidates; empty when nothing fits confidently."
    )
    unexplained_peaks: list[PeakOut] = Field(description="Measured peaks no identified phase explains.")
    peaks: int = Field(description="Peaks found in the measured pattern.")
    wavelength: float | None = Field(None, description="Å of the query's 2θ axis (from the file, given or default).")
    wavelength_source: str | None = Field(None, description="file, user or default (Cu Kα).")
    format: str | None = Field(None, description="File format read (text, xrdml, brml, bruker-raw-4, ras, ...).")
    pattern: PatternOut | None = Field(
        None, description="The measured pattern as read (2θ at `wavelength`), at most 4,000 points, for plotting."
    )


XKind = Literal["auto", "2theta", "d", "q"]


class SpectrumQuery(BaseModel):
    """JSON body: the pattern as arrays."""

    model_config = ConfigDict(extra="forbid")
    x: list[float] = Field(description="2θ in degrees (or d in Å / q in 1/Å with x_kind).", min_length=1)
    y: list[float] = Field(description="Intensities, same length as x.", min_length=1)
    x_kind: XKind = "2theta"
    wavelength: str | float | None = Field(None, description="Å, or CuKa, CuKa1, MoKa, CoKa, CrKa, FeKa, AgKa…")
    elements: list[str] | str | None = Field(None, description='e.g. ["Mg","O"] or "Mg,O"')
    elements_mode: Literal["only", "all", "any"] = "only"
    max_phases: int = Field(5, ge=1, le=5)
    limit: int = Field(10, ge=1, le=200)
    filter: dict[str, Any] | None = None
    score_threshold: float | None = Field(None, ge=0, le=1)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"x": [20.0, 20.02, "…"], "y": [10, 12, "…"], "wavelength": "CuKa", "elements": ["Mg", "O"]}]
        },
    )


def _run(service: Service, pattern_args: dict[str, Any], opts_args: dict[str, Any]) -> SpectrumResponse:
    from matsearch.encoders.xrd_pattern import pattern_from_arrays, read_pattern_bytes
    from matsearch.search.spectra import identify_phases, options_from_request

    opts = options_from_request(**opts_args)
    if "data" in pattern_args:
        pattern = read_pattern_bytes(
            pattern_args["data"],
            pattern_args["name"],
            x_kind=pattern_args["x_kind"],
            wavelength=pattern_args["wavelength"],
        )
    else:
        pattern = pattern_from_arrays(
            pattern_args["x"], pattern_args["y"], x_kind=pattern_args["x_kind"], wavelength=pattern_args["wavelength"]
        )
    result = identify_phases(service.store, service.settings, pattern, opts)
    answer = SpectrumResponse.model_validate(result)
    answer.pattern = pattern_out(pattern.two_theta, pattern.intensity)
    return answer


@router.post(
    "/v1/search/spectrum",
    tags=["search"],
    response_model=SpectrumResponse,
    summary="Identify phases in a powder XRD pattern",
    description=(
        "Either a multipart upload (field `file`: an instrument file .xrdml/.brml/.raw/.uxd/.ras/.rasx/.gsa/.fxye/"
        ".chi/powder .cif — wavelength from the file — or two/three-column text .xy/.xye/.dat/.txt/.csv; options "
        "as query parameters) or a JSON body (`x`, `y` arrays and options). The pattern is converted to the library "
        "wavelength (Cu Kα1) through d-spacings, background-subtracted, searched and re-ranked by a two-directional "
        "fit (measured peaks explained and strong predicted reflections seen, chance-corrected) with per-candidate "
        "strain, zero shift, displacement and March–Dollase texture; up to `max_phases` (≤ 5) phases with their "
        "shares. Each hit lists its refined reflections, the peaks it explains and those it does not, and a "
        "calibrated `confidence`. An empty `hits` list means no confident match."
    ),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
                "application/json": {"schema": SpectrumQuery.model_json_schema()},
            },
            "required": True,
        }
    },
    responses={
        400: {"description": "not a usable pattern (empty, one column, NaN, out of range, too few points, flat)"},
        404: {"description": "the xrd collection has not been built"},
        413: {"description": "upload too large"},
        415: {"description": "not a pattern format matsearch reads (the message names the problem)"},
        422: {"description": "bad filter, elements or options"},
    },
)
async def search_spectrum(
    service: ServiceDep,
    request: Request,
    wavelength: Annotated[str | None, Query(description="Å or a name (CuKa, CuKa1, MoKa, CoKa, …)")] = None,
    x_kind: Annotated[XKind, Query(description="x column: 2theta (default), d (Å) or q (1/Å)")] = "auto",
    elements: Annotated[str | None, Query(description="Comma-separated, e.g. Mg,O,H")] = None,
    elements_mode: Annotated[Literal["only", "all", "any"], Query()] = "only",
    max_phases: Annotated[int, Query(ge=1, le=5)] = 5,
    limit: Annotated[int, Query(ge=1, le=200)] = 10,
    filter: Annotated[str | None, Query(description="Payload filter (JSON)")] = None,
    score_threshold: Annotated[float | None, Query(ge=0, le=1)] = None,
) -> SpectrumResponse:
    content_type = request.headers.get("content-type", "")
    pattern_args: dict[str, Any]
    opts_args: dict[str, Any]
    if content_type.startswith("application/json"):
        raw = await request.body()
        if len(raw) > service.settings.max_upload_bytes:
            from matsearch.core.errors import TooLarge

            raise TooLarge(f"request body is larger than the limit of {service.settings.max_upload_bytes} bytes")
        try:
            body = SpectrumQuery.model_validate(await asyncio.to_thread(json.loads, raw or b"null"))
        except json.JSONDecodeError as exc:
            raise BadInput(f"body is not valid JSON: {exc.msg}") from exc
        except UnicodeDecodeError as exc:
            raise BadInput(f"body is not valid UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
        except RecursionError as exc:
            raise BadInput("body JSON is nested too deeply") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise BadInput(f"invalid spectrum query: {first.get('msg')} (at {where})") from exc
        pattern_args = {"x": body.x, "y": body.y, "x_kind": body.x_kind, "wavelength": body.wavelength}
        opts_args = {
            "limit": body.limit,
            "max_phases": body.max_phases,
            "elements": body.elements,
            "elements_mode": body.elements_mode,
            "filter": body.filter,
            "score_threshold": body.score_threshold,
        }
    elif content_type.startswith("multipart/form-data"):
        from matsearch.server.routes.uploads import read_upload

        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadInput("multipart upload needs a file field named 'file'")
        data = await read_upload(upload, service.settings)  # type: ignore[arg-type]
        pattern_args = {"data": data, "name": upload.filename or "upload", "x_kind": x_kind, "wavelength": wavelength}
        opts_args = {
            "limit": limit,
            "max_phases": max_phases,
            "elements": elements,
            "elements_mode": elements_mode,
            "filter": filter,
            "score_threshold": score_threshold,
        }
    else:
        raise UnsupportedMedia("send the pattern as multipart/form-data (field 'file') or application/json (x, y)")
    return await asyncio.to_thread(_run, service, pattern_args, opts_args)


@router.post(
    "/v1/ingest/cif",
    tags=["ingest"],
    response_model=IngestReport,
    summary="Add crystal structures (CIF files) to the xrd collection",
    description="Multipart field `files` (one or more .cif). Needs X-API-Key when the server has one. Broken "
    "files are skipped with a reason; re-sending a file rewrites the same points.",
    dependencies=[WriteAuth],
)
async def ingest_cif(service: ServiceDep, files: Annotated[list[UploadFile], File()]) -> IngestReport:
    from matsearch.indexer.xrd.ingest import ingest_cif_files
    from matsearch.server.routes.uploads import read_upload

    items = [(f.filename or "upload.cif", await read_upload(f, service.settings)) for f in files]
    return await asyncio.to_thread(ingest_cif_files, service, items, workers=1)
