"""MotionGate regions: where a frame moved (frame pixels), and why it passed."""

from __future__ import annotations

import numpy as np

from citywatch.config import MotionConfig
from citywatch.ingest import MotionGate
from citywatch.types import Frame

H, W = 432, 768  # a factor-2 work image (384 x 216)


def frame(t: float, boxes: list[tuple[int, int]]) -> Frame:
    img = np.full((H, W, 3), 90, np.uint8)
    for x, y in boxes:
        img[y : y + 60, x : x + 30] = 230
    return Frame("cam", int(t * 10), t, img)


def test_regions_cover_what_moved_in_frame_pixels() -> None:
    gate = MotionGate(MotionConfig(keepalive_seconds=100))
    gate.moving(frame(0.0, [(100, 100), (600, 300)]))
    assert gate.last_reason == "first" and len(gate.last_regions) == 0
    assert gate.moving(frame(0.1, [(130, 100), (600, 300)]))  # only the left block moved
    assert gate.last_reason == "motion"
    assert len(gate.last_regions) == 1
    x1, y1, x2, y2 = gate.last_regions[0]
    assert x1 <= 100 and x2 >= 160 and y1 <= 100 and y2 >= 160  # old and new place, grown a little
    assert x2 < 300  # nothing near the still block
    # the background forgets the old place slowly (rate 0.1): a few still frames later, nothing moves
    still = [gate.moving(frame(0.2 + i / 10, [(130, 100), (600, 300)])) for i in range(40)]
    assert not still[-1]
    assert gate.last_reason == "still" and len(gate.last_regions) == 0


def test_two_moving_things_make_two_regions_and_keepalive_has_none() -> None:
    gate = MotionGate(MotionConfig(keepalive_seconds=5.0))
    gate.moving(frame(0.0, [(100, 100), (600, 300)]))
    gate.moving(frame(0.1, [(140, 100), (560, 300)]))
    assert len(gate.last_regions) == 2
    reasons = [
        (gate.moving(frame(0.2 + i / 10, [(140, 100), (560, 300)])), gate.last_reason, len(gate.last_regions))
        for i in range(120)
    ]
    assert (True, "keepalive", 0) in reasons  # still, but the keepalive came round


def test_disabled_gate_says_off() -> None:
    gate = MotionGate(MotionConfig(enabled=False))
    assert gate.moving(frame(0.0, []))
    assert gate.last_reason == "off"
