"""The collections matsearch knows: their named vectors, payload indexes and which encoder fills each vector."""

from __future__ import annotations

from matsearch.core.errors import NotFound
from matsearch.store.base import CollectionSpec, PayloadIndex, VectorSpec

FIGURES = CollectionSpec(
    name="figures",
    vectors=(
        VectorSpec("image", 1280, "cosine"),  # EfficientNet-Lite0 pooled features of the panel
        VectorSpec("caption", 384, "cosine"),  # MiniLM of the panel's sub-caption (+ figure caption)
        VectorSpec("sketch", 1280, "cosine"),  # contour rendering of the panel, same transform as a drawing
    ),
    indexes=(
        PayloadIndex("type", "keyword"),
        PayloadIndex("techniques", "keyword"),
        PayloadIndex("materials", "keyword"),
        PayloadIndex("elements", "keyword"),
        PayloadIndex("journal", "keyword"),
        PayloadIndex("licence", "keyword"),
        PayloadIndex("doi", "keyword"),
        PayloadIndex("source", "keyword"),
        PayloadIndex("figure_id", "keyword"),
        PayloadIndex("panel_label", "keyword"),
        PayloadIndex("image_sha256", "keyword"),
        PayloadIndex("year", "integer"),
        PayloadIndex("nm_per_px", "float"),
    ),
)

STEM = CollectionSpec(
    name="stem",
    vectors=(VectorSpec("stem", 288, "cosine"),),  # stem-fused: trained CNN (128) + FFT descriptor (160)
    indexes=(
        PayloadIndex("structure_id", "keyword"),
        PayloadIndex("formula", "keyword"),
        PayloadIndex("elements", "keyword"),
        PayloadIndex("spacegroup_symbol", "keyword"),
        PayloadIndex("spacegroup_number", "integer"),
        PayloadIndex("crystal_system", "keyword"),
        PayloadIndex("zone_axis", "keyword"),
        PayloadIndex("source", "keyword"),
    ),
)

XRD = CollectionSpec(
    name="xrd",
    vectors=(VectorSpec("xrd", 128, "cosine"),),  # xrd-cnn: 1-D CNN metric embedding on a ln(sin θ) axis
    indexes=(
        PayloadIndex("structure_id", "keyword"),
        PayloadIndex("formula", "keyword"),
        PayloadIndex("elements", "keyword"),
        PayloadIndex("spacegroup_symbol", "keyword"),
        PayloadIndex("spacegroup_number", "integer"),
        PayloadIndex("crystal_system", "keyword"),
        PayloadIndex("source", "keyword"),
        PayloadIndex("nelements", "integer"),
    ),
)

# Literature spectra: every series digitised from a graph panel at ingest (matsearch.indexer.plots).
SPECTRA = CollectionSpec(
    name="spectra",
    vectors=(
        VectorSpec("xrd", 128, "cosine"),  # 2θ patterns only: the xrd collection's encoder, on the library grid
        VectorSpec("profile", 128, "cosine"),  # every series: its shape over its own x range
    ),
    indexes=(
        PayloadIndex("kind", "keyword"),
        PayloadIndex("doi", "keyword"),
        PayloadIndex("figure_id", "keyword"),
        PayloadIndex("panel_id", "keyword"),
        PayloadIndex("image_sha256", "keyword"),
        PayloadIndex("x_quantity", "keyword"),
        PayloadIndex("year", "integer"),
        PayloadIndex("confidence", "float"),
    ),
)

COLLECTIONS: dict[str, CollectionSpec] = {c.name: c for c in (FIGURES, STEM, XRD, SPECTRA)}

# Which registered encoder fills each (collection, vector).
VECTOR_ENCODERS: dict[tuple[str, str], str] = {
    ("figures", "image"): "efficientnet-lite0",
    ("figures", "caption"): "all-minilm-l6-v2",
    ("figures", "sketch"): "sketch",
    ("xrd", "xrd"): "xrd-cnn",
    ("stem", "stem"): "stem-fused",
    ("spectra", "xrd"): "xrd-cnn",
    ("spectra", "profile"): "spectrum-profile",
}


def collection_spec(name: str) -> CollectionSpec:
    try:
        return COLLECTIONS[name]
    except KeyError:
        raise NotFound(f"unknown collection {name!r} (known: {sorted(COLLECTIONS)})") from None
