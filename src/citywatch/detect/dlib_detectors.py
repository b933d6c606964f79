"""dlib face detectors: HOG + linear SVM, and the MMOD CNN.

Both use dlib's 5-point shape predictor for landmarks. Its points are: 0, 1 =
corners of the eye on the image's right; 2, 3 = corners of the eye on the
image's left; 4 = the base of the nose (subnasale, a little below the tip).
Eye centres are the mean of their two corners; the nose is point 4 as is; the
mouth is not predicted, so its centre is **estimated** along the line from
the eyes' midpoint through point 4, and its corners from the eye axis.

Scores: both detectors give an unbounded margin whose decision threshold is 0
(HOG's SVM score, MMOD's detection score). We map it with a logistic,
``confidence = 1 / (1 + exp(-2 * score))``: the detector's own threshold lands
on 0.5, which lines up with BlazeFace's and the tracker's 0.5, and clear faces
(score >= ~1.2 for HOG, ~1.0 for MMOD) land above 0.9. ``min_confidence`` in
the config stays in dlib's raw score units.

Boxes: dlib rectangles are inclusive; we return ``right + 1`` and
``bottom + 1``. dlib boxes are squares from the eyebrows to the chin, a bit
larger than BlazeFace's, and may reach past the image border (clipped here).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from citywatch.config import DlibCnnConfig, DlibHogConfig
from citywatch.detect.base import FaceDetector, estimate_mouth_corners
from citywatch.errors import ModelError
from citywatch.types import FaceDetections, FloatArray, ImageArray

log = logging.getLogger(__name__)

# Eye-midpoint -> mouth-centre distance as a multiple of eye-midpoint -> dlib point 4,
# fitted against BlazeFace's mouth centre on 69 shared photos (median 1.46, IQR 1.42-1.50).
MOUTH_FROM_NOSE_BASE = 1.45
SCORE_GAIN = 2.0


def score_to_confidence(scores: FloatArray) -> FloatArray:
    """Map dlib's unbounded margins (threshold 0) into ``[0, 1]`` (threshold -> 0.5)."""
    conf: FloatArray = (1.0 / (1.0 + np.exp(-SCORE_GAIN * np.clip(scores, -20.0, 20.0)))).astype(np.float32)
    return conf


class _DlibDetector(FaceDetector):
    """Shared part: shape predictor, landmarks, box conversion."""

    def __init__(self) -> None:
        super().__init__()
        self._predictor: Any = None

    def _load_predictor(self) -> None:
        import dlib
        import face_recognition_models

        path = face_recognition_models.pose_predictor_five_point_model_location()
        try:
            self._predictor = dlib.shape_predictor(path)
        except RuntimeError as exc:
            raise ModelError(f"cannot load dlib 5-point shape predictor {path}: {exc}") from exc

    def _close(self) -> None:
        self._predictor = None

    def _landmarks(self, image: ImageArray, rects: list[Any]) -> FloatArray:
        """Five points in our order for each dlib rectangle."""
        pts = np.array(
            [[(p.x, p.y) for p in self._predictor(image, r).parts()] for r in rects], dtype=np.float32
        ).reshape(-1, 5, 2)
        eye_right = pts[:, 0:2].mean(axis=1)
        eye_left = pts[:, 2:4].mean(axis=1)
        nose = pts[:, 4]
        eye_mid = (eye_left + eye_right) / 2.0
        mouth = eye_mid + MOUTH_FROM_NOSE_BASE * (nose - eye_mid)
        mouth_l, mouth_r = estimate_mouth_corners(eye_left, eye_right, mouth)
        return np.stack([eye_left, eye_right, nose, mouth_l, mouth_r], axis=1).astype(np.float32)

    def _result(self, image: ImageArray, rects: list[Any], scores: list[float]) -> FaceDetections:
        if not rects:
            return FaceDetections.empty()
        h, w = image.shape[:2]
        xyxy = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], dtype=np.float32)
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        conf = score_to_confidence(np.asarray(scores, dtype=np.float32))
        return FaceDetections(xyxy, conf, self._landmarks(image, rects))


class DlibHogDetector(_DlibDetector):
    """dlib's frontal HOG detector: fast on CPU, misses faces under ~80 px (upsample helps)."""

    name: ClassVar[str] = "dlib_hog"

    def __init__(self, cfg: DlibHogConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DlibHogConfig()
        self._detector: Any = None

    def _load(self) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._load_predictor()

    def _close(self) -> None:
        self._detector = None
        super()._close()

    def _detect(self, image: ImageArray) -> FaceDetections:
        img = np.ascontiguousarray(image)
        rects, scores, _ = self._detector.run(img, self.cfg.upsample, self.cfg.min_confidence)
        return self._result(img, list(rects), list(scores))


class DlibCnnDetector(_DlibDetector):
    """dlib's MMOD CNN (``mmod_human_face_detector``): accurate, about a second a frame on CPU."""

    name: ClassVar[str] = "dlib_cnn"

    def __init__(self, cfg: DlibCnnConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or DlibCnnConfig()
        self._detector: Any = None

    def _load(self) -> None:
        import dlib
        import face_recognition_models

        path = face_recognition_models.cnn_face_detector_model_location()
        try:
            self._detector = dlib.cnn_face_detection_model_v1(path)
        except RuntimeError as exc:
            raise ModelError(f"cannot load dlib MMOD model {path}: {exc}") from exc
        self._load_predictor()

    def _close(self) -> None:
        self._detector = None
        super()._close()

    def _detect(self, image: ImageArray) -> FaceDetections:
        img = np.ascontiguousarray(image)
        found = [d for d in self._detector(img, self.cfg.upsample) if d.confidence >= self.cfg.min_confidence]
        return self._result(img, [d.rect for d in found], [float(d.confidence) for d in found])
