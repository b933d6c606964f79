"""DropQueue: bounded, never blocks the producer, drops and counts."""

from __future__ import annotations

import threading
import time

import pytest

from citywatch.ingest import DropQueue, QueueClosed


def test_drop_oldest_keeps_the_freshest() -> None:
    q: DropQueue[int] = DropQueue(3)
    assert [q.put(i) for i in range(5)] == [True, True, True, False, False]
    assert q.dropped == 2 and q.accepted == 5 and len(q) == 3
    assert [q.get(0), q.get(0), q.get(0)] == [2, 3, 4]
    assert q.get(0) is None


def test_drop_newest_keeps_the_prefix() -> None:
    q: DropQueue[int] = DropQueue(2, drop="newest")
    for i in range(4):
        q.put(i)
    assert q.dropped == 2
    assert [q.get(0), q.get(0)] == [0, 1]


def test_get_times_out() -> None:
    q: DropQueue[str] = DropQueue(1)
    t0 = time.monotonic()
    assert q.get(timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.04


def test_close_wakes_a_waiting_consumer_after_draining() -> None:
    q: DropQueue[int] = DropQueue(2)
    q.put(1)
    q.close()
    assert q.closed and not q.put(2) and q.dropped == 0
    assert q.get() == 1
    with pytest.raises(QueueClosed):
        q.get()

    q2: DropQueue[int] = DropQueue(2)
    result: list[object] = []

    def consume() -> None:
        try:
            q2.get()
        except QueueClosed as exc:
            result.append(exc)

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.05)
    q2.close()
    t.join(1)
    assert not t.is_alive() and isinstance(result[0], QueueClosed)


def test_concurrent_producer_counts_add_up() -> None:
    q: DropQueue[int] = DropQueue(4)
    got: list[int] = []

    def produce() -> None:
        for i in range(2000):
            q.put(i)
        q.close()

    t = threading.Thread(target=produce)
    t.start()
    while True:
        try:
            item = q.get(timeout=1)
        except QueueClosed:
            break
        if item is not None:
            got.append(item)
    t.join()
    assert len(got) + q.dropped == 2000
    assert got == sorted(got) and got[-1] == 1999  # order kept, the last one always arrives


def test_rejects_a_zero_size() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        DropQueue(0)
