"""SQLAlchemy 2 ORM models: the relational half of the store.

Contracts:

* Every datetime column is :class:`UTCDateTime`: Python side always a
  timezone-aware UTC ``datetime``; naive datetimes are refused on write (a
  naive value is ambiguous and would silently shift by the host's offset).
* Embeddings are ``LargeBinary`` holding the raw bytes of a C-contiguous
  float32 vector (``np.frombuffer(blob, np.float32)``); the model identifier is
  stored next to every vector, and vectors of different models never mix.
* ``audit_log`` is append-only; each row's ``hash`` covers its fields and the
  previous row's hash (see ``repo.Store.append_audit``).
* Nothing here is SQLite-specific: the same metadata is created on PostgreSQL by
  the Alembic migration in ``migrations/versions``. Keep the two in step (a test
  compares them).

Pitfall: columns named ``start``, ``end`` and ``limit`` are SQL keywords;
SQLAlchemy quotes them, but hand-written SQL must too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}
"""SQLite would otherwise reuse the highest id after a delete; ids appear in the audit log and
in vector segments, so they must never point at a different row later."""

IDENTITY_STATUSES = ("pending", "approved", "rejected", "expired")
ROLES = ("operator", "investigator", "verifier", "supervisor", "auditor", "admin")
AUTH_PURPOSES = ("victim_search", "imminent_threat", "listed_offence", "post_event")
AUTH_USES = ("live", "post_event")
AUTH_STATUSES = ("pending", "granted", "refused", "expired")
DECISIONS = ("confirm", "reject")
RUN_STATUSES = ("running", "done", "failed")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (UTC).

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is
    converted to UTC and stored naive (SQLAlchemy's fixed-width ISO text, which
    also sorts correctly). Naive input raises ``ValueError``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention (stable constraint names for migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    source: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    recognition: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # public facts for the transparency report (migration 0002)
    district: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    vendor: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[float | None] = mapped_column(Float)
    installed_on: Mapped[str | None] = mapped_column(String(10))


class Watchlist(Base):
    __tablename__ = "watchlists"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Identity(Base):
    """A watchlist entry: one person, the legal basis for watching them, and its approval state."""

    __tablename__ = "identities"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'expired')",
            name="status",
        ),
        CheckConstraint("legal_basis <> ''", name="legal_basis_not_empty"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    legal_basis: Mapped[str] = mapped_column(Text)
    legal_reference: Mapped[str] = mapped_column(Text, default="")
    enrolled_by: Mapped[str] = mapped_column(String(128))
    requested_by: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="approved", index=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_note: Mapped[str | None] = mapped_column(Text)


class IdentityPhoto(Base):
    """One enrolment photo of an identity and its embedding under one model."""

    __tablename__ = "identity_photos"
    __table_args__ = (
        UniqueConstraint("identity_id", "sha256", "model", name="uq_identity_photos_photo"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(Text, default="")
    provenance: Mapped[str] = mapped_column(Text, default="")
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(64), index=True)
    box: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One processing run of one source on one camera (a file, or a live session)."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),
        Index("ix_runs_camera_source_key", "camera", "source_key"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(String(64))
    """sha256 hex of ``source`` (indexable whatever the source's length)."""
    status: Mapped[str] = mapped_column(String(16), default="running")
    recorded_at: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    frames: Mapped[int] = mapped_column(Integer, default=0)
    sightings: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    case_ref: Mapped[str | None] = mapped_column(Text)
    """The case a recorded file was processed for (post-event use)."""
    authorisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorisations.id", ondelete="SET NULL"), index=True
    )
    """The authorisation this run's alerting ran under; its refusal deletes the run's outputs."""


class Sighting(Base):
    """One face track on one camera: times, best thumbnail, template embedding, match decision."""

    __tablename__ = "sightings"
    __table_args__ = (
        Index("ix_sightings_camera_start", "camera", "start"),
        Index("ix_sightings_day_model", "day", "model"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    camera: Mapped[str] = mapped_column(String(128))
    track_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    start_offset: Mapped[float] = mapped_column(Float)
    end_offset: Mapped[float] = mapped_column(Float)
    day: Mapped[str] = mapped_column(String(10))
    thumbnail: Mapped[str | None] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(64))
    quality: Mapped[float] = mapped_column(Float)
    detections: Mapped[int] = mapped_column(Integer)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL"), index=True
    )
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    matched: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    face_px: Mapped[float | None] = mapped_column(Float)
    """Inter-eye distance (pixels) of the best shot: capture quality per camera."""
    frontal: Mapped[float | None] = mapped_column(Float)
    """Frontalness (0..1) of the best shot."""


class Alert(Base):
    """A watchlist hit, committed before anyone is notified (outbox)."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("sighting_id", "identity_id", name="uq_alerts_sighting_identity"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sightings.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="unconfirmed", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    authorisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorisations.id", ondelete="SET NULL"), index=True
    )


class Search(Base):
    """One retrospective search: who, why (case and reason), over what, how many results."""

    __tablename__ = "searches"
    __table_args__ = (
        CheckConstraint("case_ref <> ''", name="case_ref_not_empty"),
        CheckConstraint("reason <> ''", name="reason_not_empty"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    probe_sha256: Mapped[str | None] = mapped_column(String(64))
    cameras: Mapped[Any | None] = mapped_column(JSON)
    since: Mapped[datetime | None] = mapped_column()
    until: Mapped[datetime | None] = mapped_column()
    limit: Mapped[int] = mapped_column(Integer)
    result_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """An append-only, hash-chained audit record. ``seq`` starts at 1 and has no gaps."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(Text)
    case_ref: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str | None] = mapped_column(String(256))
    details: Mapped[str | None] = mapped_column(Text)
    """Canonical JSON text (exactly what was hashed)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# --- accountability (migration 0002) -------------------------------------------


class User(Base):
    """A person who may act, with one role, optionally limited to some cameras."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('operator', 'investigator', 'verifier', 'supervisor', 'auditor', 'admin')", name="role"
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    cameras: Mapped[Any | None] = mapped_column(JSON)
    """Camera names this user may see; ``None`` means every camera."""
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    """An investigation that searches, exports and authorisations belong to; may hold data."""

    __tablename__ = "cases"
    __table_args__ = (CheckConstraint("case_ref <> ''", name="case_ref_not_empty"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Authorisation(Base):
    """A legal authorisation for a use of recognition (live alerting or post-event)."""

    __tablename__ = "authorisations"
    __table_args__ = (
        CheckConstraint(
            "purpose IN ('victim_search', 'imminent_threat', 'listed_offence', 'post_event')", name="purpose"
        ),
        CheckConstraint("use IN ('live', 'post_event')", name="use"),
        CheckConstraint("status IN ('pending', 'granted', 'refused', 'expired')", name="status"),
        CheckConstraint("authority <> ''", name="authority_not_empty"),
        CheckConstraint("reference <> ''", name="reference_not_empty"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(128), index=True)
    authority: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))
    use: Mapped[str] = mapped_column(String(16))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    deadline: Mapped[datetime | None] = mapped_column()
    """Urgent use only: when it must have been granted (24 h live, 48 h post-event)."""
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    cameras: Mapped[Any | None] = mapped_column(JSON)
    """Camera names covered; ``None`` means every camera."""
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    requested_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuthorisationTarget(Base):
    """A watchlist entry an authorisation covers."""

    __tablename__ = "authorisation_targets"

    authorisation_id: Mapped[int] = mapped_column(
        ForeignKey("authorisations.id", ondelete="CASCADE"), primary_key=True
    )
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )


class AlertDecision(Base):
    """One verifier's blind decision on an alert (two different users are needed)."""

    __tablename__ = "alert_decisions"
    __table_args__ = (
        UniqueConstraint("alert_id", "user", name="uq_alert_decisions_alert_user"),
        CheckConstraint("decision IN ('confirm', 'reject')", name="decision"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    user: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Export(Base):
    """A redacted evidence package written for a case."""

    __tablename__ = "exports"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(128), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    exporter: Mapped[str] = mapped_column(String(128))
    unblurred: Mapped[bool] = mapped_column(Boolean, default=False)
    unblur_approved_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UnblurRequest(Base):
    """A request to export without blurring bystanders; needs a second user's approval."""

    __tablename__ = "unblur_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'refused', 'used')", name="status"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(128))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- API authentication, sites and API-managed cameras (migration 0002) ---------


class ApiToken(Base):
    """A bearer token for API clients; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(Text, default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The first characters of the token, so a user can tell their tokens apart."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A console login: the cookie's SHA-256 and its CSRF token's SHA-256, kept server side."""

    __tablename__ = "web_sessions"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Site(Base):
    """A named place that groups cameras (a square, a station)."""

    __tablename__ = "sites"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SiteCamera(Base):
    """Which site a camera belongs to (at most one)."""

    __tablename__ = "site_cameras"

    camera: Mapped[str] = mapped_column(String(128), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)


class CameraSetting(Base):
    """A camera added, changed or removed through the API; overrides the config file's entry."""

    __tablename__ = "camera_settings"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    config: Mapped[Any | None] = mapped_column(JSON)
    """The full camera configuration (``config.CameraConfig`` as JSON); ``None`` once removed."""
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- alerts out (migration 0003) -----------------------------------------------

OUTBOX_STATUSES = ("pending", "delivered", "dead", "expanded")
FAN_OUT = "*"
"""Destination of the row written with each alert; the dispatcher expands it into one row per destination."""


class OutboxEntry(Base):
    """One alert to deliver to one destination (MQTT, a webhook), with its retry state.

    ``add_sighting`` commits a ``*`` row in the alert's own transaction, so
    nothing is notified that was not stored and nothing stored is forgotten; the
    dispatcher expands it into a row per configured destination. ``key`` is the
    idempotency key receivers de-duplicate on (the same for every destination of
    one alert). Deleting the alert deletes its rows.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("alert_id", "destination", name="uq_outbox_alert_destination"),
        CheckConstraint("status IN ('pending', 'delivered', 'dead', 'expanded')", name="status"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
