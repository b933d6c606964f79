"""InsightFace SCRFD on ONNX Runtime (e.g. buffalo_l ``det_10g.onnx``; weights non-commercial research only).

Pre- and post-processing follow InsightFace's ``model_zoo/scrfd.py``:

* the frame is scaled to fit the square input (aspect kept), pasted top-left
  on black, and fed as RGB ``(x - 127.5) / 128`` in NCHW;
* outputs come in groups by kind, then stride: scores for strides 8, 16, 32
  (``(K*A, 1)``), then box distances (``(K*A, 4)``: left, top, right,
  bottom in stride units), then landmark offsets (``(K*A, 10)``), where K
  is the number of cells of that stride and A = 2 anchors per cell; five-
  stride models (10/15 outputs, 1 anchor) work the same way;
* anchor centres are the cell corners ``(x * stride, y * stride)``;
* plain NMS at ``nms_iou``.

Only models with landmarks (9 or 15 outputs) are accepted: alignment needs them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from citywatch.config import ScrfdConfig
from citywatch.detect.base import FaceDetector, nms, order_eyes
from citywatch.errors import ModelError
from citywatch.onnx_session import (
    create_session,
    fixed_dim,
    require_model_path,
    resolve_model_path,
    runtime_errors,
)
from citywatch.types import FaceDetections, FloatArray, ImageArray

log = logging.getLogger(__name__)

DEFAULT_FILE = "det_10g.onnx"
# outputs -> (strides, anchors per cell); only the layouts with landmarks
_LAYOUTS: dict[int, tuple[tuple[int, ...], int]] = {9: ((8, 16, 32), 2), 15: ((8, 16, 32, 64, 128), 1)}


class ScrfdDetector(FaceDetector):
    name: ClassVar[str] = "scrfd"

    def __init__(self, cfg: ScrfdConfig | None = None, model_dir: Path | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ScrfdConfig()
        self.path = resolve_model_path(self.cfg.model_path, model_dir, DEFAULT_FILE)
        self._session: Any = None
        self._input = ""
        self._outputs: list[str] = []
        self._strides: tuple[int, ...] = ()
        self._anchors = 1
        self._size = (self.cfg.input_size, self.cfg.input_size)
        self._centres: dict[tuple[int, int, int], FloatArray] = {}

    def _load(self) -> None:
        path = require_model_path(self.path, "detector scrfd", "detector.model_path", "scrfd")
        what = f"detector scrfd ({path.name})"
        session = create_session(path, self.cfg.providers, self.cfg.threads, what)
        outputs = session.get_outputs()
        layout = _LAYOUTS.get(len(outputs))
        if layout is None:
            raise ModelError(
                f"{what}: {len(outputs)} outputs; expected 9 or 15 (an SCRFD model with landmarks, "
                "e.g. det_10g.onnx or scrfd_*_bnkps.onnx)"
            )
        self._strides, self._anchors = layout
        shape = list(session.get_inputs()[0].shape)
        if len(shape) != 4:
            raise ModelError(f"{what}: expected an N x 3 x H x W input, the model takes {shape}")
        h, w = fixed_dim(shape[2]), fixed_dim(shape[3])
        if h is not None and w is not None:
            self._size = (w, h)  # fixed-size export: its size wins over the config
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in outputs]
        self._session = session

    def _close(self) -> None:
        self._session = None

    @property
    def active_providers(self) -> list[str]:
        """Execution providers the loaded session runs on, best first (empty before ``load``)."""
        return list(self._session.get_providers()) if self._session is not None else []

    def _anchor_centres(self, rows: int, cols: int, stride: int) -> FloatArray:
        key = (rows, cols, stride)
        found = self._centres.get(key)
        if found is None:
            ys, xs = np.mgrid[:rows, :cols]
            xy = (np.stack([xs.ravel(), ys.ravel()], axis=1) * stride).astype(np.float32)
            found = np.repeat(xy, self._anchors, axis=0) if self._anchors > 1 else xy
            self._centres[key] = found
        return found

    def _detect(self, image: ImageArray) -> FaceDetections:
        h, w = image.shape[:2]
        in_w, in_h = self._size
        scale = min(in_w / w, in_h / h)
        nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
        canvas = np.zeros((in_h, in_w, 3), np.uint8)
        canvas[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        try:
            outs = self._session.run(self._outputs, {self._input: np.ascontiguousarray(blob)})
        except runtime_errors() as exc:
            raise ModelError(f"detector scrfd: inference failed on a {w}x{h} frame: {exc}") from exc
        return self.decode(outs, in_h, in_w, scale, h, w)

    def decode(self, outs: list[Any], in_h: int, in_w: int, scale: float, h: int, w: int) -> FaceDetections:
        """Raw outputs (in the model's order) to faces in frame pixels, after NMS."""
        n = len(self._strides)
        boxes: list[FloatArray] = []
        scores: list[FloatArray] = []
        points: list[FloatArray] = []
        for i, stride in enumerate(self._strides):
            rows, cols = in_h // stride, in_w // stride
            centres = self._anchor_centres(rows, cols, stride)
            score = np.asarray(outs[i], np.float32).reshape(-1)
            dist = np.asarray(outs[i + n], np.float32).reshape(-1, 4) * stride
            kps = np.asarray(outs[i + 2 * n], np.float32).reshape(-1, 10) * stride
            if not (len(score) == len(dist) == len(kps) == len(centres)):
                raise ModelError(
                    f"detector scrfd: stride {stride} outputs have {len(score)}/{len(dist)}/{len(kps)} rows, "
                    f"expected {len(centres)} for a {in_w}x{in_h} input"
                )
            keep = np.flatnonzero(score >= self.cfg.min_confidence)
            if len(keep) == 0:
                continue
            c = centres[keep]
            d = dist[keep]
            boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
            points.append(kps[keep].reshape(-1, 5, 2) + c[:, None, :])
            scores.append(score[keep])
        if not scores:
            return FaceDetections.empty()
        xyxy = (np.concatenate(boxes) / scale).astype(np.float32)
        pts = (np.concatenate(points) / scale).astype(np.float32)
        conf = np.clip(np.concatenate(scores), 0.0, 1.0).astype(np.float32)
        eye_l, eye_r = order_eyes(pts[:, 0], pts[:, 1])
        mouth_l, mouth_r = order_eyes(pts[:, 3], pts[:, 4])
        kps5 = np.stack([eye_l, eye_r, pts[:, 2], mouth_l, mouth_r], axis=1).astype(np.float32)
        dets = nms(FaceDetections(xyxy, conf, kps5), self.cfg.nms_iou, weighted=False)
        out = dets.xyxy.copy()
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        ok = (out[:, 2] - out[:, 0] > 1) & (out[:, 3] - out[:, 1] > 1)
        return FaceDetections(out[ok], dets.confidence[ok], dets.kps[ok])
