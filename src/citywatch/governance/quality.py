"""Capture quality per camera, and the floor below which recognition is refused.

A camera whose faces are too small cannot be recognised reliably: the shipped
calibration was measured at about 20 px between the eyes, and error rates
climb steeply below that. So once a camera has ``min_quality_sightings``
measured faces, recognition (watchlist matching) is refused on it while the
median inter-eye distance is below ``min_eye_px``; the refusal says why.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from citywatch.config import GovernanceConfig
from citywatch.errors import NotFoundError
from citywatch.store.repo import Store
from citywatch.store.stats import quality_samples

SAMPLE = 1000
"""Newest measured faces per camera that the statistics cover."""


@dataclass(frozen=True, slots=True)
class CameraQuality:
    camera: str
    faces: int
    """Measured faces in the sample (newest ``SAMPLE``)."""
    median_eye_px: float | None
    median_frontal: float | None
    share_recognisable: float | None
    """Share of faces with inter-eye distance >= the floor (``min_eye_px``)."""
    floor_eye_px: float
    judged: bool
    """Whether there are enough faces (``min_quality_sightings``) to judge."""
    recognition_allowed: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def camera_quality(store: Store, camera: str, cfg: GovernanceConfig) -> CameraQuality:
    """Capture statistics of ``camera`` and the verdict of the quality floor."""
    samples = quality_samples(store, camera, SAMPLE)
    floor = cfg.min_eye_px
    if not samples:
        return CameraQuality(
            camera, 0, None, None, None, floor, False, True,
            f"no measured faces yet; judged after {cfg.min_quality_sightings}",
        )  # fmt: skip
    px = [p for p, _ in samples]
    fr = [f for _, f in samples if f is not None]
    med = float(statistics.median(px))
    share = sum(1 for p in px if p >= floor) / len(px)
    med_fr = float(statistics.median(fr)) if fr else None
    judged = len(px) >= cfg.min_quality_sightings
    if not judged:
        allowed = True
        reason = f"only {len(px)} measured face(s); judged after {cfg.min_quality_sightings}"
    elif med < floor:
        allowed = False
        reason = (
            f"recognition refused on camera {camera!r}: median inter-eye distance {med:.1f} px is below "
            f"the floor of {floor:g} px (only {share:.0%} of {len(px)} faces are large enough to "
            "recognise reliably); move or zoom the camera, or switch recognition off for it"
        )
    else:
        allowed = True
        reason = f"median inter-eye distance {med:.1f} px >= floor {floor:g} px"
    return CameraQuality(camera, len(px), med, med_fr, share, floor, judged, allowed, reason)


def recognition_allowed(store: Store, camera: str, cfg: GovernanceConfig) -> tuple[bool, str]:
    """``(allowed, reason)`` for watchlist matching on ``camera``.

    Refused when the camera's recognition flag is off in the store, or when
    at least ``cfg.min_quality_sightings`` measured faces exist and their
    median inter-eye distance is below ``cfg.min_eye_px``. The reason is a
    sentence fit for a warning.
    """
    try:
        cam = store.get_camera(camera)
    except NotFoundError:
        cam = None
    if cam is not None and not cam.recognition:
        return False, f"recognition is switched off for camera {camera!r} (cameras[].recognition)"
    q = camera_quality(store, camera, cfg)
    return q.recognition_allowed, q.reason


def all_camera_quality(store: Store, cameras: list[str], cfg: GovernanceConfig) -> list[CameraQuality]:
    """``camera_quality`` for each camera, in the given order."""
    return [camera_quality(store, c, cfg) for c in cameras]


__all__ = ["SAMPLE", "CameraQuality", "all_camera_quality", "camera_quality", "recognition_allowed"]
