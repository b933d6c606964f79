"""Five-point similarity alignment to the ArcFace 112x112 template (pure functions).

ArcFace and SFace were both trained on faces warped so that the eyes, nose
tip and mouth corners land on the template below; a face aligned any other
way scores lower. The transform is the least-squares similarity (rotation,
uniform scale, translation) of Umeyama (1991), as InsightFace's
``estimate_norm`` and OpenCV's ``FaceRecognizerSF.alignCrop`` compute it.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.types import FloatArray, ImageArray

ARCFACE_SIZE = 112
# (x, y) for: eye on the image's left, eye on the image's right, nose tip, mouth corners left, right
ARCFACE_TEMPLATE: FloatArray = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(src: FloatArray, dst: FloatArray) -> npt.NDArray[np.float64]:
    """The 2x3 similarity matrix mapping points ``src`` (N, 2) onto ``dst`` (N, 2), least squares."""
    s = np.asarray(src, np.float64)
    d = np.asarray(dst, np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or len(s) < 2:
        raise ValueError(f"similarity_transform: need two (N>=2, 2) point sets, got {s.shape} and {d.shape}")
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - s_mean, d - d_mean
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(cov) < 0:
        sign[1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var = (sc**2).sum() / len(s)
    scale = float((sig * sign).sum() / var) if var > 0 else 1.0
    m = np.zeros((2, 3), np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = d_mean - scale * rot @ s_mean
    return m


def norm_crop(image: ImageArray, kps: FloatArray, size: int = ARCFACE_SIZE) -> ImageArray:
    """The face warped onto the ArcFace template, ``size`` x ``size`` (112 for ArcFace/SFace), same colour order."""
    dst = ARCFACE_TEMPLATE * (size / ARCFACE_SIZE)
    m = similarity_transform(np.asarray(kps, np.float32).reshape(5, 2), dst)
    out: ImageArray = np.asarray(
        cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT),
        np.uint8,
    )
    return out
