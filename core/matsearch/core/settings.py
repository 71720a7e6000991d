"""One settings object for every part of matsearch (environment prefix ``MATSEARCH_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MATSEARCH_", env_file=None, extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Store, images and caches live here.")
    qdrant_url: str | None = Field(None, description="Qdrant server/cluster URL; unset = embedded Qdrant Edge.")
    qdrant_api_key: str | None = Field(None, description="API key for the Qdrant server, if it needs one.")
    qdrant_shard_number: int | None = Field(None, ge=1, description="Shards per new collection (cluster).")
    qdrant_replication_factor: int | None = Field(None, ge=1, description="Replicas per shard (cluster).")
    api_key: str | None = Field(None, description="When set, ingest and write endpoints need header X-API-Key.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    insecure: bool = Field(False, description="Allow serving on a non-loopback address without an API key.")
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed to call the API from a browser (CORS); none by default."
    )
    max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Largest accepted upload file, in bytes.")
    max_request_bytes: int = Field(
        34 * 1024 * 1024,
        ge=1024,
        description="Largest request body (all files + form overhead), counted on the stream.",
    )
    max_image_pixels: int = Field(
        60_000_000, ge=10_000, description="Largest image decoded or rendered, in pixels (decompression-bomb guard)."
    )
    max_pdf_pages: int = Field(300, ge=1, description="PDFs with more pages are refused.")
    max_pdf_seconds: float = Field(120.0, gt=0, description="Seconds spent reading one PDF's figures.")
    max_cif_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest CIF file, in bytes.")
    max_cif_blocks: int = Field(100, ge=1, description="Most data blocks (structures) in one CIF file.")
    max_cif_expanded_sites: int = Field(
        4800, ge=1, description="Asymmetric sites x symmetry operations of a CIF block, checked before expansion."
    )
    max_filter_depth: int = Field(8, ge=1, description="Deepest nesting of must/should/must_not in a filter.")
    max_filter_conditions: int = Field(256, ge=1, description="Most conditions in one filter.")
    fetch_max_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Largest response the fetcher reads.")
    fetch_max_redirects: int = Field(5, ge=0, description="Redirects the fetcher follows (http(s) only).")
    gc_grace_seconds: float = Field(
        3600.0, ge=0, description="gc leaves images and temp files younger than this alone (ingests in flight)."
    )
    min_image_side: int = Field(8, ge=1, description="Smallest accepted image side, in pixels.")
    max_limit: int = Field(200, ge=1, le=10_000)
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = library default.")
    image_backend: str = Field("onnx", pattern="^(onnx|torch)$", description="EfficientNet runtime: onnx or torch.")
    text_backend: str = Field("onnx", pattern="^(onnx|torch)$", description="MiniLM runtime: onnx or torch.")
    onnx_threads: int = Field(
        0, ge=0, description="Intra-op threads of each ONNX Runtime encoder session; 0 = up to 2 (ingest workers: 1)."
    )
    sketch_int8: bool = Field(
        True, description="Sketch views through an int8 EfficientNet (2.3x less CPU; docs/benchmarks.md)."
    )
    ingest_workers: int = Field(
        -1,
        ge=-1,
        description="Worker processes for figure ingestion runs of 8+ figures; -1 = one per core (max 4), 0 = none.",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "matsearch", description="Derived artefacts (ONNX exports), shared by data dirs."
    )

    @field_validator("qdrant_url", "api_key", "qdrant_api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def server_file(self) -> Path:
        """Written by a running server so that the CLI talks to it instead of opening the store."""
        return self.data_dir / "server.json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
