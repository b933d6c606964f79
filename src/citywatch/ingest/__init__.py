"""citywatch.ingest."""
