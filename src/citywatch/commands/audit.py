"""CLI: Audit trail (verify, signed export), retention job, transparency report, capture quality."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
