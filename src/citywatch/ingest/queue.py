"""A bounded, thread-safe queue that drops (and counts) items instead of blocking the producer.

Used between a live decoder thread and whatever consumes its frames, and reusable by the
pipeline between any two stages: a slow consumer must never make memory grow or make a
camera's decoder stall (a stalled RTSP reader gets disconnected by the camera).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

DropPolicy = Literal["oldest", "newest"]


class QueueClosed(Exception):  # noqa: N818 - a signal like StopIteration, not an error
    """Raised by :meth:`DropQueue.get` once the queue is closed and empty."""


class DropQueue(Generic[T]):
    """Bounded FIFO; ``put`` never blocks and drops an item when full.

    ``drop="oldest"`` (default) discards the oldest queued item, so the consumer always
    gets the freshest data (latest-frame semantics for live cameras); ``drop="newest"``
    refuses the incoming item instead (keeps a contiguous prefix, e.g. for batch work).
    Every discarded item is counted in :attr:`dropped`.

    ``close()`` wakes every waiting consumer; items already queued can still be taken,
    after which ``get`` raises :class:`QueueClosed`. ``put`` after ``close`` is a no-op
    (the item is not counted as dropped: nobody is left to miss it).
    """

    def __init__(self, maxsize: int, *, drop: DropPolicy = "oldest") -> None:
        if maxsize < 1:
            raise ValueError(f"DropQueue maxsize must be >= 1, got {maxsize}")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._drop = drop
        self._cond = threading.Condition()
        self._closed = False
        self._dropped = 0
        self._put = 0

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def dropped(self) -> int:
        """Items discarded because the queue was full."""
        with self._cond:
            return self._dropped

    @property
    def accepted(self) -> int:
        """Items offered with ``put`` while open (delivered, queued or dropped)."""
        with self._cond:
            return self._put

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: T) -> bool:
        """Enqueue ``item``; return ``False`` when something had to be dropped to do it
        (or ``item`` itself was dropped, or the queue is closed)."""
        with self._cond:
            if self._closed:
                return False
            self._put += 1
            ok = True
            if len(self._items) >= self._maxsize:
                self._dropped += 1
                ok = False
                if self._drop == "newest":
                    return False
                self._items.popleft()
            self._items.append(item)
            self._cond.notify()
            return ok

    def get(self, timeout: float | None = None) -> T | None:
        """Take the oldest queued item.

        Blocks up to ``timeout`` seconds (forever when ``None``) and returns ``None``
        when nothing arrived in time. Raises :class:`QueueClosed` when the queue is
        closed and drained.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    raise QueueClosed
                if deadline is None:
                    self._cond.wait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
            return self._items.popleft()

    def close(self) -> None:
        """Stop accepting items and wake all consumers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
