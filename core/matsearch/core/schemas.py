"""Payload and API schemas shared by the server, the CLI and (by its OpenAPI contract) the SDK."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Hit(BaseModel):
    """One search result."""

    model_config = ConfigDict(extra="allow")  # feature-specific hits add fields (e.g. explained_peaks)
    id: str = Field(description="Point id (UUID, derived from content).")
    score: float = Field(
        description="Higher is better; its meaning depends on the search: cosine similarity (1 = same direction); "
        "image search over figures: 1 + the keypoint/pixel match (1..2) for a verified copy of the query, else the "
        "cosine; text: cosine + lexical bonus; STEM and XRD: their fit scores."
    )
    collection: str
    payload: dict[str, Any]
    image_url: str | None = Field(None, description="Stored image of the point, if any (GET it).")
    thumbnail_url: str | None = None


class PaperRef(BaseModel):
    doi: str | None = None
    title: str | None = None
    journal: str | None = None
    year: int | None = None


class MaterialGroup(BaseModel):
    material: str = Field(description="Material / formula named by the captions of the group's panels.")
    score: float = Field(description="The best panel's score.")
    panels: int = Field(description="Candidate panels that name this material.")
    hits: list[Hit] = Field(description="The group's best panels, best first.")
    papers: list[PaperRef] = Field(default_factory=list, description="Papers the group's panels come from.")


class SearchResponse(BaseModel):
    hits: list[Hit] = Field(description="Best first. Empty when nothing passes the score threshold.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hits": [
                        {
                            "id": "0b7c6f0e-3f53-5b7e-9a43-1f2b4c5d6e7f",
                            "score": 0.93,
                            "collection": "figures",
                            "payload": {
                                "caption": "SEM image of Ag2MnO4 nanoplates.",
                                "type": "microscopy",
                                "doi": "10.1038/s41467-018-06211-3",
                                "image_sha256": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
                            },
                            "image_url": "/v1/images/5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
                        }
                    ]
                }
            ]
        }
    )


class GroupedSearchResponse(SearchResponse):
    """A search answered with materials too (``group_by=material``)."""

    groups: list[MaterialGroup] = Field(
        description="Hits grouped by the material their captions name, best first (with their best panels, papers)."
    )
    ungrouped: int = Field(description="Candidates that name no material.")


class VectorSpecOut(BaseModel):
    name: str
    size: int
    distance: str
    encoder: str | None = Field(None, description="Registered encoder that fills this vector.")


class CollectionOut(BaseModel):
    name: str
    count: int
    vectors: list[VectorSpecOut]
    indexes: dict[str, str] = Field(description="Indexed payload fields and their kind.")


class CollectionsResponse(BaseModel):
    collections: list[CollectionOut]


class PointOut(BaseModel):
    id: str
    collection: str
    payload: dict[str, Any]
    image_url: str | None = None
    thumbnail_url: str | None = None


class TextQuery(BaseModel):
    """Body of POST /v1/search/text."""

    q: str = Field(min_length=1, max_length=2000, description="What to look for, in words.")
    collection: str = "figures"
    limit: int = Field(10, ge=1, le=200)
    filter: dict[str, Any] | None = Field(None, description="Filter (full or shorthand form).")
    score_threshold: float | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"q": "HRTEM of Au nanorods", "limit": 5, "filter": {"type": "microscopy", "year": {"gte": 2015}}}
            ]
        }
    )


class IngestSkip(BaseModel):
    item: str
    reason: str


class IngestReport(BaseModel):
    collection: str = "figures"
    items: int = Field(0, description="Items read from the source (figures, structures, ...).")
    points: int = Field(0, description="Points written (new or updated; re-ingesting rewrites the same ids).")
    new_points: int = Field(0, description="Points that did not exist before.")
    unchanged: int = Field(
        0,
        description="Items already stored with the same content, metadata and pipeline version (not redone): "
        "figures; library builds: points whose build key is current.",
    )
    skipped: list[IngestSkip] = Field(default_factory=list)
    ids: list[str] = Field(default_factory=list)
    count: int = Field(0, description="Points in the collection afterwards.")
    stale_deleted: int = Field(
        0, description="Points deleted because a re-ingested figure no longer has those panels (splitter changed)."
    )


class Limits(BaseModel):
    """The server's request limits, so that clients can split uploads into batches that fit."""

    max_upload_bytes: int
    max_request_bytes: int
    max_image_pixels: int


class Health(BaseModel):
    status: str
    store: str
    collections: dict[str, int]
    version: str
    limits: Limits | None = None
