"""The Ray engine on a local Ray cluster (loopback only): same results as the local engine, survives kills.

One module-scoped cluster (``ray start --head`` with 2 CPUs, no dashboard),
stopped at the end: only the processes of its own process group are ended.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from engine_helpers import CASE, build_world, camera_health, fast_config, stored_results, wait_for
from engine_servers import MjpegServer, clip_jpegs, free_port

from citywatch.config import CameraConfig, Config
from citywatch.demo import render_walk
from citywatch.engine.fleet import Fleet, run_camera_once
from citywatch.engine.health import CameraStatus

pytestmark = [pytest.mark.slow]
ray = pytest.importorskip("ray", reason="the Ray engine needs the 'ray' extra")

# Ray maps 127.0.0.1 to the machine's outward address unless told it is not a cluster node: keep it on loopback
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _start_head(port: int, temp: str) -> subprocess.Popen[bytes]:
    ray_cli = Path(sys.executable).with_name("ray")
    cmd = [
        str(ray_cli), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--ray-client-server-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
        "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp, "--block",
    ]  # fmt: skip
    env = {**os.environ, **LOOPBACK_ONLY}
    return subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _wait_started(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """None once ``ray start`` says the runtime started (ray.init before that can hang), else why not."""
    assert proc.stdout is not None
    out = proc.stdout
    seen: list[bytes] = []
    started = threading.Event()

    def read() -> None:
        for line in out:  # keep draining after the marker: a full pipe would block ray start
            if not started.is_set():
                seen.append(line)
                if b"Ray runtime started" in line:
                    started.set()

    threading.Thread(target=read, daemon=True).start()
    if started.wait(timeout):
        return None
    return b"".join(seen[-15:]).decode(errors="replace") or f"no output in {timeout:.0f} s"


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """End our cluster only: its own process group (never `ray stop`, which ends every Ray on the machine)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(1.0)  # let the group's other members (gcs, raylet) go too before the SIGKILL sweep


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray head on 127.0.0.1 with 2 CPUs; skips with the reason when it cannot start."""
    from ray._private import ray_constants

    port = free_port()
    temp = tempfile.mkdtemp(prefix="cwray", dir="/tmp")  # short: Ray's socket paths have a length limit
    proc = _start_head(port, temp)
    # the driver's half of LOOPBACK_ONLY: Ray read that variable when it was imported, before this fixture
    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        why = _wait_started(proc, 120.0)
        if why is not None:
            pytest.skip(f"local Ray cluster did not start: {why}")
        address = f"127.0.0.1:{port}"
        ray.init(address=address, namespace="citywatch-test", log_to_driver=False)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _end_group(proc)
        ray_constants.ENABLE_RAY_CLUSTER = saved
        shutil.rmtree(temp, ignore_errors=True)


def ray_config(address: str, *cameras: CameraConfig) -> Config:
    # 2 CPUs: recognition and camera actors must fit side by side
    return fast_config(
        *cameras,
        engine="ray",
        ray={"address": address, "camera_cpus": 0.5, "recognition_cpus": 0.5, "batch_wait_ms": 5.0},
    )


@pytest.mark.data
def test_ray_engine_gives_the_same_sightings_and_alerts_as_the_local_engine(
    ray_address: str, tmp_path: Path, shared_data: Path
) -> None:
    walk = render_walk(tmp_path / "walk.mp4", seed=1)  # the enrolled astronaut walks past: an alert
    gif = shared_data / "intel-sample-videos" / "preview" / "head-pose-face-detection-female-and-male.gif"
    cams = [
        CameraConfig(name="walk", source=str(walk), detect_fps=5),
        CameraConfig(name="desk", source=str(gif), detect_fps=10),  # real people: sightings, no alert
    ]
    recorded_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    results = {}
    for engine, cfg in (("local", fast_config(*cams)), ("ray", ray_config(ray_address, *cams))):
        home = tmp_path / engine
        home.mkdir()
        build_world(home, cfg, recorded_at)
        for cam in cams:
            final = run_camera_once(
                cfg, home, cam, "ivy", case_ref=CASE, recorded_at=recorded_at, timeout=300
            )
            assert final.status == CameraStatus.STOPPED, final
            assert final.engine == engine
        results[engine] = stored_results(home)

    (local_s, local_a), (ray_s, ray_a) = results["local"], results["ray"]
    assert local_a and any(
        s[0] == "desk" for s in local_s
    )  # the test means something: an alert and real people
    assert len(ray_s) == len(local_s) and len(ray_a) == len(local_a)
    for a, b in zip(local_s, ray_s, strict=True):
        assert a[:7] == b[:7]  # camera, track, start, end, detections, identity, matched
        assert a[7] == pytest.approx(b[7], abs=1e-4) and a[8] == pytest.approx(b[8], abs=1e-6)
    for a, b in zip(local_a, ray_a, strict=True):
        assert a[:4] == b[:4] and a[4] == pytest.approx(b[4], abs=1e-4)


@pytest.mark.data
def test_killed_camera_actor_is_restarted_by_ray_and_the_camera_resumes(
    ray_address: str, home: Path, clip: Path
) -> None:
    server = MjpegServer(clip_jpegs(clip, 40), fps=15)
    server.start()
    cfg = ray_config(ray_address, CameraConfig(name="lobby", source=server.url, detect_fps=5))
    try:
        with Fleet(cfg, home) as fleet:
            before = wait_for(
                "lobby running",
                lambda: (
                    (h := camera_health(fleet, "lobby")).status == CameraStatus.RUNNING
                    and h.frames >= 5
                    and h
                ),
                timeout=90,
            )
            assert before.engine == "ray"
            fleet.kill_worker("lobby")  # ray.kill(no_restart=False): a crash Ray is allowed to repair
            after = wait_for(
                "lobby restarted and running",
                lambda: (
                    (h := camera_health(fleet, "lobby")).restarts >= 1
                    and h.status == CameraStatus.RUNNING
                    and h.frames >= before.frames + 5
                    and h
                ),
                timeout=90,
            )
            assert after.frames > before.frames  # counters add up across the restart
    finally:
        server.stop()
