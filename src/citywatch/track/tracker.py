"""Per-camera face tracking with ByteTrack (Roboflow ``trackers``) and best-shot selection.

Everything downstream works per *track*: a person walking past a camera is one
track with a handful of best shots, not fifty detections. A track closes when
it has not been seen for ``lost_seconds`` of frame time (media time for files,
wall-clock for live sources) or when the source ends.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from citywatch.config import TrackerConfig
from citywatch.track.quality import score_face
from citywatch.types import ClosedTrack, FaceDetections, FaceShot, FloatArray, Frame

logger = logging.getLogger(__name__)

# Crop margin around the face box, as a share of the box side on each edge:
# enough context for dlib's aligner (its chip pads 25 %) and a thumbnail.
CROP_MARGIN = 0.6


@dataclass
class _Live:
    track_id: int
    start: float
    last: float
    detections: int = 0
    box: FloatArray | None = None
    """Last box seen (frame pixels): where to look for this face in the next frame."""
    # min-heap of (quality, tie-breaker, shot): the worst kept shot on top
    heap: list[tuple[float, int, FaceShot]] = field(default_factory=list)


def crop_face(frame: Frame, box: FloatArray, kps: FloatArray) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """Cut a margin-padded region around ``box``; return it with box/kps in its coordinates."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    m = CROP_MARGIN * side
    cx1 = int(max(0, np.floor(x1 - m)))
    cy1 = int(max(0, np.floor(y1 - m)))
    cx2 = int(min(frame.width, np.ceil(x2 + m)))
    cy2 = int(min(frame.height, np.ceil(y2 + m)))
    crop = np.ascontiguousarray(frame.image[cy1:cy2, cx1:cx2])
    off = np.array([cx1, cy1], np.float32)
    return crop, (box.reshape(2, 2) - off).reshape(4).astype(np.float32), (kps - off).astype(np.float32)


class FaceTracker:
    """Tracks faces of one camera and emits :class:`ClosedTrack` records.

    Call :meth:`update` for every frame that went through detection, and
    :meth:`expire` for frames the motion gate skipped (so tracks still close on
    time); :meth:`flush` at the end of the source returns what is still open.
    """

    def __init__(self, camera: str, cfg: TrackerConfig, fps: float) -> None:
        self.camera = camera
        self.cfg = cfg
        self._bt = ByteTrackTracker(
            lost_track_buffer=max(1, int(round(cfg.lost_seconds * 30))),
            frame_rate=fps,
            track_activation_threshold=cfg.activation_threshold,
            minimum_consecutive_frames=1,
            minimum_iou_threshold=1.0 - cfg.matching_threshold,
            high_conf_det_threshold=cfg.activation_threshold,
        )
        self._live: dict[int, _Live] = {}
        self._seq = 0
        self._new_faces = 0

    def update(self, frame: Frame, dets: FaceDetections) -> list[ClosedTrack]:
        if len(dets):
            sv_dets = sv.Detections(
                xyxy=dets.xyxy.astype(np.float32),
                confidence=dets.confidence.astype(np.float32),
                data={"idx": np.arange(len(dets))},
            )
        else:
            sv_dets = sv.Detections.empty()
        tracked = self._bt.update(sv_dets, timestamp=frame.timestamp)
        ids = tracked.tracker_id if tracked.tracker_id is not None else np.zeros(0, int)
        idx = tracked.data.get("idx", np.zeros(0, int)) if len(tracked) else np.zeros(0, int)
        tracked_idx: set[int] = set()
        for tid, i in zip(ids, idx, strict=True):
            if tid < 0:
                continue  # not yet confirmed by ByteTrack
            tracked_idx.add(int(i))
            self._observe(frame, int(tid), dets.xyxy[i], dets.kps[i], float(dets.confidence[i]))
        # faces strong enough to start a track that ByteTrack holds as tentative until seen again
        self._new_faces = sum(
            1
            for i in range(len(dets))
            if i not in tracked_idx and dets.confidence[i] >= self.cfg.activation_threshold
        )
        return self.expire(frame.timestamp)

    def _observe(self, frame: Frame, tid: int, box: FloatArray, kps: FloatArray, conf: float) -> None:
        live = self._live.get(tid)
        if live is None:
            live = self._live[tid] = _Live(track_id=tid, start=frame.timestamp, last=frame.timestamp)
        live.last = frame.timestamp
        live.detections += 1
        live.box = box
        q = score_face(frame.image, box, kps, conf)
        if q.eye_px < self.cfg.min_face_px:
            return
        if len(live.heap) >= self.cfg.best_shots and q.score <= live.heap[0][0]:
            return  # cheaper than cropping a shot we would drop at once
        crop, cbox, ckps = crop_face(frame, box, kps)
        shot = FaceShot(
            camera=self.camera,
            track_id=tid,
            frame_index=frame.index,
            timestamp=frame.timestamp,
            crop=crop,
            box=cbox,
            kps=ckps,
            confidence=conf,
            quality=q.score,
            face_px=q.eye_px,
        )
        self._seq += 1
        item = (q.score, self._seq, shot)
        if len(live.heap) < self.cfg.best_shots:
            heapq.heappush(live.heap, item)
        else:
            heapq.heapreplace(live.heap, item)

    def expire(self, now: float) -> list[ClosedTrack]:
        """Close tracks not seen for ``lost_seconds`` before ``now``."""
        due = [tid for tid, lv in self._live.items() if now - lv.last > self.cfg.lost_seconds]
        return [c for tid in due if (c := self._close(tid)) is not None]

    def flush(self) -> list[ClosedTrack]:
        """Close every open track (end of source)."""
        return [c for tid in list(self._live) if (c := self._close(tid)) is not None]

    def _close(self, tid: int) -> ClosedTrack | None:
        live = self._live.pop(tid)
        if live.detections < self.cfg.min_detections or not live.heap:
            logger.debug("camera %s: track %d dropped (%d detections)", self.camera, tid, live.detections)
            return None
        shots = tuple(s for _, _, s in sorted(live.heap, key=lambda t: (-t[0], t[1])))
        return ClosedTrack(
            camera=self.camera,
            track_id=tid,
            start=live.start,
            end=live.last,
            detections=live.detections,
            shots=shots,
        )

    @property
    def open_tracks(self) -> int:
        return len(self._live)

    def unconfirmed(self, now: float) -> int:
        """Faces that would be dropped if not seen again soon: new faces in the last detected frame
        that ByteTrack holds as tentative, and tracks younger than ``confirm_seconds`` at ``now``
        that closing would drop (fewer than ``min_detections``, or no shot good enough to keep)."""
        young = sum(
            1
            for lv in self._live.values()
            if now - lv.start <= self.cfg.confirm_seconds
            and (lv.detections < self.cfg.min_detections or not lv.heap)
        )
        return self._new_faces + young

    def open_boxes(self) -> FloatArray:
        """``(N, 4)`` last boxes of the open tracks (frame pixels)."""
        boxes = [lv.box for lv in self._live.values() if lv.box is not None]
        if not boxes:
            return np.zeros((0, 4), np.float32)
        return np.stack(boxes).astype(np.float32)
