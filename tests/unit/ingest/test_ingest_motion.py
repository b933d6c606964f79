"""MotionGate: still frames skipped, motion and keepalive pass."""

from __future__ import annotations

import numpy as np

from citywatch.config import MotionConfig
from citywatch.ingest import MotionGate
from citywatch.types import Frame

H, W = 360, 640


def frame(t: float, box_x: int | None = None, *, noise: int = 0, seed: int = 0) -> Frame:
    img = np.full((H, W, 3), 90, np.uint8)
    if noise:
        rng = np.random.default_rng(seed)
        img = (img.astype(np.int16) + rng.integers(-noise, noise + 1, img.shape)).astype(np.uint8)
    if box_x is not None:
        img[150:230, box_x : box_x + 40] = 230
    return Frame("cam", int(t * 10), t, img)


def test_static_frames_are_skipped_moving_ones_pass() -> None:
    gate = MotionGate(MotionConfig(keepalive_seconds=100))
    assert gate.moving(frame(0.0, 100))  # first frame always
    assert not gate.moving(frame(0.1, 100))
    assert not gate.moving(frame(0.2, 100, noise=3, seed=1))  # codec-like noise is not motion
    assert gate.moving(frame(0.3, 140))  # the box moved
    assert gate.last_score > MotionConfig().min_area
    assert (gate.passed, gate.skipped) == (2, 2)


def test_keepalive_lets_a_still_frame_through() -> None:
    gate = MotionGate(MotionConfig(keepalive_seconds=2.0))
    decisions = [gate.moving(frame(i / 10, 100)) for i in range(45)]
    assert [i for i, d in enumerate(decisions) if d] == [0, 20, 40]
    assert gate.skipped == 42


def test_keepalive_zero_disables_it() -> None:
    gate = MotionGate(MotionConfig(keepalive_seconds=0))
    assert sum(gate.moving(frame(i, 100)) for i in range(10)) == 1


def test_disabled_gate_passes_everything() -> None:
    gate = MotionGate(MotionConfig(enabled=False))
    assert all(gate.moving(frame(i / 10, 100)) for i in range(5)) and gate.skipped == 0


def test_small_change_below_min_area_is_ignored() -> None:
    gate = MotionGate(MotionConfig(min_area=0.05, keepalive_seconds=100))
    gate.moving(frame(0.0, 100))
    assert not gate.moving(frame(0.1, 104))  # 4 px shift changes well under 5 % of the frame


def test_new_size_or_time_going_back_passes_and_resets() -> None:
    gate = MotionGate(MotionConfig(keepalive_seconds=100))
    gate.moving(frame(5.0, 100))
    assert not gate.moving(frame(5.1, 100))
    assert gate.moving(frame(0.0, 100))  # a new stream started
    small = Frame("cam", 0, 0.1, np.zeros((120, 160, 3), np.uint8))
    assert gate.moving(small)
    gate.reset()
    assert gate.moving(small)
