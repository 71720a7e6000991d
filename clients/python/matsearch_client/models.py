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


class SearchResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    hits: list[Hit]

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
    skipped: list[IngestSkip] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)
    count: int


class Health(BaseModel):
    status: str
    store: str
    collections: dict[str, int]
    version: str
