"""A cheap motion gate: skip face detection on frames where nothing moved.

Each frame is reduced to a small blurred grey image (about a millisecond even for 1080p)
and compared with a running-average background. The background adapts slowly, so
lighting drift and compression noise do not count as motion, while a person walking by
does. Still people are not missed thanks to the keepalive: a frame passes at least every
``keepalive_seconds`` regardless.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.config import MotionConfig
from citywatch.types import Frame

log = logging.getLogger(__name__)

WORK_WIDTH = 320
"""Frames are downscaled to this width: a 1080p face of ~40 px stays ~7 px, still visible."""
BACKGROUND_RATE = 0.1
"""Weight of each new frame in the running background (higher adapts faster)."""


class MotionGate:
    """``moving(frame)`` says whether a frame is worth running detection on.

    Returns True when the share of pixels whose grey level differs from the background by
    more than ``cfg.pixel_threshold`` exceeds ``cfg.min_area``; and always for the first
    frame, after the frame size changes, when time goes backwards (a new stream), and when
    ``cfg.keepalive_seconds`` of frame time (media or wall clock, from ``Frame.timestamp``)
    passed since the last frame that passed. ``keepalive_seconds == 0`` disables the
    keepalive (a gate that passed every frame would be ``enabled: false``). With
    ``cfg.enabled`` false every frame passes.

    One gate per camera and not thread-safe. :attr:`skipped` counts frames it said no to
    (the pipeline copies it into ``SourceStats.motion_skipped``).
    """

    def __init__(self, cfg: MotionConfig) -> None:
        self.cfg = cfg
        self.skipped = 0
        self.passed = 0
        self.last_score = 0.0
        """Changed-pixel share of the last frame examined (for tuning ``min_area``)."""
        self._background: npt.NDArray[np.float32] | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_pass: float | None = None

    def reset(self) -> None:
        """Forget the background (e.g. after a reconnect): the next frame passes."""
        self._background = None
        self._shape = None
        self._last_pass = None

    def moving(self, frame: Frame) -> bool:
        if not self.cfg.enabled:
            self.passed += 1
            return True
        small = self._small_grey(frame.image)
        decision = self._decide(small, frame.timestamp)
        if decision:
            self.passed += 1
            self._last_pass = frame.timestamp
        else:
            self.skipped += 1
        return decision

    def _decide(self, small: npt.NDArray[np.float32], ts: float) -> bool:
        bg = self._background
        if bg is None or self._shape != small.shape or (self._last_pass is not None and ts < self._last_pass):
            self._background = small.copy()
            self._shape = small.shape
            self.last_score = 1.0
            return True
        diff = np.abs(small - bg)
        self.last_score = float(np.count_nonzero(diff > self.cfg.pixel_threshold)) / diff.size
        cv2.accumulateWeighted(small, bg, BACKGROUND_RATE)
        if self.last_score > self.cfg.min_area:
            return True
        keepalive = self.cfg.keepalive_seconds
        return keepalive > 0 and self._last_pass is not None and ts - self._last_pass >= keepalive

    @staticmethod
    def _small_grey(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        h, w = image.shape[:2]
        if w > WORK_WIDTH:
            size = (WORK_WIDTH, max(1, round(h * WORK_WIDTH / w)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        # blur: a single-pixel codec flicker must not count as motion
        return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
