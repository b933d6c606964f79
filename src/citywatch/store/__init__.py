"""citywatch.store."""
