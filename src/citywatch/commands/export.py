"""CLI: Redacted evidence export (and the two-person unblur approval)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
