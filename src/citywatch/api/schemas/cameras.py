"""Cameras, their health, and sites."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citywatch.api.schemas.common import Schema
from citywatch.config import CameraConfig


class CameraHealthPublic(Schema):
    state: str = Field(description="starting, running, reconnecting, stopped or failed")
    fps: float | None = Field(None, description="Frames a second handed to detection (same as fps_out).")
    fps_in: float | None = Field(None, description="Frames a second decoded from the source.")
    fps_out: float | None = Field(None, description="Frames a second handed to detection.")
    frames: int | None = None
    dropped: int | None = Field(None, description="Frames dropped because detection was behind.")
    reconnects: int | None = None
    restarts: int | None = None
    sightings: int | None = None
    alerts: int | None = None
    last_frame_at: datetime | None = None
    error: str | None = None


class CameraPublic(Schema):
    name: str
    location: str
    lat: float | None
    lon: float | None
    district: str
    purpose: str
    source_kind: str = Field(description="file, folder, image, rtsp, http, ... (never the URL itself)")
    source: str | None = Field(None, description="The source with credentials scrubbed; admins only.")
    detect_fps: float
    enabled: bool
    recognition: bool
    site: str | None
    health: CameraHealthPublic | None
    frame_url: str


class CameraCreate(CameraConfig):
    """A new camera: the same fields (and rules) as a camera in the config file."""


class CameraUpdate(Schema):
    source: str | None = None
    detect_fps: float | None = Field(None, gt=0, le=60)
    location: str | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    enabled: bool | None = None
    recognition: bool | None = None
    district: str | None = None
    purpose: str | None = None
    vendor: str | None = None
    cost: float | None = Field(None, ge=0)
    installed_on: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")


class SiteCreate(Schema):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_. -]+$")
    description: str = Field("", max_length=2000)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    cameras: list[str] = Field(default_factory=list)


class SiteUpdate(Schema):
    description: str | None = Field(None, max_length=2000)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    cameras: list[str] | None = None


class SitePublic(Schema):
    name: str
    description: str
    lat: float | None
    lon: float | None
    cameras: list[str]
    created_by: str
    created_at: datetime
