"""Plumbing of the detect stage: input checks, NMS, helpers, anchors, registry (no real faces)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from citywatch.config import BlazeFaceConfig, Config, DlibCnnConfig, DlibHogConfig
from citywatch.detect import FaceDetector, ImageFormatError, build_detector, check_image, nearest_centre, nms
from citywatch.detect.base import estimate_mouth_corners, order_eyes
from citywatch.detect.blazeface import BlazeFaceDetector, ssd_anchor_centres, tile_origins
from citywatch.detect.dlib_detectors import DlibCnnDetector, DlibHogDetector, score_to_confidence
from citywatch.errors import CitywatchError
from citywatch.types import FaceDetections


def dets(boxes: list[list[float]], scores: list[float]) -> FaceDetections:
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    kps = np.repeat(((xyxy[:, :2] + xyxy[:, 2:]) / 2)[:, None, :], 5, axis=1)
    return FaceDetections(xyxy, np.asarray(scores, np.float32), kps.astype(np.float32))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
        [[1, 2, 3]],
    ],
)
def test_check_image_refuses_bad_input(bad: object) -> None:
    with pytest.raises(ImageFormatError) as info:
        check_image(bad)
    assert isinstance(info.value, ValueError) and isinstance(info.value, CitywatchError)
    assert "uint8 (H, W, 3)" in str(info.value)


def test_check_image_names_the_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(7, 9, 4\)"):
        check_image(np.zeros((7, 9, 4), np.uint8))


def test_nms_merges_overlaps_and_keeps_top_score() -> None:
    d = dets([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.9, 0.6, 0.7])
    plain = nms(d, 0.3, weighted=False)
    assert len(plain) == 2
    np.testing.assert_allclose(plain.xyxy[0], [0, 0, 10, 10])
    np.testing.assert_allclose(plain.confidence, [0.9, 0.7])
    blended = nms(d, 0.3, weighted=True)
    assert len(blended) == 2
    np.testing.assert_allclose(blended.xyxy[0], [0.4, 0.4, 10.4, 10.4], atol=1e-5)  # 0.9/1.5 and 0.6/1.5
    np.testing.assert_allclose(blended.confidence[0], 0.9)


def test_nms_empty_and_single() -> None:
    assert len(nms(FaceDetections.empty(), 0.3)) == 0
    assert len(nms(dets([[0, 0, 1, 1]], [0.5]), 0.3)) == 1


def test_nearest_centre_picks_the_middle_face() -> None:
    d = dets([[0, 0, 10, 10], [45, 45, 55, 55], [90, 0, 100, 10]], [0.99, 0.6, 0.9])
    one = nearest_centre(d, (100, 100, 3))
    assert len(one) == 1
    np.testing.assert_allclose(one.xyxy[0], [45, 45, 55, 55])
    assert len(nearest_centre(FaceDetections.empty(), (100, 100, 3))) == 0


def test_eye_order_and_mouth_corners() -> None:
    a = np.array([[30.0, 10.0], [10.0, 10.0]], np.float32)
    b = np.array([[10.0, 10.0], [30.0, 10.0]], np.float32)
    left, right = order_eyes(a, b)
    assert (left[:, 0] < right[:, 0]).all()
    ml, mr = estimate_mouth_corners(left, right, np.array([[20.0, 30.0], [20.0, 30.0]], np.float32))
    assert (ml[:, 0] < 20).all() and (mr[:, 0] > 20).all()
    np.testing.assert_allclose(mr[:, 0] - ml[:, 0], 20 * 0.828, atol=1e-4)


def test_anchor_counts_match_mediapipe() -> None:
    full = ssd_anchor_centres(192, (4,), 1)
    short = ssd_anchor_centres(128, (8, 16, 16, 16), 2)
    assert full.shape == (2304, 2) and short.shape == (896, 2)
    np.testing.assert_allclose(full[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(short[:2], [[1 / 32, 1 / 32]] * 2)  # two anchors per cell, 16x16 map
    np.testing.assert_allclose(short[512], [1 / 16, 1 / 16])  # then the 8x8 map, six per cell
    assert ((full > 0) & (full < 1)).all()


def test_tile_origins_cover_the_frame_with_overlap() -> None:
    assert tile_origins(432, 432, 108) == [0]
    xs = tile_origins(768, 432, 108)
    assert xs[0] == 0 and xs[-1] == 768 - 432
    assert all(b - a <= 432 - 108 for a, b in itertools.pairwise(xs))


def test_dlib_scores_map_threshold_to_half() -> None:
    conf = score_to_confidence(np.array([-5.0, 0.0, 1.5, 100.0], np.float32))
    assert conf[1] == pytest.approx(0.5)
    assert 0 <= conf[0] < 0.01 and 0.9 < conf[2] < 1 and conf[3] <= 1.0


def test_build_detector_maps_config_types_without_loading() -> None:
    assert isinstance(build_detector(BlazeFaceConfig()), BlazeFaceDetector)
    assert isinstance(build_detector(DlibHogConfig()), DlibHogDetector)
    assert isinstance(build_detector(DlibCnnConfig()), DlibCnnDetector)
    det = build_detector(Config().detector)
    assert isinstance(det, FaceDetector) and det.name == "blazeface" and not det.loaded
