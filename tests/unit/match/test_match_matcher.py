from __future__ import annotations

import numpy as np
import pytest

from citywatch.config import MatchConfig
from citywatch.errors import ModelError
from citywatch.match import Matcher, resolve_threshold, shipped_calibration
from citywatch.types import Gallery


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def _gallery() -> Gallery:
    # identity 7 has two photos, identity 9 one
    return Gallery(
        identity_ids=np.asarray([7, 7, 9], np.int64),
        names=("Ann", "Ann", "Bob"),
        watchlists=("w", "w", "w"),
        embeddings=np.stack([_unit([1, 0, 0]), _unit([1, 1, 0]), _unit([0, 0, 1])]),
        model="m",
    )


def test_match_uses_best_photo_and_median_over_shots() -> None:
    m = Matcher(_gallery(), threshold=0.9)
    shots = np.stack([_unit([1, 0.05, 0]), _unit([1, 0.1, 0]), _unit([0, 1, 1])])  # 2 of 3 shots are Ann
    r = m.match_vectors(shots, "m")
    assert r.matched and r.identity_name == "Ann" and r.identity_id == 7
    assert r.score >= 0.9


def test_one_lucky_frame_is_not_a_match() -> None:
    m = Matcher(_gallery(), threshold=0.9)
    shots = np.stack([_unit([1, 0, 0]), _unit([0, 1, 0.2]), _unit([0.1, 1, -0.3])])
    r = m.match_vectors(shots, "m")
    assert not r.matched and r.identity_id is None
    assert r.candidate_id == 7  # the closest candidate is still reported
    assert r.score < 0.9


def test_empty_gallery_and_model_mismatch() -> None:
    empty = Matcher(Gallery.empty("m", 3), threshold=0.5)
    r = empty.match_vectors(np.stack([_unit([1, 0, 0])]), "m")
    assert not r.matched and r.score == -1.0
    with pytest.raises(ModelError, match="gallery holds"):
        Matcher(_gallery(), 0.5).match_vectors(np.stack([_unit([1, 0, 0])]), "other")


def test_threshold_comes_from_calibration_or_config() -> None:
    cal = shipped_calibration("dlib_resnet_v1")
    assert resolve_threshold(MatchConfig(), "dlib_resnet_v1") == cal.threshold_for(1e-3)
    assert resolve_threshold(MatchConfig(threshold=0.95), "dlib_resnet_v1") == 0.95
    with pytest.raises(ModelError, match="calibrate"):
        resolve_threshold(MatchConfig(target_far=0.05), "dlib_resnet_v1")
    with pytest.raises(ModelError, match="no shipped calibration"):
        resolve_threshold(MatchConfig(), "unknown_model")
