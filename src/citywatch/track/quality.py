"""Capture quality of one face observation, used to pick a track's best shots.

The score is a product of four terms in [0, 1], so a shot must be good on all
of them: a sharp, frontal, confident detection of a face large enough to
recognise. Products rather than sums so that one very bad term (a blurred or
profile face) cannot be hidden by the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from citywatch.types import FloatArray, ImageArray

# Inter-eye distance (pixels) at which size stops improving the score: dlib's
# 150 px chip has ~40 px between the eyes, so more pixels add little.
FULL_SIZE_EYE_PX = 40.0
# Variance of the Laplacian at which a face crop counts as fully sharp.
FULL_SHARPNESS = 200.0


@dataclass(frozen=True, slots=True)
class Quality:
    score: float
    eye_px: float
    sharpness: float
    frontal: float
    confidence: float


def eye_distance(kps: FloatArray) -> float:
    return float(np.linalg.norm(kps[1] - kps[0]))


def frontalness(kps: FloatArray) -> float:
    """1.0 when the nose sits midway between the eyes (frontal), towards 0 in profile."""
    left = float(np.linalg.norm(kps[2] - kps[0]))
    right = float(np.linalg.norm(kps[2] - kps[1]))
    total = left + right
    if total <= 0:
        return 0.0
    return float(max(0.0, 1.0 - abs(left - right) / total))


def sharpness(image: ImageArray, box: FloatArray) -> float:
    """Variance of the Laplacian inside the box (grey levels), a standard focus measure."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 - x1 < 3 or y2 - y1 < 3:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(image[y1:y2, x1:x2]), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def score_face(image: ImageArray, box: FloatArray, kps: FloatArray, confidence: float) -> Quality:
    eye_px = eye_distance(kps)
    sharp = sharpness(image, box)
    frontal = frontalness(kps)
    size_term = min(1.0, eye_px / FULL_SIZE_EYE_PX)
    sharp_term = min(1.0, sharp / FULL_SHARPNESS)
    conf = float(np.clip(confidence, 0.0, 1.0))
    # sqrt on size/sharpness: they matter, but a 30 px sharp face is still useful
    score = conf * frontal * float(np.sqrt(size_term)) * float(np.sqrt(max(sharp_term, 1e-3)))
    return Quality(score=score, eye_px=eye_px, sharpness=sharp, frontal=frontal, confidence=conf)
