"""A generated two-person scene for the export tests: a subject walking, a bystander passing.

The subject is the astronaut of ``skimage.data`` (as in ``citywatch.demo``),
walking left to right for the whole clip at the top of the frame. The
bystander is made from the same photo, mirrored, colour-shifted and smaller,
walking right to left lower in the frame during the middle of the clip only,
so the two faces never overlap and the subject's track is the one spanning
the whole clip. Everything is drawn in code, so the tests always run.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from citywatch.demo import astronaut
from citywatch.types import ImageArray

SIZE = (640, 360)
FPS = 10
SECONDS = 4.0
BYSTANDER_FROM, BYSTANDER_TO = 1.0, 3.0
SUBJECT_SCALE, BYSTANDER_SCALE = 0.55, 0.42


def _sprite(scale: float, *, mirror: bool, tint: tuple[float, float, float]) -> tuple[ImageArray, np.ndarray]:
    person = astronaut()[0:420, 95:375]
    if mirror:
        person = np.ascontiguousarray(person[:, ::-1])
    tinted = np.clip(person.astype(np.float32) * np.asarray(tint, np.float32), 0, 255).astype(np.uint8)
    sprite: ImageArray = np.asarray(
        cv2.resize(tinted, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8
    )
    h, w = sprite.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, int(h * 0.55)), (int(w * 0.47), int(h * 0.6)), 0, 0, 360, 1.0, -1)
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigmaX=max(2.0, w * 0.03)), np.float32)
    return sprite, mask


def _paste(frame: np.ndarray, sprite: ImageArray, mask: np.ndarray, x0: int, y0: int) -> None:
    h, w = frame.shape[:2]
    sh, sw = sprite.shape[:2]
    xs, xe, ys, ye = max(0, x0), min(w, x0 + sw), max(0, y0), min(h, y0 + sh)
    if xe <= xs or ye <= ys:
        return
    sp = sprite[ys - y0 : ye - y0, xs - x0 : xe - x0].astype(np.float32)
    a = mask[ys - y0 : ye - y0, xs - x0 : xe - x0, None]
    frame[ys:ye, xs:xe] = frame[ys:ye, xs:xe] * (1 - a) + sp * a


def _sprite_size(scale: float) -> tuple[int, int]:
    """(width, height) of a sprite at ``scale``, exactly as ``cv2.resize`` makes it."""
    return round(280 * scale), round(420 * scale)


def subject_x(t: float) -> int:
    """Left edge of the subject's sprite at media time ``t``."""
    sw = _sprite_size(SUBJECT_SCALE)[0]
    return int(-sw * 0.15 + (SIZE[0] - sw * 0.7) * t / SECONDS)


def _frame_no(t: float) -> int:
    return round(t * FPS)


def subject_rect(t: float) -> tuple[int, int, int, int]:
    """``xyxy`` of the subject's whole sprite (head and body) at media time ``t``."""
    sw, sh = _sprite_size(SUBJECT_SCALE)
    x0, y0 = subject_x(t), int(10 + 5 * np.sin(_frame_no(t) * 1.3))
    return x0, y0, x0 + sw, y0 + sh


def bystander_rect(t: float) -> tuple[int, int, int, int] | None:
    """``xyxy`` of the bystander's whole sprite at media time ``t`` (``None`` when absent)."""
    if not BYSTANDER_FROM <= _frame_no(t) / FPS < BYSTANDER_TO:
        return None
    bw, bh = _sprite_size(BYSTANDER_SCALE)
    u = (_frame_no(t) / FPS - BYSTANDER_FROM) / (BYSTANDER_TO - BYSTANDER_FROM)
    x0 = int(SIZE[0] - bw - 20 - 200 * u)
    return x0, 185, x0 + bw, min(SIZE[1], 185 + bh)


def render_two_people(path: Path, seed: int = 3) -> Path:
    """Write the H.264 clip; returns ``path``."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = 90 + 60 * y + 25 * np.sin(6 * x)
    bg = np.stack([base, base * 0.95, base * 0.9], axis=-1).astype(np.float32)
    subject = _sprite(SUBJECT_SCALE, mirror=False, tint=(1.0, 1.0, 1.0))
    bystander = _sprite(BYSTANDER_SCALE, mirror=True, tint=(1.1, 0.95, 0.8))
    assert bystander[0].shape[:2] == _sprite_size(BYSTANDER_SCALE)[::-1]
    n = int(SECONDS * FPS)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            t = i / FPS
            frame = bg.copy()
            sx, sy, _, _ = subject_rect(t)
            _paste(frame, *subject, sx, sy)
            by = bystander_rect(t)
            if by is not None:
                _paste(frame, *bystander, by[0], by[1])
            frame += rng.normal(0, 3, frame.shape).astype(np.float32)
            img = np.clip(frame, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
