"""citywatch.track: per-camera tracking and best-shot selection."""

from citywatch.track.quality import Quality, score_face
from citywatch.track.tracker import FaceTracker

__all__ = ["FaceTracker", "Quality", "score_face"]
