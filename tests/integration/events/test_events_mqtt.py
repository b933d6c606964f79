"""MQTT for real: our own Mosquitto (the system one is shared), killed and restarted on the same port.

The dispatcher runs in its thread as ``serve`` runs it. Alerts raised while the
broker is down wait in the outbox and all arrive after it comes back: after
de-duplication by idempotency key, every alert exactly once, none lost. Home
Assistant discovery configs are retained and announced again to the restarted
(empty) broker.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citywatch.config import EventsConfig, MqttConfig
from citywatch.events import Dispatcher, build_sinks
from citywatch.events.mqtt import KEY_PROPERTY, MqttSink
from citywatch.store import Store, outbox
from events_world import T0, AlertWorld

MOSQUITTO = shutil.which("mosquitto")
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto (the MQTT broker binary) is not installed"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class Broker:
    """A private Mosquitto on 127.0.0.1:<port>, no persistence (a restart starts empty)."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log = root / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _accepting(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        assert MOSQUITTO is not None
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=log)
        _wait(self._accepting, 10, f"mosquitto on port {self.port} ({self.log.read_text()[-500:]})")

    def kill(self) -> None:
        """An outage: SIGKILL, no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        _wait(lambda: not self._accepting(), 5, "the broker to go away")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.kill()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    key: str | None


@dataclass
class Subscriber:
    """A plain MQTT 5 client that (re)subscribes on every connect and records what arrives."""

    port: int
    topics: tuple[str, ...]
    got: list[Received] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"sub-{id(self)}",
            protocol=mqtt.MQTTv5,
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_disconnect = lambda *a: self.ready.clear()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        props = dict(getattr(msg.properties, "UserProperty", []) or [])
        with self.lock:
            self.got.append(Received(msg.topic, msg.payload, bool(msg.retain), props.get(KEY_PROPERTY)))

    def start(self) -> Subscriber:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.ready.wait(10), "subscriber did not subscribe"
        return self

    def on(self, topic_prefix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.got if r.topic.startswith(topic_prefix)]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Clock:
    """The dispatcher's clock: frozen unless the test moves it, so retries happen when the test says."""

    def __init__(self, t: datetime) -> None:
        self.t = t
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.t += timedelta(seconds=seconds)


@pytest.fixture
def world(tmp_path: Path, db_url: str) -> Iterator[AlertWorld]:
    store = Store.open(db_url, tmp_path / "home")
    try:
        yield AlertWorld.build(store, cameras=("gate", "plaza"))
    finally:
        store.close()


def _events(port: int) -> EventsConfig:
    return EventsConfig(
        mqtt=MqttConfig(enabled=True, port=port, client_id="cw-test-dispatcher", publish_timeout_seconds=5.0),
        backoff_seconds=1.0,
        backoff_max_seconds=5.0,
        max_attempts=1000,
        poll_seconds=0.05,
    )


def _connect(d: Dispatcher) -> None:
    """Let the dispatcher's MQTT client connect first (the clock is frozen: a failed first try would wait)."""
    sink = d.sinks["mqtt"]
    assert isinstance(sink, MqttSink) and sink.start(wait_seconds=15), "dispatcher did not connect"


def _rows(world: AlertWorld) -> list[outbox.OutboxRow]:
    return [r for r in outbox.list_outbox(world.store) if r.destination == "mqtt"]


def test_broker_outage_loses_no_alert(world: AlertWorld, broker: Broker) -> None:
    sub = Subscriber(broker.port, ("citywatch/alerts",)).start()
    clock = Clock(T0)
    events = _events(broker.port)
    d = Dispatcher(world.store, events, build_sinks(events, {}), clock=clock)
    _connect(d)
    d.start()
    try:
        before = [world.raise_alert() for _ in range(3)]
        _wait(lambda: len(sub.on("citywatch/alerts")) >= 3, 20, "the first alerts")

        broker.kill()
        during = [world.raise_alert(camera="plaza" if i % 2 else "gate") for i in range(6)]
        # every new alert is expanded and tried (or held back behind a failed one): none is due any more
        _wait(
            lambda: (
                len(_rows(world)) == 9
                and all(r.status == "delivered" or r.next_attempt_at > clock() for r in _rows(world))
            ),
            30,
            "the dispatcher to try the alerts raised while the broker is down",
        )
        failed = [r for r in _rows(world) if r.status == "pending"]
        assert len(failed) == 6 and any(r.attempts >= 1 for r in failed)
        assert all(r.alert_id in during for r in failed)
        assert any(
            "not connected" in (r.last_error or "") or "acknowledgement" in (r.last_error or "")
            for r in failed
        )

        broker.start()  # same port, empty: no sessions, no retained messages
        assert sub.ready.wait(15), "subscriber did not come back"
        _wait(lambda: bool(d.sinks["mqtt"].connected), 15, "the dispatcher to reconnect")  # type: ignore[attr-defined]
        clock.advance(3600)  # the retries fall due
        _wait(lambda: all(r.status == "delivered" for r in _rows(world)), 30, "every alert to be delivered")
        _wait(lambda: len({r.key for r in sub.on("citywatch/alerts")}) >= 9, 10, "the backlog to arrive")
    finally:
        d.stop()
        d.close()

    received = sub.on("citywatch/alerts")
    sub.stop()
    by_key: dict[str, dict[str, Any]] = {}
    for r in received:
        body = json.loads(r.payload)
        assert r.key == body["event_id"]  # the MQTT 5 user property carries the idempotency key
        by_key.setdefault(r.key, body)
    keys = {r.alert_id: r.key for r in _rows(world)}
    # after de-duplication: every alert exactly once, none lost
    assert set(by_key) == set(keys.values())
    assert sorted(b["alert_id"] for b in by_key.values()) == sorted(before + during)
    assert len(received) >= 9  # duplicates are allowed (at least once); losses are not
    for body in by_key.values():
        assert "name" not in body and body["watchlist"] == "wanted" and body["camera"] in ("gate", "plaza")


def test_home_assistant_discovery_and_last_alert_state(world: AlertWorld, broker: Broker) -> None:
    events = _events(broker.port)
    clock = Clock(T0)
    d = Dispatcher(world.store, events, build_sinks(events, {}), clock=clock)
    _connect(d)
    try:
        alert = world.raise_alert(camera="plaza")
        _wait(lambda: d.run_once().delivered == 1, 15, "the alert to be delivered")
        # a client arriving later gets the retained discovery configs and the last alert's state
        late = Subscriber(broker.port, ("homeassistant/#", "citywatch/+/alert", "citywatch/status")).start()
        _wait(
            lambda: len(late.on("homeassistant/")) >= 2 and late.on("citywatch/plaza/alert"), 10, "retained"
        )
        configs = {r.topic: json.loads(r.payload) for r in late.on("homeassistant/")}
        assert set(configs) == {
            "homeassistant/sensor/citywatch_gate/config",
            "homeassistant/sensor/citywatch_plaza/config",
        }
        plaza = configs["homeassistant/sensor/citywatch_plaza/config"]
        assert plaza["state_topic"] == "citywatch/plaza/alert" and plaza["device_class"] == "timestamp"
        assert plaza["unique_id"] == "citywatch_plaza_last_alert"
        (state,) = late.on("citywatch/plaza/alert")
        assert state.retain and json.loads(state.payload)["alert_id"] == alert
        assert [r.payload for r in late.on("citywatch/status")] == [b"online"]
        late.stop()

        # the broker restarts empty: the dispatcher announces every camera again
        broker.kill()
        broker.start()
        again = Subscriber(broker.port, ("homeassistant/#",)).start()
        _wait(
            lambda: d.run_once() is not None and len(again.on("homeassistant/")) >= 2,
            20,
            "discovery after the restart",
        )
        again.stop()
    finally:
        d.close()
