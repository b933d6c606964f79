"""What every request handler shares: the App, the fleet, the login limiter, the alert feed.

One :class:`ApiContext` per FastAPI application, kept on ``app.state.ctx``;
nothing is global, so tests build as many apps as they like.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citywatch.api.feed import AlertFeed
from citywatch.api.fleet import FleetLike
from citywatch.api.security import LoginLimiter
from citywatch.app import App
from citywatch.config import CameraConfig
from citywatch.store.repo import Store


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    app: App
    fleet: FleetLike | None
    limiter: LoginLimiter
    feed: AlertFeed
    now: Callable[[], datetime] = _utcnow
    models_lock: threading.Lock = field(default_factory=threading.Lock)
    """The App's detector and embedder are not thread-safe; requests that run them take turns."""
    cameras_lock: threading.Lock = field(default_factory=threading.Lock)
    live_views: dict[tuple[str, str], float] = field(default_factory=dict)
    """``(user, camera) -> monotonic time`` of the last audited live view (see routes/cameras)."""

    @property
    def store(self) -> Store:
        return self.app.store

    @property
    def home(self) -> Path:
        return self.app.home

    def cameras(self) -> list[CameraConfig]:
        return list(self.app.cfg.cameras)

    def camera(self, name: str) -> CameraConfig | None:
        return self.app.cfg.camera(name)

    def positions(self) -> dict[str, tuple[float | None, float | None]]:
        return {c.name: (c.lat, c.lon) for c in self.app.cfg.cameras}

    def set_cameras(self, cams: list[CameraConfig]) -> None:
        """Replace the App's camera list (admin changes); searches and runs see it at once."""
        self.app.cfg = self.app.cfg.model_copy(update={"cameras": cams})

    @contextmanager
    def models(self) -> Iterator[App]:
        with self.models_lock:
            yield self.app

    def live_view_due(self, user: str, camera: str, every_s: float) -> bool:
        """Whether a live view of ``camera`` by ``user`` should be audited now (at most every ``every_s``)."""
        now = time.monotonic()
        last = self.live_views.get((user, camera))
        if last is not None and now - last < every_s:
            return False
        self.live_views[(user, camera)] = now
        return True
