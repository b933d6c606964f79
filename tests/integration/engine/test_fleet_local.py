"""The local engine's fleet with real worker processes: crashes, run-time changes, recorded files."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_helpers import camera_health, fast_config, wait_for
from engine_servers import MjpegServer, clip_jpegs

from citywatch.config import CameraConfig
from citywatch.demo import render_walk
from citywatch.engine.fleet import Fleet
from citywatch.engine.health import CameraStatus
from citywatch.store.repo import Store

pytestmark = [pytest.mark.slow]


def running(fleet: Fleet, name: str, min_frames: int = 3) -> object:
    h = camera_health(fleet, name)
    return h.status == CameraStatus.RUNNING and h.frames >= min_frames and h


@pytest.mark.data
def test_killed_worker_is_restarted_and_cameras_change_while_running(
    home: Path, clip: Path, tmp_path: Path
) -> None:
    server = MjpegServer(clip_jpegs(clip, 30), fps=15)
    server.start()
    walk = render_walk(tmp_path / "walk.mp4", seed=1)  # 4 s: the astronaut walks past
    cfg = fast_config(CameraConfig(name="lobby", source=server.url, detect_fps=5))
    try:
        with Fleet(cfg, home) as fleet:
            before = wait_for("lobby running", lambda: running(fleet, "lobby"))
            tile = fleet.frame_path("lobby")
            assert tile.is_file() and tile.read_bytes()[:2] == b"\xff\xd8"  # a JPEG for the console

            fleet.kill_worker("lobby")  # as a crash (SIGKILL)
            down = wait_for(
                "lobby failed",
                lambda: (h := camera_health(fleet, "lobby")).status == CameraStatus.FAILED and h,
            )
            assert down.restarts == 1 and down.error and "code -9" in down.error
            after = wait_for("lobby back", lambda: running(fleet, "lobby", before.frames + 3))
            assert after.restarts == 1 and after.frames > before.frames  # counters add up over workers

            fleet.add_camera(CameraConfig(name="walk", source=str(walk), detect_fps=5))  # a recorded file
            done = wait_for(
                "walk done", lambda: (h := camera_health(fleet, "walk")).status == CameraStatus.STOPPED and h
            )
            # 4 s of a 10 fps clip handed over at detect_fps 5 x tracker.confirm_rate 2 (Config.sample_fps)
            assert done.error is None and done.sightings >= 1 and done.frames == 40

            fleet.update_camera(CameraConfig(name="lobby", source=server.url, detect_fps=2))
            wait_for(
                "lobby at 2 fps", lambda: (h := running(fleet, "lobby")) and 3.0 <= h.fps_out <= 5.0 and h
            )  # type: ignore[union-attr]  # fps out: 2 x confirm_rate 2
            assert camera_health(fleet, "lobby").restarts == 1  # an update is not a crash

            fleet.remove_camera("lobby")
            wait_for("lobby gone", lambda: [h.camera for h in fleet.health()] == ["walk"])
            metrics = fleet.metrics().decode()
            assert 'camera="walk"' in metrics and 'camera="lobby"' not in metrics
        assert not tile.exists()
    finally:
        server.stop()
    with Store.open("", home, reconcile=False) as store:
        runs = {(r.camera, r.status) for r in store.list_runs()}
        sightings = store.list_sightings(camera="walk")
        actions = [a.action for a in store.list_audit()]
    # the killed worker left its live run unfinished; every other run ended cleanly
    assert ("walk", "done") in runs and ("lobby", "done") in runs
    assert len(sightings) == done.sightings
    # workers leave the configuration audit to the process that owns the config (serve): none here
    assert (
        "config.change" not in actions and actions.count("user.create") == 2
    )  # root, then the fleet's account
