"""Typed results of the matsearch HTTP API (mirrors the server's OpenAPI schemas)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Hit(BaseModel):
    model_config = ConfigDict(extra="allow")  # feature-specific fields, e.g. explained_peaks for spectra
    id: str
    score: float
    collection: str
    payload: dict[str, Any] = Field(default_factory=dict)
    image_url: str | None = None
    thumbnail_url: str | None = None


class PaperRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    doi: str | None = None
    title: str | None = None
    journal: str | None = None
    year: int | None = None


class MaterialGroup(BaseModel):
    """Sketch hits of one material (``search_sketch(..., group_by="material")``)."""

    model_config = ConfigDict(extra="allow")
    material: str
    score: float
    panels: int
    hits: list[Hit] = Field(default_factory=list)
    papers: list[PaperRef] = Field(default_factory=list)


class SearchResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    hits: list[Hit]
    groups: list[MaterialGroup] | None = None  # with group_by="material"
    ungrouped: int | None = None

    def __len__(self) -> int:
        return len(self.hits)

    @property
    def top(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class VectorSpec(BaseModel):
    name: str
    size: int
    distance: str
    encoder: str | None = None


class Collection(BaseModel):
    name: str
    count: int
    vectors: list[VectorSpec]
    indexes: dict[str, str] = Field(default_factory=dict)


class Point(BaseModel):
    id: str
    collection: str
    payload: dict[str, Any]
    image_url: str | None = None
    thumbnail_url: str | None = None


class IngestSkip(BaseModel):
    item: str
    reason: str


class IngestReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    collection: str
    items: int
    points: int
    new_points: int
    unchanged: int = 0  # figures already stored with the same content and pipeline version (not redone)
    skipped: list[IngestSkip] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)
    count: int
    stale_deleted: int = 0


class Limits(BaseModel):
    model_config = ConfigDict(extra="allow")
    max_upload_bytes: int
    max_request_bytes: int
    max_image_pixels: int


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str
    store: str
    collections: dict[str, int]
    version: str
    limits: Limits | None = None


class ScaleBar(BaseModel):
    model_config = ConfigDict(extra="allow")
    bbox: list[float] | None = None
    length_px: float | None = None
    value: float | None = None
    unit: str | None = None
    nm_per_px: float | None = None
    source: str | None = None
    confidence: float | None = None


class SplitPanel(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str | None = None
    bbox: list[int]
    type: str | None = None
    type_confidence: float | None = None
    caption: str | None = None
    scale_bars: list[ScaleBar] = Field(default_factory=list)
    nm_per_px: float | None = None


class FigureSplit(BaseModel):
    """``POST /v1/figures/split``: the panels of a compound figure (nothing is indexed)."""

    model_config = ConfigDict(extra="allow")
    width: int
    height: int
    panels: list[SplitPanel]


class GcReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    referenced: int
    images_removed: int = 0
    thumbnails_removed: int = 0
    temp_files_removed: int = 0
    bytes_freed: int = 0
    kept_young: int = 0
    dry_run: bool = False
    removed: list[str] = Field(default_factory=list)


class PlotTick(BaseModel):
    value: float
    px: float


class PlotAxis(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str | None = None
    quantity: str | None = None
    unit: str | None = None
    scale: str = "linear"
    ticks: list[PlotTick] = Field(default_factory=list)
    relative: bool = False  # no numeric ticks read: values are fractions of the plot box


class PlotSeries(BaseModel):
    model_config = ConfigDict(extra="allow")
    label: str | None = None
    color: str | None = None
    x: list[float]
    y: list[float | None]  # one value per pixel column; None where the line is hidden
    confidence: float


class DigitizedPlot(BaseModel):
    """``POST /v1/plots/digitize``: axes calibration and every series of a plot, in data units."""

    model_config = ConfigDict(extra="allow")
    width: int
    height: int
    plot_box: list[int]
    x_axis: PlotAxis
    y_axis: PlotAxis
    kind: str | None = None
    series: list[PlotSeries]


class FigureView(BaseModel):
    """A figure and all its indexed panels (``GET /v1/figures/{image_sha256}``)."""

    model_config = ConfigDict(extra="allow")
    image_sha256: str
    image_url: str
    width: int | None = None
    height: int | None = None
    figure_id: str | None = None
    caption: str = ""
    source: str | None = None
    source_file: str | None = None
    document: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] | None = None
    panels: list[Point] = Field(default_factory=list)
