"""The live alert stream (SSE) against a real server: alerts committed by another writer reach the client.

The writer here is the Store in this process, as a camera worker's would be in
its own: the stream follows the alerts table, so it cannot tell the difference.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_world import ServerThread, World


def read_events(
    url: str, headers: dict[str, str], out: queue.Queue[dict[str, Any]], stop: threading.Event
) -> None:
    """Parse ``event: alert`` messages from the stream into ``out`` until ``stop`` (or the server goes)."""
    # the server shutting down under an open stream is the end of the test, not an error
    with contextlib.suppress(httpx.TransportError):
        _read(url, headers, out, stop)


def _read(url: str, headers: dict[str, str], out: queue.Queue[dict[str, Any]], stop: threading.Event) -> None:
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=30.0)) as client,
        client.stream("GET", url, headers=headers) as r,
    ):
        out.put({"status": r.status_code})
        event: dict[str, str] = {}
        for line in r.iter_lines():
            if stop.is_set():
                return
            if not line:
                if event.get("event") == "alert":
                    out.put({"id": int(event["id"]), "data": json.loads(event["data"]), "at": time.time()})
                event = {}
            elif not line.startswith(":") and ":" in line:
                k, _, v = line.partition(":")
                event[k] = v.strip()


@pytest.fixture
def server(world: World) -> Iterator[ServerThread]:
    with ServerThread(world.api) as srv:
        yield srv


def subscribe(
    server: ServerThread, world: World, user: str, extra: dict[str, str] | None = None
) -> tuple[queue.Queue[dict[str, Any]], threading.Event]:
    out: queue.Queue[dict[str, Any]] = queue.Queue()
    stop = threading.Event()
    t = threading.Thread(
        target=read_events, args=(server.url + "/api/alerts/stream", world.auth(user) | (extra or {}), out, stop),
        daemon=True,
    )  # fmt: skip
    t.start()
    assert out.get(timeout=10) == {"status": 200}
    return out, stop


def test_new_alerts_reach_connected_clients_of_their_cameras_only(world: World, server: ServerThread) -> None:
    ident = world.identity("Wanted Person")
    olga, stop1 = subscribe(server, world, "olga")
    gus, stop2 = subscribe(server, world, "gus")  # plaza only
    time.sleep(0.3)  # both streams are polling
    t0 = time.time()
    _, gate_alert = world.sighting("gate", ident)
    _, plaza_alert = world.sighting("plaza", ident)
    got = [olga.get(timeout=5), olga.get(timeout=5)]
    assert [g["id"] for g in got] == [gate_alert, plaza_alert]
    assert got[0]["data"]["camera"] == "gate" and got[0]["data"]["identity"] == "Wanted Person"
    assert got[0]["data"]["thumbnail_url"] == f"/api/alerts/{gate_alert}/thumbnail.jpg"
    assert got[0]["at"] - t0 < 2.0
    only = gus.get(timeout=5)
    assert only["id"] == plaza_alert
    with pytest.raises(queue.Empty):
        gus.get(timeout=0.5)
    stop1.set()
    stop2.set()
    actions = world.audit_actions("olga")
    assert ("alert.stream", "alerts", "127.0.0.1") in actions
    assert ("alert.view", f"alert:{gate_alert}", "127.0.0.1") in actions


def test_a_reconnecting_client_gets_what_it_missed(world: World, server: ServerThread) -> None:
    ident = world.identity()
    _, first = world.sighting("gate", ident)
    _, second = world.sighting("gate", ident)
    assert first is not None and second is not None
    events, stop = subscribe(server, world, "olga", {"Last-Event-ID": str(first)})
    assert events.get(timeout=5)["id"] == second
    _, third = world.sighting("plaza", ident)
    assert events.get(timeout=5)["id"] == third
    stop.set()


def test_stream_refuses_roles_without_alert_access(world: World, server: ServerThread) -> None:
    r = httpx.get(server.url + "/api/alerts/stream", headers=world.auth("aud"), timeout=5)
    assert r.status_code == 403
    r = httpx.get(server.url + "/api/alerts/stream", timeout=5)
    assert r.status_code == 401
