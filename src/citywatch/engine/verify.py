"""A second, higher-resolution look at a track's best shots before it becomes a sighting.

Small-face detectors run on a whole frame must accept weak evidence, so they
also fire on the backs of heads and on hair (measured on the Intel
"one-by-one" clip: every BlazeFace track at confidence >= 0.6 was a back of a
head). Upscaling the few best-shot crops until the face is ~90 px and asking
dlib's frontal HOG detector costs a few milliseconds per track and rejects
them, while real faces pass. A face HOG does not confirm is also one the
embedder could not recognise reliably (profile, back of head).
"""

from __future__ import annotations

import cv2
import numpy as np

from citywatch.config import DlibHogConfig
from citywatch.detect.base import FaceDetector
from citywatch.detect.dlib_detectors import DlibHogDetector
from citywatch.types import ClosedTrack

# HOG's sliding window is 80 px; a little margin above it.
TARGET_FACE_PX = 90.0
# dlib's raw HOG score; 0 is its default, slightly negative keeps blurred frontal faces.
HOG_SCORE = -0.5


class FaceVerifier:
    def __init__(self, detector: FaceDetector | None = None) -> None:
        self.detector = detector or DlibHogDetector(DlibHogConfig(min_confidence=HOG_SCORE))

    def load(self) -> None:
        self.detector.load()

    def confirms(self, track: ClosedTrack) -> bool:
        """True when at least one of the track's best shots shows a frontal face."""
        for shot in track.shots:
            x1, y1, x2, y2 = (float(v) for v in shot.box)
            side = max(x2 - x1, y2 - y1, 1.0)
            f = max(1.0, TARGET_FACE_PX / side)
            img = shot.crop
            if f > 1.0:
                img = np.asarray(cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC), np.uint8)
            if len(self.detector.detect(img)) > 0:
                return True
        return False

    def close(self) -> None:
        self.detector.close()
