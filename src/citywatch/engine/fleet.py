"""The camera fleet: one worker per enabled camera, supervised, changeable while it runs.

``Fleet(cfg, home).start()`` runs every enabled camera in its own worker (a
spawned process with ``engine: local``, a Ray actor with ``engine: ray``),
restarts a worker that dies with exponential backoff, and keeps a
:class:`~citywatch.engine.health.CameraHealth` per camera whose counters add
up across restarts (:meth:`Fleet.metrics` renders them for Prometheus).
Cameras can be added, changed and removed without a restart.

Workers process as the fleet's service account (``fleet.service_user``), a
password-less user with the admin role: it has ``process`` and none of the
permissions that read personal data (search, export, sightings). It is
created on first start, audited, once a first (human) admin exists: creating
it earlier would take the bootstrap slot that ``users create`` reserves for
the first admin.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from citywatch.config import CameraConfig, Config
from citywatch.engine.health import METRICS_CONTENT_TYPE, CameraHealth, CameraStatus, render_metrics
from citywatch.engine.worker import WorkerSpec, check_source, live_frame_path
from citywatch.errors import ConfigError, NotFoundError, PolicyError
from citywatch.governance.access import PERMISSIONS, Perm, Role
from citywatch.store.repo import Store
from citywatch.store.users import count_users, create_user, get_user

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.2

__all__ = [
    "METRICS_CONTENT_TYPE",
    "CameraHealth",
    "CameraStatus",
    "Fleet",
    "ensure_service_account",
    "render_metrics",
    "run_camera_once",
]


class Worker(Protocol):
    """What the fleet needs of one running worker, whatever the engine."""

    spec: WorkerSpec
    health: CameraHealth
    incarnation: str
    """Changes when the engine restarted the worker by itself (a Ray actor restart)."""

    def alive(self) -> bool: ...
    def exit_health(self) -> CameraHealth: ...
    def request_stop(self) -> None: ...
    def join(self, timeout: float) -> None: ...
    def kill(self) -> None: ...


class Runner(Protocol):
    engine: str

    def start(self) -> None: ...
    def spawn(self, spec: WorkerSpec) -> Worker: ...
    def poll(self, workers: list[Worker], timeout: float) -> None:
        """Refresh each worker's ``health``; wait up to ``timeout`` for news."""

    def close(self) -> None: ...


def ensure_service_account(store: Store, name: str) -> str | None:
    """The fleet's user, created (and audited) on first start; ``None`` while no user exists at all.

    Raises :class:`PolicyError` when a user of that name exists but is
    inactive or lacks ``process``: the fleet never widens anyone's rights.
    """
    u = get_user(store, name)
    if u is not None:
        if not u.active:
            raise PolicyError(f"fleet.service_user {name!r} is deactivated: camera workers cannot process")
        if Perm.PROCESS not in PERMISSIONS[Role(u.role)]:
            raise PolicyError(
                f"fleet.service_user {name!r} has role {u.role!r}, which may not process; "
                "choose another fleet.service_user"
            )
        return u.name
    if count_users(store) == 0:
        return None
    rec = create_user(store, name, Role.ADMIN.value, created_by="citywatch fleet")
    store.append_audit(
        rec.name,
        "user.create",
        f"user:{rec.name}",
        role=rec.role,
        details={
            "role": rec.role,
            "cameras": None,
            "service_account": True,
            "why": "camera fleet service account, created on first start; no password, cannot log in",
        },
    )
    logger.info("created the fleet service account %r (role admin, no password)", rec.name)
    return rec.name


def _make_runner(cfg: Config, home: Path) -> Runner:
    if cfg.engine == "ray":
        from citywatch.engine.ray_runner import RayRunner

        return RayRunner(cfg, home)
    from citywatch.engine.local import LocalRunner

    return LocalRunner(health_seconds=cfg.fleet.health_seconds, log_level=cfg.log_level)


_COUNTERS = ("frames_dropped", "reconnects", "frames", "sightings", "alerts")


def _counters(h: CameraHealth) -> dict[str, int]:
    return {k: int(getattr(h, k)) for k in _COUNTERS}


def _with_counters(h: CameraHealth, c: dict[str, int], restarts: int | None = None) -> CameraHealth:
    return replace(
        h,
        frames_dropped=c["frames_dropped"],
        reconnects=c["reconnects"],
        frames=c["frames"],
        sightings=c["sightings"],
        alerts=c["alerts"],
        restarts=h.restarts if restarts is None else restarts,
    )


@dataclass
class _Slot:
    cam: CameraConfig
    worker: Worker | None = None
    health: CameraHealth | None = None
    base: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    restarts: int = 0
    backoff: float = 0.0
    next_start: float | None = None
    started_at: float = 0.0
    incarnation: str = ""
    stop_reason: str | None = None  # "stop" | "update" | "remove" while a requested stop is pending
    stop_deadline: float = 0.0

    def view(self, h: CameraHealth) -> CameraHealth:
        """``h`` with counters added up over the camera's earlier workers."""
        own = _counters(h)
        return _with_counters(h, {k: own[k] + v for k, v in self.base.items()}, self.restarts)

    def absorb(self, h: CameraHealth) -> None:
        """A worker ended (or was replaced): keep its counters in the base."""
        for k, v in _counters(h).items():
            self.base[k] += v


class Fleet:
    """Runs, supervises and reconfigures the camera workers. See the module docstring.

    Thread-safe: the API calls :meth:`health` and the camera methods from
    request threads while a supervisor thread watches the workers.
    """

    def __init__(self, cfg: Config, home: Path) -> None:
        self._cfg = cfg
        self.home = Path(home)
        self._lock = threading.RLock()
        self._slots: dict[str, _Slot] = {}
        self._runner: Runner | None = None
        self._store: Store | None = None
        self._actor: str | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    # --- lifecycle ----------------------------------------------------------

    @property
    def config(self) -> Config:
        """The configuration as changed at run time (cameras added, updated, removed)."""
        with self._lock:
            return self._cfg

    @property
    def engine(self) -> str:
        return self._cfg.engine

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start every enabled camera's worker and the supervisor; returns at once."""
        with self._lock:
            if self._thread is not None:
                return
            self._closing.clear()
            self._store = Store.open(
                self._cfg.database.url, self.home, migrate=True, reconcile=False, vectors=self._cfg.vectors
            )
            self._runner = _make_runner(self._cfg, self.home)
            self._runner.start()
            self._set_cameras(self._cfg.cameras)
            for cam in self._cfg.cameras:
                self._slots[cam.name] = self._new_slot(cam)
            self._thread = threading.Thread(target=self._supervise, name="citywatch.fleet", daemon=True)
            self._thread.start()
        logger.info("fleet started: %d camera(s), engine %s", len(self._slots), self._cfg.engine)

    def stop(self) -> None:
        """Stop every worker (each finishes its open tracks), then the supervisor."""
        with self._lock:
            if self._thread is None:
                return
            self._closing.set()
            workers = [s.worker for s in self._slots.values() if s.worker is not None]
            for w in workers:
                w.request_stop()
        thread = self._thread
        thread.join(POLL_SECONDS * 10)
        deadline = time.monotonic() + self._cfg.fleet.stop_seconds
        for w in workers:
            w.join(max(0.1, deadline - time.monotonic()))
        with self._lock:
            for slot in self._slots.values():
                if slot.worker is not None:
                    final = replace(slot.worker.exit_health(), status=CameraStatus.STOPPED)
                    slot.health = slot.view(replace(final, fps_in=0.0, fps_out=0.0))
                    slot.worker = None
                elif slot.health is not None and slot.health.status != CameraStatus.FAILED:
                    slot.health = replace(slot.health, status=CameraStatus.STOPPED, fps_in=0.0, fps_out=0.0)
            if self._runner is not None:
                self._runner.close()
            if self._store is not None:
                self._store.close()
            self._runner, self._store, self._thread = None, None, None
        logger.info("fleet stopped")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- cameras ------------------------------------------------------------

    def health(self) -> list[CameraHealth]:
        """Every configured camera's latest health, in configuration order."""
        with self._lock:
            out = []
            for cam in self._cfg.cameras:
                slot = self._slots.get(cam.name)
                h = slot.health if slot is not None else None
                out.append(h or CameraHealth(cam.name, CameraStatus.STOPPED, engine=self._cfg.engine))
            return out

    def metrics(self) -> bytes:
        """Prometheus text for ``/metrics`` (``Content-Type``: :data:`METRICS_CONTENT_TYPE`)."""
        return render_metrics(self.health())

    def frame_path(self, camera: str) -> Path:
        """The latest frame of ``camera`` (JPEG, about once a second while it runs; may not exist)."""
        return live_frame_path(self.home, camera)

    def add_camera(self, cam: CameraConfig) -> None:
        """Add and (if enabled and the fleet runs) start a camera. ConfigError if the name is taken."""
        with self._lock:
            if self._cfg.camera(cam.name) is not None:
                raise ConfigError(f"camera {cam.name!r} already exists; update it instead")
            self._set_cameras([*self._cfg.cameras, cam])
            if self._thread is not None:
                self._slots[cam.name] = self._new_slot(cam)
        logger.info("camera %s added", cam.name)

    def update_camera(self, cam: CameraConfig) -> None:
        """Replace a camera's settings; its worker restarts with them. NotFoundError if unknown."""
        with self._lock:
            if self._cfg.camera(cam.name) is None:
                raise NotFoundError(f"unknown camera {cam.name!r}")
            self._set_cameras([cam if c.name == cam.name else c for c in self._cfg.cameras])
            slot = self._slots.get(cam.name)
            if slot is None:
                return
            slot.cam = cam
            if slot.worker is not None:
                self._request_stop(slot, "update")
            else:
                self._slots[cam.name] = self._new_slot(cam, keep=slot)
        logger.info("camera %s updated", cam.name)

    def remove_camera(self, name: str) -> None:
        """Stop and forget a camera (its stored sightings stay). NotFoundError if unknown."""
        with self._lock:
            if self._cfg.camera(name) is None:
                raise NotFoundError(f"unknown camera {name!r}")
            self._set_cameras([c for c in self._cfg.cameras if c.name != name])
            slot = self._slots.get(name)
            if slot is not None and slot.worker is not None:
                self._request_stop(slot, "remove")
            else:
                self._slots.pop(name, None)
        logger.info("camera %s removed", name)

    def kill_worker(self, camera: str) -> None:
        """Kill a camera's worker as a crash would (for failure drills and tests)."""
        with self._lock:
            slot = self._slots.get(camera)
            if slot is None or slot.worker is None:
                raise NotFoundError(f"camera {camera!r} has no running worker")
            slot.worker.kill()

    def _set_cameras(self, cameras: list[CameraConfig]) -> None:
        self._cfg = self._cfg.model_copy(update={"cameras": cameras})
        if self._store is not None:
            for cam in cameras:
                self._store.upsert_camera(
                    cam.name, source=cam.source, location=cam.location, lat=cam.lat, lon=cam.lon,
                    recognition=cam.recognition, district=cam.district, purpose=cam.purpose,
                    vendor=cam.vendor, cost=cam.cost, installed_on=cam.installed_on,
                )  # fmt: skip

    # --- supervision (lock held by callers) -----------------------------------

    def _new_slot(self, cam: CameraConfig, keep: _Slot | None = None) -> _Slot:
        slot = _Slot(cam)
        if keep is not None:
            slot.base, slot.restarts = keep.base, keep.restarts
        engine = self._cfg.engine
        why = check_source(cam)
        if not cam.enabled:
            slot.health = slot.view(
                CameraHealth(cam.name, CameraStatus.STOPPED, error="disabled", engine=engine)
            )
        elif why is not None:
            slot.health = slot.view(CameraHealth(cam.name, CameraStatus.FAILED, error=why, engine=engine))
        else:
            slot.health = slot.view(CameraHealth(cam.name, CameraStatus.STARTING, engine=engine))
            slot.next_start = time.monotonic()
        return slot

    def _request_stop(self, slot: _Slot, reason: str) -> None:
        assert slot.worker is not None
        slot.stop_reason = reason
        slot.stop_deadline = time.monotonic() + self._cfg.fleet.stop_seconds
        slot.worker.request_stop()

    def _spawn(self, slot: _Slot) -> None:
        assert self._runner is not None and self._store is not None
        slot.next_start = None
        try:
            if self._actor is None:
                self._actor = ensure_service_account(self._store, self._cfg.fleet.service_user)
        except PolicyError as exc:
            self._fail(slot, str(exc))
            return
        if self._actor is None:
            self._fail(
                slot,
                "no users yet: create the first admin (`citywatch users create NAME --role admin`); "
                f"the fleet then creates its service account {self._cfg.fleet.service_user!r}",
            )
            return
        spec = WorkerSpec.build(self._cfg, slot.cam, self.home, self._actor)
        try:
            slot.worker = self._runner.spawn(spec)
        except Exception as exc:  # an engine that cannot start a worker: back off, retry
            logger.exception("camera %s: cannot start a worker", slot.cam.name)
            self._fail(slot, f"cannot start a worker: {type(exc).__name__}: {exc}")
            return
        slot.started_at = time.monotonic()
        slot.incarnation = slot.worker.incarnation
        slot.health = slot.view(slot.worker.health)

    def _fail(self, slot: _Slot, why: str) -> None:
        fc = self._cfg.fleet
        slot.health = slot.view(
            CameraHealth(slot.cam.name, CameraStatus.FAILED, error=why, engine=self.engine)
        )
        slot.backoff = min(fc.restart_max_seconds, max(fc.restart_min_seconds, slot.backoff * 2))
        slot.next_start = time.monotonic() + slot.backoff
        logger.warning("camera %s: %s; retrying in %.1f s", slot.cam.name, why, slot.backoff)

    def _ended(self, name: str, slot: _Slot, now: float) -> None:
        w = slot.worker
        assert w is not None
        h = w.exit_health()
        w.join(1.0)
        slot.worker = None
        slot.absorb(h)
        final = _with_counters(h, dict.fromkeys(_COUNTERS, 0))
        reason, slot.stop_reason = slot.stop_reason, None
        if reason == "remove":
            self._slots.pop(name, None)
        elif reason == "update":
            self._slots[name] = self._new_slot(slot.cam, keep=slot)
        elif reason == "stop" or h.status == CameraStatus.STOPPED:
            slot.health = slot.view(replace(final, status=CameraStatus.STOPPED, fps_in=0.0, fps_out=0.0))
        else:
            fc = self._cfg.fleet
            if now - slot.started_at >= fc.restart_max_seconds:
                slot.backoff = 0.0  # it ran fine for a while: a new crash restarts fast
            slot.restarts += 1
            self._fail(slot, h.error or "worker died")

    def _supervise(self) -> None:
        while not self._closing.is_set():
            with self._lock:
                runner = self._runner
                workers = [s.worker for s in self._slots.values() if s.worker is not None]
            if runner is None:
                return
            try:
                runner.poll(workers, POLL_SECONDS)
            except Exception:  # the supervisor must outlive any one bad poll
                logger.exception("fleet: polling the workers failed")
                time.sleep(POLL_SECONDS)
            if self._closing.is_set():
                return
            with self._lock:
                now = time.monotonic()
                for name, slot in list(self._slots.items()):
                    try:
                        self._tend(name, slot, now)
                    except Exception:  # one camera's trouble must not stop the others' supervision
                        logger.exception("camera %s: supervision step failed", name)

    def _tend(self, name: str, slot: _Slot, now: float) -> None:
        w = slot.worker
        if w is not None:
            if not w.alive():
                self._ended(name, slot, now)
                return
            if w.incarnation != slot.incarnation:
                # the engine restarted the worker by itself (Ray): count it, keep the old counters
                if slot.health is not None:
                    shown = _counters(slot.health)
                    slot.absorb(_with_counters(slot.health, {k: shown[k] - v for k, v in slot.base.items()}))
                slot.incarnation = w.incarnation
                slot.restarts += 1
            slot.health = slot.view(w.health)
            if slot.stop_reason is not None and now >= slot.stop_deadline:
                logger.warning("camera %s: worker did not stop in time, killing it", name)
                w.kill()
        elif slot.next_start is not None and now >= slot.next_start:
            self._spawn(slot)


def run_camera_once(
    cfg: Config,
    home: Path,
    camera: CameraConfig,
    actor: str,
    *,
    case_ref: str | None = None,
    recorded_at: datetime | None = None,
    timeout: float = 3600.0,
) -> CameraHealth:
    """Process one camera's source in the configured engine's worker, as ``actor``, until it ends.

    The very worker the fleet runs, once and without restarts: for recorded
    files (``case_ref``/``recorded_at`` as for ``App.process``) and for
    checking that two engines agree. Returns the final health (status
    ``stopped``, or ``failed`` with the error); raises TimeoutError after
    ``timeout`` seconds, with the worker stopped.
    """
    runner = _make_runner(cfg, home)
    runner.start()
    try:
        w = runner.spawn(
            WorkerSpec.build(cfg, camera, home, actor, case_ref=case_ref, recorded_at=recorded_at)
        )
        deadline = time.monotonic() + timeout
        while w.alive():
            if time.monotonic() > deadline:
                w.request_stop()
                w.join(cfg.fleet.stop_seconds)
                raise TimeoutError(f"camera {camera.name}: not done after {timeout:.0f} s")
            runner.poll([w], POLL_SECONDS)
        final = w.exit_health()
        w.join(cfg.fleet.stop_seconds)
        return final
    finally:
        runner.close()
