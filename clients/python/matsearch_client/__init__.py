"""matsearch SDK: a typed client for the matsearch HTTP API. Needs httpx and pydantic only (no torch)."""

from matsearch_client.client import Client
from matsearch_client.errors import (
    BadRequest,
    InvalidRequest,
    MatsearchError,
    NotFound,
    PayloadTooLarge,
    ServerError,
    Unauthorized,
    UnsupportedMedia,
)
from matsearch_client.models import (
    Collection,
    DigitizedPlot,
    FigureSplit,
    FigureView,
    GcReport,
    Health,
    Hit,
    IngestReport,
    MaterialGroup,
    PaperRef,
    Point,
    SearchResult,
)

__all__ = [
    "BadRequest",
    "Client",
    "Collection",
    "DigitizedPlot",
    "FigureSplit",
    "FigureView",
    "GcReport",
    "Health",
    "Hit",
    "IngestReport",
    "InvalidRequest",
    "MaterialGroup",
    "MatsearchError",
    "NotFound",
    "PaperRef",
    "PayloadTooLarge",
    "Point",
    "SearchResult",
    "ServerError",
    "Unauthorized",
    "UnsupportedMedia",
]
__version__ = "0.1.0"
