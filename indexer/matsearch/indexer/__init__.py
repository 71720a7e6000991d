"""matsearch."""
