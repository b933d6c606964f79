"""citywatch.eval."""
