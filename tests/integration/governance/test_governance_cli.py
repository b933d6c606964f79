"""The accountability commands end to end, in-process: audit verify/export/verify-export, retention, cases,
report, camera quality."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from citywatch.cli import app
from citywatch.store import Store
from citywatch.store.db import make_engine
from citywatch.store.users import create_user


@pytest.fixture
def home(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with users; the CLI reaches this test's database through ``CITYWATCH_DATABASE_URL``."""
    monkeypatch.setenv("CITYWATCH_DATABASE_URL", db_url)
    h = tmp_path / "home"
    with Store.open(db_url, h) as s:
        create_user(s, "root", "admin", "root")
        create_user(s, "aud", "auditor", "root")
        create_user(s, "inv", "investigator", "root")
        s.append_audit("root", "user.create", "user:aud", role="admin")
        s.append_audit("root", "user.create", "user:inv", role="admin")
    return h


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, [*args, "--data-dir", str(home)])
    return res.exit_code, res.stdout, res.stderr


def test_audit_verify_export_and_tamper(home: Path, tmp_path: Path, db_url: str) -> None:
    code, out, _ = _run(home, "audit", "verify", "--as", "aud", "--json")
    assert code == 0 and json.loads(out)["ok"]
    code, _, err = _run(home, "audit", "verify", "--as", "inv")
    assert code == 1 and "audit.read" in err

    export = tmp_path / "audit.jsonl"
    code, out, _ = _run(
        home, "audit", "export", "-o", str(export), "--as", "aud", "--json", "--since", "2000-01-01"
    )
    assert code == 0 and json.loads(out)["entries"] >= 3
    code, out, _ = _run(home, "audit", "key", "--json")
    pub = json.loads(out)["public_key"]
    res = CliRunner().invoke(app, ["audit", "verify-export", str(export), "--public-key", pub])
    assert res.exit_code == 0, res.stderr

    engine = make_engine(db_url)  # outside citywatch, straight to the database
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    engine.dispose()
    code, _, err = _run(home, "audit", "verify", "--as", "aud")
    assert code == 1 and "entry 2" in err

    export.write_text(export.read_text().replace('"actor":"root"', '"actor":"mallory"', 1))
    res = CliRunner().invoke(app, ["audit", "verify-export", str(export), "--public-key", pub])
    assert res.exit_code == 1 and "INVALID" in res.stderr


def test_retention_cases_report_quality(home: Path, tmp_path: Path, db_url: str) -> None:
    later = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    code, _, err = _run(home, "retention", "run", "--as", "inv", "--now", later)
    assert code == 1 and "retention.run" in err
    code, out, _ = _run(home, "retention", "run", "--as", "root", "--now", later, "--json")
    assert code == 0 and json.loads(out)["sightings"] == 0

    assert _run(home, "case", "create", "C-7", "--title", "theft", "--as", "inv")[0] == 0
    code, out, _ = _run(home, "case", "hold", "C-7", "--as", "inv", "--reason", "court order", "--json")
    assert code == 0 and json.loads(out)["legal_hold"] is True
    code, out, _ = _run(home, "case", "release", "C-7", "--as", "inv", "--json")
    assert code == 0 and json.loads(out)["legal_hold"] is False
    assert _run(home, "case", "hold", "C-404", "--as", "inv")[0] == 1

    out_dir = tmp_path / "report"
    code, out, err = _run(home, "report", "--period", "2026-11", "-o", str(out_dir), "--json")
    assert code == 0, err
    assert {p.name for p in out_dir.iterdir()} == {"report.json", "report.csv", "activity.png"}
    assert _run(home, "report", "--period", "November")[0] == 1

    code, out, _ = _run(home, "cameras", "quality", "--json")
    assert code == 0

    with Store.open(db_url, home) as s:
        actions = [e.action for e in s.list_audit()]
    assert {"retention.run", "case.create", "case.hold", "case.release"} <= set(actions)
