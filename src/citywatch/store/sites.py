"""SQL of sites (named places grouping cameras) and of cameras managed through the API.

A camera added or changed through the API is kept here as its full
configuration (JSON of ``config.CameraConfig``) and overrides the config
file's entry of the same name; a removed one is remembered as removed, so a
restart does not bring it back from the file.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from citywatch.errors import NotFoundError, PolicyError
from citywatch.store import models as m
from citywatch.store.repo import Store


@dataclass(frozen=True, slots=True)
class SiteRecord:
    id: int
    name: str
    description: str
    lat: float | None
    lon: float | None
    created_by: str
    created_at: datetime
    cameras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CameraSettingRecord:
    name: str
    config: dict[str, Any] | None
    removed: bool
    updated_by: str
    updated_at: datetime


def _cameras_of(s: Any, site_id: int) -> tuple[str, ...]:
    return tuple(sorted(s.scalars(select(m.SiteCamera.camera).where(m.SiteCamera.site_id == site_id))))


def _site(s: Any, x: m.Site) -> SiteRecord:
    return SiteRecord(
        x.id, x.name, x.description, x.lat, x.lon, x.created_by, x.created_at, _cameras_of(s, x.id)
    )


def list_sites(store: Store) -> list[SiteRecord]:
    with store._session() as s:
        return [_site(s, x) for x in s.scalars(select(m.Site).order_by(m.Site.name))]


def get_site(store: Store, name: str) -> SiteRecord:
    with store._session() as s:
        x = s.scalar(select(m.Site).where(m.Site.name == name))
        if x is None:
            raise NotFoundError(f"site {name!r} does not exist")
        return _site(s, x)


def _set_cameras(s: Any, site_id: int, cameras: Collection[str]) -> None:
    s.execute(delete(m.SiteCamera).where(m.SiteCamera.site_id == site_id))
    # a camera belongs to one site: moving it here takes it from any other
    s.execute(delete(m.SiteCamera).where(m.SiteCamera.camera.in_(sorted(set(cameras)))))
    for c in sorted(set(cameras)):
        s.add(m.SiteCamera(camera=c, site_id=site_id))


def save_site(
    store: Store,
    name: str,
    *,
    description: str,
    lat: float | None,
    lon: float | None,
    cameras: Collection[str],
    by: str,
    create: bool,
) -> SiteRecord:
    """Create (``create=True``; PolicyError if taken) or replace a site; NotFoundError when missing."""
    if not name.strip():
        raise PolicyError("a site needs a name")
    try:
        with store._tx() as s:
            x = s.scalar(select(m.Site).where(m.Site.name == name))
            if create:
                if x is not None:
                    raise PolicyError(f"site {name!r} already exists")
                x = m.Site(name=name.strip(), created_by=by)
                s.add(x)
            elif x is None:
                raise NotFoundError(f"site {name!r} does not exist")
            x.description, x.lat, x.lon = description, lat, lon
            s.flush()
            _set_cameras(s, x.id, cameras)
            s.flush()
            return _site(s, x)
    except IntegrityError as exc:
        raise PolicyError(f"site {name!r} already exists") from exc


def delete_site(store: Store, name: str) -> SiteRecord:
    with store._tx() as s:
        x = s.scalar(select(m.Site).where(m.Site.name == name))
        if x is None:
            raise NotFoundError(f"site {name!r} does not exist")
        rec = _site(s, x)
        s.execute(delete(m.SiteCamera).where(m.SiteCamera.site_id == x.id))
        s.delete(x)
        return rec


def camera_sites(store: Store) -> dict[str, str]:
    """``camera name -> site name``."""
    with store._session() as s:
        rows = s.execute(
            select(m.SiteCamera.camera, m.Site.name).join(m.Site, m.SiteCamera.site_id == m.Site.id)
        ).all()
        return {c: n for c, n in rows}


# --- cameras managed through the API ------------------------------------------------


def list_camera_settings(store: Store) -> list[CameraSettingRecord]:
    with store._session() as s:
        return [
            CameraSettingRecord(c.name, c.config, c.removed, c.updated_by, c.updated_at)
            for c in s.scalars(select(m.CameraSetting).order_by(m.CameraSetting.name))
        ]


def save_camera_setting(store: Store, name: str, config: dict[str, Any] | None, by: str) -> None:
    """Record a camera's configuration (``None``: removed) as set through the API."""
    with store._tx() as s:
        c = s.get(m.CameraSetting, name)
        if c is None:
            c = m.CameraSetting(name=name, updated_by=by)
            s.add(c)
        c.config, c.removed, c.updated_by, c.updated_at = config, config is None, by, m.utcnow()


def delete_camera_row(store: Store, name: str) -> None:
    """Drop a camera's row (its facts); sightings keep the name until retention removes them."""
    with store._tx() as s:
        s.execute(delete(m.Camera).where(m.Camera.name == name))
        s.execute(delete(m.SiteCamera).where(m.SiteCamera.camera == name))


__all__ = [
    "CameraSettingRecord",
    "SiteRecord",
    "camera_sites",
    "delete_camera_row",
    "delete_site",
    "get_site",
    "list_camera_settings",
    "list_sites",
    "save_camera_setting",
    "save_site",
]
