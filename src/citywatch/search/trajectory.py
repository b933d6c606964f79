"""Where was this person seen: search hits -> a time-ordered path through camera locations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from citywatch.types import SearchHit


@dataclass(frozen=True, slots=True)
class TrajectoryStop:
    camera: str
    start: float
    end: float
    sightings: int
    best_score: float
    lat: float | None
    lon: float | None


def trajectory(
    hits: Sequence[SearchHit],
    threshold: float,
    positions: Mapping[str, tuple[float | None, float | None]],
) -> list[TrajectoryStop]:
    """Hits at or above ``threshold``, in time order, consecutive hits at one camera merged.

    Hits below the threshold are leads for a human to look at, not places the
    person was: they are left out of the path.
    """
    kept = sorted((h for h in hits if h.score >= threshold), key=lambda h: h.start)
    stops: list[TrajectoryStop] = []
    for h in kept:
        if stops and stops[-1].camera == h.camera:
            last = stops[-1]
            stops[-1] = TrajectoryStop(
                last.camera,
                last.start,
                max(last.end, h.end),
                last.sightings + 1,
                max(last.best_score, h.score),
                last.lat,
                last.lon,
            )
            continue
        lat, lon = positions.get(h.camera, (None, None))
        stops.append(TrajectoryStop(h.camera, h.start, h.end, 1, h.score, lat, lon))
    return stops
