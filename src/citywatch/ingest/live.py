"""Live network sources (RTSP, RTMP, HTTP MJPEG/HLS/plain video) decoded by PyAV in a thread.

Latest-frame semantics: a daemon thread decodes as fast as the camera sends, samples to
the detect fps with wall-clock stamps, and feeds a bounded :class:`DropQueue`; when the
consumer is behind, the oldest queued frame is dropped and counted. The camera is never
throttled by the consumer (an RTSP camera disconnects a client that stops reading).

On any error or end of stream the thread reconnects with exponential backoff between
``reconnect_min_seconds`` and ``reconnect_max_seconds`` (reset to the minimum once a
connection delivered frames), forever until :meth:`LiveSource.close`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import av

from citywatch.config import IngestConfig
from citywatch.errors import CitywatchError, SourceError
from citywatch.ingest.base import FrameSource, Sampler, check_pixels
from citywatch.ingest.queue import DropQueue, QueueClosed
from citywatch.log import scrub_url
from citywatch.types import Frame

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 10.0
"""Seconds to connect and read the stream header before giving up (then back off, retry)."""
READ_TIMEOUT = 10.0
"""Seconds without data before a connection counts as dead. Also bounds how long
:meth:`LiveSource.close` may wait for a reader blocked on a silent server."""


class Opener(Protocol):
    """How a connection is opened; tests substitute a fake."""

    def __call__(self, url: str, options: dict[str, str], timeout: tuple[float, float]) -> Any: ...


def _av_open(url: str, options: dict[str, str], timeout: tuple[float, float]) -> Any:
    return av.open(url, mode="r", options=options, timeout=timeout)


def stream_options(url: str, read_timeout: float = READ_TIMEOUT) -> dict[str, str]:
    """FFmpeg options for a network URL.

    RTSP goes over TCP (UDP loses packets on busy networks and smears every frame until the
    next keyframe). Socket timeouts are set in the protocol too (microseconds), in addition
    to PyAV's own ``timeout`` interrupt, so a server that accepts and then goes silent is
    noticed at the socket level.
    """
    scheme = urlsplit(url).scheme.lower()
    micros = str(int(read_timeout * 1_000_000))
    if scheme in {"rtsp", "rtsps"}:
        return {"rtsp_transport": "tcp", "timeout": micros}
    if scheme in {"http", "https"}:
        return {"timeout": micros}
    return {"rw_timeout": micros}


class LiveSource(FrameSource):
    """A reconnecting network stream; see the module docstring.

    ``clock`` stamps frames (Unix seconds by default). ``sleep`` waits between reconnect
    attempts; by default the wait is cut short by :meth:`close`. Iteration blocks until a
    frame arrives and stops after :meth:`close` (which may be called from any thread);
    :meth:`read` offers a timeout instead. ``Frame.index`` counts decoded frames over the
    source's whole life, across reconnects.

    Counters: ``decoded`` (all decoded frames), ``sampled`` (passed the detect-fps
    sampler and queued), ``dropped`` (discarded from the full queue), ``reconnects``
    (connection attempts after the first), ``errors`` (recent messages, URL scrubbed).
    """

    def __init__(
        self,
        camera: str,
        uri: str,
        *,
        detect_fps: float,
        cfg: IngestConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
        opener: Opener = _av_open,
        open_timeout: float = OPEN_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        super().__init__(camera, uri)
        self._cfg = cfg
        self._clock = clock
        self._sleep = sleep
        self._opener = opener
        self._timeouts = (open_timeout, read_timeout)
        self._sampler = Sampler(detect_fps)
        self._queue: DropQueue[Frame] = DropQueue(cfg.queue_size, drop="oldest")
        self._stop = threading.Event()
        self._decoded = 0
        self._safe_uri = scrub_url(uri)
        self._thread = threading.Thread(target=self._run, name=f"ingest-{camera}", daemon=True)
        self._thread.start()

    @property
    def live(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def read(self, timeout: float | None = None) -> Frame | None:
        """The oldest queued frame, or ``None`` when none arrived within ``timeout`` seconds
        or the source is closed (check :attr:`closed` to tell them apart)."""
        if self._stop.is_set():
            return None
        try:
            return self._queue.get(timeout)
        except QueueClosed:
            return None

    def __next__(self) -> Frame:
        if self._stop.is_set():
            raise StopIteration
        try:
            frame = self._queue.get()
        except QueueClosed:
            raise StopIteration from None
        if frame is None or self._stop.is_set():
            raise StopIteration
        return frame

    def close(self) -> None:
        """Stop the reader and wake consumers. Waits at most about ``read_timeout`` for a
        reader blocked in the network; the thread is a daemon, so it never blocks exit."""
        self._stop.set()
        self._queue.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(self._timeouts[1] + 1.0)
            if self._thread.is_alive():
                log.warning("camera %s: reader for %s did not stop in time", self.camera, self._safe_uri)

    # --- reader thread ----------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if self._sleep is None:
            self._stop.wait(seconds)
        else:
            self._sleep(seconds)

    def _run(self) -> None:
        low, high = self._cfg.reconnect_min_seconds, self._cfg.reconnect_max_seconds
        delay = min(low, high)
        try:
            while not self._stop.is_set():
                if self._stream_once():
                    delay = min(low, high)  # it worked: a blip should recover fast
                if self._stop.is_set():
                    break
                self._counter.add(reconnects=1)
                log.warning("camera %s: reconnecting to %s in %.1f s", self.camera, self._safe_uri, delay)
                self._wait(delay)
                delay = min(high, delay * 2)
        finally:
            self._queue.close()

    def _stream_once(self) -> int:
        """One connection: decode until error, end of stream or close. Returns frames queued."""
        delivered = 0
        try:
            container = self._opener(self.uri, stream_options(self.uri, self._timeouts[1]), self._timeouts)
        except Exception as exc:  # noqa: BLE001 - any failure to connect means: back off and retry
            self._record(f"cannot connect: {_describe(exc)}")
            return 0
        try:
            if not container.streams.video:
                raise SourceError("the stream has no video")
            stream = container.streams.video[0]
            self._sampler.reset()
            log.info("camera %s: connected to %s (%s)", self.camera, self._safe_uri, container.format.name)
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return delivered
                index = self._decoded
                self._decoded += 1
                self._counter.add(decoded=1)
                ts = self._clock()
                if not self._sampler.keep(ts):
                    continue
                check_pixels(frame.width, frame.height, self._cfg.max_pixels, f"camera {self.camera}")
                image = frame.to_ndarray(format="rgb24")
                self._counter.frame(ts)
                if not self._queue.put(Frame(self.camera, index, ts, image, live=True)):
                    self._counter.add(dropped=1)
                delivered += 1
            if not self._stop.is_set():
                self._record("stream ended")
        except (av.error.FFmpegError, OSError, CitywatchError) as exc:
            if not self._stop.is_set():
                self._record(_describe(exc))
        except Exception as exc:  # the reader must survive anything and retry
            log.exception("camera %s: unexpected error reading %s", self.camera, self._safe_uri)
            self._record(f"unexpected: {_describe(exc)}")
        finally:
            container.close()
        return delivered

    def _record(self, what: str) -> None:
        msg = scrub_url(f"camera {self.camera}: {self._safe_uri}: {what}")
        log.warning("%s", msg)
        self._counter.error(msg)


def _describe(exc: BaseException) -> str:
    """A one-line reason; PyAV messages quote the URL, so credentials are scrubbed."""
    text = getattr(exc, "strerror", None) if isinstance(exc, av.error.FFmpegError) else None
    return scrub_url(f"{type(exc).__name__}: {text or exc}")
