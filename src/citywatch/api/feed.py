"""The live alert feed behind ``GET /api/alerts/stream``: follow the alerts table, fan out to clients.

Camera workers run in other processes and commit each alert before anything
is told about it (outbox), so the table is the source: one poller per API
process asks for ids above the last one it saw every ``api.alert_poll_seconds``
(an index range scan on the primary key: cheap), and hands each new alert to
every connected client's queue. It runs only while someone listens.

A client that falls ``QUEUE_SIZE`` alerts behind loses the oldest (counted);
it can reload the list from ``GET /api/alerts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import anyio.to_thread

from citywatch.store.api_views import AlertRow, alerts_after, max_alert_id
from citywatch.store.repo import Store

log = logging.getLogger(__name__)

QUEUE_SIZE = 256


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[AlertRow | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def offer(self, row: AlertRow | None) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(row)


class AlertFeed:
    """One poller, many subscribers (all on the server's event loop)."""

    def __init__(self, store: Store, poll_seconds: float) -> None:
        self.store = store
        self.poll_seconds = poll_seconds
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.polls = 0

    @property
    def last_id(self) -> int:
        return self._last_id

    async def subscribe(self) -> Subscription:
        sub = Subscription()
        self._loop = asyncio.get_running_loop()
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._last_id = await anyio.to_thread.run_sync(max_alert_id, self.store)
            self._task = asyncio.get_running_loop().create_task(self._run(), name="citywatch.api:alert-feed")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def end_streams_soon(self) -> None:
        """From any thread (a signal handler): end every open stream, so a shutdown need not wait for them."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for sub in list(self._subs):
            sub.offer(None)

    async def close(self) -> None:
        """End every stream (each gets ``None``) and stop polling."""
        for sub in list(self._subs):
            sub.offer(None)
        self._subs.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self._subs:
            try:
                rows = await anyio.to_thread.run_sync(alerts_after, self.store, self._last_id)
            except Exception:
                log.exception("alert feed: reading new alerts failed; retrying")
                rows = []
            self.polls += 1
            for row in rows:
                self._last_id = max(self._last_id, row.id)
                for sub in list(self._subs):
                    sub.offer(row)
            if not rows or len(rows) < 200:
                await asyncio.sleep(self.poll_seconds)
