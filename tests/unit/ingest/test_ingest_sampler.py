"""Sampler: which timestamps reach detection."""

from __future__ import annotations

import numpy as np
import pytest

from citywatch.ingest import Sampler


def kept(fps_in: float, fps_out: float, seconds: float = 3.0) -> list[int]:
    s = Sampler(fps_out)
    return [i for i in range(int(seconds * fps_in)) if s.keep(i / fps_in)]


def test_every_fifth_frame_at_a_fifth_of_the_rate() -> None:
    assert kept(10, 2) == [0, 5, 10, 15, 20, 25]


def test_faster_target_keeps_everything() -> None:
    assert kept(10, 10) == list(range(30))
    assert kept(10, 30) == list(range(30))


def test_uneven_ratio_keeps_the_long_run_rate() -> None:
    assert len(kept(30, 7, seconds=10)) == 70
    assert len(kept(10, 3, seconds=10)) == 30


def test_jittery_live_clock_does_not_drift_low() -> None:
    rng = np.random.default_rng(0)
    stamps = 1_700_000_000 + np.arange(250) / 25 + rng.uniform(-0.01, 0.01, 250)  # 10 s at 25 fps
    s = Sampler(5)
    assert 48 <= sum(s.keep(float(t)) for t in stamps) <= 51


def test_gap_and_backwards_time_restart_the_grid() -> None:
    s = Sampler(2)
    assert s.keep(0.0) and not s.keep(0.1) and s.keep(0.5)
    assert s.keep(10.0)  # after a stall: kept at once, no burst of catch-up frames
    assert not s.keep(10.2) and s.keep(10.5)
    assert s.keep(0.0)  # time went backwards (new stream)
    s.reset()
    assert s.keep(0.1)


def test_rejects_non_positive_fps() -> None:
    with pytest.raises(ValueError, match="detect_fps"):
        Sampler(0)
