"""LiveSource with a fake opener: backoff schedule, clock stamps, drop counting, scrubbing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest

from citywatch.config import IngestConfig
from citywatch.ingest import LiveSource, open_source
from citywatch.ingest.live import stream_options

URL = "rtsp://admin:hunter2@10.0.0.5:554/stream1"


class FakeContainer:
    """Yields ``n`` frames, then raises like a dropped connection."""

    def __init__(self, n: int, size: tuple[int, int] = (32, 24), gate: threading.Event | None = None) -> None:
        self.n, self.size, self.gate = n, size, gate
        self.streams = SimpleNamespace(video=[object()])
        self.format = SimpleNamespace(name="fake")
        self.closed = False

    def decode(self, stream: object) -> Iterator[av.VideoFrame]:
        w, h = self.size
        for i in range(self.n):
            if self.gate is not None:
                self.gate.wait(1)
            yield av.VideoFrame.from_ndarray(np.full((h, w, 3), i % 255, np.uint8), format="rgb24")
        raise av.error.EOFError(541478725, "End of file")

    def close(self) -> None:
        self.closed = True


def wait_for(pred: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_backoff_doubles_up_to_the_max_and_credentials_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []

    def refuse(url: str, options: dict[str, str], timeout: tuple[float, float]) -> Any:
        raise ConnectionRefusedError(f"connection refused: {url}")

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(0.001)  # let the test thread run

    cfg = IngestConfig(reconnect_min_seconds=0.5, reconnect_max_seconds=4)
    src = LiveSource(
        "gate",
        URL,
        detect_fps=5,
        cfg=cfg,
        sleep=fake_sleep,
        opener=refuse,
    )
    wait_for(lambda: len(waits) >= 7)
    src.close()
    assert waits[:7] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    stats = src.stats
    assert stats.reconnects >= 7 and stats.decoded == 0
    assert stats.errors and all("hunter2" not in e for e in stats.errors)
    assert "hunter2" not in caplog.text and "reconnecting" in caplog.text


def test_successful_connection_resets_the_backoff() -> None:
    waits: list[float] = []
    calls = iter([0, 0, 3, 0, 0])

    def opener(url: str, options: dict[str, str], timeout: tuple[float, float]) -> Any:
        n = next(calls, 0)
        if n == 0:
            raise TimeoutError("timed out")
        return FakeContainer(n)

    cfg = IngestConfig(reconnect_min_seconds=1, reconnect_max_seconds=60)
    src = LiveSource("gate", URL, detect_fps=100, cfg=cfg, sleep=waits.append, opener=opener)
    wait_for(lambda: len(waits) >= 5)
    src.close()
    assert waits[:5] == [1, 2, 1, 2, 4]  # fail, fail, 3 frames then EOF (reset), fail, fail


def test_clock_stamps_sampling_and_drop_counting() -> None:
    ticks = iter(np.arange(0, 100, 0.1))  # the "camera" runs at 10 fps of fake wall time
    gate = threading.Event()
    container = FakeContainer(40, gate=gate)
    opened = iter([container])

    def opener(url: str, options: dict[str, str], timeout: tuple[float, float]) -> Any:
        try:
            return next(opened)
        except StopIteration:
            raise ConnectionError("gone") from None

    cfg = IngestConfig(queue_size=3)
    src = LiveSource("lobby", URL, detect_fps=2, cfg=cfg, clock=lambda: float(next(ticks)), opener=opener)
    gate.set()
    wait_for(lambda: src.stats.decoded == 40)
    stats = src.stats
    assert stats.sampled == 8  # 4 s of camera time at 2 fps
    assert stats.dropped == 5  # the queue holds 3, nobody consumed
    frames = [src.read(0.5) for _ in range(3)]
    src.close()
    assert [f.index for f in frames if f] == [25, 30, 35]  # the freshest survive
    assert [f.timestamp for f in frames if f] == pytest.approx([2.5, 3.0, 3.5])
    assert all(f is not None and f.live for f in frames)
    assert container.closed


def test_oversized_live_frames_are_refused_and_retried() -> None:
    cfg = IngestConfig(max_pixels=100, reconnect_min_seconds=0.01, reconnect_max_seconds=0.01)
    src = LiveSource(
        "lobby",
        URL,
        detect_fps=5,
        cfg=cfg,
        opener=lambda url, options, timeout: FakeContainer(5, size=(32, 24)),
    )
    wait_for(lambda: src.stats.reconnects >= 2)
    src.close()
    assert src.stats.sampled == 0 and "exceeds the limit" in src.stats.errors[-1]


def test_open_source_routes_urls_to_live_and_close_is_prompt() -> None:
    src = open_source("x", "http://127.0.0.1:9/none.mjpg", detect_fps=1, cfg=IngestConfig())
    try:
        assert isinstance(src, LiveSource) and src.live
    finally:
        t0 = time.monotonic()
        src.close()
        assert time.monotonic() - t0 < 2.0
    assert next(iter(src), None) is None


def test_stream_options() -> None:
    assert stream_options(URL, 2.0) == {"rtsp_transport": "tcp", "timeout": "2000000"}
    assert stream_options("https://cam/x.m3u8", 1.5) == {"timeout": "1500000"}
    assert stream_options("rtmp://cam/live", 1.0) == {"rw_timeout": "1000000"}
