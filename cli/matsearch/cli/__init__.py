"""The ``matsearch`` command line: ``main.py`` holds the groups; each feature module has ``register(groups)``."""
