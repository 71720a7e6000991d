"""STEM: simulate atomic-resolution images of crystal structures along zone axes, encode them, search them.

- ``simulate``: incoherent Z-contrast image model (HAADF / ADF / ABF-like), deterministic with a seed.
- ``zones``: which low-index zone axes to simulate for a structure.
- ``model``: the small CNN encoder (architecture only; the registered encoder lives in ``matsearch.encoders.stem``).
- ``query``: query preprocessing and ``search_stem`` (called by the service for ``collection=stem``).
- ``build``: the ``stem`` library builder (``matsearch library build``).
"""
