"""A cheap motion gate: skip face detection on frames where nothing moved, and say where something did.

Each frame is reduced to a small blurred grey image (a fraction of a millisecond even for
1080p: grey first, then an integer-factor area resize, OpenCV's fast path) and compared
with a running-average background. The background adapts slowly, so
lighting drift and compression noise do not count as motion, while a person walking by
does. Still people are not missed thanks to the keepalive: a frame passes at least every
``keepalive_seconds`` regardless.

Where a frame passes because of motion, :attr:`MotionGate.last_regions` holds the boxes of
the moving areas (frame pixels), so that a detector can look closely there only
(``FaceDetector.detect_focus``); :attr:`MotionGate.last_reason` says why it passed.
"""

from __future__ import annotations

import logging
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.config import MotionConfig
from citywatch.types import FloatArray, Frame

log = logging.getLogger(__name__)

WORK_WIDTH = 320
"""Frames are downscaled by the integer factor nearest to reach about this width: a 1080p
face of ~40 px stays ~7 px, still visible."""
BACKGROUND_RATE = 0.1
"""Weight of each new frame in the running background (higher adapts faster)."""
REGION_GROW = 2
"""Dilations (3x3) of the changed-pixel mask before finding regions: joins a walker's head,
arms and legs into one region."""
REGION_MIN_PIXELS = 6
"""Changed areas smaller than this (work pixels) are noise, not regions."""

Reason = Literal["first", "motion", "keepalive", "still", "off"]


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
        self.last_reason: Reason = "first"
        """Why the last frame passed or not: ``first`` (new background), ``motion``,
        ``keepalive``, ``still`` (said no), ``off`` (gate disabled)."""
        self.last_regions: FloatArray = np.zeros((0, 4), np.float32)
        """Boxes ``xyxy`` (frame pixels) of the moving areas when ``last_reason`` is ``motion``."""
        self._factor = 1
        self._background: npt.NDArray[np.float32] | None = None
        self._shape: tuple[int, ...] | None = None
        self._last_pass: float | None = None

    def reset(self) -> None:
        """Forget the background (e.g. after a reconnect): the next frame passes."""
        self._background = None
        self._shape = None
        self._last_pass = None

    def moving(self, frame: Frame) -> bool:
        self.last_regions = np.zeros((0, 4), np.float32)
        if not self.cfg.enabled:
            self.passed += 1
            self.last_reason = "off"
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
            self.last_reason = "first"
            return True
        changed = np.abs(small - bg) > self.cfg.pixel_threshold
        self.last_score = float(np.count_nonzero(changed)) / changed.size
        cv2.accumulateWeighted(small, bg, BACKGROUND_RATE)
        if self.last_score > self.cfg.min_area:
            self.last_reason = "motion"
            self.last_regions = self._regions(changed)
            return True
        keepalive = self.cfg.keepalive_seconds
        due = keepalive > 0 and self._last_pass is not None and ts - self._last_pass >= keepalive
        self.last_reason = "keepalive" if due else "still"
        return due

    def _regions(self, changed: npt.NDArray[np.bool_]) -> FloatArray:
        """Bounding boxes of the changed areas, in frame pixels."""
        mask = cv2.dilate(changed.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=REGION_GROW)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        keep = stats[1:, cv2.CC_STAT_AREA] >= REGION_MIN_PIXELS + 8 * REGION_GROW
        st = stats[1:][keep].astype(np.float32)
        if n <= 1 or len(st) == 0:
            return np.zeros((0, 4), np.float32)
        x, y = st[:, cv2.CC_STAT_LEFT], st[:, cv2.CC_STAT_TOP]
        boxes = np.stack([x, y, x + st[:, cv2.CC_STAT_WIDTH], y + st[:, cv2.CC_STAT_HEIGHT]], axis=1)
        out: FloatArray = (boxes * self._factor).astype(np.float32)
        return out

    def _small_grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        h, w = grey.shape[:2]
        f = max(1, round(w / WORK_WIDTH))
        self._factor = f
        if f > 1:
            # crop to a multiple of the factor: an integer-factor INTER_AREA is OpenCV's fast path
            grey = grey[: h - h % f, : w - w % f]
            size = (grey.shape[1] // f, grey.shape[0] // f)
            grey = np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        # blur: a single-pixel codec flicker must not count as motion
        return cv2.GaussianBlur(grey, (5, 5), 0).astype(np.float32)
