"""Frozen records passed between pipeline stages.

Conventions that every stage relies on:

* Images are ``numpy.uint8`` arrays of shape ``(H, W, 3)`` in **RGB** order.
* Boxes are ``xyxy`` in pixels of the image they were found in, float32.
* Five-point landmarks (``kps``) follow the InsightFace/ArcFace order, as seen
  in the image: 0 = eye on the image's left, 1 = eye on the image's right,
  2 = nose tip, 3 = mouth corner on the left, 4 = mouth corner on the right.
  Detectors that do not predict mouth corners estimate them and say so.
* Timestamps are seconds as float: media time from the start of a file, or
  Unix wall-clock time for live sources (``Frame.live``).
* Embeddings are float32, L2-normalised, one row per face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, sampled frame from a camera or file."""

    camera: str
    index: int
    """Position of the frame in the source (decoded frame number, not sampled)."""
    timestamp: float
    """Media time in seconds for files; Unix time for live sources."""
    image: ImageArray
    live: bool = False

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, slots=True)
class FaceDetections:
    """Faces found in one image. All arrays share the first dimension N."""

    xyxy: FloatArray
    """(N, 4) boxes in pixels."""
    confidence: FloatArray
    """(N,) detector scores in [0, 1]."""
    kps: FloatArray
    """(N, 5, 2) five-point landmarks in pixels (see module docstring for order)."""

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.confidence.shape != (n,) or self.kps.shape != (n, 5, 2):
            raise ValueError(
                f"FaceDetections shapes disagree: xyxy {self.xyxy.shape}, "
                f"confidence {self.confidence.shape}, kps {self.kps.shape}"
            )

    def __len__(self) -> int:
        return len(self.xyxy)

    @classmethod
    def empty(cls) -> FaceDetections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros((0,), np.float32),
            kps=np.zeros((0, 5, 2), np.float32),
        )

    def subset(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> FaceDetections:
        return FaceDetections(self.xyxy[mask], self.confidence[mask], self.kps[mask])

    def scaled(self, factor: float) -> FaceDetections:
        """Coordinates multiplied by ``factor`` (to map a downscaled frame back)."""
        return FaceDetections(
            (self.xyxy * factor).astype(np.float32),
            self.confidence,
            (self.kps * factor).astype(np.float32),
        )


@dataclass(frozen=True, slots=True)
class FaceShot:
    """One observation of a tracked face, kept because it scored well.

    ``crop`` is a region of the original frame around the face (with margin),
    and ``box``/``kps`` are given in the crop's coordinates, so the embedder can
    align without the full frame.
    """

    camera: str
    track_id: int
    frame_index: int
    timestamp: float
    crop: ImageArray
    box: FloatArray
    """(4,) xyxy in crop coordinates."""
    kps: FloatArray
    """(5, 2) in crop coordinates."""
    confidence: float
    quality: float
    """Higher is better; see ``track.quality``. Comparable within one camera."""
    face_px: float
    """Inter-eye distance in pixels of the original frame."""


@dataclass(frozen=True, slots=True)
class ClosedTrack:
    """A face track that ended (lost for long enough, or the source ended)."""

    camera: str
    track_id: int
    start: float
    end: float
    detections: int
    shots: tuple[FaceShot, ...]
    """Best shots, best first. Never empty."""


@dataclass(frozen=True, slots=True)
class EmbeddedTrack:
    """A closed track with embeddings of its best shots."""

    track: ClosedTrack
    embeddings: FloatArray
    """(K, D) one row per shot in ``track.shots`` order (shots that failed alignment dropped)."""
    model: str
    """Embedder identifier, e.g. ``dlib_resnet_v1``; vectors of different models never mix."""

    @property
    def template(self) -> FloatArray:
        """The track's stored and searched vector: the medoid of its shot embeddings.

        The medoid (the shot most similar to the others) is one real face
        embedding, so its scores are on the same scale as the per-comparison
        calibration; a mean of several embeddings is not (it sits closer to
        every face and inflates impostor scores).
        """
        e = self.embeddings
        i = 0 if len(e) <= 2 else int(np.argmax((e @ e.T).sum(axis=1)))
        out: FloatArray = e[i]
        return out


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Open-set decision for one track against the active watchlist entries.

    ``identity_id`` is ``None`` for an explicit no-match; ``score`` is then the
    best candidate's score (or ``-1.0`` when the watchlist is empty), kept so that
    operators can see how close it came.
    """

    identity_id: int | None
    identity_name: str | None
    watchlist: str | None
    score: float
    threshold: float
    candidate_id: int | None = None
    """The best candidate even when it did not pass the threshold."""

    @property
    def matched(self) -> bool:
        return self.identity_id is not None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result of a retrospective search."""

    sighting_id: int
    camera: str
    start: float
    end: float
    score: float
    thumbnail: str | None
    identity_name: str | None = None


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters a frame source keeps while running (health and back-pressure)."""

    decoded: int = 0
    sampled: int = 0
    dropped: int = 0
    reconnects: int = 0
    motion_skipped: int = 0
    last_frame_time: float | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Gallery:
    """Enrolled photos of the active watchlist entries, one row per photo."""

    identity_ids: npt.NDArray[np.int64]
    names: tuple[str, ...]
    watchlists: tuple[str, ...]
    embeddings: FloatArray
    """(M, D) L2-normalised."""
    model: str

    def __len__(self) -> int:
        return len(self.identity_ids)

    @classmethod
    def empty(cls, model: str, dim: int) -> Gallery:
        return cls(np.zeros(0, np.int64), (), (), np.zeros((0, dim), np.float32), model)
