"""Literature figures: panels, captions, scale bars, keywords (see the modules for each step)."""
