"""Open-set matching of a track against the active watchlist gallery.

The decision is per track, on the track's *template* (the normalised mean of
its best-shot embeddings), so one lucky or unlucky frame cannot decide it. An
identity's score is its best enrolled photo. Below the calibrated threshold the
result is an explicit no-match that still reports the closest candidate.
"""

from __future__ import annotations

import numpy as np

from citywatch.errors import ModelError
from citywatch.types import EmbeddedTrack, FloatArray, Gallery, MatchResult


class Matcher:
    def __init__(self, gallery: Gallery, threshold: float) -> None:
        self.gallery = gallery
        self.threshold = float(threshold)

    def match_vector(self, template: FloatArray, model: str) -> MatchResult:
        g = self.gallery
        if len(g) and model != g.model:
            raise ModelError(
                f"match: track embedded with {model!r} but the gallery holds {g.model!r} vectors"
            )
        if len(g) == 0:
            return MatchResult(None, None, None, -1.0, self.threshold)
        sims = g.embeddings @ template.astype(np.float32)
        best = int(np.argmax(sims))
        score = float(sims[best])
        ident = int(g.identity_ids[best])
        if score >= self.threshold:
            return MatchResult(ident, g.names[best], g.watchlists[best], score, self.threshold, ident)
        return MatchResult(None, None, None, score, self.threshold, ident)

    def match(self, track: EmbeddedTrack) -> MatchResult:
        return self.match_vector(track.template, track.model)
