"""The outbox and the dispatcher on a real store (SQLite and PostgreSQL), with an in-memory destination.

The real destinations (MQTT broker, HTTP endpoint) are tested in tests/integration/events.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from citywatch.config import EventsConfig, WebhookConfig
from citywatch.errors import ConfigError, StoreError
from citywatch.events import AlertMessage, DeliveryError, Dispatcher, build_sinks
from citywatch.events.outbox import NOTE, backoff
from citywatch.store import SightingIn, Store, outbox
from citywatch.store import models as m
from events_world import T0, AlertWorld


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class ListSink:
    """A destination that keeps what it got, failing the first ``fail`` sends (or always, permanently)."""

    def __init__(self, name: str = "list", fail: int = 0, permanent: bool = False) -> None:
        self._name = name
        self.fail = fail
        self.permanent = permanent
        self.got: list[AlertMessage] = []
        self.attempts = 0
        self.announced: set[str] = set()

    @property
    def name(self) -> str:
        return self._name

    def announce(self, cameras: Collection[str]) -> None:
        self.announced |= set(cameras)

    def send(self, message: AlertMessage) -> None:
        self.attempts += 1
        if self.permanent:
            raise DeliveryError(f"{self._name}: HTTP 400", permanent=True)
        if self.fail > 0:
            self.fail -= 1
            raise DeliveryError(f"{self._name}: connection refused")
        self.got.append(message)

    def close(self) -> None:
        pass


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[AlertWorld]:
    store = Store.open(db_url, tmp_path / "home")
    try:
        yield AlertWorld.build(store, cameras=("gate", "plaza"))
    finally:
        store.close()


CFG = EventsConfig(backoff_seconds=2.0, backoff_max_seconds=60.0, max_attempts=4)


def test_alert_and_outbox_row_are_one_transaction(world: AlertWorld) -> None:
    alert = world.raise_alert()
    (row,) = outbox.list_outbox(world.store, alert)
    assert (row.destination, row.status, row.attempts) == ("*", "pending", 0)
    assert len(row.key) == 32
    # a sighting that fails to store leaves neither an alert nor an outbox row
    bad = SightingIn(
        run_id=world.run_id, camera="gate", track_id=99, start=T0, end=T0, start_offset=0, end_offset=0,
        embedding=world.rng.normal(size=8).astype("float32"), model="events_model", quality=0.5, detections=3,
        score=0.9, threshold=0.6, identity_id=12345,
    )  # fmt: skip
    with pytest.raises(StoreError, match="does not exist"):
        world.store.add_sighting(bad, b"j")
    assert [r.alert_id for r in outbox.list_outbox(world.store)] == [alert]
    # deleting the alert's sighting (retention, a refused authorisation) deletes its outbox rows
    world.store.delete_sightings([world.store.list_alerts()[0].sighting_id])
    assert outbox.list_outbox(world.store) == []


def test_fan_out_delivers_once_to_every_destination(world: AlertWorld) -> None:
    a, b = ListSink("a"), ListSink("b")
    clock = Clock(T0)
    d = Dispatcher(world.store, CFG, [a, b], clock=clock)
    ids = [world.raise_alert(), world.raise_alert(camera="plaza")]
    report = d.drain()
    assert (report.expanded, report.delivered, report.retried, report.dead) == (2, 4, 0, 0)
    for sink in (a, b):
        assert sorted(msg.payload["alert_id"] for msg in sink.got) == ids
        assert sink.announced == {"gate", "plaza"}
    assert {m.key for m in a.got} == {m.key for m in b.got}  # one key per alert, whatever the destination
    assert d.drain().handled == 0  # nothing twice
    rows = [r for r in outbox.list_outbox(world.store) if r.destination != "*"]
    assert {(r.status, r.attempts) for r in rows} == {("delivered", 1)}
    assert all(r.delivered_at == T0 for r in rows)
    assert outbox.counts(world.store)["*"] == {"expanded": 2}


def test_payload_is_a_lead_without_image_or_name(world: AlertWorld) -> None:
    sink = ListSink()
    alert = world.raise_alert(score=0.8123)
    Dispatcher(world.store, CFG, [sink]).drain()
    (msg,) = sink.got
    body = json.loads(msg.body)
    assert body == msg.payload
    assert body["event_id"] == msg.key and body["alert_id"] == alert
    assert (body["camera"], body["watchlist"], body["score"], body["threshold"]) == (
        "gate",
        "wanted",
        0.8123,
        0.6,
    )
    assert body["entry_id"] == world.entry_id and body["note"] == NOTE
    assert body["time"] == (T0 + timedelta(seconds=1)).isoformat()
    assert "name" not in body and "Jane" not in msg.body.decode()
    assert not any("image" in k or "thumbnail" in k or "jpeg" in k for k in body)

    named = ListSink("named")
    world.raise_alert()
    Dispatcher(world.store, CFG.model_copy(update={"include_names": True}), [named]).drain()
    assert [msg.payload["name"] for msg in named.got] == ["Jane Roe"]


def test_retries_with_exponential_backoff_then_delivers(world: AlertWorld) -> None:
    sink = ListSink(fail=3)
    clock = Clock(T0)
    d = Dispatcher(world.store, CFG, [sink], clock=clock)
    alert = world.raise_alert()
    waits = []
    for _ in range(3):
        assert d.run_once().retried == 1
        (row,) = [r for r in outbox.list_outbox(world.store, alert) if r.destination == "list"]
        waits.append((row.next_attempt_at - clock.t).total_seconds())
        assert row.last_error == "list: connection refused"
        assert d.run_once().handled == 0  # not due yet
        clock.t = row.next_attempt_at
    assert waits == [2.0, 4.0, 8.0]
    assert d.run_once().delivered == 1
    (row,) = [r for r in outbox.list_outbox(world.store, alert) if r.destination == "list"]
    assert (row.status, row.attempts, row.last_error) == ("delivered", 4, None)
    assert len(sink.got) == 1


def test_gives_up_after_max_attempts_and_can_be_revived(world: AlertWorld) -> None:
    sink = ListSink(fail=100)
    clock = Clock(T0)
    d = Dispatcher(world.store, CFG, [sink], clock=clock)
    alert = world.raise_alert()
    for _ in range(10):
        d.run_once()
        clock.advance(3600)
    (row,) = [r for r in outbox.list_outbox(world.store, alert) if r.destination == "list"]
    assert (row.status, row.attempts, row.last_error) == ("dead", 4, "list: connection refused")
    assert sink.attempts == 4
    assert outbox.retry_dead(world.store, clock.t) == 1
    sink.fail = 0
    assert d.run_once().delivered == 1


def test_permanent_refusal_and_removed_destination_are_dead_at_once(world: AlertWorld) -> None:
    refusing = ListSink("refusing", permanent=True)
    d = Dispatcher(world.store, CFG, [refusing, ListSink("gone")])
    world.raise_alert()
    # the first dispatcher expands for both destinations, then "gone" leaves the configuration
    outbox.expand(world.store, ["gone", "refusing"], T0)
    report = Dispatcher(world.store, CFG, [refusing]).run_once()
    assert (report.delivered, report.dead) == (0, 2)
    dead = {r.destination: r.last_error for r in outbox.list_outbox(world.store) if r.status == "dead"}
    assert dead == {"refusing": "refusing: HTTP 400", "gone": "destination 'gone' is no longer configured"}
    assert refusing.attempts == 1
    d.close()


def test_a_failing_destination_does_not_hold_up_the_others(world: AlertWorld) -> None:
    down, up = ListSink("down", fail=100), ListSink("up")
    d = Dispatcher(world.store, CFG, [down, up])
    for _ in range(5):
        world.raise_alert()
    report = d.drain()
    assert report.delivered == 5 and len(up.got) == 5
    assert down.attempts == 1  # the rest of its rows wait for its backoff instead of each failing
    rows = [r for r in outbox.list_outbox(world.store) if r.destination == "down"]
    assert sum(r.attempts for r in rows) == 1 and {r.status for r in rows} == {"pending"}


def test_a_lease_keeps_a_second_dispatcher_off_claimed_rows(world: AlertWorld) -> None:
    world.raise_alert()
    outbox.expand(world.store, ["x"], T0)
    first = outbox.claim(world.store, T0, 10, timedelta(seconds=60))
    assert len(first) == 1
    assert outbox.claim(world.store, T0 + timedelta(seconds=30), 10, timedelta(seconds=60)) == []
    # the first dispatcher died: after the lease another one takes the row (at least once)
    assert [
        i.id for i in outbox.claim(world.store, T0 + timedelta(seconds=61), 10, timedelta(seconds=60))
    ] == [first[0].id]


def test_no_destination_configured(world: AlertWorld) -> None:
    world.raise_alert()
    assert Dispatcher(world.store, CFG, []).run_once().expanded == 1
    assert outbox.counts(world.store) == {"*": {"expanded": 1}}
    with pytest.raises(StoreError, match="bad destination"):
        outbox.expand(world.store, ["*"], T0)


def test_backoff_doubles_and_caps() -> None:
    cfg = EventsConfig(backoff_seconds=2.0, backoff_max_seconds=30.0)
    assert [backoff(cfg, n).total_seconds() for n in (1, 2, 3, 4, 5, 100)] == [2, 4, 8, 16, 30, 30]


def test_sinks_from_config_read_secrets_from_the_environment() -> None:
    hook = WebhookConfig(name="ops", url="https://example.org/hook", secret_env="CW_TEST_HOOK_SECRET")
    cfg = EventsConfig(webhooks=[hook])
    with pytest.raises(ConfigError, match="CW_TEST_HOOK_SECRET"):
        build_sinks(cfg, env={})
    (sink,) = build_sinks(cfg, env={"CW_TEST_HOOK_SECRET": "s3cret"})
    assert sink.name == "webhook:ops" and "s3cret" not in repr(sink)
    sink.close()
    with pytest.raises(ValueError, match="duplicate webhook"):
        EventsConfig(webhooks=[hook, hook])
    with pytest.raises(ConfigError, match="share a name"):
        Dispatcher(None, cfg, [ListSink("a"), ListSink("a")])  # type: ignore[arg-type]


def test_outbox_statuses_match_the_schema() -> None:
    assert m.OUTBOX_STATUSES == ("pending", "delivered", "dead", "expanded")
