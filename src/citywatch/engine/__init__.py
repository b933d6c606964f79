"""citywatch.engine."""
