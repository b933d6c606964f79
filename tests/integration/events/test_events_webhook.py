"""Webhooks for real: a local HTTP server that fails the first requests, then accepts.

Checks the HMAC signature of every request, the retries with backoff recorded
in the outbox, and that de-duplicating on ``Idempotency-Key`` gives each alert
exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from webhook_receiver import Receiver

from citywatch.config import EventsConfig, WebhookConfig
from citywatch.events import Dispatcher, build_sinks
from citywatch.events.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify_signature,
)
from citywatch.store import Store, outbox
from events_world import T0, AlertWorld

SECRET = "webhook-test-secret"


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[AlertWorld]:
    store = Store.open(db_url, tmp_path / "home")
    try:
        yield AlertWorld.build(store)
    finally:
        store.close()


def _dispatcher(world: AlertWorld, url: str, clock: Clock, **cfg: object) -> Dispatcher:
    events = EventsConfig(
        webhooks=[WebhookConfig(name="ops", url=url, secret_env="CW_TEST_WEBHOOK_SECRET", timeout_seconds=5)],
        backoff_seconds=1.0,
        max_attempts=6,
        **cfg,  # type: ignore[arg-type]
    )
    return Dispatcher(
        world.store, events, build_sinks(events, {"CW_TEST_WEBHOOK_SECRET": SECRET}), clock=clock
    )


def test_failing_endpoint_gets_every_alert_signed_after_retries(
    world: AlertWorld, receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    rec, url = receiver
    rec.fail_first = 4
    clock = Clock(T0)
    d = _dispatcher(world, url, clock)
    alerts = [world.raise_alert() for _ in range(3)]
    rounds = 0
    while (pending := [r for r in outbox.list_outbox(world.store) if r.status == "pending"]) and rounds < 20:
        d.run_once()
        rounds += 1
        clock.t = max([clock.t, *(r.next_attempt_at for r in pending)])  # jump to the next retry
    d.close()

    rows = {r.alert_id: r for r in outbox.list_outbox(world.store) if r.destination == "webhook:ops"}
    assert {r.status for r in rows.values()} == {"delivered"}
    assert sum(r.attempts for r in rows.values()) == 3 + 4  # every 503 was retried
    assert rows[alerts[0]].attempts > 1

    by_key: dict[str, dict[str, object]] = {}
    for headers, body in rec.requests:
        assert headers["content-type"] == "application/json"
        assert verify_signature(
            SECRET.encode(), headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()]
        )
        assert not verify_signature(
            b"another secret", headers[TIMESTAMP_HEADER.lower()], body, headers[SIGNATURE_HEADER.lower()]
        )
        payload = json.loads(body)
        assert payload["event_id"] == headers[IDEMPOTENCY_HEADER.lower()]
        by_key.setdefault(headers[IDEMPOTENCY_HEADER.lower()], payload)
    # after de-duplication by idempotency key: each alert exactly once, none lost
    assert sorted(p["alert_id"] for p in by_key.values()) == sorted(alerts)  # type: ignore[type-var]
    assert {rows[a].key for a in alerts} == set(by_key)
    assert len(rec.requests) == 7
    assert "token=abc" not in caplog.text and SECRET not in caplog.text  # the URL's token is never logged


def test_refused_message_is_dead_at_once_with_the_status(
    world: AlertWorld, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.fail_first, rec.status = 100, 400
    d = _dispatcher(world, url, Clock(T0))
    world.raise_alert()
    report = d.run_once()
    d.close()
    assert (report.dead, len(rec.requests)) == (1, 1)
    (row,) = [r for r in outbox.list_outbox(world.store) if r.destination == "webhook:ops"]
    assert (row.status, row.last_error) == ("dead", "webhook:ops: HTTP 400")


def test_unreachable_endpoint_is_retried_and_never_logs_the_url(
    world: AlertWorld, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(T0)
    d = _dispatcher(world, "http://127.0.0.1:9/hook?token=topsecret", clock)
    world.raise_alert()
    assert d.run_once().retried == 1
    d.close()
    (row,) = [r for r in outbox.list_outbox(world.store) if r.destination == "webhook:ops"]
    assert row.status == "pending" and row.next_attempt_at == T0 + timedelta(seconds=1)
    assert row.last_error and row.last_error.startswith("webhook:ops: ConnectError")
    assert "topsecret" not in row.last_error and "topsecret" not in caplog.text
    assert SECRET not in caplog.text


def test_signature_rejects_replays_and_tampering() -> None:
    body = b'{"alert_id":1}'
    sig = sign(b"k", "1000", body)
    assert verify_signature(b"k", "1000", body, sig, now=1010)
    assert not verify_signature(b"k", "1000", body, sig, now=2000)  # too old
    assert not verify_signature(b"k", "1000", body + b" ", sig, now=1010)
    assert not verify_signature(b"k", "1001", body, sig, now=1010)
    assert not verify_signature(b"k", "soon", body, sig, now=1010)
