"""Operating thresholds from impostor scores, and the record that carries them.

A face matcher decides "same person" when ``score > threshold``. The threshold
is not typed by hand: it is the impostor-score quantile that lets through a
chosen false-accept rate (FAR), measured on a labelled set, and stored with the
evidence it rests on (:class:`Calibration`).

Conventions shared by the whole ``citywatch.eval`` package:

* Scores are cosine similarities of L2-normalised vectors, higher = more alike.
* The decision rule is strict: a comparison is accepted iff ``score > threshold``.
  A failed encoding (no face) has score ``-inf`` and is therefore never accepted.
* ``threshold_at_far`` returns the *lowest* threshold whose measured FAR on the
  given impostors is ``<= far``.

Pitfall: the empirical FAR has a resolution of ``1 / n_impostor``. With fewer
than ``1 / far`` impostor comparisons the only threshold with measured FAR
``<= far`` is "above the best impostor", whose true FAR is unknown (anything
between 0 and about ``1 / n_impostor``). :func:`threshold_at_far` refuses that
case unless the caller passes ``allow_coarse=True`` and says so downstream.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "IMAGE_SUFFIXES",
    "Calibration",
    "calibrate",
    "far_is_coarse",
    "genuine_pairs_from_folders",
    "impostor_pairs_from_folders",
    "sample_impostor_pairs",
    "scan_identity_tree",
    "threshold_at_far",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
"""File suffixes (lower case) treated as photos when scanning identity folders."""

_EPS = 1e-9
T = TypeVar("T")


def far_is_coarse(n_impostor: int, far: float) -> bool:
    """True when ``n_impostor`` comparisons cannot resolve a false-accept rate of ``far``.

    That is ``n_impostor < 1 / far``: not even one false accept is allowed, so
    the threshold degenerates to "above the highest impostor score".
    """
    return n_impostor * far < 1.0 - _EPS


def threshold_at_far(
    impostor_scores: Iterable[float] | npt.NDArray[np.floating],
    far: float,
    *,
    allow_coarse: bool = False,
) -> float:
    """The lowest threshold ``t`` with ``#(impostor > t) / n <= far``.

    With ``n`` impostor scores sorted from high to low, ``k = floor(far * n)``
    false accepts are allowed and ``t`` is the ``(k + 1)``-th highest score:
    accepting only scores strictly above it lets through at most ``k``
    impostors (fewer when scores tie). ``-inf`` scores (failed encodings) are
    legitimate impostor comparisons and count in ``n``.

    Raises:
        ValueError: ``far`` not in (0, 1); no scores; a NaN score; or fewer than
            ``1 / far`` impostors while ``allow_coarse`` is false. In the coarse
            case the result is the highest impostor score, and the true FAR at
            it is unknown below about ``1 / n``: callers that allow it must
            report the impostor count next to any TAR they derive.
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far!r}")
    scores = np.asarray(
        list(impostor_scores) if not isinstance(impostor_scores, np.ndarray) else impostor_scores
    )
    scores = scores.astype(np.float64).ravel()
    n = int(scores.size)
    if n == 0:
        raise ValueError("threshold_at_far needs at least one impostor score")
    if np.isnan(scores).any():
        raise ValueError("impostor scores contain NaN")
    if far_is_coarse(n, far):
        msg = (
            f"{n} impostor scores cannot resolve FAR={far:g} (need at least {math.ceil(1 / far - _EPS)}); "
            "the threshold would be the highest impostor score and its true FAR is unknown"
        )
        if not allow_coarse:
            raise ValueError(msg + "; pass allow_coarse=True to accept that and report the count")
        log.debug("%s (allowed: allow_coarse=True; the caller reports it)", msg)
    k = math.floor(far * n + _EPS)
    ordered = np.sort(scores)[::-1]
    return float(ordered[k])


def calibrate(
    genuine_scores: Iterable[float] | npt.NDArray[np.floating],
    impostor_scores: Iterable[float] | npt.NDArray[np.floating],
    *,
    far: float,
    model: str,
    dataset: str,
    allow_coarse: bool = False,
) -> Calibration:
    """Compute a :class:`Calibration` from labelled scores (see :func:`threshold_at_far`).

    ``tar`` is the share of genuine scores strictly above the threshold (``None``
    with no genuine scores).
    """
    imp = np.asarray(list(impostor_scores), dtype=np.float64)
    gen = np.asarray(list(genuine_scores), dtype=np.float64)
    threshold = threshold_at_far(imp, far, allow_coarse=allow_coarse)
    tar = float(np.mean(gen > threshold)) if gen.size else None
    return Calibration(
        model=model,
        far=far,
        threshold=threshold,
        n_genuine=int(gen.size),
        n_impostor=int(imp.size),
        tar=tar,
        dataset=dataset,
        coarse=far_is_coarse(int(imp.size), far),
    )


class Calibration(BaseModel):
    """A threshold and the evidence behind it, stored as JSON next to a model.

    ``coarse`` is true when ``n_impostor < 1 / far`` (see module docstring):
    such a threshold is a placeholder, not a measured operating point.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """Embedder identifier, e.g. ``dlib_resnet_v1``; never apply to another model."""
    far: float = Field(gt=0.0, lt=1.0)
    threshold: float
    """Accept iff cosine similarity ``> threshold``."""
    n_genuine: int = Field(ge=0)
    n_impostor: int = Field(ge=1)
    tar: float | None = Field(default=None, ge=0.0, le=1.0)
    """Share of genuine comparisons accepted at ``threshold`` on the calibration set."""
    dataset: str
    """What the scores came from (name, folder, pair counts, date of the data)."""
    coarse: bool = False
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    notes: str = ""

    def save(self, path: Path) -> Path:
        """Write pretty JSON to ``path`` (parents created) and return it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read a file written by :meth:`save`; raises ``pydantic.ValidationError`` if malformed."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


def scan_identity_tree(root: Path) -> dict[str, list[Path]]:
    """Map each identity folder under ``root`` to its photos, both in name order.

    Only direct subfolders count as identities; hidden entries are ignored;
    photos are the files with a suffix in :data:`IMAGE_SUFFIXES` (case-insensitive)
    directly inside the folder. Folders with no photo are left out, so a tree
    that also holds ``pairs.txt`` or nested output folders still scans cleanly.

    Raises:
        NotADirectoryError: ``root`` is not a directory.
    """
    if not root.is_dir():
        raise NotADirectoryError(f"identity tree {root} is not a directory")
    tree: dict[str, list[Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if photos:
            tree[folder.name] = photos
    return tree


def genuine_pairs_from_folders(root: Path) -> list[tuple[Path, Path]]:
    """All same-identity pairs ``(a, b)``, ``a`` before ``b`` in name order, in a deterministic order."""
    pairs: list[tuple[Path, Path]] = []
    for photos in scan_identity_tree(root).values():
        for i, a in enumerate(photos):
            pairs.extend((a, b) for b in photos[i + 1 :])
    return pairs


def sample_impostor_pairs(
    groups: Mapping[str, Sequence[T]], *, max_pairs: int | None = None, seed: int = 0
) -> list[tuple[T, T]]:
    """Different-group pairs of items: all of them, or a deterministic uniform sample.

    Items are ordered by group (mapping order) then position; every unordered
    pair of items from different groups has one flat index, and when there are
    more than ``max_pairs`` of them a sample of flat indices is drawn without
    replacement with ``numpy.random.default_rng(seed)`` (the same inputs and seed
    give the same pairs). The result is in flat-index order, so the first item
    of a pair always comes from the earlier group. The full set is never
    materialised, so huge trees are fine.
    """
    names = list(groups)
    sizes = np.array([len(groups[n]) for n in names], dtype=np.int64)
    # items of the groups after group i
    after = np.concatenate([np.cumsum(sizes[::-1])[::-1][1:], [0]]) if len(sizes) else sizes
    per_group = sizes * after
    total = int(per_group.sum())
    if max_pairs is not None and max_pairs < 0:
        raise ValueError(f"max_pairs must be >= 0, got {max_pairs}")
    if max_pairs is None or total <= max_pairs:
        flat = np.arange(total, dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        flat = np.sort(rng.choice(total, size=max_pairs, replace=False).astype(np.int64))
        log.info("sampled %d of %d impostor pairs (seed %d)", max_pairs, total, seed)
    starts = np.concatenate([[0], np.cumsum(per_group)])
    items: list[T] = [x for n in names for x in groups[n]]
    first_item = np.concatenate([[0], np.cumsum(sizes)])
    out: list[tuple[T, T]] = []
    for idx in flat.tolist():
        g = int(np.searchsorted(starts, idx, side="right") - 1)
        offset = idx - int(starts[g])
        width = int(after[g])
        a = int(first_item[g]) + offset // width
        b = int(first_item[g + 1]) + offset % width
        out.append((items[a], items[b]))
    return out


def impostor_pairs_from_folders(
    root: Path, *, max_pairs: int | None = 100_000, seed: int = 0
) -> list[tuple[Path, Path]]:
    """Different-identity photo pairs of a folder-per-identity tree (see :func:`scan_identity_tree`).

    All of them when there are at most ``max_pairs`` (``None`` = no cap),
    otherwise a deterministic uniform sample (:func:`sample_impostor_pairs`).
    Pitfall: the tree's labels are trusted; two folders of the same person make
    genuine pairs that are scored as impostors.
    """
    return sample_impostor_pairs(scan_identity_tree(root), max_pairs=max_pairs, seed=seed)
