"""Audit log, chain status, retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from citywatch.api.schemas.common import Schema


class AuditEntryPublic(Schema):
    seq: int
    ts: datetime
    actor: str
    role: str | None
    action: str
    target: str
    case_ref: str | None
    reason: str | None
    client: str | None
    details: dict[str, Any] | None
    hash: str


class AuditPage(Schema):
    entries: list[AuditEntryPublic]
    next_seq: int


class HeadPublic(Schema):
    seq: int
    hash: str


class ChainStatus(Schema):
    ok: bool
    entries: int
    head: HeadPublic | None
    anchor: HeadPublic | None
    first_bad_seq: int | None
    reason: str | None


class RetentionSettingsPublic(Schema):
    unmatched_hours: float
    matched_days: float
    audit_days: float
    interval_minutes: float


class RetentionRunPublic(Schema):
    unmatched_sightings: int
    matched_sightings: int
    alerts: int
    thumbnails: int
    held: int


class CameraQualityPublic(Schema):
    camera: str
    faces: int
    median_eye_px: float | None
    median_frontal: float | None
    share_recognisable: float | None
    floor_eye_px: float
    judged: bool
    recognition_allowed: bool
    reason: str


class HealthPublic(Schema):
    status: str
    database: bool
    cameras: int
    fleet: str
