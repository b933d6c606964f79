"""Fleet plumbing without starting workers: metrics, the service account, bad input, config."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from citywatch.config import CameraConfig, Config, load_config
from citywatch.engine.fleet import Fleet, ensure_service_account, render_metrics
from citywatch.engine.health import CameraHealth, CameraStatus
from citywatch.engine.worker import WorkerSpec
from citywatch.errors import ConfigError, NotFoundError, PolicyError
from citywatch.governance.access import add_user
from citywatch.store.repo import Store


def test_metrics_text_has_every_camera_status_and_counter() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    text = render_metrics(
        [
            CameraHealth("gate", CameraStatus.RUNNING, fps_in=25.0, fps_out=5.0, frames_dropped=3,
                         reconnects=2, last_frame_at=at, frames=100, sightings=4, alerts=1, restarts=1),
            CameraHealth("hall", CameraStatus.RECONNECTING, error="cannot connect"),
        ]
    ).decode()  # fmt: skip
    assert 'citywatch_camera_status{camera="gate",status="running"} 1.0' in text
    assert 'citywatch_camera_status{camera="gate",status="failed"} 0.0' in text
    assert 'citywatch_camera_status{camera="hall",status="reconnecting"} 1.0' in text
    assert 'citywatch_camera_up{camera="hall"} 0.0' in text
    assert 'citywatch_camera_fps_in{camera="gate"} 25.0' in text
    assert 'citywatch_camera_frames_dropped_total{camera="gate"} 3.0' in text
    assert 'citywatch_camera_reconnects_total{camera="gate"} 2.0' in text
    assert 'citywatch_camera_restarts_total{camera="gate"} 1.0' in text
    samples = {
        (sm.name, sm.labels.get("camera")): sm.value
        for family in text_string_to_metric_families(text)
        for sm in family.samples
    }
    assert samples[("citywatch_camera_last_frame_timestamp_seconds", "gate")] == at.timestamp()
    assert 'last_frame_timestamp_seconds{camera="hall"}' not in text  # never had a frame: no sample
    assert render_metrics([]).decode().count("# TYPE") == 11  # families are declared even with no camera


def test_health_json_is_plain() -> None:
    h = CameraHealth("gate", CameraStatus.STOPPED, fps_in=1.23456)
    assert h.to_json()["status"] == "stopped" and h.to_json()["fps_in"] == 1.23


def test_service_account_waits_for_the_first_admin_then_is_created_once_and_audited(tmp_path: Path) -> None:
    with Store.open("", tmp_path) as store:
        assert ensure_service_account(store, "fleet") is None  # would take the bootstrap slot
        add_user(store, None, "root", "admin")
        assert ensure_service_account(store, "fleet") == "fleet"
        assert ensure_service_account(store, "fleet") == "fleet"
        created = [a for a in store.list_audit() if a.action == "user.create" and a.target == "user:fleet"]
    assert len(created) == 1 and created[0].details is not None and created[0].details["service_account"]


@pytest.mark.parametrize(
    ("role", "message"),
    [("operator", "may not process"), ("auditor", "may not process")],
)
def test_service_account_never_widens_an_existing_users_rights(
    tmp_path: Path, role: str, message: str
) -> None:
    with Store.open("", tmp_path) as store:
        add_user(store, None, "root", "admin")
        add_user(store, "root", "fleet", role)
        with pytest.raises(PolicyError, match=message):
            ensure_service_account(store, "fleet")


def test_camera_changes_refuse_bad_names(tmp_path: Path) -> None:
    fleet = Fleet(Config(cameras=[CameraConfig(name="gate", source="rtsp://127.0.0.1:9/x")]), tmp_path)
    with pytest.raises(ConfigError, match="'gate' already exists"):
        fleet.add_camera(CameraConfig(name="gate"))
    with pytest.raises(NotFoundError, match="unknown camera 'nope'"):
        fleet.update_camera(CameraConfig(name="nope"))
    with pytest.raises(NotFoundError, match="unknown camera 'nope'"):
        fleet.remove_camera("nope")
    with pytest.raises(NotFoundError, match="no running worker"):
        fleet.kill_worker("gate")
    fleet.add_camera(CameraConfig(name="hall", enabled=False))
    fleet.remove_camera("gate")
    assert [c.name for c in fleet.config.cameras] == ["hall"]
    assert [h.status for h in fleet.health()] == [CameraStatus.STOPPED]  # not started: nothing runs


def _status(fleet: Fleet, name: str) -> CameraHealth:
    return next(h for h in fleet.health() if h.camera == name)


def test_cameras_that_cannot_run_are_reported_not_spawned(tmp_path: Path) -> None:
    cfg = Config(
        cameras=[
            CameraConfig(name="nosrc"),
            CameraConfig(name="off", source="/nonexistent.mp4", enabled=False),
        ]
    )
    with Fleet(cfg, tmp_path) as fleet:
        assert _status(fleet, "nosrc").status == CameraStatus.FAILED
        assert _status(fleet, "nosrc").error == "camera nosrc: no source configured"
        assert (
            _status(fleet, "off").status == CameraStatus.STOPPED and _status(fleet, "off").error == "disabled"
        )
        assert fleet.running
    assert not fleet.running


def test_without_any_user_the_fleet_says_how_to_start(tmp_path: Path) -> None:
    cfg = Config.model_validate(
        {"fleet": {"restart_min_seconds": 60}, "cameras": [{"name": "gate", "source": "x.mp4"}]}
    )
    with Fleet(cfg, tmp_path) as fleet:
        deadline = time.monotonic() + 10
        while _status(fleet, "gate").status != CameraStatus.FAILED and time.monotonic() < deadline:
            time.sleep(0.05)
        h = _status(fleet, "gate")
    assert h.status == CameraStatus.FAILED and h.error is not None
    assert "create the first admin" in h.error and "citywatch-fleet" in h.error


def test_worker_spec_carries_only_its_camera() -> None:
    cfg = Config(cameras=[CameraConfig(name="a", source="a.mp4"), CameraConfig(name="b", source="b.mp4")])
    spec = WorkerSpec.build(cfg, cfg.cameras[1], Path("/data"), "svc")
    assert [c.name for c in spec.config().cameras] == ["b"]
    assert spec.config().detector == cfg.detector


@pytest.mark.parametrize(
    ("env", "engine", "address", "exception"),
    [
        ({}, "local", "", None),
        ({"CITYWATCH_ENGINE": "ray", "CITYWATCH_RAY_ADDRESS": "10.0.0.5:6379"}, "ray", "10.0.0.5:6379", None),
        ({"CITYWATCH_RAY__NUM_GPUS": "1"}, "local", "", None),
        ({"CITYWATCH_ENGINE": "spark"}, None, None, ConfigError),  # no such engine
        ({"CITYWATCH_RAY__NUM_GPUS": "-1"}, None, None, ConfigError),  # negative GPUs
    ],
)
def test_engine_from_config_and_environment(
    env: dict[str, str], engine: str | None, address: str | None, exception: type[Exception] | None
) -> None:
    if exception is not None:
        with pytest.raises(exception):
            load_config(None, env=env)
        return
    cfg = load_config(None, env=env)
    assert (cfg.engine, cfg.ray.address) == (engine, address)
