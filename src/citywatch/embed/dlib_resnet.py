"""dlib's ResNet-34 face embedder (128-d), weights from ``face_recognition_models``.

Alignment matters more than anything else for this model: it was trained on
150x150 chips made by ``dlib.get_face_chip`` from dlib's own 5-point shape
predictor. We therefore re-fit that predictor inside the detector's box rather
than reuse the detector's landmarks (BlazeFace's mouth corners are estimates,
and its eye points sit elsewhere than dlib's eye corners).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from citywatch.config import DlibResnetConfig
from citywatch.embed.base import FaceEmbedder, FaceInput, l2_normalise
from citywatch.errors import ModelError
from citywatch.types import FloatArray, ImageArray

logger = logging.getLogger(__name__)

CHIP_SIZE = 150
CHIP_PADDING = 0.25


def _square_box(box: FloatArray, kps: FloatArray) -> tuple[float, float, float, float]:
    """A square box centred between the eyes and the mouth, sized like dlib's HOG boxes.

    Detectors disagree on box extent (BlazeFace boxes are looser than dlib's);
    the 5-point predictor was trained on HOG boxes, so we rebuild one from the
    landmarks when they look sane and fall back to the detector box otherwise.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    eyes = kps[:2].mean(axis=0)
    mouth = kps[3:5].mean(axis=0)
    eye_mouth = float(np.linalg.norm(mouth - eyes))
    side = max(x2 - x1, y2 - y1)
    if eye_mouth > 0.15 * side:
        # dlib HOG boxes are ~2.2x the eye-to-mouth distance, centred a bit below the eyes
        side = 2.2 * eye_mouth
        cx, cy = (eyes + mouth) / 2.0
        cy = cy - 0.05 * side
    else:
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    half = side / 2.0
    return cx - half, cy - half, cx + half, cy + half


class DlibResnetEmbedder(FaceEmbedder):
    model_id = "dlib_resnet_v1"
    dim = 128

    def __init__(self, cfg: DlibResnetConfig | None = None) -> None:
        self.cfg = cfg or DlibResnetConfig()
        self._sp: Any = None
        self._net: Any = None

    def load(self) -> None:
        if self._net is not None:
            return
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError(f"dlib embedder: cannot import dlib/face_recognition_models: {exc}") from exc
        self._sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        logger.info("dlib embedder on %s", self.device)

    @property
    def device(self) -> str:
        """Where the network runs: dlib picks the GPU by itself when it was built with CUDA."""
        import dlib

        if getattr(dlib, "DLIB_USE_CUDA", False):
            try:
                count = int(dlib.cuda.get_num_devices())
            except (AttributeError, RuntimeError):
                count = 0
            if count > 0:
                return f"cuda ({count} device{'s' if count > 1 else ''})"
            return "cpu (CUDA build, but no CUDA device found)"
        blas = " with BLAS" if getattr(dlib, "DLIB_USE_BLAS", False) else " without BLAS"
        return "cpu" + blas

    def chip(self, face: FaceInput) -> ImageArray:
        """The 150x150 aligned chip dlib's network expects (useful for thumbnails and tests)."""
        import dlib

        self.load()
        img = np.ascontiguousarray(face.image)
        x1, y1, x2, y2 = _square_box(face.box, face.kps)
        rect = dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2)))
        shape = self._sp(img, rect)
        chip: ImageArray = dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return chip

    def align(self, faces: Sequence[FaceInput]) -> list[ImageArray]:
        return [self.chip(f) for f in faces]

    def embed_aligned(self, chips: Sequence[ImageArray]) -> FloatArray:
        self.load()
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        out = np.zeros((len(chips), self.dim), np.float32)
        bs = self.cfg.batch_size
        for i in range(0, len(chips), bs):
            vecs = self._net.compute_face_descriptor(list(chips[i : i + bs]), num_jitters=self.cfg.jitter)
            out[i : i + bs] = np.asarray([np.asarray(v) for v in vecs], np.float32)
        return l2_normalise(out, f"embedder {self.model_id}")
