"""OpenCV YuNet (``cv2.FaceDetectorYN``) on OpenCV's DNN module.

The network is fully convolutional: OpenCV pads the frame to a multiple of
32 and runs it at its own size (``setInputSize`` follows the frame), so faces
from about 10 px up are found without tiling. It wants BGR pixels 0-255.

Each face comes back as ``x, y, w, h``, five landmarks (the subject's right
eye, left eye, nose tip, right and left mouth corner: as seen in the image,
left eye first for a frontal face) and a score in ``[0, 1]``. Landmarks are
re-ordered by image x as :mod:`citywatch.types` requires (profiles can swap
them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from citywatch.config import YuNetConfig
from citywatch.detect.base import FaceDetector, order_eyes
from citywatch.errors import ModelError
from citywatch.onnx_session import require_model_path, resolve_model_path
from citywatch.types import FaceDetections, FloatArray, ImageArray

log = logging.getLogger(__name__)

DEFAULT_FILE = "face_detection_yunet_2023mar.onnx"


class YuNetDetector(FaceDetector):
    name: ClassVar[str] = "yunet"

    def __init__(self, cfg: YuNetConfig | None = None, model_dir: Path | None = None) -> None:
        super().__init__()
        self.cfg = cfg or YuNetConfig()
        self.path = resolve_model_path(self.cfg.model_path, model_dir, DEFAULT_FILE)
        self._net: Any = None
        self._size: tuple[int, int] = (0, 0)

    def _load(self) -> None:
        path = require_model_path(self.path, "detector yunet", "detector.model_path", "yunet")
        c = self.cfg
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(path), "", (320, 320), c.min_confidence, c.nms_iou, c.top_k
            )
        except cv2.error as exc:
            raise ModelError(f"detector yunet: cannot load {path}: {exc}") from exc
        self._size = (320, 320)
        log.debug("loaded YuNet %s", path)

    def _close(self) -> None:
        self._net = None

    def _detect(self, image: ImageArray) -> FaceDetections:
        h, w = image.shape[:2]
        scale = 1.0
        work = image
        if self.cfg.max_side and max(h, w) > self.cfg.max_side:
            scale = self.cfg.max_side / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            work = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        bgr = cv2.cvtColor(work, cv2.COLOR_RGB2BGR)
        size = (bgr.shape[1], bgr.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        try:
            _, faces = self._net.detect(bgr)
        except cv2.error as exc:
            raise ModelError(f"detector yunet: inference failed on a {w}x{h} frame: {exc}") from exc
        if faces is None or len(faces) == 0:
            return FaceDetections.empty()
        return self.decode(np.asarray(faces, np.float32).reshape(-1, 15), scale, h, w)

    @staticmethod
    def decode(faces: FloatArray, scale: float, h: int, w: int) -> FaceDetections:
        """YuNet rows ``(x, y, w, h, 10 landmark coordinates, score)`` to :class:`FaceDetections`."""
        xywh = faces[:, :4] / scale
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        pts = (faces[:, 4:14].reshape(-1, 5, 2) / scale).astype(np.float32)
        eye_l, eye_r = order_eyes(pts[:, 0], pts[:, 1])
        mouth_l, mouth_r = order_eyes(pts[:, 3], pts[:, 4])
        kps = np.stack([eye_l, eye_r, pts[:, 2], mouth_l, mouth_r], axis=1).astype(np.float32)
        conf = np.clip(faces[:, 14], 0.0, 1.0).astype(np.float32)
        keep = (xyxy[:, 2] - xyxy[:, 0] > 1) & (xyxy[:, 3] - xyxy[:, 1] > 1)
        return FaceDetections(xyxy[keep].astype(np.float32), conf[keep], kps[keep])
