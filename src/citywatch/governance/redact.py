"""Redaction for evidence exports: face tracks with gap filling, irreversible blurring, watermarks.

Pure image and geometry work (no store, no models), so it is easy to test.

Contracts:

* :func:`link_tracks` associates per-frame detections into tracks and gives
  every track a box in *every* frame from ``hold`` frames before its first
  detection to ``hold`` frames after its last one: missing frames inside the
  track are linearly interpolated, the frames outside are extrapolated at the
  track's velocity. A face the detector missed in frame ``k`` but found in
  ``k-1`` and ``k+1`` still has a box in ``k``.
* :func:`blur_faces` destroys the face in each (padded) box: pixelated to a
  few cells, then a strong Gaussian blur; the result no longer looks like a
  face to a face detector. It works on a copy.
* :func:`add_watermark` returns a new image: the input with a black strip
  appended below it carrying the text lines, plus a small boxed label inside
  the image's top-left corner (so a crop of the strip still leaves a mark).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from citywatch.types import FaceDetections, FloatArray, ImageArray


@dataclass(frozen=True, slots=True)
class BlurParams:
    """How bystanders are blurred and how boxes are carried across frames (recorded in the manifest)."""

    pad: float = 0.45
    """Box growth on each side, as a share of the box's larger side."""
    cells: int = 4
    """Pixelation: the padded box is reduced to ``cells`` x ``cells`` blocks."""
    sigma: float = 0.25
    """Gaussian sigma as a share of the padded box side (after pixelating)."""
    max_gap: int = 4
    """Frames a track may go undetected and still be continued (and filled in)."""
    hold: int = 2
    """Frames a track's box is extrapolated before its first and after its last detection."""
    residual_passes: int = 2
    """Re-detect on the redacted frame and blur anything left that is not the subject, this many times."""

    def to_json(self) -> dict[str, Any]:
        return {
            "pad": self.pad,
            "cells": self.cells,
            "sigma": self.sigma,
            "max_gap": self.max_gap,
            "hold": self.hold,
            "residual_passes": self.residual_passes,
        }


@dataclass
class FaceTrack:
    """One face across frames: observed boxes (with their detection index) and filled-in boxes."""

    track_id: int
    observed: dict[int, tuple[FloatArray, int]] = field(default_factory=dict)
    """frame -> (box xyxy, index into that frame's detections)."""
    boxes: dict[int, FloatArray] = field(default_factory=dict)
    """frame -> box for every frame the track covers (observed, interpolated or held)."""

    @property
    def first(self) -> int:
        return min(self.observed)

    @property
    def last(self) -> int:
        return max(self.observed)


def box_iou(a: FloatArray, b: FloatArray) -> float:
    """Intersection over union of two ``xyxy`` boxes."""
    ix = max(0.0, min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0])))
    iy = max(0.0, min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1])))
    inter = ix * iy
    area = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / area if area > 0 else 0.0


def _centre(box: FloatArray) -> FloatArray:
    return np.asarray([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


def _side(box: FloatArray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def _velocity(track: FaceTrack, at_end: bool) -> FloatArray:
    """Per-frame box change between the two observations at the track's start or end (0 if only one)."""
    frames = sorted(track.observed)
    if len(frames) < 2:
        return np.zeros(4, np.float32)
    f0, f1 = (frames[-2], frames[-1]) if at_end else (frames[0], frames[1])
    d = (track.observed[f1][0] - track.observed[f0][0]) / float(f1 - f0)
    return np.asarray(d, np.float32)


def link_tracks(detections: Sequence[FaceDetections], params: BlurParams | None = None) -> list[FaceTrack]:
    """Associate detections over consecutive frames into tracks and fill every track's boxes.

    Association is greedy on a predicted box (last box moved at the track's
    velocity): a detection joins the track whose prediction it overlaps most
    (IoU > 0.1), or whose predicted centre is within one face side of its own.
    A track not seen for more than ``max_gap`` frames is closed.
    """
    p = params or BlurParams()
    tracks: list[FaceTrack] = []
    open_tracks: list[FaceTrack] = []
    for f, dets in enumerate(detections):
        open_tracks = [t for t in open_tracks if f - t.last <= p.max_gap + 1]
        candidates: list[tuple[float, int, int]] = []
        for ti, t in enumerate(open_tracks):
            last_box = t.observed[t.last][0]
            pred = last_box + _velocity(t, at_end=True) * float(f - t.last)
            for di in range(len(dets)):
                box = dets.xyxy[di]
                iou = box_iou(pred, box)
                dist = float(np.linalg.norm(_centre(pred) - _centre(box)))
                side = max(_side(pred), _side(box), 1.0)
                if iou > 0.1 or dist < side:
                    candidates.append((iou + 1.0 - dist / side, ti, di))
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in sorted(candidates, reverse=True):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            open_tracks[ti].observed[f] = (dets.xyxy[di].astype(np.float32), di)
        for di in range(len(dets)):
            if di not in used_d:
                t = FaceTrack(track_id=len(tracks))
                t.observed[f] = (dets.xyxy[di].astype(np.float32), di)
                tracks.append(t)
                open_tracks.append(t)
    n = len(detections)
    for t in tracks:
        _fill(t, n, p.hold)
    return tracks


def _fill(track: FaceTrack, n_frames: int, hold: int) -> None:
    frames = sorted(track.observed)
    for a, b in itertools.pairwise(frames):
        ba, bb = track.observed[a][0], track.observed[b][0]
        for f in range(a, b):
            w = (f - a) / (b - a)
            track.boxes[f] = ((1 - w) * ba + w * bb).astype(np.float32)
    track.boxes[frames[-1]] = track.observed[frames[-1]][0]
    v_start, v_end = _velocity(track, at_end=False), _velocity(track, at_end=True)
    for k in range(1, hold + 1):
        if frames[0] - k >= 0:
            track.boxes[frames[0] - k] = (track.observed[frames[0]][0] - v_start * k).astype(np.float32)
        if frames[-1] + k < n_frames:
            track.boxes[frames[-1] + k] = (track.observed[frames[-1]][0] + v_end * k).astype(np.float32)


def pad_box(box: FloatArray, pad: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``box`` grown by ``pad`` x its larger side on every edge, clipped to the image; integer ``xyxy``."""
    m = pad * _side(box)
    h, w = shape[0], shape[1]
    x1 = int(max(0, np.floor(box[0] - m)))
    y1 = int(max(0, np.floor(box[1] - m)))
    x2 = int(min(w, np.ceil(box[2] + m)))
    y2 = int(min(h, np.ceil(box[3] + m)))
    return x1, y1, x2, y2


def blur_faces(
    image: ImageArray, boxes: Sequence[FloatArray], params: BlurParams | None = None
) -> ImageArray:
    """A copy of ``image`` with every (padded) box pixelated and blurred beyond recognition."""
    p = params or BlurParams()
    out = image.copy()
    for box in boxes:
        x1, y1, x2, y2 = pad_box(box, p.pad, image.shape)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        region = out[y1:y2, x1:x2]
        small = cv2.resize(region, (p.cells, p.cells), interpolation=cv2.INTER_AREA)
        blocky = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)
        sigma = max(2.0, p.sigma * max(x2 - x1, y2 - y1))
        out[y1:y2, x1:x2] = cv2.GaussianBlur(blocky, (0, 0), sigmaX=sigma)
    return out


def _fit_scale(lines: Sequence[str], width: int, font: int, thickness: int) -> float:
    widest = max(cv2.getTextSize(line, font, 1.0, thickness)[0][0] for line in lines)
    return float(np.clip((width - 8) / max(widest, 1), 0.25, 0.6))


def add_watermark(image: ImageArray, lines: Sequence[str], corner_label: str) -> ImageArray:
    """``image`` with a strip of ``lines`` appended below and ``corner_label`` boxed at the top left."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    w = image.shape[1]
    scale = _fit_scale(lines, w, font, 1)
    line_h = int(np.ceil(cv2.getTextSize("Ag", font, scale, 1)[0][1] * 1.9)) + 2
    strip = np.zeros((line_h * len(lines) + 6, w, 3), np.uint8)
    for i, line in enumerate(lines):
        y = 4 + line_h * (i + 1) - line_h // 3
        cv2.putText(strip, line, (4, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    top = np.ascontiguousarray(image.copy())
    cscale = _fit_scale([corner_label], max(40, w // 2), font, 1)
    (tw, th), base = cv2.getTextSize(corner_label, font, cscale, 1)
    cv2.rectangle(top, (0, 0), (tw + 6, th + base + 6), (0, 0, 0), -1)
    cv2.putText(top, corner_label, (3, th + 3), font, cscale, (255, 255, 0), 1, cv2.LINE_AA)
    out: ImageArray = np.ascontiguousarray(np.vstack([top, strip]))
    return out


__all__ = ["BlurParams", "FaceTrack", "add_watermark", "blur_faces", "box_iou", "link_tracks", "pad_box"]
