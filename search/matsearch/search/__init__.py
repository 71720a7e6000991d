"""Every query kind, as plain functions over a store, the encoders and settings.

- ``figures``: figure panels by image, text (dense caption vector + lexical re-rank), sketch; "more like this".
- ``stem``: atomic-resolution STEM images → structures (simulated library), lattice-spectrum re-rank, abstain.
- ``spectra``: XRD patterns → phases (vector candidates, strain-aware profile fit, mixtures, abstain).
- ``common``: what every kind shares (limit checks, collection checks, hits with image links, points).

This is the only place that ranks, fuses, re-ranks and explains. It imports ``core``/``store`` and ``encoders``,
never ``indexer``, ``server`` or ``cli``.
"""
