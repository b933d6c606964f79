"""The face detector interface and helpers shared by its plugins.

Every plugin returns :class:`~citywatch.types.FaceDetections` in the
conventions of :mod:`citywatch.types`: ``xyxy`` boxes in pixels of the input
image, confidences in ``[0, 1]`` and five landmarks ordered as seen in the
image (left eye, right eye, nose, left mouth corner, right mouth corner).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from citywatch.errors import InvalidImageError
from citywatch.types import FaceDetections, FloatArray, ImageArray

# Half the mouth width as a share of the inter-eye vector, from the ArcFace
# 112x112 template (eyes 35.2 px apart, mouth corners 29.2 px apart).
MOUTH_HALF_WIDTH = 0.414


class ImageFormatError(InvalidImageError, ValueError):
    """An image handed to a detector is not a ``uint8`` ``(H, W, 3)`` array.

    Also a :class:`ValueError`, so callers that treat it as bad input need not
    know about citywatch's error tree.
    """


def check_image(image: object) -> ImageArray:
    """Return ``image`` if it is a non-empty RGB ``uint8`` ``(H, W, 3)`` array, else raise."""
    if not isinstance(image, np.ndarray):
        raise ImageFormatError(f"expected a numpy uint8 (H, W, 3) RGB image, got {type(image).__name__}")
    if (
        image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
        or image.shape[0] == 0
        or image.shape[1] == 0
    ):
        raise ImageFormatError(
            f"expected a uint8 (H, W, 3) RGB image, got dtype {image.dtype} shape {tuple(image.shape)}"
        )
    return image


def estimate_mouth_corners(
    eye_left: FloatArray, eye_right: FloatArray, mouth_centre: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Mouth corners placed either side of ``mouth_centre`` along the eye axis.

    Arrays are ``(N, 2)``. Used by detectors that predict a mouth centre (or no
    mouth) rather than its corners; good enough for a similarity alignment, not
    for expression analysis.
    """
    half = (eye_right - eye_left) * MOUTH_HALF_WIDTH
    return (mouth_centre - half).astype(np.float32), (mouth_centre + half).astype(np.float32)


def order_eyes(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Split two ``(N, 2)`` eye arrays into (eye on the image's left, eye on its right)."""
    swap = a[:, 0] > b[:, 0]
    left = np.where(swap[:, None], b, a)
    right = np.where(swap[:, None], a, b)
    return left.astype(np.float32), right.astype(np.float32)


def nearest_centre_index(detections: FaceDetections, image_shape: tuple[int, ...]) -> int | None:
    """Index of the face whose box centre is nearest the image centre (``None`` if no face).

    LFW-style photos are cropped around one subject, with other people at the edges.
    """
    if len(detections) == 0:
        return None
    h, w = image_shape[0], image_shape[1]
    centres = (detections.xyxy[:, :2] + detections.xyxy[:, 2:]) / 2.0
    dist = np.hypot(centres[:, 0] - w / 2.0, centres[:, 1] - h / 2.0)
    return int(np.argmin(dist))


def nearest_centre(detections: FaceDetections, image_shape: tuple[int, ...]) -> FaceDetections:
    """The face nearest the image centre as a one-face ``FaceDetections`` (empty if none)."""
    idx = nearest_centre_index(detections, image_shape)
    if idx is None:
        return FaceDetections.empty()
    return detections.subset(np.array([idx], dtype=np.intp))


def box_iou(box: FloatArray, boxes: FloatArray) -> npt.NDArray[np.float32]:
    """IoU of one ``(4,)`` xyxy box with each of ``(N, 4)`` boxes."""
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(detections: FaceDetections, iou: float, *, weighted: bool = True) -> FaceDetections:
    """Non-maximum suppression, best score first.

    ``weighted`` blends each kept box and its landmarks with the boxes it
    suppresses, weighted by score (MediaPipe's "weighted NMS"): steadier boxes
    frame to frame than keeping only the top one. The kept score is the top score.
    """
    n = len(detections)
    if n <= 1:
        return detections
    order = np.argsort(-detections.confidence, kind="stable")
    xyxy = detections.xyxy[order]
    conf = detections.confidence[order]
    kps = detections.kps[order]
    alive = np.ones(n, dtype=bool)
    out_box: list[FloatArray] = []
    out_conf: list[float] = []
    out_kps: list[FloatArray] = []
    for i in range(n):
        if not alive[i]:
            continue
        rest = np.flatnonzero(alive)
        group = rest[box_iou(xyxy[i], xyxy[rest]) > iou]
        group = np.union1d(group, [i])
        alive[group] = False
        if weighted:
            w = conf[group][:, None]
            total = float(w.sum())
            out_box.append((xyxy[group] * w).sum(axis=0) / total)
            out_kps.append((kps[group] * w[:, :, None]).sum(axis=0) / total)
        else:
            out_box.append(xyxy[i])
            out_kps.append(kps[i])
        out_conf.append(float(conf[i]))
    return FaceDetections(
        np.asarray(out_box, dtype=np.float32).reshape(-1, 4),
        np.asarray(out_conf, dtype=np.float32),
        np.asarray(out_kps, dtype=np.float32).reshape(-1, 5, 2),
    )


class FaceDetector(ABC):
    """A face detector plugin.

    Lifecycle: a cheap ``__init__`` (no model I/O), :meth:`load` (idempotent;
    :meth:`detect` calls it on first use), :meth:`detect` per image,
    :meth:`close`. Instances are not thread-safe: use one per worker.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Load the model. Calling it again does nothing."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def detect(self, image: ImageArray) -> FaceDetections:
        """Faces in an RGB ``uint8`` ``(H, W, 3)`` image.

        Raises :class:`ImageFormatError` (a ``ValueError``) for any other array.
        """
        check_image(image)
        self.load()
        return self._detect(image)

    def detect_focus(self, image: ImageArray, focus: FloatArray) -> FaceDetections:
        """Faces in ``image`` looking only in and around the ``(N, 4)`` ``focus`` boxes (frame pixels).

        For video: the boxes are where something moved or a face was tracked, so
        a detector that must otherwise cover the whole frame at high resolution
        (BlazeFace's tiles) can look closely at a few small crops instead. Empty
        ``focus``: nothing to look at, no faces. The default looks everywhere
        (plugins without a cheaper way to focus); a plugin may also fall back to
        a full pass when the boxes are too large to gain anything.
        """
        check_image(image)
        self.load()
        boxes = np.asarray(focus, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return FaceDetections.empty()
        return self._detect_focus(image, boxes)

    def _detect_focus(self, image: ImageArray, focus: FloatArray) -> FaceDetections:
        return self._detect(image)

    def close(self) -> None:
        """Release the model; :meth:`load` (or :meth:`detect`) brings it back."""
        if self._loaded:
            self._close()
            self._loaded = False

    def __enter__(self) -> Self:
        self.load()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @abstractmethod
    def _load(self) -> None:
        """Load model files (called once by :meth:`load`)."""

    @abstractmethod
    def _detect(self, image: ImageArray) -> FaceDetections:
        """Detect on a validated image (the model is loaded)."""

    @abstractmethod
    def _close(self) -> None:
        """Drop model objects."""
