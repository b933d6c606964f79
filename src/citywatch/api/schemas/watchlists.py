"""Watchlists, entries and the approvals queue."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citywatch.api.schemas.common import Schema
from citywatch.api.schemas.governance import AuthorisationPublic, UnblurRequestPublic


class WatchlistPublic(Schema):
    name: str
    description: str
    entries: int


class EntryPublic(Schema):
    id: int
    watchlist: str
    name: str
    status: str
    legal_basis: str
    legal_reference: str
    requested_by: str
    approved_by: str | None
    expires_at: datetime | None
    created_at: datetime
    photos: int
    photo_urls: list[str]
    mine: bool = Field(description="You requested it (so you may not decide on it).")


class EntryDecision(Schema):
    approve: bool
    note: str = Field("", max_length=2000)


class ApprovalsPublic(Schema):
    entries: list[EntryPublic]
    authorisations: list[AuthorisationPublic]
    unblur_requests: list[UnblurRequestPublic]
