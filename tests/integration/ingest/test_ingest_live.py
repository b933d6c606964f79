"""Live HTTP sources against local servers: MJPEG frames, reconnect after an outage, dead servers."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_media import MjpegServer, StaticServer, write_hls

from citywatch.config import IngestConfig
from citywatch.ingest import FrameSource, LiveSource, open_source
from citywatch.types import Frame

CFG = IngestConfig(reconnect_min_seconds=0.05, reconnect_max_seconds=0.2, queue_size=4)


@pytest.fixture
def server() -> Iterator[MjpegServer]:
    srv = MjpegServer(fps=25)
    srv.start()
    yield srv
    srv.stop()


def next_frames(src: LiveSource | FrameSource, n: int, timeout: float = 5.0) -> list[Frame]:
    assert isinstance(src, LiveSource)
    got: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        frame = src.read(timeout=0.2)
        if frame is not None:
            got.append(frame)
    assert len(got) == n, f"only {len(got)} of {n} frames within {timeout} s; stats {src.stats}"
    return got


def test_mjpeg_reconnects_after_server_restart(server: MjpegServer) -> None:
    src = open_source("door", server.url, detect_fps=50, cfg=CFG)
    assert isinstance(src, LiveSource)
    with src:
        assert src.live
        first = next_frames(src, 5)
        assert all(f.live and f.image.shape == (120, 160, 3) for f in first)
        assert first[-1].timestamp == pytest.approx(time.time(), abs=2.0)  # wall clock
        assert [f.index for f in first] == sorted(f.index for f in first)

        server.stop()
        time.sleep(0.4)  # the reader notices, backs off and fails to connect at least once
        while src.read(timeout=0.05) is not None:  # drain what was queued before the outage
            pass
        assert src.stats.reconnects >= 1
        server.start()  # same port

        after = next_frames(src, 5)
        assert after[0].index > first[-1].index
        stats = src.stats
        assert stats.reconnects >= 1 and stats.errors
    assert src.closed and src.read(timeout=0.1) is None
    assert list(src) == []


def test_slow_consumer_drops_oldest_and_counts(server: MjpegServer) -> None:
    with LiveSource("door", server.url, detect_fps=50, cfg=CFG) as src:
        deadline = time.monotonic() + 5
        while src.stats.dropped < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # consume nothing: the queue of 4 fills and overflows
        stats = src.stats
        assert stats.dropped >= 3
        frames = next_frames(src, CFG.queue_size)
        # what is left are the newest frames: the oldest were the ones dropped
        assert frames[0].index >= stats.dropped


def test_sampling_with_wall_clock(server: MjpegServer) -> None:
    with LiveSource("door", server.url, detect_fps=5, cfg=CFG) as src:
        frames = next_frames(src, 4)
        stats = src.stats
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(frames)]
    assert min(gaps) >= 0.2 - 0.05  # ~25 fps in, ~5 fps out
    assert stats.decoded > stats.sampled


def test_silent_server_times_out_and_retries() -> None:
    """A server that accepts and never answers must not hang the reader or close()."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    url = f"http://user:s3cret@127.0.0.1:{listener.getsockname()[1]}/cam"
    try:
        src = LiveSource("gate", url, detect_fps=5, cfg=CFG, open_timeout=0.3, read_timeout=0.3)
        deadline = time.monotonic() + 5
        while src.stats.reconnects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        src.close()
        assert time.monotonic() - t0 < 2.0
        stats = src.stats
        assert stats.reconnects >= 2 and stats.decoded == 0
        assert stats.errors and all("s3cret" not in e for e in stats.errors)
    finally:
        stop.set()
        acceptor.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


def test_hls_playlist_plays_and_replays_when_it_ends(tmp_path: Path) -> None:
    write_hls(tmp_path / "hls")
    server = StaticServer(tmp_path / "hls")
    try:
        url = f"http://127.0.0.1:{server.port}/index.m3u8"
        with open_source("hall", url, detect_fps=60, cfg=IngestConfig(queue_size=64)) as src:
            first = next_frames(src, 1)[0]
            assert first.image.shape == (120, 160, 3)
            # VOD segments decode in a burst, faster than the wall-clock sampler's 60 fps:
            # only some frames pass. After the playlist ends the source replays it.
            deadline = time.monotonic() + 5
            last = first
            while last.index < 30 and time.monotonic() < deadline:
                last = src.read(timeout=0.2) or last
            stats = src.stats
        assert last.index >= 30, f"no frame from the replay; stats {stats}"
        assert stats.decoded >= 31 and stats.reconnects >= 1 and "stream ended" in stats.errors[0]
    finally:
        server.stop()
