"""Alerts, decisions, acknowledgements, sightings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from citywatch.api.schemas.common import Schema


class AlertPublic(Schema):
    id: int
    camera: str
    sighting_id: int
    identity_id: int
    identity: str
    watchlist: str
    start: datetime
    end: datetime
    score: float
    threshold: float
    status: str
    decisions: int = Field(description="How many verifiers decided (never what they decided).")
    decided_by_me: bool
    created_at: datetime
    thumbnail_url: str
    photo_url: str | None
    lat: float | None
    lon: float | None


class AlertDecisionCreate(Schema):
    decision: Literal["confirm", "reject"]
    note: str = Field("", max_length=2000)


class AlertDecisionPublic(Schema):
    alert_id: int
    decisions: int
    needed: int
    status: str


class AlertAck(Schema):
    note: str = Field("", max_length=2000)


class AlertAckPublic(Schema):
    alert_id: int
    acknowledged_by: str
    at: datetime


class SightingPublic(Schema):
    id: int
    camera: str
    track_id: int
    start: datetime
    end: datetime
    quality: float
    detections: int
    matched: bool
    identity: str | None
    score: float
    threshold: float
    thumbnail_url: str | None
    lat: float | None
    lon: float | None
