"""Sightings (one per face track) and their thumbnails; only those still inside the retention window."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from citywatch.api.context import ApiContext
from citywatch.api.deps import Ctx, CurrentUser, audit, need, visible_camera
from citywatch.api.routes.cameras import list_sightings
from citywatch.api.schemas.alerts import SightingPublic
from citywatch.api.schemas.common import ERROR_RESPONSES, JPEG, IdPath
from citywatch.api.views import sighting_public
from citywatch.errors import NotFoundError
from citywatch.governance.access import Perm
from citywatch.governance.retention import in_window
from citywatch.store.records import SightingRecord

router = APIRouter(prefix="/api/sightings", tags=["sightings"], responses=ERROR_RESPONSES)
Viewer = Annotated[CurrentUser, need(Perm.SIGHTINGS_VIEW)]


def visible_sighting(ctx: ApiContext, user: CurrentUser, sighting_id: int) -> SightingRecord:
    """The sighting, or 404 when it does not exist, is on a camera the user may not see, or has expired."""
    try:
        s = ctx.store.get_sighting(sighting_id)
    except NotFoundError:
        s = None
    if s is None or not user.sees(s.camera) or not in_window(s, ctx.app.cfg.governance.retention, ctx.now()):
        raise NotFoundError(f"sighting {sighting_id} does not exist")
    return s


@router.get("", response_model=list[SightingPublic], summary="Newest sightings on your cameras")
def sightings(
    user: Viewer,
    ctx: Ctx,
    camera: Annotated[list[str] | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SightingPublic]:
    for c in camera or ():
        visible_camera(ctx, user, c)
    cams = camera or [c.name for c in ctx.cameras() if user.sees(c.name)]
    return list_sightings(ctx, user, cams, since, until, limit)


@router.get("/{sighting_id}", response_model=SightingPublic, summary="One sighting")
def sighting(sighting_id: IdPath, user: Viewer, ctx: Ctx) -> SightingPublic:
    s = visible_sighting(ctx, user, sighting_id)
    audit(ctx, user, "sighting.view", f"sighting:{s.id}", details={"camera": s.camera})
    return sighting_public(ctx, s)


@router.get("/{sighting_id}/thumbnail.jpg", response_class=Response, responses=JPEG, summary="Its thumbnail")
def sighting_thumbnail(sighting_id: IdPath, user: Viewer, ctx: Ctx) -> Response:
    s = visible_sighting(ctx, user, sighting_id)
    path = ctx.store.thumbnail_path(s.thumbnail) if s.thumbnail else None
    if path is None or not path.is_file():
        raise NotFoundError(f"sighting {sighting_id} has no thumbnail")
    audit(ctx, user, "thumbnail.view", f"sighting:{s.id}", details={"camera": s.camera})
    return Response(
        path.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "private, no-store"}
    )
