"""citywatch.governance."""
