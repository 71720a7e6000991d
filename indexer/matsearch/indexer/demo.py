"""The demo index: five CC-BY figures from a Nature Communications paper plus public-domain/CC0 sample images
bundled with scikit-image, and a few generated particle images. Small, licence-clean, attributed."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from matsearch.core.settings import Settings
from matsearch.indexer.items import FigureItem
from matsearch.indexer.sources.folder import read_folder

DEMO_FIGURES = Path(__file__).resolve().parent / "demo_data" / "figures"
SKIMAGE_URL = "https://scikit-image.org/docs/stable/api/skimage.data.html"

# name, caption, licence (as stated in scikit-image's data documentation)
SKIMAGE_SAMPLES: list[tuple[str, str, str]] = [
    ("cell", "Fluorescence microscopy image of a cell (scikit-image sample).", "CC0"),
    ("microaneurysms", "Retinal microaneurysms, fundus photograph detail (scikit-image sample).", "CC0"),
    ("retina", "Human retina fundus photograph (scikit-image sample).", "CC0"),
    ("gravel", "Photograph of gravel, a granular texture (scikit-image sample).", "CC0"),
    ("grass", "Photograph of grass, a fibrous texture (scikit-image sample).", "CC0"),
    ("brick", "Photograph of a brick wall, a periodic texture (scikit-image sample).", "CC0"),
    ("hubble_deep_field", "Hubble deep field image of galaxies (scikit-image sample, NASA).", "public domain"),
    ("rocket", "Photograph of a rocket launch (scikit-image sample, NASA).", "public domain"),
    ("astronaut", "Photograph of astronaut Eileen Collins (scikit-image sample, NASA).", "public domain"),
    ("camera", "Grey-scale photograph of a cameraman (scikit-image sample).", "CC0"),
    ("clock", "Photograph of a clock, motion blurred (scikit-image sample).", "public domain"),
    ("coffee", "Photograph of a cup of coffee (scikit-image sample).", "CC0"),
    ("chelsea", "Photograph of a cat named Chelsea (scikit-image sample).", "CC0"),
    ("horse", "Binary silhouette of a horse (scikit-image sample).", "CC0"),
    ("text", "Photograph of printed text (scikit-image sample).", "public domain"),
]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _particles(seed: int, shape: str, n: int = 40, size: int = 384) -> np.ndarray:
    """A synthetic SEM-like image of particles (spheres or rods) on a dark substrate, for the demo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = rng.normal(40, 6, (size, size)).astype(np.float32)
    for _ in range(n):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(8, 22)
        if shape == "rods":
            angle = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
            v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
            d = np.sqrt((np.maximum(np.abs(u) - 2.5 * r, 0) / r) ** 2 + (v / (0.45 * r)) ** 2)
        else:
            d = np.hypot(xx - cx, yy - cy) / r
        mask = d < 1
        img[mask] = 150 + 90 * np.sqrt(np.clip(1 - d[mask] ** 2, 0, 1)) + rng.normal(0, 5, mask.sum())
    return np.clip(img, 0, 255).astype(np.uint8)


GENERATED: list[tuple[str, Callable[[], np.ndarray], str]] = [
    ("generated_spheres_1", lambda: _particles(1, "spheres"), "Synthetic SEM-like image of spherical nanoparticles."),
    ("generated_spheres_2", lambda: _particles(2, "spheres", 25), "Synthetic SEM-like image of spherical particles."),
    ("generated_rods_1", lambda: _particles(3, "rods", 18), "Synthetic SEM-like image of nanorods."),
    ("generated_rods_2", lambda: _particles(4, "rods", 12), "Synthetic SEM-like image of rod-shaped particles."),
]


def demo_items(settings: Settings | None = None) -> list[FigureItem]:
    import skimage.data

    items = list(read_folder(DEMO_FIGURES, source="demo"))
    for name, caption, licence in SKIMAGE_SAMPLES:
        array = getattr(skimage.data, name)()
        if array.dtype == bool:
            array = (array * 255).astype(np.uint8)
        items.append(
            FigureItem(
                data=_png(array),
                name=f"skimage_{name}.png",
                caption=caption,
                doc={"title": f"scikit-image sample image '{name}'", "url": SKIMAGE_URL, "licence": licence},
                source="demo",
            )
        )
    for name, make, caption in GENERATED:
        items.append(
            FigureItem(
                data=_png(make()),
                name=f"{name}.png",
                caption=caption,
                doc={"title": "matsearch generated sample", "licence": "CC0"},
                source="demo",
            )
        )
    return items
