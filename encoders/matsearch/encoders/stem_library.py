"""The grid of the ``stem`` collection (torch-free, shared by the indexer that renders it and the search that
resamples queries to it)."""

LIBRARY_SIZE = 96  # px: the CNN's input side
LIBRARY_PX = 0.25  # Å per pixel (0.025 nm/px): 24 Å field of view for the CNN
LATTICE_KEY = "lattice_harmonics"  # payload field of the stored lattice spectrum; stripped from search hits
# payload field: the lattice spectra of the same view rendered thick (channelling, beam spreading) and in ABF contrast
# (Z^0.6, inverted): the query's spectrum is compared with all three references (``stem_physics``); stripped from hits
LATTICE_ALT_KEY = "lattice_harmonics_alt"
SPOTS_KEY = "lattice_spots"  # payload field: the reference image's power-spectrum spots (Å⁻¹); stripped from hits
MOTIF_KEY = "column_motif"  # payload field: the view's projected cell and columns (stem_motif); stripped from hits
