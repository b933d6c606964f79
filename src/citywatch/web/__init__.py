"""The operator console: Jinja page shells, one stylesheet and small vanilla scripts over the JSON API."""
