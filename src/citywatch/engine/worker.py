"""One camera's worker, the same in a local process and in a Ray actor.

The worker builds its own :class:`~citywatch.app.App` from the configuration
and the data directory, opens the camera's source itself and hands it to
``App.process`` (``frames=``), so the persist, alerting and authorisation
rules are the very ones of ``citywatch process``. Owning the source lets the
worker read its counters for health, write the latest frame for the console
and close it to stop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from citywatch.app import App, SightingEvent
from citywatch.config import CameraConfig, Config
from citywatch.embed.base import FaceEmbedder
from citywatch.engine.health import CameraHealth, CameraStatus
from citywatch.errors import NotFoundError
from citywatch.images import encode_jpeg
from citywatch.ingest.base import FrameSource
from citywatch.ingest.sources import open_source
from citywatch.log import scrub_url
from citywatch.store.repo import Store
from citywatch.types import Frame, SourceStats

logger = logging.getLogger(__name__)

RATE_WINDOW_S = 5.0
"""fps in/out are averaged over about this many seconds."""
STALE_MIN_S = 3.0
"""A live camera with no frame for this long (or three sampling periods) is reconnecting."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker is built from; picklable, so spawned processes and Ray actors rebuild from it.

    ``config_json`` holds the whole configuration with only this camera in
    ``cameras`` (so a worker never touches another camera's row).
    ``case_ref``/``recorded_at`` are for processing recorded files as a case
    (post-event); live cameras leave them empty.
    """

    config_json: str
    camera: str
    home: str
    actor: str
    case_ref: str | None = None
    recorded_at: datetime | None = None

    @classmethod
    def build(
        cls,
        cfg: Config,
        camera: CameraConfig,
        home: Path,
        actor: str,
        *,
        case_ref: str | None = None,
        recorded_at: datetime | None = None,
    ) -> WorkerSpec:
        one = cfg.model_copy(update={"cameras": [camera]})
        return cls(one.model_dump_json(), camera.name, str(home), actor, case_ref, recorded_at)

    def config(self) -> Config:
        return Config.model_validate_json(self.config_json)


def live_frame_path(home: Path, camera: str) -> Path:
    """Where the latest frame of ``camera`` is kept for the console tiles."""
    return home / "live" / f"{camera}.jpg"


@dataclass
class _Counts:
    frames: int = 0
    last_frame_at: datetime | None = None
    last_frame_mono: float | None = None
    samples: deque[tuple[float, int, int]] = field(default_factory=lambda: deque(maxlen=64))


class _Tap(FrameSource):
    """Wraps the worker's source: counts frames, writes the live JPEG, ends the run on stop."""

    def __init__(
        self,
        inner: FrameSource,
        stop: threading.Event,
        counts: _Counts,
        lock: threading.Lock,
        live_path: Path | None,
        live_every: float,
        live_quality: int,
    ) -> None:
        super().__init__(inner.camera, inner.uri)
        self.inner = inner
        self._stop = stop
        self._counts = counts
        self._lock = lock
        self._live_path = live_path
        self._live_every = live_every
        self._live_quality = live_quality
        self._live_last = -1e9

    @property
    def live(self) -> bool:
        return self.inner.live

    @property
    def stats(self) -> SourceStats:
        return self.inner.stats

    def __next__(self) -> Frame:
        if self._stop.is_set():
            raise StopIteration
        frame = next(self.inner)
        now = time.monotonic()
        with self._lock:
            self._counts.frames += 1
            self._counts.last_frame_at = datetime.now(UTC)
            self._counts.last_frame_mono = now
        if self._live_path is not None and now - self._live_last >= self._live_every:
            self._live_last = now
            self._write_live(frame)
        return frame

    def _write_live(self, frame: Frame) -> None:
        assert self._live_path is not None
        tmp = self._live_path.with_name(f".{self._live_path.name}.tmp")
        try:
            tmp.write_bytes(encode_jpeg(frame.image, quality=self._live_quality))
            os.replace(tmp, self._live_path)  # readers see the old or the new frame, never half of one
        except OSError as exc:
            logger.warning("camera %s: cannot write live frame %s: %s", self.camera, self._live_path, exc)

    def close(self) -> None:
        self.inner.close()


class CameraWorker:
    """Runs one camera until :meth:`stop` (live) or the end of the file.

    :meth:`run` blocks; :meth:`health` and :meth:`stop` may be called from
    other threads. ``embedder`` replaces the configured embedder (the Ray
    engine passes a client of its batched recognition actors).
    """

    def __init__(
        self, spec: WorkerSpec, *, embedder: FaceEmbedder | None = None, engine: str = "local"
    ) -> None:
        self.spec = spec
        self.engine = engine
        self._embedder = embedder
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._source: FrameSource | None = None
        self._status: CameraStatus | None = None  # final status once run() ended
        self._error: str | None = None
        self._sightings = 0
        self._alerts = 0
        cfg = spec.config()
        cam = cfg.camera(spec.camera)
        if cam is None:
            raise NotFoundError(f"worker spec names camera {spec.camera!r} but its config does not hold it")
        self.cfg = cfg
        self.cam = cam

    # --- control ------------------------------------------------------------

    def stop(self) -> None:
        """End the run: a live source is closed at once, a file stops at its next frame."""
        self._stop.set()
        src = self._source
        if src is not None and src.live:
            src.close()  # LiveSource.close is thread-safe and wakes the blocked reader

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _on_event(self, ev: SightingEvent) -> None:
        with self._lock:
            self._sightings += 1
            self._alerts += ev.alert_id is not None

    def run(self) -> CameraHealth:
        """Process the camera; returns the final health. Errors are raised after being recorded."""
        home = Path(self.spec.home)
        live_every = self.cfg.fleet.live_frame_seconds
        live_path = live_frame_path(home, self.cam.name) if live_every > 0 else None
        if live_path is not None:
            live_path.parent.mkdir(parents=True, exist_ok=True)
        # workers never migrate or reconcile: reconcile would delete other workers' fresh thumbnails
        store = Store.open(
            self.cfg.database.url, home, migrate=False, reconcile=False, vectors=self.cfg.vectors
        )
        # worker=True: the fleet stored the cameras and audited the configuration; a worker's config
        # holds only its own camera, which it makes sure exists (run_camera_once has no fleet)
        app = App(self.cfg, home, store, worker=True)
        c = self.cam
        store.upsert_camera(
            c.name, source=c.source, location=c.location, lat=c.lat, lon=c.lon, recognition=c.recognition,
            district=c.district, purpose=c.purpose, vendor=c.vendor, cost=c.cost, installed_on=c.installed_on,
        )  # fmt: skip
        if self._embedder is not None:
            app.embedder = self._embedder
        try:
            while not self._stop.is_set():
                src = open_source(
                    self.cam.name,
                    self.cam.source,
                    detect_fps=self.cam.detect_fps,
                    sample_fps=self.cfg.sample_fps(self.cam),
                    cfg=self.cfg.ingest,
                )
                tap = _Tap(
                    src,
                    self._stop,
                    self._counts,
                    self._lock,
                    live_path,
                    live_every,
                    self.cfg.fleet.live_frame_quality,
                )
                self._source = src
                if self._stop.is_set():  # stop() came in between: it did not see this source
                    src.close()
                summary = app.process(
                    self.cam.source,
                    self.cam.name,
                    actor=self.spec.actor,
                    case_ref=self.spec.case_ref,
                    recorded_at=self.spec.recorded_at,
                    frames=tap,
                    on_event=self._on_event,
                )
                logger.info(
                    "camera %s: run %d ended: %d frames, %d sightings, %d alerts",
                    self.cam.name, summary.run_id, summary.frames, summary.sightings, summary.alerts,
                )  # fmt: skip
                if not src.live:
                    break  # a file is processed once
        except Exception as exc:
            with self._lock:
                self._status, self._error = CameraStatus.FAILED, scrub_url(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            app.close()
            if live_path is not None:
                live_path.unlink(missing_ok=True)  # a stopped camera shows no stale picture
        with self._lock:
            self._status = CameraStatus.STOPPED
        return self.health()

    # --- health -------------------------------------------------------------

    def health(self, now: float | None = None) -> CameraHealth:
        """A snapshot; cheap and thread-safe (fps over the last few seconds of calls)."""
        mono = time.monotonic() if now is None else now
        src = self._source
        stats = src.stats if src is not None else None
        decoded = stats.decoded if stats is not None else 0
        with self._lock:
            c = self._counts
            c.samples.append((mono, decoded, c.frames))
            while len(c.samples) > 2 and mono - c.samples[0][0] > RATE_WINDOW_S:
                c.samples.popleft()
            t0, d0, f0 = c.samples[0]
            dt = mono - t0
            fps_in = (decoded - d0) / dt if dt > 0 else 0.0
            fps_out = (c.frames - f0) / dt if dt > 0 else 0.0
            status = self._status or self._live_status(mono, stats.reconnects if stats else 0)
            error = self._error
            if error is None and stats is not None and stats.errors and status != CameraStatus.RUNNING:
                error = stats.errors[-1]
            return CameraHealth(
                camera=self.cam.name,
                status=status,
                fps_in=fps_in,
                fps_out=fps_out,
                frames_dropped=stats.dropped if stats else 0,
                reconnects=stats.reconnects if stats else 0,
                last_frame_at=c.last_frame_at,
                error=error,
                frames=c.frames,
                sightings=self._sightings,
                alerts=self._alerts,
                engine=self.engine,
            )

    def _live_status(self, mono: float, reconnects: int) -> CameraStatus:
        last = self._counts.last_frame_mono
        stale = max(STALE_MIN_S, 3.0 / self.cam.detect_fps)
        if last is not None and mono - last <= stale:
            return CameraStatus.RUNNING
        if self._source is not None and self._source.live and (last is not None or reconnects > 0):
            return CameraStatus.RECONNECTING
        return CameraStatus.RUNNING if last is not None else CameraStatus.STARTING


def check_source(cam: CameraConfig) -> str | None:
    """Why ``cam`` cannot run at all, else ``None``; makes no connection."""
    if not cam.source.strip():
        return f"camera {cam.name}: no source configured"
    return None
