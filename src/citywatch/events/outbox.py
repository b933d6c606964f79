"""The dispatcher: delivers outbox rows to MQTT and webhooks, at least once, with backoff.

Each round (:meth:`Dispatcher.run_once`): expand new alerts into one row per
destination, claim the rows that are due, send each, and record the outcome.
A failed attempt is retried after ``backoff_seconds * 2**(attempts-1)``
(capped at ``backoff_max_seconds``); after ``max_attempts`` attempts, or at
once when the receiver refuses the message for good, the row is marked
``dead`` with the error. ``citywatch events status`` shows the counts and
``citywatch events retry-dead`` revives dead rows once the cause is fixed.

What leaves the system (:func:`alert_message`) is a lead, not an
identification: camera, time, watchlist, entry id, score, threshold and ids,
no face image, and the entry's name only when ``events.include_names`` is set.

``serve`` runs a dispatcher in a thread: ``Dispatcher.start()`` and, on
shutdown, ``stop()`` then ``close()``. Several dispatchers may run against one
database (claimed rows are leased), which only risks a duplicate, never a loss.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from citywatch.config import EventsConfig
from citywatch.errors import ConfigError
from citywatch.events.base import AlertMessage, DeliveryError, Sink
from citywatch.store import outbox
from citywatch.store.outbox import OutboxItem
from citywatch.store.repo import Store

log = logging.getLogger(__name__)

NOTE = "A lead for a person to verify, not an identification."


def _utcnow() -> datetime:
    return datetime.now(UTC)


def alert_message(item: OutboxItem, include_names: bool = False) -> AlertMessage:
    """The message for one alert (the same bytes for every destination and retry)."""
    payload: dict[str, Any] = {
        "type": "citywatch.alert",
        "version": 1,
        "event_id": item.key,
        "alert_id": item.alert_id,
        "sighting_id": item.sighting_id,
        "camera": item.camera,
        "time": item.start.astimezone(UTC).isoformat(),
        "end": item.end.astimezone(UTC).isoformat(),
        "watchlist": item.watchlist,
        "entry_id": item.entry_id,
        "score": round(float(item.score), 6),
        "threshold": round(float(item.threshold), 6),
        "status": item.alert_status,
        "raised_at": item.alert_created_at.astimezone(UTC).isoformat(),
        "note": NOTE,
    }
    if include_names:
        payload["name"] = item.entry_name
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return AlertMessage(key=item.key, camera=item.camera, payload=payload, body=body)


def backoff(cfg: EventsConfig, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt (1, 2, ...): doubling, capped."""
    seconds = cfg.backoff_seconds * (2 ** max(0, min(attempts - 1, 60)))
    return timedelta(seconds=min(seconds, cfg.backoff_max_seconds))


def build_sinks(cfg: EventsConfig, env: Mapping[str, str] | None = None) -> list[Sink]:
    """The configured destinations; secrets come from the environment variables the config names.

    ConfigError when a webhook's secret variable is unset (an unsigned webhook is never sent).
    """
    e = os.environ if env is None else env
    sinks: list[Sink] = []
    if cfg.mqtt.enabled:
        from citywatch.events.mqtt import MqttSink

        sinks.append(MqttSink(cfg.mqtt, e.get(cfg.mqtt.password_env) or None))
    for hook in cfg.webhooks:
        secret = e.get(hook.secret_env, "")
        if not secret:
            raise ConfigError(
                f"events.webhooks[{hook.name}]: environment variable {hook.secret_env} (the signing secret) "
                "is not set"
            )
        from citywatch.events.webhook import WebhookSink

        sinks.append(WebhookSink(hook, secret.encode("utf-8")))
    return sinks


@dataclass(frozen=True, slots=True)
class DispatchReport:
    """What one round did."""

    expanded: int = 0
    """New alerts turned into per-destination rows."""
    delivered: int = 0
    retried: int = 0
    """Failed attempts that will be tried again."""
    dead: int = 0
    """Rows given up this round."""

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.dead

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.expanded + other.expanded,
            self.delivered + other.delivered,
            self.retried + other.retried,
            self.dead + other.dead,
        )


class Dispatcher:
    """Delivers the outbox of ``store`` to ``sinks`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        cfg: EventsConfig,
        sinks: Sequence[Sink],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ConfigError(f"events: two destinations share a name in {names}")
        self.store = store
        self.cfg = cfg
        self.sinks = {s.name: s for s in sinks}
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _announce(self) -> None:
        # every round: a sink that reconnected (a broker restarted empty) announces again
        cameras = frozenset(c.name for c in self.store.list_cameras())
        for sink in self.sinks.values():
            sink.announce(cameras)

    def run_once(self) -> DispatchReport:
        """One round: expand, claim what is due, deliver, record. Returns what it did."""
        now = self._clock()
        expanded = outbox.expand(self.store, sorted(self.sinks), now, limit=self.cfg.batch_size)
        if not self.sinks:
            return DispatchReport(expanded=expanded)
        self._announce()
        items = outbox.claim(self.store, now, self.cfg.batch_size, timedelta(seconds=self.cfg.lease_seconds))
        delivered = retried = dead = 0
        down: set[str] = set()  # destinations that failed this round: their other rows wait
        for item in items:
            sink = self.sinks.get(item.destination)
            attempts = item.attempts + 1
            if sink is None:
                error = f"destination {item.destination!r} is no longer configured"
                outbox.mark_failed(self.store, item.id, error, None)
                dead += 1
                log.warning("alert %d: %s; marked dead", item.alert_id, error)
                continue
            if item.destination in down:
                # its destination just failed: not attempted (not counted), due again after a backoff
                outbox.release(self.store, item.id, self._clock() + backoff(self.cfg, 1))
                continue
            try:
                sink.send(alert_message(item, self.cfg.include_names))
            except DeliveryError as exc:
                give_up = exc.permanent or attempts >= self.cfg.max_attempts
                retry_at = None if give_up else self._clock() + backoff(self.cfg, attempts)
                outbox.mark_failed(self.store, item.id, str(exc), retry_at)
                if give_up:
                    dead += 1
                    log.error(
                        "alert %d to %s: attempt %d failed, giving up: %s",
                        item.alert_id, item.destination, attempts, exc,
                    )  # fmt: skip
                else:
                    retried += 1
                    down.add(item.destination)
                    log.warning(
                        "alert %d to %s: attempt %d failed (%s); next at %s",
                        item.alert_id, item.destination, attempts, exc, retry_at,
                    )  # fmt: skip
                continue
            outbox.mark_delivered(self.store, item.id, self._clock())
            delivered += 1
        report = DispatchReport(expanded, delivered, retried, dead)
        if report.handled:
            log.info(
                "events: %d delivered, %d to retry, %d dead (%d new alerts)",
                delivered, retried, dead, expanded,
            )  # fmt: skip
        return report

    def drain(self, max_rounds: int = 1000) -> DispatchReport:
        """Rounds until nothing is due now (``events dispatch --once``); returns the total."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = self.run_once()
            total = total + report
            if report.delivered == 0 and report.expanded == 0 and report.dead == 0:
                break
        return total

    def run_forever(self) -> None:
        """Dispatch until :meth:`stop`; sleeps ``poll_seconds`` when a round found nothing to do.

        Errors of one round (the database restarting, say) are logged and the
        loop goes on: the rows stay in the outbox.
        """
        log.info("events dispatcher started: %s", ", ".join(sorted(self.sinks)) or "no destinations")
        while not self._stop.is_set():
            try:
                report = self.run_once()
            except Exception:  # loop boundary: keep dispatching; the outbox keeps the rows
                log.exception("events dispatcher round failed")
                report = DispatchReport()
            if report.delivered == 0 and report.expanded == 0:
                self._stop.wait(self.cfg.poll_seconds)
        log.info("events dispatcher stopped")

    def start(self) -> threading.Thread:
        """Run :meth:`run_forever` in a daemon thread (for ``serve``); returns it."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="citywatch.events", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the loop to end after its current round and wait for the thread, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Close every destination (stop first)."""
        for sink in self.sinks.values():
            sink.close()
