"""HTTP routes, one module per resource; each module exposes ``router``. Add a feature's module name here."""

ROUTE_MODULES: list[str] = [
    "health",
    "collections",
    "search",
    "points",
    "images",
    "ingest",
    "figures",
    "scale",
    "spectrum",
]
