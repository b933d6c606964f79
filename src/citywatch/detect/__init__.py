"""citywatch.detect."""
