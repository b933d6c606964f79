"""``citywatch events dispatch --once`` and ``events status`` in-process, on this test's database
(reached through ``CITYWATCH_DATABASE_URL``, as a deployment on PostgreSQL would)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from webhook_receiver import Receiver

from citywatch.cli import app
from citywatch.store import Store
from events_world import AlertWorld


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, [*args, "--data-dir", str(home)])
    return res.exit_code, res.stdout, res.stderr


def test_dispatch_once_and_status(
    tmp_path: Path, db_url: str, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, url = receiver
    rec.fail_first = 1
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"events:\n  backoff_seconds: 0.5\n  webhooks:\n    - name: ops\n      url: {url}\n"
        "      secret_env: CW_TEST_CLI_SECRET\n"
    )
    monkeypatch.setenv("CITYWATCH_DATABASE_URL", db_url)
    with Store.open(db_url, home) as store:
        world = AlertWorld.build(store)
        alerts = [world.raise_alert() for _ in range(2)]

    # the secret comes from the environment only: without it nothing is sent
    monkeypatch.delenv("CW_TEST_CLI_SECRET", raising=False)
    code, _, err = _run(home, "events", "dispatch", "--once")
    assert code == 1 and "CW_TEST_CLI_SECRET" in err and rec.requests == []

    monkeypatch.setenv("CW_TEST_CLI_SECRET", "cli-secret")
    code, out, err = _run(home, "events", "dispatch", "--once", "--json")
    assert code == 0, err
    first = json.loads(out)
    # the endpoint failed once: that alert is retried later, the other waits behind it
    assert (first["expanded"], first["delivered"], first["retried"]) == (2, 0, 1)
    code, out, _ = _run(home, "events", "status", "--json")
    status = json.loads(out)
    assert status["destinations"] == {"*": {"expanded": 2}, "webhook:ops": {"pending": 2}}
    assert status["next_due"] is not None

    time.sleep(0.6)  # past the backoff
    code, out, _ = _run(home, "events", "dispatch", "--once", "--json")
    assert code == 0 and json.loads(out)["delivered"] == 2
    keys = {json.loads(body)["alert_id"] for _, body in rec.requests}
    assert keys == set(alerts)
    code, out, _ = _run(home, "events", "retry-dead", "--json")
    assert code == 0 and json.loads(out) == {"revived": 0}
    assert "cli-secret" not in out + err
