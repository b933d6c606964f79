"""CLI: Users, roles, watchlist approvals, authorisations and two-person alert verification."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
