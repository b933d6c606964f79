"""Retrospective search by photo (within a case, for a reason) and trajectories through sightings.

The rules (case must exist, reason, bounded window, retention window, camera
set, audit entry) are ``App.search``'s; this router only carries the upload in
and the hits and the trajectory out.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from citywatch.api.context import ApiContext
from citywatch.api.deps import Ctx, CurrentUser, audit, need
from citywatch.api.errors import ApiError
from citywatch.api.routes.sightings import visible_sighting
from citywatch.api.schemas.common import ERROR_RESPONSES
from citywatch.api.schemas.search import (
    SearchHitPublic,
    SearchPublic,
    TrajectoryCreate,
    TrajectoryPublic,
)
from citywatch.api.views import stop_public
from citywatch.governance.access import Perm
from citywatch.search.trajectory import trajectory
from citywatch.store.retention import get_case
from citywatch.types import SearchHit

router = APIRouter(tags=["search"], responses=ERROR_RESPONSES)
Investigator = Annotated[CurrentUser, need(Perm.SEARCH)]


def save_upload(ctx: ApiContext, upload: UploadFile, folder: Path, index: int = 0) -> Path:
    """Copy an upload to ``folder`` (413 past ``api.max_upload_mb``); the name keeps only a safe suffix."""
    limit = int(ctx.app.cfg.api.max_upload_mb * 1024 * 1024)
    suffix = Path(upload.filename or "").suffix.lower()
    if not suffix.isascii() or not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ""
    path = folder / f"upload-{index}{suffix}"
    size = 0
    with path.open("wb") as f:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise ApiError(
                    413, "too_large", f"{upload.filename or 'upload'}: larger than {limit >> 20} MB"
                )
            f.write(chunk)
    return path


def _cameras(values: list[str] | None) -> list[str] | None:
    names = [c.strip() for v in values or () for c in v.split(",") if c.strip()]
    return names or None


def _utc(t: datetime | None) -> datetime | None:
    return None if t is None else (t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC))


@router.post("/api/search", response_model=SearchPublic, summary="Search sightings by a probe photo")
def search(
    user: Investigator,
    ctx: Ctx,
    photo: Annotated[UploadFile, File(description="Probe photo showing one face.")],
    case: Annotated[str, Form(min_length=1, max_length=128)],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    cameras: Annotated[list[str] | None, Form(description="Repeat, or comma-separated.")] = None,
    since: Annotated[datetime | None, Form()] = None,
    until: Annotated[datetime | None, Form()] = None,
    limit: Annotated[int | None, Form(ge=1, le=10_000)] = None,
) -> SearchPublic:
    cams = _cameras(cameras)
    with tempfile.TemporaryDirectory(prefix="citywatch-probe-") as tmp:
        probe = save_upload(ctx, photo, Path(tmp))
        with ctx.models() as app:
            hits = app.search(
                probe,
                case,
                reason,
                user.name,
                cameras=cams,
                since=_utc(since),
                until=_utc(until),
                limit=limit,
            )
            threshold = app.threshold
    positions = ctx.positions()
    out = [
        SearchHitPublic(
            rank=i,
            sighting_id=h.sighting_id,
            camera=h.camera,
            start=datetime.fromtimestamp(h.start, UTC),
            end=datetime.fromtimestamp(h.end, UTC),
            score=round(h.score, 4),
            above_threshold=h.score >= threshold,
            identity=h.identity_name,
            thumbnail_url=f"/api/sightings/{h.sighting_id}/thumbnail.jpg" if h.thumbnail else None,
            lat=positions.get(h.camera, (None, None))[0],
            lon=positions.get(h.camera, (None, None))[1],
        )
        for i, h in enumerate(hits, 1)
    ]
    path = [stop_public(s, hits) for s in trajectory(hits, threshold, positions)]
    return SearchPublic(case=case, reason=reason, threshold=round(threshold, 4), hits=out, trajectory=path)


@router.post(
    "/api/trajectories",
    response_model=TrajectoryPublic,
    tags=["trajectories"],
    summary="The time-ordered path through chosen sightings",
)
def trajectories(body: TrajectoryCreate, user: Investigator, ctx: Ctx) -> TrajectoryPublic:
    case = get_case(ctx.store, body.case.strip())
    sightings = [visible_sighting(ctx, user, i) for i in dict.fromkeys(body.sighting_ids)]
    hits = [
        SearchHit(s.id, s.camera, s.start.timestamp(), s.end.timestamp(), 1.0, s.thumbnail, s.identity_name)
        for s in sightings
    ]
    audit(
        ctx, user, "trajectory.view", "sightings", case_ref=case.case_ref, reason=body.reason,
        details={"sightings": [s.id for s in sightings]},
    )  # fmt: skip
    stops = [stop_public(s, hits) for s in trajectory(hits, 0.0, ctx.positions())]
    return TrajectoryPublic(case=case.case_ref, stops=stops)
