"""Open-set matching of a track against the active watchlist gallery.

The decision is per track and uses every best shot: a shot's score against
an identity is its best enrolled photo, and the track's score is the
**median** over its shots. The calibrated threshold is a per-comparison
(one face against one photo) operating point, and a median of several
comparisons only passes when most shots pass, so one lucky frame cannot raise
an alert and one blurred frame cannot hide a match. (Comparing the averaged
track template instead inflates impostor scores: the mean of several
embeddings sits closer to every face, and measured on the shared GIFs it
lifted a stranger from 0.916 to 0.925.) Below the threshold the result is an
explicit no-match that still names the closest candidate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from citywatch.errors import ModelError
from citywatch.types import EmbeddedTrack, FloatArray, Gallery, MatchResult


class Matcher:
    def __init__(self, gallery: Gallery, threshold: float) -> None:
        self.gallery = gallery
        self.threshold = float(threshold)
        self._ids, self._first = (
            np.unique(gallery.identity_ids, return_index=True)
            if len(gallery)
            else (np.zeros(0, np.int64),) * 2
        )

    def identity_scores(self, embeddings: FloatArray, model: str) -> npt.NDArray[np.float32]:
        """(identities,) median over the K shot embeddings of each identity's best-photo score."""
        g = self.gallery
        if model != g.model:
            raise ModelError(
                f"match: track embedded with {model!r} but the gallery holds {g.model!r} vectors"
            )
        sims = g.embeddings @ np.atleast_2d(embeddings).astype(np.float32).T  # (photos, K)
        per_identity = np.stack([sims[g.identity_ids == i].max(axis=0) for i in self._ids])  # (I, K)
        out: npt.NDArray[np.float32] = np.median(per_identity, axis=1).astype(np.float32)
        return out

    def match_vectors(self, embeddings: FloatArray, model: str) -> MatchResult:
        if len(self.gallery) == 0:
            return MatchResult(None, None, None, -1.0, self.threshold)
        scores = self.identity_scores(embeddings, model)
        best = int(np.argmax(scores))
        score = float(scores[best])
        ident = int(self._ids[best])
        row = int(self._first[best])
        if score >= self.threshold:
            g = self.gallery
            return MatchResult(ident, g.names[row], g.watchlists[row], score, self.threshold, ident)
        return MatchResult(None, None, None, score, self.threshold, ident)

    def match(self, track: EmbeddedTrack) -> MatchResult:
        return self.match_vectors(track.embeddings, track.model)
