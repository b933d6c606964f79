"""CameraPipeline: full passes on first/keepalive frames, focused looks on motion, align and embed timed apart."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from citywatch.config import MotionConfig, TrackerConfig
from citywatch.detect.base import FaceDetector
from citywatch.embed.base import FaceEmbedder, FaceInput
from citywatch.engine.pipeline import CameraPipeline
from citywatch.match.matcher import Matcher
from citywatch.types import FaceDetections, FloatArray, Frame, Gallery, ImageArray

H, W = 432, 768


class Recorder(FaceDetector):
    """Finds one face on the bright block (if any); remembers how it was asked."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, FloatArray | None]] = []

    def _load(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _face(self, image: ImageArray) -> FaceDetections:
        ys, xs = np.nonzero(image[:, :, 0] > 200)
        if len(xs) == 0:
            return FaceDetections.empty()
        x1, y1, x2, y2 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
        w = x2 - x1
        kps = np.array(
            [[x1 + 0.3 * w, y1 + 0.35 * w], [x1 + 0.7 * w, y1 + 0.35 * w], [x1 + 0.5 * w, y1 + 0.55 * w],
             [x1 + 0.35 * w, y1 + 0.75 * w], [x1 + 0.65 * w, y1 + 0.75 * w]], np.float32,
        )  # fmt: skip
        return FaceDetections(
            np.array([[x1, y1, x2, y2]], np.float32), np.array([0.9], np.float32), kps[None]
        )

    def _detect(self, image: ImageArray) -> FaceDetections:
        self.calls.append(("full", None))
        return self._face(image)

    def _detect_focus(self, image: ImageArray, focus: FloatArray) -> FaceDetections:
        self.calls.append(("focus", focus.copy()))
        return self._face(image)


class CountingEmbedder(FaceEmbedder):
    model_id = "count"
    dim = 4

    def __init__(self) -> None:
        self.aligned = 0
        self.batches: list[int] = []

    def load(self) -> None:
        pass

    def align(self, faces: Sequence[FaceInput]) -> list[ImageArray]:
        self.aligned += len(faces)
        return [np.zeros((8, 8, 3), np.uint8) for _ in faces]

    def embed_aligned(self, chips: Sequence[ImageArray]) -> FloatArray:
        self.batches.append(len(chips))
        out = np.zeros((len(chips), 4), np.float32)
        out[:, 0] = 1.0
        return out


def frame(i: int, x: int | None) -> Frame:
    img = np.full((H, W, 3), 60, np.uint8)
    if x is not None:
        img[100:160, x : x + 50] = 240
    return Frame("cam", i, i / 5, img)


def pipeline(focus: bool = True) -> tuple[CameraPipeline, Recorder, CountingEmbedder]:
    det, emb = Recorder(), CountingEmbedder()
    pipe = CameraPipeline(
        "cam",
        det,
        emb,
        Matcher(Gallery.empty("count", 4), 0.5),
        TrackerConfig(verify_faces=False, min_face_px=1.0),
        fps=5,
        motion_cfg=MotionConfig(keepalive_seconds=4.0, focus=focus),
    )
    return pipe, det, emb


def test_first_frame_full_then_focus_around_motion_and_track() -> None:
    pipe, det, _ = pipeline()
    pipe.feed(frame(0, None))
    assert det.calls == [("full", None)]
    for i, x in enumerate(range(100, 400, 30), start=1):  # the block walks right
        pipe.feed(frame(i, x))
    kinds = [k for k, _ in det.calls[1:]]
    assert kinds and set(kinds) == {"focus"}
    _, boxes = det.calls[-1]
    assert boxes is not None and len(boxes) >= 1
    near = (boxes[:, 0] <= 370 + 50) & (boxes[:, 2] >= 370) & (boxes[:, 1] <= 160) & (boxes[:, 3] >= 100)
    assert near.any(), boxes  # some box covers where the block is now
    assert pipe.times.focused == len(kinds)


def test_still_frames_with_a_track_are_looked_at_around_the_track() -> None:
    pipe, det, _ = pipeline()
    for i, x in enumerate([None, 100, 130, 160]):
        pipe.feed(frame(i, x))
    n = len(det.calls)
    for i in range(4, 60):  # the block stops; the track stays open, the gate says "still"
        pipe.feed(frame(i, 160))
    later = det.calls[n:]
    assert later and all(k in ("focus", "full") for k, _ in later)
    focus_boxes = [b for k, b in later if k == "focus" and b is not None and len(b)]
    assert focus_boxes, later[:3]
    assert "full" in [k for k, _ in later]  # the keepalive's full pass (every 4 s)


def test_focus_off_means_full_passes() -> None:
    pipe, det, _ = pipeline(focus=False)
    for i, x in enumerate([None, 100, 130, 160]):
        pipe.feed(frame(i, x))
    assert {k for k, _ in det.calls} == {"full"} and pipe.times.focused == 0


def test_closed_tracks_are_aligned_and_embedded_in_one_batch() -> None:
    pipe, _, emb = pipeline()
    for i, x in enumerate([None, 100, 130, 160, 190, 220]):
        pipe.feed(frame(i, x))
    outcomes = pipe.finish()
    assert len(outcomes) == 1
    assert emb.batches == [emb.aligned] and emb.aligned == len(outcomes[0].track.shots)
    assert pipe.times.seconds["align"] >= 0 and pipe.times.seconds["embed"] >= 0
    assert outcomes[0].embedded.model == "count"
