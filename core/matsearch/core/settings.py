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
    max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Largest accepted upload, in bytes.")
    max_image_pixels: int = Field(
        60_000_000, ge=10_000, description="Largest accepted image, in pixels (decompression-bomb guard)."
    )
    min_image_side: int = Field(8, ge=1, description="Smallest accepted image side, in pixels.")
    max_limit: int = Field(200, ge=1, le=10_000)
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = library default.")
    image_backend: str = Field("onnx", pattern="^(onnx|torch)$", description="EfficientNet runtime: onnx or torch.")
    text_backend: str = Field("onnx", pattern="^(onnx|torch)$", description="MiniLM runtime: onnx or torch.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "matsearch", description="Derived artefacts (ONNX exports), shared by data dirs."
    )

    @field_validator("qdrant_url", "api_key", "qdrant_api_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

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
