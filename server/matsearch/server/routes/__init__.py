"""HTTP routes, one module per resource; each module exposes ``router`` (listed in ``app.create_app``)."""
