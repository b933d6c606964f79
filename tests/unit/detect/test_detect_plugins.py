"""Each detector plugin on real photos from the shared data set ($CITYWATCH_DATA)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from citywatch.config import BlazeFaceConfig, DlibCnnConfig, DlibHogConfig
from citywatch.detect import FaceDetector, ImageFormatError, build_detector
from citywatch.types import FaceDetections, ImageArray

REPO = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("CITYWATCH_DATA") or REPO.parent / "shared" / "data")
EXAMPLES = DATA / "face_recognition" / "examples"


def photo(name: str) -> ImageArray:
    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"shared data set not found ({path}); set CITYWATCH_DATA to the data folder")
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def assert_well_formed(found: FaceDetections, image: ImageArray) -> None:
    h, w = image.shape[:2]
    assert found.xyxy.dtype == np.float32 and found.kps.dtype == np.float32
    assert ((found.confidence >= 0) & (found.confidence <= 1)).all()
    assert (found.xyxy[:, 0] >= 0).all() and (found.xyxy[:, 2] <= w).all()
    assert (found.xyxy[:, 1] >= 0).all() and (found.xyxy[:, 3] <= h).all()
    for box, kps in zip(found.xyxy, found.kps, strict=True):
        x1, y1, x2, y2 = box
        pad = 0.1 * (x2 - x1)  # estimated mouth corners may graze the box edge
        assert ((kps[:, 0] >= x1 - pad) & (kps[:, 0] <= x2 + pad)).all(), (box, kps)
        assert ((kps[:, 1] >= y1 - pad) & (kps[:, 1] <= y2 + pad)).all(), (box, kps)
        eye_l, eye_r, nose, mouth_l, mouth_r = kps
        assert eye_l[0] < nose[0] < eye_r[0]
        assert mouth_l[0] < mouth_r[0]
        assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


FAST = {
    "blazeface_full": BlazeFaceConfig(),
    "blazeface_full_untiled": BlazeFaceConfig(tile=False),
    "blazeface_short": BlazeFaceConfig(variant="short_range", tile=False),
    "dlib_hog": DlibHogConfig(),
}


@pytest.fixture(scope="module", params=list(FAST), ids=list(FAST))
def detector(request: pytest.FixtureRequest) -> Iterator[FaceDetector]:
    det = build_detector(FAST[request.param])
    det.load()
    yield det
    det.close()


@pytest.fixture(scope="module")
def cnn() -> Iterator[FaceDetector]:
    det = build_detector(DlibCnnConfig())
    yield det
    det.close()


@pytest.mark.data
@pytest.mark.parametrize("name", ["obama.jpg", "obama-480p.jpg", "biden.jpg"])
def test_one_face(detector: FaceDetector, name: str) -> None:
    image = photo(name)
    found = detector.detect(image)
    assert len(found) == 1, found
    assert_well_formed(found, image)
    assert found.confidence[0] > 0.5


@pytest.mark.data
def test_two_people(detector: FaceDetector) -> None:
    image = photo("two_people.jpg")
    found = detector.detect(image)
    assert len(found) == 2, found
    assert_well_formed(found, image)
    left, right = sorted(found.xyxy[:, 0])
    assert right - left > image.shape[1] / 4  # two distinct people, not one face twice


def test_blank_image_has_no_face(detector: FaceDetector) -> None:
    for value in (0, 128, 255):
        assert len(detector.detect(np.full((240, 320, 3), value, np.uint8))) == 0


def test_bad_input_raises(detector: FaceDetector) -> None:
    with pytest.raises(ImageFormatError, match="uint8"):
        detector.detect(np.zeros((240, 320), np.uint8))
    with pytest.raises(ValueError, match=r"\(240, 320, 3\)"):
        detector.detect(np.zeros((240, 320, 3), np.float64))  # type: ignore[arg-type]


def test_lifecycle_is_idempotent() -> None:
    det = build_detector(BlazeFaceConfig(tile=False))
    assert not det.loaded
    det.load()
    det.load()
    assert det.loaded
    det.close()
    det.close()
    assert not det.loaded
    assert len(det.detect(np.zeros((64, 64, 3), np.uint8))) == 0  # detect loads on demand
    with det:
        assert det.loaded
    assert not det.loaded


@pytest.mark.data
def test_tiling_finds_small_faces_in_a_wide_frame() -> None:
    people = photo("two_people.jpg")
    small = cv2.resize(people, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)  # faces ~45 px
    frame = np.full((720, 1280, 3), 128, np.uint8)
    frame[300 : 300 + small.shape[0], 400 : 400 + small.shape[1]] = small
    tiled = build_detector(BlazeFaceConfig(tile=True)).detect(frame)
    assert len(tiled) == 2
    assert_well_formed(tiled, frame)
    assert ((tiled.xyxy[:, 0] > 400) & (tiled.xyxy[:, 1] > 300)).all()
    assert len(build_detector(BlazeFaceConfig(tile=False)).detect(frame)) == 0


@pytest.mark.data
def test_tiling_keeps_a_face_bigger_than_a_tile_overlap() -> None:
    image = photo("obama-720p.jpg")  # 1280x720: face straddles the two 720 px tiles
    found = build_detector(BlazeFaceConfig(tile=True)).detect(image)
    assert len(found) == 1
    assert_well_formed(found, image)


@pytest.mark.slow
@pytest.mark.data
def test_dlib_cnn_one_small_image(cnn: FaceDetector) -> None:
    image = photo("obama_small.jpg")  # 320x240 keeps the CNN near a second
    found = cnn.detect(image)
    assert len(found) == 1
    assert_well_formed(found, image)
    assert found.confidence[0] > 0.5
    assert len(cnn.detect(np.zeros((120, 160, 3), np.uint8))) == 0
