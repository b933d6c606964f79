"""CameraPipeline: full passes on first/keepalive frames, focused looks on motion, align and embed timed apart."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from citywatch.config import CameraConfig, Config, MotionConfig, TrackerConfig
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


def frame_at(i: int, fps: float, x: int | None) -> Frame:
    f = frame(i, x)
    return Frame(f.camera, i, i / fps, f.image)


def confirm_pipeline(confirm_rate: float = 2.0, **tracker: float) -> tuple[CameraPipeline, Recorder]:
    det = Recorder()
    pipe = CameraPipeline(
        "cam",
        det,
        CountingEmbedder(),
        Matcher(Gallery.empty("count", 4), 0.5),
        TrackerConfig.model_validate(
            {"verify_faces": False, "min_face_px": 1.0, "confirm_rate": confirm_rate} | tracker
        ),
        fps=5,
        motion_cfg=MotionConfig(keepalive_seconds=4.0, focus=False),
    )
    return pipe, det


def glimpse(i: int) -> int | None:
    """A face seen for 0.3 s of a 10 fps camera: frames 8, 9, 10; the 5 fps grid holds 8 and 10 only.

    ByteTrack starts a track on its second sighting, and a track needs ``min_detections`` (2)
    more: three frames in a row."""
    return {8: 100, 9: 104, 10: 108}.get(i)


def test_a_glimpse_is_confirmed_by_a_look_off_the_grid() -> None:
    pipe, det = confirm_pipeline(2.0)  # the source hands over 10 fps; detection runs at 5 fps
    outcomes = [o for i in range(40) for o in pipe.feed(frame_at(i, 10, glimpse(i)))] + pipe.finish()
    assert len(outcomes) == 1 and outcomes[0].track.detections == 2
    t = pipe.times
    assert t.confirm_looks == 1  # frame 9 only: once confirmed, back to the grid
    assert t.off_grid == 19  # the other off-grid frames were passed over, not detected
    assert t.detected - t.confirm_looks <= 20 and len(det.calls) == t.detected


def test_without_confirmation_looks_the_glimpse_is_dropped_as_noise() -> None:
    pipe, _ = confirm_pipeline(1.0)  # the source samples 5 fps itself: frames 0, 2, 4, ...
    outcomes = [o for i in range(0, 40, 2) for o in pipe.feed(frame_at(i, 10, glimpse(i)))]
    assert outcomes + pipe.finish() == []
    assert pipe.times.detected >= 2  # it was seen (frames 8 and 10), then dropped
    assert pipe.times.confirm_looks == pipe.times.off_grid == 0


def test_sources_sample_at_detect_fps_times_confirm_rate() -> None:
    cam = CameraConfig(name="c", source="x.mp4", detect_fps=4.0)
    assert Config(cameras=[cam]).sample_fps(cam) == 8.0
    off = Config(cameras=[cam], tracker=TrackerConfig(confirm_rate=1.0))
    assert off.sample_fps(cam) == 4.0
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        TrackerConfig(confirm_rate=0.5)


def test_a_face_that_never_gives_a_usable_shot_gets_extra_looks_only_while_young() -> None:
    # no shot is ever good enough (as with the back of a head): the track would be dropped
    pipe, _ = confirm_pipeline(min_face_px=1000.0, confirm_seconds=0.5)
    for i in range(60):
        pipe.feed(frame_at(i, 10, 100 + 2 * i if 8 <= i < 50 else None))
    t = pipe.times
    # ByteTrack confirms the face at frame 9 (0.9 s); off-grid looks until 1.4 s, then the grid again
    assert 2 <= t.confirm_looks <= 4, t
    assert t.off_grid >= 25
