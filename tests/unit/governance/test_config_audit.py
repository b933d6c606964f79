"""Changes to safeguard settings made in the YAML file still reach the audit trail."""

from __future__ import annotations

from pathlib import Path

from citywatch.config import CameraConfig, Config
from citywatch.governance.config_audit import ACTION, record_config_changes
from citywatch.store.repo import Store


def test_first_start_then_only_changes_are_recorded(tmp_path: Path) -> None:
    cam = CameraConfig(name="gate", source="rtsp://admin:s3cret@10.0.0.5/stream")
    cfg = Config(cameras=[cam])
    with Store.open("", tmp_path) as store:
        first = record_config_changes(store, cfg)
        assert first["governance.retention.unmatched_hours"] == [None, 72]
        assert record_config_changes(store, cfg) == {}  # unchanged: nothing written

        shorter = Config.model_validate(
            {
                "cameras": [cam.model_dump() | {"recognition": False}],
                "governance": {"retention": {"unmatched_hours": 24}},
            }
        )
        changed = record_config_changes(store, shorter)
        assert changed == {
            "cameras.gate.recognition": [True, False],
            "governance.retention.unmatched_hours": [72, 24],
        }
        entries = [e for e in store.list_audit() if e.action == ACTION]
        assert len(entries) == 2
        assert entries[-1].details is not None and entries[-1].details["changed"] == changed
        text = str([e.details for e in entries])
        assert "s3cret" not in text and "rtsp://***@10.0.0.5/stream" in text
        ok, bad = store.verify_audit()
        assert ok, bad
