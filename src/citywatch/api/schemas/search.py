"""Retrospective search and trajectories."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from citywatch.api.schemas.common import Id, Schema


class SearchHitPublic(Schema):
    rank: int
    sighting_id: int
    camera: str
    start: datetime
    end: datetime
    score: float
    above_threshold: bool
    identity: str | None
    thumbnail_url: str | None
    lat: float | None
    lon: float | None


class TrajectoryStopPublic(Schema):
    camera: str
    lat: float | None
    lon: float | None
    start: datetime
    end: datetime
    sighting_id: int = Field(description="The best-scoring sighting of this stop.")
    sightings: int
    best_score: float


class SearchPublic(Schema):
    case: str
    reason: str
    threshold: float
    hits: list[SearchHitPublic]
    trajectory: list[TrajectoryStopPublic]


class TrajectoryCreate(Schema):
    case: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)
    sighting_ids: list[Id] = Field(min_length=1, max_length=1000)


class TrajectoryPublic(Schema):
    case: str
    stops: list[TrajectoryStopPublic]
