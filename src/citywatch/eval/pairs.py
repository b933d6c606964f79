"""1:1 verification benchmark: pair lists (LFW ``pairs.txt``, CSV) and the 10-fold protocol.

Formats read:

* **LFW View 2** ``pairs.txt``: first line ``<folds> <n>`` (e.g. ``10 300``), then
  for each fold ``n`` same-person lines ``name n1 n2`` followed by ``n``
  different-person lines ``name1 n1 name2 n2`` (fields separated by tabs or
  spaces). Image ``k`` of ``name`` is ``ROOT/name/name_{k:04d}.jpg``.
  A first line with a single count ``n`` (LFW View 1, ``pairsDevTrain.txt``)
  means ``n`` same lines then ``n`` different lines; folds are then assigned
  like for CSV (below).
* **CSV** with a header holding ``file_x``, ``file_y`` and ``Decision``
  (case-insensitive; other columns ignored), decisions ``Yes``/``No``, paths
  relative to ``ROOT``. Folds: within each label, the i-th pair in file order
  goes to fold ``i % 10`` (deterministic and stratified by label; consecutive
  pairs of one person are spread over folds).

``ROOT`` defaults to the folder that holds the pair file.

Protocol (:func:`evaluate_pairs`): every distinct image is encoded once. A
pair's score is the cosine similarity of the L2-normalised vectors; an image
with no face (``encode`` returned ``None``) makes the score ``-inf``, i.e.
"different" at every threshold: a genuine pair with a missing face is always
an error, an impostor pair with one is always (correctly) rejected. This is
how NIST FRTE treats failures to template; ``no_face`` lists such images so a
detector's misses stay visible. For each fold, the threshold that maximises
accuracy on the other folds is applied to the held-out fold; the report gives
the mean and standard deviation of the held-out accuracies (``accuracy_std``
is the population std over folds, as common LFW evaluation code reports;
``accuracy_stderr`` is the sample std / sqrt(folds) of the official LFW
protocol). ``tar_at_far_1e-3`` uses all pairs at once: threshold from the
impostor scores (:func:`citywatch.eval.calibrate.threshold_at_far`), TAR = share
of genuine pairs above it. With fewer than 1000 impostor pairs that estimate is
coarse (``far_coarse`` is true and ``impostor_pairs`` says how coarse).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from citywatch.errors import CitywatchError
from citywatch.eval.calibrate import far_is_coarse, threshold_at_far

__all__ = [
    "Encoder",
    "Pair",
    "PairsFormatError",
    "PairsReport",
    "encode_images",
    "evaluate_pairs",
    "load_pairs",
    "pair_scores",
    "parse_csv_pairs",
    "parse_lfw_pairs",
]

log = logging.getLogger(__name__)

Encoder = Callable[[Path], "npt.NDArray[np.floating] | None"]
"""Image path -> one embedding (shape ``(D,)`` or ``(1, D)``), or ``None`` when no face was found."""

DEFAULT_FOLDS = 10


class PairsFormatError(CitywatchError, ValueError):
    """A pair file is malformed; ``path`` and 1-based ``line`` say where."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class Pair:
    """Two images and whether they show the same person; ``fold`` in ``0..folds-1``."""

    path_a: Path
    path_b: Path
    same: bool
    fold: int


# --------------------------------------------------------------------------- parsing


def lfw_image_path(root: Path, name: str, number: int) -> Path:
    """``ROOT/name/name_000N.jpg`` (4-digit zero-padded, LFW convention)."""
    return root / name / f"{name}_{number:04d}.jpg"


def _positive_int(text: str, path: Path, line: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise PairsFormatError(path, line, f"{what} {text!r} is not an integer") from None
    if value < 1:
        raise PairsFormatError(path, line, f"{what} must be >= 1, got {value}")
    return value


def _stratified_folds(labels: Sequence[bool], folds: int) -> list[int]:
    counters = {True: 0, False: 0}
    out: list[int] = []
    for same in labels:
        out.append(counters[same] % folds)
        counters[same] += 1
    return out


def parse_lfw_pairs(path: Path, root: Path | None = None, *, folds: int = DEFAULT_FOLDS) -> list[Pair]:
    """Read an LFW ``pairs.txt`` (see module docstring) into :class:`Pair` records, in file order.

    ``folds`` is only used for a single-count header (the fold count is in a
    ``<folds> <n>`` header). Blank lines are skipped; line numbers in errors are
    those of the file. Image files are not checked here.

    Raises:
        PairsFormatError: bad header, a line with the wrong number of fields or
            of the wrong kind for its section (same vs different), a
            non-positive image number, or too few / too many pair lines.
    """
    root = path.parent if root is None else root
    lines = [(i, raw.split()) for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
    lines = [(i, f) for i, f in lines if f]
    if not lines:
        raise PairsFormatError(path, 1, "empty pairs file (expected a header like '10 300')")
    head_no, head = lines[0]
    if len(head) == 2:
        n_folds = _positive_int(head[0], path, head_no, "fold count")
        per_class = _positive_int(head[1], path, head_no, "pairs per class")
        explicit_folds = True
    elif len(head) == 1:
        n_folds, per_class = 1, _positive_int(head[0], path, head_no, "pair count")
        explicit_folds = False
    else:
        raise PairsFormatError(
            path, head_no, f"header must be '<folds> <n>' or '<n>', got {' '.join(head)!r}"
        )
    body = lines[1:]
    expected = n_folds * 2 * per_class
    if len(body) != expected:
        where = body[expected][0] if len(body) > expected else (body[-1][0] + 1 if body else head_no + 1)
        raise PairsFormatError(
            path,
            where,
            f"header promises {n_folds} x (2 x {per_class}) = {expected} pair lines, file has {len(body)}",
        )
    pairs: list[Pair] = []
    for k, (line_no, f) in enumerate(body):
        fold, pos = divmod(k, 2 * per_class)
        same = pos < per_class
        if same:
            if len(f) != 3:
                kind = "a different-person line" if len(f) == 4 else f"{len(f)} fields"
                raise PairsFormatError(
                    path, line_no, f"expected a same-person line 'name n1 n2' (fold {fold}), got {kind}"
                )
            name, n1, n2 = f
            a = lfw_image_path(root, name, _positive_int(n1, path, line_no, "image number"))
            b = lfw_image_path(root, name, _positive_int(n2, path, line_no, "image number"))
        else:
            if len(f) != 4:
                kind = "a same-person line" if len(f) == 3 else f"{len(f)} fields"
                raise PairsFormatError(
                    path,
                    line_no,
                    f"expected a different-person line 'name1 n1 name2 n2' (fold {fold}), got {kind}",
                )
            name1, n1, name2, n2 = f
            a = lfw_image_path(root, name1, _positive_int(n1, path, line_no, "image number"))
            b = lfw_image_path(root, name2, _positive_int(n2, path, line_no, "image number"))
        pairs.append(Pair(a, b, same, fold))
    if not explicit_folds:
        assigned = _stratified_folds([p.same for p in pairs], folds)
        pairs = [Pair(p.path_a, p.path_b, p.same, f) for p, f in zip(pairs, assigned, strict=True)]
    return pairs


def parse_csv_pairs(path: Path, root: Path | None = None, *, folds: int = DEFAULT_FOLDS) -> list[Pair]:
    """Read a ``file_x,file_y,Decision`` CSV (see module docstring) into :class:`Pair` records.

    Raises:
        PairsFormatError: missing header columns, an empty path, a row with too
            few fields, or a decision other than Yes/No (case-insensitive).
    """
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    root = path.parent if root is None else root
    rows: list[tuple[Path, Path, bool]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        cols: tuple[int, int, int] = (0, 0, 0)
        for row in reader:
            line_no = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                missing = [c for c in ("file_x", "file_y", "decision") if c not in header]
                if missing:
                    raise PairsFormatError(path, line_no, f"header lacks column(s) {missing}: {row}")
                cols = (header.index("file_x"), header.index("file_y"), header.index("decision"))
                continue
            if len(row) <= max(cols):
                raise PairsFormatError(path, line_no, f"expected {len(header)} fields, got {len(row)}")
            x, y, decision = (row[c].strip() for c in cols)
            if not x or not y:
                raise PairsFormatError(path, line_no, "empty file_x or file_y")
            d = decision.lower()
            if d not in ("yes", "no"):
                raise PairsFormatError(path, line_no, f"Decision must be Yes or No, got {decision!r}")
            rows.append((root / x, root / y, d == "yes"))
    if header is None:
        raise PairsFormatError(path, 1, "empty CSV (expected a header file_x,file_y,Decision)")
    assigned = _stratified_folds([r[2] for r in rows], folds)
    return [Pair(a, b, same, f) for (a, b, same), f in zip(rows, assigned, strict=True)]


def load_pairs(path: Path, root: Path | None = None) -> list[Pair]:
    """:func:`parse_csv_pairs` for ``*.csv``, otherwise :func:`parse_lfw_pairs`."""
    if path.suffix.lower() == ".csv":
        return parse_csv_pairs(path, root)
    return parse_lfw_pairs(path, root)


# --------------------------------------------------------------------------- scoring


def _normalised(vec: npt.NDArray[np.floating], image: Path) -> npt.NDArray[np.float64]:
    arr = np.asarray(vec, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"encoder returned shape {np.shape(vec)} for {image}; expected (D,) or (1, D)")
    if not np.isfinite(arr).all():
        raise ValueError(f"encoder returned non-finite values for {image}")
    norm = float(np.linalg.norm(arr))
    if norm == 0.0:
        raise ValueError(f"encoder returned a zero vector for {image}")
    return arr / norm


def encode_images(images: Iterable[Path], encode: Encoder) -> dict[Path, npt.NDArray[np.float64] | None]:
    """Encode each distinct image once (first-seen order); vectors L2-normalised, ``None`` = no face.

    Raises:
        ValueError: an embedding of the wrong shape, non-finite, zero, or of a
            different dimension than the others.
    """
    out: dict[Path, npt.NDArray[np.float64] | None] = {}
    dim: int | None = None
    for image in images:
        if image in out:
            continue
        raw = encode(image)
        if raw is None:
            log.debug("no face in %s", image)
            out[image] = None
            continue
        vec = _normalised(raw, image)
        if dim is None:
            dim = int(vec.size)
        elif vec.size != dim:
            raise ValueError(f"embedding of {image} has dimension {vec.size}, others have {dim}")
        out[image] = vec
    return out


def pair_scores(
    pairs: Sequence[Pair], vectors: dict[Path, npt.NDArray[np.float64] | None]
) -> npt.NDArray[np.float64]:
    """Cosine similarity per pair (vectors already normalised); ``-inf`` when either side is ``None``."""
    scores = np.empty(len(pairs), dtype=np.float64)
    for i, p in enumerate(pairs):
        a, b = vectors[p.path_a], vectors[p.path_b]
        scores[i] = -math.inf if a is None or b is None else float(np.clip(a @ b, -1.0, 1.0))
    return scores


def best_threshold(scores: npt.NDArray[np.float64], same: npt.NDArray[np.bool_]) -> float:
    """Threshold maximising accuracy of ``score > t`` on the given labelled scores.

    Candidates are ``-inf``, the midpoints between consecutive distinct finite
    scores, and ``+inf``. Ties (several candidates with the best accuracy) are
    broken by taking the median candidate (the lower one of the two middles),
    which keeps the threshold away from the edges of a flat optimum.
    """
    finite = np.unique(scores[np.isfinite(scores)])
    candidates = np.concatenate([[-np.inf], (finite[:-1] + finite[1:]) / 2.0, [np.inf]])
    gen = np.sort(scores[same])
    imp = np.sort(scores[~same])
    true_accepts = gen.size - np.searchsorted(gen, candidates, side="right")
    true_rejects = np.searchsorted(imp, candidates, side="right")
    correct = true_accepts + true_rejects
    best = np.flatnonzero(correct == correct.max())
    return float(candidates[best[(best.size - 1) // 2]])


@dataclass(slots=True)
class PairsReport:
    """Result of :func:`evaluate_pairs`. ``tar_at_far`` is ``None`` without genuine pairs."""

    accuracy: float
    accuracy_std: float
    accuracy_stderr: float
    fold_accuracies: list[float]
    fold_thresholds: list[float]
    tar_at_far: float | None
    far: float
    far_threshold: float
    far_coarse: bool
    genuine_pairs: int
    impostor_pairs: int
    no_face: list[str]
    no_face_pairs: int
    pairs: int
    images: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """Mean of the per-fold thresholds: a summary, not a calibrated operating point."""
        return float(np.mean(self.fold_thresholds))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``json.dumps`` works; non-finite floats become ``None``).

        Keys: ``accuracy``, ``accuracy_std``, ``accuracy_stderr``, ``tar_at_far_<far>``
        (``tar_at_far_1e-3`` for the default), ``far_threshold``, ``far_coarse``,
        ``genuine_pairs``, ``impostor_pairs``, ``no_face`` (image paths),
        ``no_face_pairs``, ``pairs``, ``images``, ``threshold``, ``fold_accuracies``,
        ``fold_thresholds``, ``seconds``, plus ``extra``.
        """
        return {
            "accuracy": _jsonable(self.accuracy),
            "accuracy_std": _jsonable(self.accuracy_std),
            "accuracy_stderr": _jsonable(self.accuracy_stderr),
            f"tar_at_far_{_far_key(self.far)}": _jsonable(self.tar_at_far),
            "far_threshold": _jsonable(self.far_threshold),
            "far_coarse": self.far_coarse,
            "genuine_pairs": self.genuine_pairs,
            "impostor_pairs": self.impostor_pairs,
            "no_face": list(self.no_face),
            "no_face_pairs": self.no_face_pairs,
            "pairs": self.pairs,
            "images": self.images,
            "threshold": _jsonable(self.threshold),
            "fold_accuracies": [_jsonable(a) for a in self.fold_accuracies],
            "fold_thresholds": [_jsonable(t) for t in self.fold_thresholds],
            "seconds": round(self.seconds, 3),
            **self.extra,
        }


def _far_key(far: float) -> str:
    """``1e-3`` for 0.001 (the key the issue tracker uses), ``%g`` otherwise."""
    exponent = math.log10(far)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"1e{round(exponent)}"
    return f"{far:g}"


def _jsonable(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def evaluate_pairs(pairs: Sequence[Pair], encode: Encoder, *, far: float = 1e-3) -> PairsReport:
    """Run the k-fold verification protocol (module docstring) over ``pairs``.

    Folds are the distinct ``Pair.fold`` values (10 for LFW); at least two are
    needed. ``encode`` is called once per distinct image path.

    Raises:
        ValueError: no pairs, fewer than two folds, or a bad embedding.
    """
    if not pairs:
        raise ValueError("evaluate_pairs needs at least one pair")
    fold_ids = sorted({p.fold for p in pairs})
    if len(fold_ids) < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, pairs have {fold_ids}")
    start = time.perf_counter()
    vectors = encode_images((path for p in pairs for path in (p.path_a, p.path_b)), encode)
    scores = pair_scores(pairs, vectors)
    same = np.array([p.same for p in pairs], dtype=bool)
    fold = np.array([p.fold for p in pairs])

    accuracies: list[float] = []
    thresholds: list[float] = []
    for f in fold_ids:
        test = fold == f
        t = best_threshold(scores[~test], same[~test])
        thresholds.append(t)
        accuracies.append(float(np.mean((scores[test] > t) == same[test])))
    acc = np.asarray(accuracies)

    gen, imp = scores[same], scores[~same]
    if imp.size:
        far_threshold = threshold_at_far(imp, far, allow_coarse=True)
        tar = float(np.mean(gen > far_threshold)) if gen.size else None
    else:
        log.warning("no impostor pairs: TAR at FAR=%g is undefined", far)
        far_threshold, tar = math.inf, None
    coarse = far_is_coarse(int(imp.size), far)
    if coarse and imp.size:
        log.warning(
            "TAR at FAR=%g from %d impostor pairs is coarse (needs >= %d)", far, imp.size, math.ceil(1 / far)
        )

    no_face = sorted(str(p) for p, v in vectors.items() if v is None)
    report = PairsReport(
        accuracy=float(acc.mean()),
        accuracy_std=float(acc.std()),
        accuracy_stderr=float(acc.std(ddof=1) / math.sqrt(acc.size)),
        fold_accuracies=accuracies,
        fold_thresholds=thresholds,
        tar_at_far=tar,
        far=far,
        far_threshold=far_threshold,
        far_coarse=coarse,
        genuine_pairs=int(gen.size),
        impostor_pairs=int(imp.size),
        no_face=no_face,
        no_face_pairs=int(np.isneginf(scores).sum()),
        pairs=len(pairs),
        images=len(vectors),
        seconds=time.perf_counter() - start,
    )
    log.info(
        "pairs: accuracy %.4f ± %.4f over %d folds, TAR@FAR=%g %s (%d impostors), %d no-face images",
        report.accuracy,
        report.accuracy_std,
        len(fold_ids),
        far,
        "n/a" if tar is None else f"{tar:.4f}",
        imp.size,
        len(no_face),
    )
    return report
