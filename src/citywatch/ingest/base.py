"""The frame-source interface and the helpers every source shares.

A :class:`FrameSource` is an iterator of :class:`~citywatch.types.Frame` (RGB uint8),
already sampled to the camera's detect fps. It keeps :class:`~citywatch.types.SourceStats`
counters and must be closed (it is a context manager).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from types import TracebackType
from typing import Self

from citywatch.errors import InvalidImageError
from citywatch.log import scrub_url
from citywatch.types import Frame, SourceStats

MAX_ERRORS_KEPT = 20
"""``SourceStats.errors`` keeps only the most recent messages (a flapping camera logs forever)."""


class Sampler:
    """Decides which frames reach detection so that about ``detect_fps`` frames a second pass.

    The first frame is kept. Afterwards a frame is kept once its timestamp reaches the next
    due time; due times advance on a fixed grid of ``1/detect_fps`` from the previous due
    time, not from the kept frame's time. For files with regular timestamps this is exactly
    "kept when the timestamp advanced by >= 1/detect_fps since the last kept frame"; for
    jittery live clocks or rates that do not divide evenly (10 fps source, 3 fps target) it
    keeps the long-run rate right instead of drifting low. After a gap longer than one period
    (a stall, a reconnect) or a timestamp going backwards, the grid restarts at that frame.
    """

    _EPS = 1e-6  # pts * time_base rounding must not push a frame just past its due time

    def __init__(self, detect_fps: float) -> None:
        if not detect_fps > 0:
            raise ValueError(f"detect_fps must be > 0, got {detect_fps}")
        self.period = 1.0 / detect_fps
        self._due: float | None = None

    def reset(self) -> None:
        """Forget the grid: the next frame is kept (used after a reconnect)."""
        self._due = None

    def keep(self, timestamp: float) -> bool:
        due = self._due
        if due is None or timestamp < due - self.period - self._EPS:
            # first frame, or time went backwards (new stream, clock step): restart the grid
            self._due = timestamp + self.period
            return True
        if timestamp + self._EPS < due:
            return False
        # late by more than a period: re-anchor rather than emit a burst to "catch up"
        self._due = due + self.period if timestamp < due + self.period else timestamp + self.period
        return True


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """Raise :class:`InvalidImageError` when ``width * height`` exceeds ``max_pixels``."""
    if width * height > max_pixels:
        raise InvalidImageError(
            f"{what}: {width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{max_pixels:,} (ingest.max_pixels); refused to protect memory (decompression bomb?)"
        )


class StatsCounter:
    """Mutable, lock-protected counters behind :class:`SourceStats` snapshots.

    Live sources update them from a decoder thread while the consumer reads them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = SourceStats()

    def add(self, *, decoded: int = 0, sampled: int = 0, dropped: int = 0, reconnects: int = 0) -> None:
        with self._lock:
            s = self._stats
            self._stats = replace(
                s,
                decoded=s.decoded + decoded,
                sampled=s.sampled + sampled,
                dropped=s.dropped + dropped,
                reconnects=s.reconnects + reconnects,
            )

    def frame(self, timestamp: float) -> None:
        """Record one sampled frame with its timestamp."""
        with self._lock:
            self._stats = replace(self._stats, sampled=self._stats.sampled + 1, last_frame_time=timestamp)

    def error(self, message: str) -> None:
        with self._lock:
            errors = (*self._stats.errors, message)[-MAX_ERRORS_KEPT:]
            self._stats = replace(self._stats, errors=errors)

    def snapshot(self) -> SourceStats:
        with self._lock:
            return self._stats


class FrameSource(ABC, Iterator[Frame]):
    """An iterator of sampled RGB frames from one camera or file.

    Contract:

    * Frames are ``Frame(camera, index, timestamp, image, live)``: ``index`` is the decoded
      frame number in the source (gaps show what sampling skipped); ``timestamp`` is media
      seconds from the first frame for files and ``clock()`` (Unix time) for live sources.
    * Files end with ``StopIteration``; damage raises
      :class:`~citywatch.errors.CorruptMediaError` *after* the good frames were yielded.
    * Live sources never end on their own: they reconnect until :meth:`close`, after which
      iteration stops. Closing from another thread is allowed.
    * :attr:`stats` is a consistent snapshot; it is cheap and thread-safe.
    """

    camera: str
    uri: str

    def __init__(self, camera: str, uri: str) -> None:
        self.camera = camera
        self.uri = uri
        self._counter = StatsCounter()

    @property
    def stats(self) -> SourceStats:
        return self._counter.snapshot()

    @property
    @abstractmethod
    def live(self) -> bool:
        """True for network streams (wall-clock timestamps, reconnects, frame dropping)."""

    @abstractmethod
    def __next__(self) -> Frame: ...

    @abstractmethod
    def close(self) -> None:
        """Release the decoder (and stop the reader thread); idempotent."""

    def __iter__(self) -> Self:
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(camera={self.camera!r}, uri={scrub_url(self.uri)!r})"
