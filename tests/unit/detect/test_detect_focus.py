"""BlazeFace's focused look: the usual tiles, only those that overlap where something moved or is tracked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from citywatch.config import BlazeFaceConfig
from citywatch.demo import astronaut
from citywatch.detect.blazeface import BlazeFaceDetector


@pytest.fixture(scope="module")
def det() -> BlazeFaceDetector:
    d = BlazeFaceDetector(BlazeFaceConfig())
    d.load()
    return d


def scene() -> np.ndarray:
    """A 768x432 frame with a ~60 px face near its right edge."""
    frame = np.full((432, 768, 3), 40, np.uint8)
    head = np.ascontiguousarray(
        cv2.resize(astronaut()[0:300, 100:380], (112, 120), interpolation=cv2.INTER_AREA)
    )
    frame[150:270, 620:732] = head
    return frame


def test_only_tiles_overlapping_the_focus_run(det: BlazeFaceDetector) -> None:
    full = det._regions(432, 768)
    assert len(full) == 4  # whole frame + 3 tiles of 432 px
    right = det._focus_regions(432, 768, np.array([[650, 150, 700, 200]], np.float32))
    assert right == [full[0], full[3]]  # the whole-frame pass and the right-hand tile
    everywhere = det._focus_regions(432, 768, np.array([[0, 0, 768, 432]], np.float32))
    assert everywhere == full


def test_focus_finds_what_the_full_pass_finds_there(det: BlazeFaceDetector) -> None:
    frame = scene()
    full = det.detect(frame)
    assert len(full) == 1
    focused = det.detect_focus(frame, np.array([[600, 140, 750, 290]], np.float32))
    np.testing.assert_allclose(focused.xyxy, full.xyxy, atol=1.0)
    assert len(det.detect_focus(frame, np.zeros((0, 4), np.float32))) == 0  # nowhere to look


def test_untiled_detector_falls_back_to_a_full_pass() -> None:
    d = BlazeFaceDetector(BlazeFaceConfig(tile=False))
    assert d._focus_regions(432, 768, np.array([[0, 0, 10, 10]], np.float32)) is None
    frame = scene()
    np.testing.assert_allclose(
        d.detect_focus(frame, np.array([[0, 0, 10, 10]], np.float32)).xyxy, d.detect(frame).xyxy
    )
