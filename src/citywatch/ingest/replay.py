"""A local video file played as a live camera: real-time pacing, wall-clock stamps, looping.

``replay:PATH`` (or ``replay:///abs/path``; ``?pause=S`` waits S seconds
between passes) in a camera's ``source`` turns a recording into a simulated
live camera, for demos and drills: frames are released at the pace of the
file's own timestamps, stamped with the wall clock, and the file starts again
when it ends. Like a camera, it does not wait for a slow consumer: a frame
already more than one frame period late is dropped and counted. Downstream it is a live
source in every respect (live authorisations apply, the fleet shows its
health), so nothing here may be used to pass a recording off as evidence of
live capture: the run's source keeps the ``replay:`` prefix.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from citywatch.config import IngestConfig
from citywatch.errors import CorruptMediaError, SourceError
from citywatch.ingest.base import FrameSource
from citywatch.ingest.files import VideoFileSource
from citywatch.types import Frame

log = logging.getLogger(__name__)

SCHEME = "replay"


class ReplaySource(FrameSource):
    """Loop ``path`` forever at real-time pace (see the module docstring); ends only on :meth:`close`.

    Raises :class:`SourceError` at construction when the file cannot be opened,
    and from iteration when a whole pass of the file yields no frame (a file
    damaged from its first frame would otherwise spin). Damage later in the
    file ends that pass early; the next pass starts from the beginning.
    """

    def __init__(
        self,
        camera: str,
        path: Path,
        *,
        detect_fps: float,
        cfg: IngestConfig,
        clock: Callable[[], float] = time.time,
        pause: float = 0.0,
    ) -> None:
        if pause < 0:
            raise SourceError(f"camera {camera}: replay pause must not be negative (got {pause})")
        super().__init__(camera, f"{SCHEME}:{path}")
        self._pause = pause
        self._late = 1.0 / detect_fps
        self._path = path
        self._detect_fps = detect_fps
        self._cfg = cfg
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held while decoding, so close() never frees a decoder in use
        self._file: VideoFileSource | None = self._open()
        self._t0 = clock()
        self._index = 0
        self._in_pass = 0
        self.loops = 0

    def _open(self) -> VideoFileSource:
        return VideoFileSource(
            self.camera, self._path, detect_fps=self._detect_fps, cfg=self._cfg, uri=self.uri
        )

    @property
    def live(self) -> bool:
        return True

    def _restart(self) -> None:
        if self._in_pass == 0:
            raise SourceError(f"camera {self.camera}: {self.uri}: a whole pass of the file gave no frame")
        if self._file is not None:
            self._file.close()
        self._file = self._open()
        self._t0, self._in_pass = self._clock() + self._pause, 0
        self.loops += 1

    def __next__(self) -> Frame:
        with self._lock:
            while not self._stop.is_set() and self._file is not None:
                try:
                    f = next(self._file)
                except StopIteration:
                    self._restart()
                    continue
                except CorruptMediaError as exc:
                    log.warning("camera %s: replay pass ended early: %s", self.camera, exc)
                    self._counter.error(str(exc))
                    self._restart()
                    continue
                self._in_pass += 1
                wait = self._t0 + f.timestamp - self._clock()
                if wait < -self._late:  # the consumer is behind: a live camera would not wait
                    self._counter.add(dropped=1)
                    continue
                if wait > 0 and self._stop.wait(wait):
                    break
                self._index += 1
                ts = self._clock()
                self._counter.add(decoded=1)
                self._counter.frame(ts)
                return Frame(camera=self.camera, index=self._index, timestamp=ts, image=f.image, live=True)
            self._close_file()
        raise StopIteration

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        """Stop (from any thread): a waiting ``__next__`` wakes at once and ends the iteration."""
        self._stop.set()
        with self._lock:
            self._close_file()


__all__ = ["SCHEME", "ReplaySource"]
