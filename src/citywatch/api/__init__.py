"""citywatch.api: the REST API (FastAPI). ``create_app`` is the only entry point; see README.md."""

from citywatch.api.main import create_app

__all__ = ["create_app"]
