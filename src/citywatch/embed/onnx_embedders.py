"""ONNX face embedders on ONNX Runtime: OpenCV SFace (128-d) and InsightFace ArcFace (512-d).

Both take a 112x112 face warped onto the ArcFace 5-point template
(:mod:`citywatch.embed.align`) in NCHW float32, RGB order:

* SFace, as ``cv2.FaceRecognizerSF.feature`` feeds it: pixel values 0-255
  unchanged (``blobFromImage(img, 1, (112, 112), 0, swapRB=True)`` on BGR).
* ArcFace (InsightFace ``ArcFaceONNX.get_feat``): ``(x - 127.5) / 127.5``
  (``input_mean`` / ``input_std`` in the config; old MXNet exports that
  normalise inside the graph need 0 and 1).

Outputs are L2-normalised here (the models do not). Models with a fixed batch
dimension of 1 (the OpenCV zoo SFace file) run face by face; others take
``batch_size`` faces per call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from citywatch.config import ArcFaceConfig, SFaceConfig
from citywatch.embed.align import ARCFACE_SIZE, norm_crop
from citywatch.embed.base import FaceEmbedder, FaceInput, l2_normalise
from citywatch.errors import ModelError
from citywatch.onnx_session import (
    create_session,
    fixed_dim,
    require_model_path,
    resolve_model_path,
    runtime_errors,
)
from citywatch.types import FloatArray, ImageArray

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class _OnnxEmbedder(FaceEmbedder):
    """Shared ONNX Runtime plumbing: session, batching, pre-processing, L2 normalisation."""

    kind: ClassVar[str]
    default_file: ClassVar[str]

    def __init__(self, cfg: SFaceConfig | ArcFaceConfig, model_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.path = resolve_model_path(cfg.model_path, model_dir, self.default_file)
        stem = self.path.stem if self.path is not None else Path(self.default_file).stem
        self.model_id = cfg.model_id or f"{self.kind}-{_SAFE.sub('_', stem)}"
        self.dim = 0
        """Known after :meth:`load` (read from the model's output shape)."""
        self._session: Any = None
        self._input = ""
        self._output = ""
        self._fixed_batch: int | None = None
        self._mean = 0.0
        self._scale = 1.0

    @property
    def what(self) -> str:
        return f"embedder {self.kind} ({self.path.name if self.path else 'no model file'})"

    def load(self) -> None:
        if self._session is not None:
            return
        path = require_model_path(self.path, f"embedder {self.kind}", "embedder.model_path", self.kind)
        session = create_session(path, self.cfg.providers, self.cfg.threads, self.what)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelError(
                f"{self.what}: expected one input and an embedding output, got {len(inputs)} input(s) "
                f"and {len(outputs)} output(s)"
            )
        shape = list(inputs[0].shape)
        h, w = (fixed_dim(shape[2]), fixed_dim(shape[3])) if len(shape) == 4 else (None, None)
        if (
            len(shape) != 4
            or fixed_dim(shape[1]) not in (3, None)
            or (h, w) not in ((112, 112), (None, None))
        ):
            raise ModelError(f"{self.what}: expected an N x 3 x 112 x 112 input, the model takes {shape}")
        self._fixed_batch = fixed_dim(shape[0])
        self._input, self._output = inputs[0].name, outputs[0].name
        self._session = session
        self._mean, self._scale = self._normalisation()
        dim = fixed_dim(list(outputs[0].shape)[-1])
        if dim is None:  # symbolic output size: ask the model
            dim = int(self._run(np.zeros((1, 3, ARCFACE_SIZE, ARCFACE_SIZE), np.float32)).shape[-1])
        self.dim = dim
        log.debug("%s: %d-d, batch %s", self.what, dim, self._fixed_batch or "dynamic")

    def _normalisation(self) -> tuple[float, float]:
        """``(mean, scale)``: the network sees ``(pixel - mean) * scale``."""
        return 0.0, 1.0

    def close(self) -> None:
        self._session = None

    @property
    def active_providers(self) -> list[str]:
        """Execution providers the loaded session runs on, best first (empty before ``load``)."""
        return list(self._session.get_providers()) if self._session is not None else []

    def align(self, faces: Sequence[FaceInput]) -> list[ImageArray]:
        return [norm_crop(np.ascontiguousarray(f.image), f.kps, ARCFACE_SIZE) for f in faces]

    def _run(self, blob: FloatArray) -> FloatArray:
        try:
            out = self._session.run([self._output], {self._input: blob})[0]
        except runtime_errors() as exc:
            raise ModelError(f"{self.what}: inference failed on a batch of {len(blob)}: {exc}") from exc
        arr: FloatArray = np.asarray(out, np.float32).reshape(len(blob), -1)
        return arr

    def embed_aligned(self, chips: Sequence[ImageArray]) -> FloatArray:
        self.load()
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        for c in chips:
            if c.shape != (ARCFACE_SIZE, ARCFACE_SIZE, 3):
                raise ModelError(f"{self.what}: chips must be 112x112x3, got {c.shape}")
        batch = np.stack(chips).astype(np.float32)
        blob = np.ascontiguousarray(((batch - self._mean) * self._scale).transpose(0, 3, 1, 2))
        step = self._fixed_batch or self.cfg.batch_size
        if self._fixed_batch not in (None, 1):
            raise ModelError(f"{self.what}: unsupported fixed batch size {self._fixed_batch}")
        parts = [self._run(blob[i : i + step]) for i in range(0, len(blob), step)]
        out = np.concatenate(parts)
        if out.shape[1] != self.dim:
            raise ModelError(f"{self.what}: output has {out.shape[1]} values per face, expected {self.dim}")
        return l2_normalise(out, self.what)


class SFaceEmbedder(_OnnxEmbedder):
    """OpenCV zoo SFace (face_recognition_sface_2021dec.onnx, Apache-2.0), 128-d."""

    kind = "sface"
    default_file = "face_recognition_sface_2021dec.onnx"


class ArcFaceEmbedder(_OnnxEmbedder):
    """InsightFace ArcFace (e.g. buffalo_l w600k_r50.onnx), 512-d. Weights: non-commercial research only."""

    kind = "arcface"
    default_file = "w600k_r50.onnx"

    def _normalisation(self) -> tuple[float, float]:
        cfg = self.cfg
        if not isinstance(cfg, ArcFaceConfig):  # pragma: no cover - built only from ArcFaceConfig
            raise TypeError(type(cfg).__name__)
        return cfg.input_mean, 1.0 / cfg.input_std
