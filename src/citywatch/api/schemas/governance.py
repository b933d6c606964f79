"""Authorisations, cases, exports and unblur requests."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from citywatch.api.schemas.common import Id, Schema, UtcDatetime


class AuthorisationCreate(Schema):
    case: str = Field(min_length=1, max_length=128)
    authority: str = Field(min_length=1, max_length=500)
    reference: str = Field(min_length=1, max_length=500)
    purpose: Literal["victim_search", "imminent_threat", "listed_offence", "post_event"]
    use: Literal["live", "post_event"]
    targets: list[Id] = Field(min_length=1, max_length=1000)
    cameras: list[str] | None = None
    window_start: UtcDatetime
    window_end: UtcDatetime
    urgent: bool = False


class AuthorisationRefuse(Schema):
    note: str = Field("", max_length=2000)


class AuthorisationPublic(Schema):
    id: int
    case_ref: str
    authority: str
    reference: str
    purpose: str
    use: str
    urgent: bool
    deadline: datetime | None
    status: str
    cameras: list[str] | None
    window_start: datetime
    window_end: datetime
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    targets: list[int]
    mine: bool


class RefusalPublic(Schema):
    authorisation: AuthorisationPublic
    deleted_sightings: int
    deleted_alerts: int


class CaseCreate(Schema):
    case_ref: str = Field(min_length=1, max_length=128)
    title: str = Field("", max_length=2000)


class CaseHold(Schema):
    reason: str = Field("", max_length=2000)


class CasePublic(Schema):
    case_ref: str
    title: str
    legal_hold: bool
    created_by: str
    created_at: datetime


class ExportCreate(Schema):
    case: str = Field(min_length=1, max_length=128)
    alert_id: Id
    seconds: float = Field(2.0, ge=0, le=60)
    reason: str = Field("evidence export", min_length=1, max_length=2000)
    unblur_request_id: Id | None = None


class ExportPublic(Schema):
    id: int
    case_ref: str
    alert_id: int | None
    sha256: str
    exporter: str
    unblurred: bool
    unblur_approved_by: str | None
    created_at: datetime
    download_url: str


class UnblurRequestCreate(Schema):
    case: str = Field(min_length=1, max_length=128)
    alert_id: Id
    reason: str = Field(min_length=1, max_length=2000)


class UnblurDecision(Schema):
    approve: bool


class UnblurRequestPublic(Schema):
    id: int
    case_ref: str
    alert_id: int
    reason: str
    requested_by: str
    decided_by: str | None
    status: str
    created_at: datetime
    mine: bool
