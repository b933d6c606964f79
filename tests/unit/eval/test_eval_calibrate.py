"""Thresholds at a false-accept rate, impostor pair generation, the calibration record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.eval.calibrate import (
    Calibration,
    calibrate,
    genuine_pairs_from_folders,
    impostor_pairs_from_folders,
    sample_impostor_pairs,
    threshold_at_far,
)


def test_threshold_is_the_k_plus_first_highest_impostor() -> None:
    scores = np.arange(1000) / 1000.0  # 0.000 .. 0.999
    t = threshold_at_far(scores, 1e-3)
    assert t == pytest.approx(0.998)  # one false accept allowed
    assert np.mean(scores > t) <= 1e-3
    assert threshold_at_far(np.arange(10.0), 0.1) == 8.0
    assert threshold_at_far([0.5, 0.5, 0.5, 0.1] * 3, 0.25) == 0.5  # ties: nobody accepted
    assert threshold_at_far([-np.inf] * 9 + [0.3], 0.1) == -np.inf  # failed encodings count


def test_threshold_refuses_too_few_impostors() -> None:
    with pytest.raises(ValueError, match=r"cannot resolve FAR=0\.001.*allow_coarse"):
        threshold_at_far(np.arange(999.0), 1e-3)
    assert threshold_at_far(np.arange(999.0), 1e-3, allow_coarse=True) == 998.0
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="far"):
            threshold_at_far([0.1], bad)
    with pytest.raises(ValueError, match="at least one"):
        threshold_at_far([], 0.1)
    with pytest.raises(ValueError, match="NaN"):
        threshold_at_far([0.1, float("nan")], 0.5)


def test_calibration_round_trip(tmp_path: Path) -> None:
    cal = calibrate(
        [0.9, 0.8, 0.2], np.arange(100) / 100.0, far=0.01, model="fake_v1", dataset="synthetic, 100 impostors"
    )
    assert cal.threshold == pytest.approx(0.98) and cal.tar == pytest.approx(0.0)
    assert (cal.n_genuine, cal.n_impostor, cal.coarse) == (3, 100, False)
    path = cal.save(tmp_path / "sub" / "fake_v1.json")
    assert Calibration.load(path) == cal
    with pytest.raises(ValueError, match="allow_coarse"):
        calibrate([0.9], [0.1] * 10, far=0.01, model="m", dataset="d")
    coarse = calibrate([0.9], [0.1] * 10, far=0.01, model="m", dataset="d", allow_coarse=True)
    assert coarse.coarse and coarse.tar == 1.0


def make_tree(root: Path, sizes: dict[str, int]) -> None:
    for name, n in sizes.items():
        (root / name).mkdir(parents=True)
        for k in range(n):
            (root / name / f"{k}.jpg").write_bytes(b"")
    (root / "pairs.txt").write_text("")


def test_impostor_pairs_all_and_sampled(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a": 2, "b": 3, "c": 1, "d": 0})
    every = impostor_pairs_from_folders(tmp_path)
    assert len(every) == 2 * 3 + 2 * 1 + 3 * 1
    assert len(set(every)) == len(every)
    assert all(p.parent != q.parent for p, q in every)
    assert genuine_pairs_from_folders(tmp_path) == [
        (tmp_path / "a/0.jpg", tmp_path / "a/1.jpg"),
        (tmp_path / "b/0.jpg", tmp_path / "b/1.jpg"),
        (tmp_path / "b/0.jpg", tmp_path / "b/2.jpg"),
        (tmp_path / "b/1.jpg", tmp_path / "b/2.jpg"),
    ]
    some = impostor_pairs_from_folders(tmp_path, max_pairs=5, seed=3)
    assert len(some) == 5 and set(some) <= set(every)
    assert some == impostor_pairs_from_folders(tmp_path, max_pairs=5, seed=3)


def test_sampling_huge_groups_is_cheap_and_cross_group() -> None:
    groups = {f"g{i}": [(i, k) for k in range(1000)] for i in range(1000)}  # ~5e11 pairs
    pairs = sample_impostor_pairs(groups, max_pairs=2000, seed=0)
    assert len(set(pairs)) == 2000
    assert all(a[0] < b[0] for a, b in pairs)
