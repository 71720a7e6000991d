"""matsearch HTTP server (FastAPI): search, points, images, collections, ingest, and the web page."""

__version__ = "0.1.0"
