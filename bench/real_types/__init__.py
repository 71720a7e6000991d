"""Real figures and panels typed by hand for the panel-type checks (images are fetched, not committed)."""
