"""Live cameras through the fleet against real servers: the camera goes away mid-stream and comes back.

RTSP: GStreamer's RTSP server serves the real Intel clip (H.264, real time)
and is SIGKILLed mid-stream; HTTP MJPEG: a multipart server sends the clip's
frames as JPEGs and shuts down. In both the worker must notice, back off,
reconnect, and keep processing, and the health must show it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import camera_health, fast_config, wait_for
from engine_servers import RTSP_MISSING, MjpegServer, RtspServer, clip_jpegs, rtsp_server_available

from citywatch.config import CameraConfig
from citywatch.engine.fleet import Fleet
from citywatch.engine.health import CameraHealth, CameraStatus
from citywatch.store.repo import Store

pytestmark = [pytest.mark.slow, pytest.mark.data]


def outage_and_back(
    fleet: Fleet, name: str, kill: object, restart: object
) -> tuple[CameraHealth, CameraHealth]:
    """Run until frames flow, take the server away, bring it back; returns (during outage, after)."""
    before = wait_for(
        f"{name} running",
        lambda: (h := camera_health(fleet, name)).status == CameraStatus.RUNNING and h.frames >= 5 and h,
    )
    assert before.fps_in > 0 and before.last_frame_at is not None
    assert fleet.frame_path(name).is_file()  # the console tile
    kill()  # type: ignore[operator]
    down = wait_for(
        f"{name} reconnecting",
        lambda: (
            (h := camera_health(fleet, name)).status == CameraStatus.RECONNECTING and h.reconnects >= 1 and h
        ),
    )
    assert down.error  # why it is down, for the operator
    restart()  # type: ignore[operator]
    after = wait_for(
        f"{name} running again",
        lambda: (
            (h := camera_health(fleet, name)).status == CameraStatus.RUNNING
            and h.frames >= down.frames + 5
            and h
        ),
    )
    assert after.restarts == 0  # the worker itself survived: the source reconnected
    return down, after


def test_rtsp_camera_reconnects_after_the_server_dies(home: Path, clip: Path) -> None:
    if not rtsp_server_available():
        pytest.skip(RTSP_MISSING)
    server = RtspServer(clip)
    server.start()
    cfg = fast_config(CameraConfig(name="gate", source=server.url, detect_fps=5))
    try:
        with Fleet(cfg, home) as fleet:
            down, after = outage_and_back(fleet, "gate", server.kill, server.start)
            assert after.reconnects >= down.reconnects >= 1
            assert "gate" in fleet.metrics().decode()
        assert not fleet.frame_path("gate").exists()  # no stale picture of a stopped camera
    finally:
        server.kill()
    with Store.open("", home, reconcile=False) as store:
        runs = store.list_runs("gate")
    assert [r.status for r in runs] == ["done"]  # one live run, ended cleanly by the stop


def test_mjpeg_camera_reconnects_after_the_server_restarts(home: Path, clip: Path) -> None:
    server = MjpegServer(clip_jpegs(clip, 40), fps=15)
    server.start()
    cfg = fast_config(CameraConfig(name="hall", source=server.url, detect_fps=5))
    try:
        with Fleet(cfg, home) as fleet:
            _, after = outage_and_back(fleet, "hall", server.stop, server.start)
            assert after.fps_in > 0
    finally:
        server.stop()
