"""Camera health records and their Prometheus rendering (``/metrics``).

Workers (processes or Ray actors) send :class:`CameraHealth` snapshots to the
fleet; the fleet keeps counters cumulative across worker restarts, so what
Prometheus scrapes only ever goes up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The ``Content-Type`` to serve :func:`render_metrics` output with."""


class CameraStatus(StrEnum):
    STARTING = "starting"
    """The worker is loading models or connecting for the first time."""
    RUNNING = "running"
    """Frames are flowing through the pipeline."""
    RECONNECTING = "reconnecting"
    """A live source stopped delivering; its reader is backing off and retrying."""
    STOPPED = "stopped"
    """Stopped on purpose, disabled, or a file that was processed to its end."""
    FAILED = "failed"
    """The worker died or refused to run; the fleet restarts it with backoff (see ``error``)."""


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """One camera's state as its worker last reported it (counters since the fleet started)."""

    camera: str
    status: CameraStatus
    fps_in: float = 0.0
    """Frames a second decoded from the source (the camera's own rate)."""
    fps_out: float = 0.0
    """Sampled frames a second handed to the pipeline (about the detect fps when keeping up)."""
    frames_dropped: int = 0
    """Sampled frames dropped because the pipeline was behind (bounded queue)."""
    reconnects: int = 0
    last_frame_at: datetime | None = None
    """Wall-clock time the pipeline last received a frame."""
    error: str | None = None
    """The latest problem (connection error, worker exit), credentials scrubbed."""
    frames: int = 0
    """Frames handed to the pipeline."""
    sightings: int = 0
    alerts: int = 0
    restarts: int = 0
    """Times the worker was restarted after dying (process exit, Ray actor restart)."""
    engine: str = "local"

    def to_json(self) -> dict[str, object]:
        return {
            "camera": self.camera,
            "status": self.status.value,
            "fps_in": round(self.fps_in, 2),
            "fps_out": round(self.fps_out, 2),
            "frames_dropped": self.frames_dropped,
            "reconnects": self.reconnects,
            "last_frame_at": self.last_frame_at.isoformat() if self.last_frame_at else None,
            "error": self.error,
            "frames": self.frames,
            "sightings": self.sightings,
            "alerts": self.alerts,
            "restarts": self.restarts,
            "engine": self.engine,
        }


class _HealthCollector(Collector):
    def __init__(self, health: Sequence[CameraHealth]) -> None:
        self._health = health

    def collect(self) -> Iterable[Metric]:
        status = GaugeMetricFamily(
            "citywatch_camera_status",
            "1 for the camera's current status, 0 for the others",
            labels=["camera", "status"],
        )
        up = GaugeMetricFamily(
            "citywatch_camera_up", "1 while frames flow through the pipeline", labels=["camera"]
        )
        fps_in = GaugeMetricFamily(
            "citywatch_camera_fps_in", "Frames a second decoded from the source", labels=["camera"]
        )
        fps_out = GaugeMetricFamily(
            "citywatch_camera_fps_out", "Sampled frames a second handed to the pipeline", labels=["camera"]
        )
        last = GaugeMetricFamily(
            "citywatch_camera_last_frame_timestamp_seconds",
            "Unix time of the last frame processed",
            labels=["camera"],
        )
        counters = {
            "frames_dropped": CounterMetricFamily(
                "citywatch_camera_frames_dropped",
                "Frames dropped because the pipeline was behind",
                labels=["camera"],
            ),
            "reconnects": CounterMetricFamily(
                "citywatch_camera_reconnects", "Reconnect attempts of the camera's source", labels=["camera"]
            ),
            "restarts": CounterMetricFamily(
                "citywatch_camera_restarts", "Worker restarts after the worker died", labels=["camera"]
            ),
            "frames": CounterMetricFamily(
                "citywatch_camera_frames", "Frames handed to the pipeline", labels=["camera"]
            ),
            "sightings": CounterMetricFamily(
                "citywatch_camera_sightings", "Sightings stored", labels=["camera"]
            ),
            "alerts": CounterMetricFamily("citywatch_camera_alerts", "Alerts raised", labels=["camera"]),
        }
        for h in self._health:
            for s in CameraStatus:
                status.add_metric([h.camera, s.value], 1.0 if h.status == s else 0.0)
            up.add_metric([h.camera], 1.0 if h.status == CameraStatus.RUNNING else 0.0)
            fps_in.add_metric([h.camera], h.fps_in)
            fps_out.add_metric([h.camera], h.fps_out)
            if h.last_frame_at is not None:
                last.add_metric([h.camera], h.last_frame_at.timestamp())
            for name, family in counters.items():
                family.add_metric([h.camera], float(getattr(h, name)))
        yield from (status, up, fps_in, fps_out, last, *counters.values())


def render_metrics(health: Sequence[CameraHealth]) -> bytes:
    """Prometheus text exposition of per-camera metrics (serve with :data:`METRICS_CONTENT_TYPE`).

    A private registry: nothing is registered globally, so several fleets (tests) never clash.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HealthCollector(health))
    return generate_latest(registry)
