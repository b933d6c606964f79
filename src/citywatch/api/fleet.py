"""The API's view of the camera fleet (``citywatch.engine.fleet.Fleet``), and the effective camera list.

The fleet runs the camera workers in other processes. The API only asks it
for health and tells it when an admin adds, changes or removes a camera; it
is imported lazily so the API works (and tests run) without it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from citywatch.config import CameraConfig, Config
from citywatch.store.repo import Store
from citywatch.store.sites import delete_camera_row, list_camera_settings

log = logging.getLogger(__name__)


class FleetLike(Protocol):
    """What the API needs of ``citywatch.engine.fleet.Fleet``."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def health(self) -> Sequence[Any]: ...
    def add_camera(self, cam: CameraConfig) -> None: ...
    def update_camera(self, cam: CameraConfig) -> None: ...
    def remove_camera(self, name: str) -> None: ...


def load_fleet(cfg: Config, home: Path) -> FleetLike | None:
    """``Fleet(cfg, home)`` if the engine provides it, else ``None`` with a log line saying so."""
    try:
        from citywatch.engine import fleet as fleet_mod
    except ImportError as exc:
        log.warning(
            "camera fleet not available (%s): serving the API and console without camera workers", exc
        )
        return None
    cls = getattr(fleet_mod, "Fleet", None)
    if cls is None:
        log.warning("citywatch.engine.fleet has no Fleet: serving without camera workers")
        return None
    fleet: FleetLike = cls(cfg, home)
    return fleet


@dataclass(frozen=True, slots=True)
class Health:
    """One camera's health as the API reports it (``engine.health.CameraHealth`` read by field name)."""

    camera: str
    state: str
    fps_in: float | None = None
    fps_out: float | None = None
    frames: int | None = None
    dropped: int | None = None
    reconnects: int | None = None
    restarts: int | None = None
    sightings: int | None = None
    alerts: int | None = None
    last_frame_at: datetime | None = None
    error: str | None = None


def _first(obj: Any, *names: str) -> Any:
    for n in names:
        v = obj.get(n) if isinstance(obj, dict) else getattr(obj, n, None)
        if v is not None:
            return v
    return None


def _when(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if isinstance(v, int | float) and v > 0:
        return datetime.fromtimestamp(float(v), UTC)
    return None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def health_of(record: Any) -> Health | None:
    """Read a fleet health record (dataclass, object or dict) by its field names."""
    name = _first(record, "camera", "name")
    if name is None:
        return None
    state = _first(record, "status", "state")
    err = _first(record, "error")
    return Health(
        camera=str(name),
        state=str(getattr(state, "value", state)) if state is not None else "unknown",
        fps_in=_num(_first(record, "fps_in")),
        fps_out=_num(_first(record, "fps_out", "fps")),
        frames=_int(_first(record, "frames")),
        dropped=_int(_first(record, "frames_dropped", "dropped")),
        reconnects=_int(_first(record, "reconnects")),
        restarts=_int(_first(record, "restarts")),
        sightings=_int(_first(record, "sightings")),
        alerts=_int(_first(record, "alerts")),
        last_frame_at=_when(_first(record, "last_frame_at")),
        error=str(err) if err else None,
    )


def fleet_health(fleet: FleetLike | None) -> dict[str, Health]:
    """``camera -> Health``; empty without a fleet or when it fails to answer (logged)."""
    if fleet is None:
        return {}
    try:
        records = fleet.health()
    except Exception:
        log.exception("camera fleet health failed")
        return {}
    out: dict[str, Health] = {}
    for r in records:
        h = health_of(r)
        if h is not None:
            out[h.camera] = h
    return out


def effective_cameras(store: Store, cfg: Config) -> Config:
    """``cfg`` with the cameras added, changed or removed through the API applied.

    A removed camera's row is dropped again (the App upserts every camera of
    the file at start), so it stays out of lists and the transparency report.
    """
    cams = {c.name: c for c in cfg.cameras}
    for s in list_camera_settings(store):
        if s.removed or s.config is None:
            if s.name in cams:
                del cams[s.name]
                delete_camera_row(store, s.name)
            continue
        try:
            cams[s.name] = CameraConfig.model_validate(s.config)
        except ValueError:
            log.exception("camera %s: stored configuration is invalid; using the config file's", s.name)
    return cfg.model_copy(update={"cameras": list(cams.values())})
