"""matsearch SDK."""
