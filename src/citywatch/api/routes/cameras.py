"""Cameras: list with health, latest frame, sightings per camera; admins add, change and remove them.

A user limited to some cameras gets 404 for every other camera (they may not
know it exists). Admin changes are kept in the database (``camera_settings``),
override the config file's entry, are applied to the running fleet at once,
and are audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Response

from citywatch.api.context import ApiContext
from citywatch.api.deps import Ctx, CurrentUser, User, audit, need, visible_camera
from citywatch.api.fleet import Health, fleet_health
from citywatch.api.schemas.alerts import SightingPublic
from citywatch.api.schemas.cameras import CameraCreate, CameraHealthPublic, CameraPublic, CameraUpdate
from citywatch.api.schemas.common import ERROR_RESPONSES, JPEG
from citywatch.api.views import sighting_public
from citywatch.config import CameraConfig
from citywatch.errors import NotFoundError, PolicyError
from citywatch.governance.access import Perm
from citywatch.governance.retention import in_window, retention_floor
from citywatch.ingest.files import IMAGE_SUFFIXES
from citywatch.log import scrub_url
from citywatch.store.api_views import recent_sightings
from citywatch.store.sites import camera_sites, delete_camera_row, save_camera_setting

router = APIRouter(prefix="/api/cameras", tags=["cameras"], responses=ERROR_RESPONSES)
Admin = Annotated[CurrentUser, need(Perm.CAMERAS_MANAGE)]
Viewer = Annotated[CurrentUser, need(Perm.SIGHTINGS_VIEW)]
LIVE_VIEW_AUDIT_S = 600.0
"""A live tile refreshes every second: its view is audited once per user and camera per this many seconds."""


def source_kind(source: str) -> str:
    if not source.strip():
        return "none"
    scheme = urlsplit(source).scheme.lower()
    if len(scheme) > 1 and "://" in source:
        return scheme
    p = Path(source)
    if p.is_dir():
        return "folder"
    return "image" if p.suffix.lower() in IMAGE_SUFFIXES else "file"


def _health(h: Health | None) -> CameraHealthPublic | None:
    if h is None:
        return None
    return CameraHealthPublic(
        state=h.state, fps=h.fps_out, fps_in=h.fps_in, fps_out=h.fps_out, frames=h.frames, dropped=h.dropped,
        reconnects=h.reconnects, restarts=h.restarts, sightings=h.sightings, alerts=h.alerts,
        last_frame_at=h.last_frame_at, error=h.error,
    )  # fmt: skip


def camera_public(
    c: CameraConfig, user: CurrentUser, health: dict[str, Health], sites: dict[str, str]
) -> CameraPublic:
    return CameraPublic(
        name=c.name,
        location=c.location,
        lat=c.lat,
        lon=c.lon,
        district=c.district,
        purpose=c.purpose,
        source_kind=source_kind(c.source),
        source=scrub_url(c.source) if user.actor.can(Perm.CAMERAS_MANAGE) else None,
        detect_fps=c.detect_fps,
        enabled=c.enabled,
        recognition=c.recognition,
        site=sites.get(c.name),
        health=_health(health.get(c.name)),
        frame_url=f"/api/cameras/{c.name}/frame.jpg",
    )


@router.get("", response_model=list[CameraPublic], summary="Cameras you may see, with health")
def cameras(user: User, ctx: Ctx) -> list[CameraPublic]:
    health, sites = fleet_health(ctx.fleet), camera_sites(ctx.store)
    return [camera_public(c, user, health, sites) for c in ctx.cameras() if user.sees(c.name)]


@router.get("/{name}", response_model=CameraPublic, summary="One camera")
def camera(name: str, user: User, ctx: Ctx) -> CameraPublic:
    visible_camera(ctx, user, name)
    cam = ctx.camera(name)
    assert cam is not None
    return camera_public(cam, user, fleet_health(ctx.fleet), camera_sites(ctx.store))


def latest_frame(ctx: ApiContext, name: str) -> bytes | None:
    """The newest frame the camera's worker wrote (JPEG, about once a second), or ``None``."""
    finder = getattr(ctx.fleet, "frame_path", None)
    # without a fleet in this process (tests, a second server), the workers' file convention
    path = Path(finder(name)) if callable(finder) else ctx.home / "live" / f"{name}.jpg"
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


@router.get(
    "/{name}/frame.jpg",
    response_class=Response,
    responses=JPEG,
    summary="The latest frame of a camera (404 until one exists)",
)
def frame(name: str, user: Viewer, ctx: Ctx) -> Response:
    visible_camera(ctx, user, name)
    data = latest_frame(ctx, name)
    if data is None:
        raise NotFoundError(f"camera {name!r} has no frame yet")
    if ctx.live_view_due(user.name, name, LIVE_VIEW_AUDIT_S):
        audit(ctx, user, "camera.live_view", f"camera:{name}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{name}/sightings", response_model=list[SightingPublic], summary="Sightings of one camera")
def camera_sightings(
    name: str,
    user: Viewer,
    ctx: Ctx,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SightingPublic]:
    visible_camera(ctx, user, name)
    return list_sightings(ctx, user, [name], since, until, limit)


def list_sightings(
    ctx: ApiContext,
    user: CurrentUser,
    cameras: list[str],
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[SightingPublic]:
    """Newest sightings of ``cameras`` still inside their retention window; audited ``sighting.list``."""
    now = ctx.now()
    ret = ctx.app.cfg.governance.retention
    # SQL drops what is past the longer of the two periods; in_window applies each sighting's own
    oldest = min(retention_floor(ret, now, matched=False), retention_floor(ret, now, matched=True))
    rows = recent_sightings(
        ctx.store, cameras, since=_utc(since), until=_utc(until), created_after=oldest, limit=limit
    )
    rows = [r for r in rows if in_window(r, ret, now)]
    audit(
        ctx, user, "sighting.list", "sightings",
        details={"cameras": cameras, "count": len(rows), "ids": [r.id for r in rows[:200]]},
    )  # fmt: skip
    return [sighting_public(ctx, r) for r in rows]


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


# --- admin ----------------------------------------------------------------------------


def _apply(ctx: ApiContext, cam: CameraConfig, user: CurrentUser, action: str) -> None:
    ctx.store.upsert_camera(
        cam.name, source=cam.source, location=cam.location, lat=cam.lat, lon=cam.lon,
        recognition=cam.recognition, district=cam.district, purpose=cam.purpose, vendor=cam.vendor,
        cost=cam.cost, installed_on=cam.installed_on,
    )  # fmt: skip
    save_camera_setting(ctx.store, cam.name, cam.model_dump(mode="json"), user.name)
    details: dict[str, Any] = cam.model_dump(mode="json")
    details["source"] = scrub_url(cam.source)
    audit(ctx, user, action, f"camera:{cam.name}", details=details)


def _fleet_call(ctx: ApiContext, method: str, arg: Any) -> None:
    if ctx.fleet is not None:
        getattr(ctx.fleet, method)(arg)


@router.post("", response_model=CameraPublic, status_code=201, summary="Add a camera (admin)")
def add_camera(body: CameraCreate, user: Admin, ctx: Ctx) -> CameraPublic:
    cam = CameraConfig.model_validate(body.model_dump())
    with ctx.cameras_lock:
        if ctx.camera(cam.name) is not None:
            raise PolicyError(f"camera {cam.name!r} already exists")
        _fleet_call(ctx, "add_camera", cam)  # first: a fleet refusal leaves nothing half-done
        _apply(ctx, cam, user, "camera.create")
        ctx.set_cameras([*ctx.cameras(), cam])
    return camera_public(cam, user, {}, camera_sites(ctx.store))


@router.put("/{name}", response_model=CameraPublic, summary="Change a camera (admin)")
def update_camera(name: str, body: CameraUpdate, user: Admin, ctx: Ctx) -> CameraPublic:
    visible_camera(ctx, user, name)
    with ctx.cameras_lock:
        old = ctx.camera(name)
        if old is None:
            raise NotFoundError(f"camera {name!r} does not exist")
        changes = body.model_dump(exclude_unset=True)
        cam = CameraConfig.model_validate(old.model_dump() | changes)
        _fleet_call(ctx, "update_camera", cam)
        _apply(ctx, cam, user, "camera.update")
        ctx.set_cameras([cam if c.name == name else c for c in ctx.cameras()])
    return camera_public(cam, user, fleet_health(ctx.fleet), camera_sites(ctx.store))


@router.delete(
    "/{name}", response_model=CameraPublic, summary="Remove a camera (admin); its sightings age out"
)
def remove_camera(name: str, user: Admin, ctx: Ctx) -> CameraPublic:
    visible_camera(ctx, user, name)
    with ctx.cameras_lock:
        old = ctx.camera(name)
        if old is None:
            raise NotFoundError(f"camera {name!r} does not exist")
        sites = camera_sites(ctx.store)
        _fleet_call(ctx, "remove_camera", name)
        save_camera_setting(ctx.store, name, None, user.name)
        delete_camera_row(ctx.store, name)
        ctx.set_cameras([c for c in ctx.cameras() if c.name != name])
        audit(ctx, user, "camera.remove", f"camera:{name}", details={"source": scrub_url(old.source)})
    return camera_public(old, user, {}, sites)
