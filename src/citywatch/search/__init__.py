"""citywatch.search."""
