"""detect -> track -> best shots -> embed -> match for one camera, with no I/O.

The same class runs inside a local worker process, a Ray actor, or a
benchmark: sources feed it frames; it returns finished tracks with their
embeddings, decision and thumbnail for the caller to persist (and only then
notify).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from citywatch.config import MotionConfig, TrackerConfig
from citywatch.detect.base import FaceDetector
from citywatch.embed.base import FaceEmbedder, FaceInput
from citywatch.engine.verify import FaceVerifier
from citywatch.ingest.base import Sampler
from citywatch.ingest.motion import MotionGate
from citywatch.match.matcher import Matcher
from citywatch.track.tracker import FaceTracker
from citywatch.types import ClosedTrack, EmbeddedTrack, FloatArray, Frame, ImageArray, MatchResult

logger = logging.getLogger(__name__)

THUMB_MIN_SIDE = 128
TRACK_LOOK = 3.0
"""Around a tracked face, look in a box this many times its size (it moves between frames)."""


@dataclass(frozen=True, slots=True)
class TrackOutcome:
    """A finished track, ready to be stored as one sighting."""

    embedded: EmbeddedTrack
    match: MatchResult
    thumbnail: ImageArray

    @property
    def track(self) -> ClosedTrack:
        return self.embedded.track


@dataclass
class StageTimes:
    """Seconds spent per stage and counters, for health and bench/."""

    frames: int = 0
    detected: int = 0
    motion_skipped: int = 0
    faces: int = 0
    tracks: int = 0
    embedded_faces: int = 0
    rejected: int = 0
    """Tracks the face verifier turned down (backs of heads, hair, profiles)."""
    focused: int = 0
    """Frames detected only around moving areas and tracked faces (``MotionConfig.focus``)."""
    confirm_looks: int = 0
    """Frames off the ``detect_fps`` grid detected because a new face awaited confirmation."""
    off_grid: int = 0
    """Frames off the grid passed over (nobody awaiting confirmation)."""
    seconds: dict[str, float] = field(
        default_factory=lambda: {
            "motion": 0.0, "detect": 0.0, "track": 0.0, "verify": 0.0, "align": 0.0, "embed": 0.0,
            "match": 0.0,
        }
    )  # fmt: skip


def make_thumbnail(track: ClosedTrack) -> ImageArray:
    """The best shot's crop, scaled up so small faces are still visible in the console."""
    crop = track.shots[0].crop
    h, w = crop.shape[:2]
    side = min(h, w)
    if side >= THUMB_MIN_SIDE or side == 0:
        return crop
    f = THUMB_MIN_SIDE / side
    out: ImageArray = np.asarray(
        cv2.resize(crop, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC), np.uint8
    )
    return out


class CameraPipeline:
    """Per-camera processing. Not thread-safe: one instance per camera worker."""

    def __init__(
        self,
        camera: str,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        matcher: Matcher,
        tracker_cfg: TrackerConfig,
        fps: float,
        motion_cfg: MotionConfig | None = None,
        verifier: FaceVerifier | None = None,
    ) -> None:
        self.camera = camera
        self.detector = detector
        self.embedder = embedder
        self.matcher = matcher
        self.tracker = FaceTracker(camera, tracker_cfg, fps)
        # sources hand over frames at fps x confirm_rate; frames off the fps grid are detected only
        # while a new face awaits its confirming detections (Config.sample_fps)
        self.grid = Sampler(fps) if tracker_cfg.confirm_rate > 1 else None
        self.gate = MotionGate(motion_cfg) if motion_cfg is not None and motion_cfg.enabled else None
        self.focus = motion_cfg is not None and motion_cfg.focus
        self.verifier = verifier if tracker_cfg.verify_faces else None
        self.times = StageTimes()

    def feed(self, frame: Frame) -> list[TrackOutcome]:
        """Process one sampled frame; return the tracks that closed."""
        t = self.times
        t.frames += 1
        look = self.grid is not None and not self.grid.keep(frame.timestamp)
        if look and not self.tracker.unconfirmed(frame.timestamp):
            t.off_grid += 1
            return self._finish(self.tracker.expire(frame.timestamp))
        t0 = time.perf_counter()
        moving = self.gate.moving(frame) if self.gate is not None else True
        t1 = time.perf_counter()
        t.seconds["motion"] += t1 - t0
        if not moving and self.tracker.open_tracks == 0:
            # nothing moved and nobody is being followed: skip the detector
            t.motion_skipped += 1
            return self._finish(self.tracker.expire(frame.timestamp))
        focus = self._focus()
        if focus is None:
            dets = self.detector.detect(frame.image)
        else:
            t.focused += 1
            dets = self.detector.detect_focus(frame.image, focus)
        t2 = time.perf_counter()
        t.seconds["detect"] += t2 - t1
        t.detected += 1
        t.confirm_looks += look
        t.faces += len(dets)
        closed = self.tracker.update(frame, dets)
        t.seconds["track"] += time.perf_counter() - t2
        return self._finish(closed)

    def _focus(self) -> FloatArray | None:
        """Boxes to look in (moving areas, tracked faces grown), or None for a full pass.

        Full passes on the first frame and on keepalive frames find faces that
        neither moved nor are tracked (someone standing still).
        """
        gate = self.gate
        if not self.focus or gate is None or gate.last_reason not in ("motion", "still"):
            return None
        boxes = [gate.last_regions] if gate.last_reason == "motion" else []
        tracked = self.tracker.open_boxes()
        if len(tracked):
            centre = (tracked[:, :2] + tracked[:, 2:]) / 2
            half = (tracked[:, 2:] - tracked[:, :2]) * (TRACK_LOOK / 2)
            boxes.append(np.concatenate([centre - half, centre + half], axis=1).astype(np.float32))
        if not boxes:
            return np.zeros((0, 4), np.float32)
        return np.concatenate(boxes).astype(np.float32)

    def finish(self) -> list[TrackOutcome]:
        """End of source: close and process every open track."""
        return self._finish(self.tracker.flush())

    def _finish(self, closed: list[ClosedTrack]) -> list[TrackOutcome]:
        t = self.times
        if closed and self.verifier is not None:
            t0 = time.perf_counter()
            kept = [tr for tr in closed if self.verifier.confirms(tr)]
            t.rejected += len(closed) - len(kept)
            t.seconds["verify"] += time.perf_counter() - t0
            closed = kept
        if not closed:
            return []
        t0 = time.perf_counter()
        faces = [FaceInput(s.crop, s.box, s.kps) for tr in closed for s in tr.shots]
        # one batch for every track that closed now: the network runs once, not per track
        chips = self.embedder.align(faces)
        ta = time.perf_counter()
        t.seconds["align"] += ta - t0
        vectors = self.embedder.embed_aligned(chips)
        t1 = time.perf_counter()
        t.seconds["embed"] += t1 - ta
        t.embedded_faces += len(faces)
        outcomes: list[TrackOutcome] = []
        row = 0
        for tr in closed:
            emb = vectors[row : row + len(tr.shots)]
            row += len(tr.shots)
            embedded = EmbeddedTrack(
                track=tr, embeddings=np.ascontiguousarray(emb), model=self.embedder.model_id
            )
            outcomes.append(TrackOutcome(embedded, self.matcher.match(embedded), make_thumbnail(tr)))
        t.seconds["match"] += time.perf_counter() - t1
        t.tracks += len(outcomes)
        return outcomes
