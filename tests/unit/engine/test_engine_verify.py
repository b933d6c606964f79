from __future__ import annotations

import numpy as np

from citywatch.demo import astronaut
from citywatch.engine.verify import FaceVerifier
from citywatch.types import ClosedTrack, FaceShot


def _track(crop: np.ndarray, box: tuple[float, float, float, float]) -> ClosedTrack:
    kps = np.zeros((5, 2), np.float32)
    shot = FaceShot("cam", 1, 0, 0.0, crop, np.asarray(box, np.float32), kps, 0.9, 0.5, 20.0)
    return ClosedTrack("cam", 1, 0.0, 1.0, 3, (shot,))


def test_real_face_is_confirmed_even_when_small() -> None:
    head = astronaut()[0:300, 100:380]  # the face with margin, as the tracker crops it
    small = head[::4, ::4].copy()  # face ~30 px: far too small for HOG without the upscale
    v = FaceVerifier()
    assert v.confirms(_track(small, (19, 15, 44, 48)))


def test_hair_and_texture_are_rejected() -> None:
    rng = np.random.default_rng(0)
    hair = np.clip(rng.normal(60, 25, (60, 60, 3)), 0, 255).astype(np.uint8)
    flat = np.full((60, 60, 3), 200, np.uint8)
    v = FaceVerifier()
    assert not v.confirms(_track(hair, (10, 10, 50, 50)))
    assert not v.confirms(_track(flat, (10, 10, 50, 50)))
