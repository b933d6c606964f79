"""Open-set 1:N identification, measured the way NIST FRTE 1:N reports it.

Input is a folder-per-identity tree (:func:`citywatch.eval.calibrate.scan_identity_tree`):

* **gallery**: the first photo (name order) of every identity with >= 2 photos;
* **mated probes**: the other photos of those identities;
* **non-mated probes**: the photo of every identity with exactly one photo
  (nobody in the gallery is that person).

Each probe is compared (cosine similarity of L2-normalised vectors) with every
gallery template; its *best candidate* is the highest-scoring one. A candidate
"passes" at threshold ``t`` when ``score > t`` (strict, as in ``calibrate``).

* ``FPIR(t)`` = share of non-mated probes whose best candidate passes.
* ``FNIR(t)`` = share of mated probes whose best candidate is not their identity
  or does not pass (rank-1 identification mode; NIST's investigative mode with
  longer candidate lists would count a mate at any rank).
* ``rank1`` = share of mated probes whose best candidate is their identity, at
  no threshold.

``FNIR at FPIR = x`` uses the lowest threshold whose FPIR ``<= x``: the
``(floor(x * n) + 1)``-th highest non-mated best score. FPIR only takes the
values ``0, 1/n, 2/n, ...`` for ``n`` non-mated probes, so with fewer than
``1/x`` of them the threshold is "above every non-mated probe" and the figure
is coarse: ``fpir_coarse`` flags it and ``non_mated`` gives ``n``.

No-face handling (follows NIST's failure-to-template rule: lowest score):

* a probe with no face has best score ``-inf``: a miss if mated, never a false
  positive if non-mated;
* a gallery photo with no face leaves its identity un-enrolled; its mated
  probes stay mated (and therefore count as misses). ``gallery`` counts the
  enrolled templates, ``gallery_no_face`` the failures.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from citywatch.eval.calibrate import far_is_coarse, scan_identity_tree, threshold_at_far
from citywatch.eval.pairs import Encoder, encode_images

__all__ = ["DEFAULT_FPIR_TARGETS", "IdentifyReport", "evaluate_identification", "identification_metrics"]

log = logging.getLogger(__name__)

DEFAULT_FPIR_TARGETS: tuple[float, ...] = (0.01, 0.003, 0.001)


@dataclass(slots=True)
class IdentifyReport:
    """Result of :func:`evaluate_identification`; ``None`` marks an undefined figure."""

    rank1: float | None
    fnir_at_fpir: dict[float, float | None]
    thresholds: dict[float, float | None]
    fpir_measured: dict[float, float | None]
    fpir_coarse: dict[float, bool]
    gallery: int
    gallery_no_face: int
    probes: int
    mated: int
    non_mated: int
    no_face: list[str]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats become ``None``).

        Keys: ``rank1``, ``fnir_at_fpir_<x>`` for each target (``0.01``, ``0.003``,
        ``0.001`` by default), ``threshold_at_fpir_<x>``, ``fpir_measured_<x>``,
        ``fpir_coarse_<x>``, ``gallery``, ``gallery_no_face``, ``probes``,
        ``mated``, ``non_mated``, ``no_face``, ``seconds``, plus ``extra``.
        """
        out: dict[str, Any] = {"rank1": _finite_or_none(self.rank1)}
        for x in self.fnir_at_fpir:
            out[f"fnir_at_fpir_{x:g}"] = _finite_or_none(self.fnir_at_fpir[x])
        for x in self.fnir_at_fpir:
            out[f"threshold_at_fpir_{x:g}"] = _finite_or_none(self.thresholds[x])
            out[f"fpir_measured_{x:g}"] = _finite_or_none(self.fpir_measured[x])
            out[f"fpir_coarse_{x:g}"] = self.fpir_coarse[x]
        out.update(
            gallery=self.gallery,
            gallery_no_face=self.gallery_no_face,
            probes=self.probes,
            mated=self.mated,
            non_mated=self.non_mated,
            no_face=list(self.no_face),
            seconds=round(self.seconds, 3),
        )
        out.update(self.extra)
        return out


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def identification_metrics(
    mated_scores: npt.NDArray[np.floating],
    mated_correct: npt.NDArray[np.bool_],
    non_mated_scores: npt.NDArray[np.floating],
    fpir_targets: Sequence[float] = DEFAULT_FPIR_TARGETS,
) -> tuple[
    float | None,
    dict[float, float | None],
    dict[float, float | None],
    dict[float, float | None],
    dict[float, bool],
]:
    """Rank-1 and FNIR at each FPIR target from best-candidate scores.

    Args:
        mated_scores: best-candidate score per mated probe (``-inf`` = no face / empty gallery).
        mated_correct: whether that best candidate is the probe's identity.
        non_mated_scores: best-candidate score per non-mated probe.

    Returns:
        ``(rank1, fnir, threshold, fpir_measured, coarse)``; the dicts are keyed
        by target. FNIR/threshold/FPIR are ``None`` without non-mated probes
        (FPIR cannot be measured), ``rank1`` and FNIR are ``None`` without mated
        probes.
    """
    mated = np.asarray(mated_scores, dtype=np.float64)
    correct = np.asarray(mated_correct, dtype=bool)
    non = np.asarray(non_mated_scores, dtype=np.float64)
    rank1 = float(np.mean(correct & np.isfinite(mated))) if mated.size else None
    fnir: dict[float, float | None] = {}
    thresholds: dict[float, float | None] = {}
    fpir: dict[float, float | None] = {}
    coarse: dict[float, bool] = {}
    for x in fpir_targets:
        coarse[x] = far_is_coarse(int(non.size), x)
        if non.size == 0:
            fnir[x] = thresholds[x] = fpir[x] = None
            continue
        t = threshold_at_far(non, x, allow_coarse=True)
        thresholds[x] = t
        fpir[x] = float(np.mean(non > t))
        fnir[x] = float(np.mean(~(correct & (mated > t)))) if mated.size else None
    return rank1, fnir, thresholds, fpir, coarse


def evaluate_identification(
    root: Path, encode: Encoder, *, fpir_targets: Sequence[float] = DEFAULT_FPIR_TARGETS
) -> IdentifyReport:
    """Run the open-set 1:N protocol (module docstring) on the identity tree at ``root``.

    ``encode`` is called once per photo. Raises ``NotADirectoryError`` for a
    missing root and ``ValueError`` for bad embeddings or an empty tree.
    """
    start = time.perf_counter()
    tree = scan_identity_tree(root)
    if not tree:
        raise ValueError(f"no identity folders with photos under {root}")
    gallery_photos = {name: photos[0] for name, photos in tree.items() if len(photos) >= 2}
    mated_probes = [(name, p) for name, photos in tree.items() if len(photos) >= 2 for p in photos[1:]]
    non_mated_probes = [photos[0] for photos in tree.values() if len(photos) == 1]
    vectors = encode_images((p for photos in tree.values() for p in photos), encode)

    enrolled = [(name, vectors[p]) for name, p in gallery_photos.items() if vectors[p] is not None]
    names = [name for name, _ in enrolled]
    matrix = np.stack([v for _, v in enrolled if v is not None]) if enrolled else np.zeros((0, 1), np.float64)

    def best(image: Path) -> tuple[float, str | None]:
        vec = vectors[image]
        if vec is None or not names:
            return -math.inf, None
        sims = matrix @ vec
        i = int(np.argmax(sims))
        return float(sims[i]), names[i]

    mated_results = [(best(p), name) for name, p in mated_probes]
    mated_scores = np.array([s for (s, _), _ in mated_results], dtype=np.float64)
    mated_correct = np.array([cand == name for (_, cand), name in mated_results], dtype=bool)
    non_scores = np.array([best(p)[0] for p in non_mated_probes], dtype=np.float64)

    rank1, fnir, thresholds, fpir, coarse = identification_metrics(
        mated_scores, mated_correct, non_scores, fpir_targets
    )
    if not non_mated_probes:
        log.warning("%s has no identity with exactly one photo: FPIR (and FNIR at FPIR) undefined", root)
    elif any(coarse.values()):
        log.warning(
            "%d non-mated probes: FPIR resolution is 1/%d, targets below that are coarse",
            len(non_mated_probes),
            len(non_mated_probes),
        )
    report = IdentifyReport(
        rank1=rank1,
        fnir_at_fpir=fnir,
        thresholds=thresholds,
        fpir_measured=fpir,
        fpir_coarse=coarse,
        gallery=len(enrolled),
        gallery_no_face=len(gallery_photos) - len(enrolled),
        probes=len(mated_probes) + len(non_mated_probes),
        mated=len(mated_probes),
        non_mated=len(non_mated_probes),
        no_face=sorted(str(p) for p, v in vectors.items() if v is None),
        seconds=time.perf_counter() - start,
    )
    log.info(
        "identify: gallery %d, probes %d (%d mated, %d non-mated), rank-1 %s",
        report.gallery,
        report.probes,
        report.mated,
        report.non_mated,
        "n/a" if rank1 is None else f"{rank1:.4f}",
    )
    return report
