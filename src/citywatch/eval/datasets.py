"""Build an LFW-format benchmark from the shared development photos.

:func:`build_lfw_set` writes, under ``out`` (an output/temp folder, never the
repository nor the data folder)::

    out/<Name>/<Name>_0001.jpg ...   every labelled photo (symlinks, or copies)
    out/pairs.txt                    LFW View 2: "10 N", then per fold N same + N different lines
    out/identities/<Name>/...        the same photos, arranged for citywatch.eval.identify
    out/manifest.json                what was built and from which source file

Identities and photos (after excluding multi-face pictures and near-duplicates):

* ``face_recognition/examples/knn_examples/train/<name>/`` folders; their
  ``test/`` photos are flat files, labelled by :data:`KNN_TEST_LABELS`
  (``kit_with_rose.jpg`` and ``obama_and_biden.jpg`` show two people and are
  left out). Folder ``obama`` becomes ``Obama``, ``kit_harington`` ``Kit_Harington``.
* the Obama/Biden photos of ``face_recognition/examples`` and
  ``face_recognition/tests/test_images`` (:data:`EXTRA_PHOTOS`), merged into
  ``Obama``/``Biden``. Left out: ``obama-{240,480,720,1080}p.jpg`` (the
  ``obama.jpg`` portrait rescaled/letterboxed), ``obama_partial_face*.jpg``
  (crops of it), ``32bit.png`` (``obama2.jpg`` as PNG), ``two_people.jpg``.
* deepface ``unit/dataset``: the ``Yes`` pairs of ``master.csv`` and
  ``face-recognition-pivot.csv`` (its paths are matched by file name) joined
  into connected components, one identity each, named ``deepface_01``,
  ``deepface_02``, ... in order of their lowest image number. Photos in no
  ``Yes`` pair (``couple.jpg``, ``selfie-many-people.jpg``,
  ``img11_reflection.jpg``, a mirror image of ``img11.jpg``) are left out. A
  ``No`` pair inside one component is a contradiction and raises.

Byte-identical files are kept once (the same ``obama.jpg`` ships three times);
the same file under two identities raises. Photos are numbered per identity in
order of their source path.

Pairs: every same-identity pair ("as many as the data allows"), ordered so
that a round-robin over identities comes first; the total is rounded down to
a multiple of 10 (the format needs equal folds) by dropping pairs from the
largest identities. As many different-identity pairs are drawn uniformly and
deterministically (``seed``) from all of them. Each class is shuffled
(``seed``) and dealt into 10 folds. Folds are not identity-disjoint (LFW's
are): with 18 identities that is impossible, and it only matters for the
threshold chosen on the other folds.

``identities/`` keeps every photo of identities with 3+ photos (one gallery
photo and mated probes) and only the first photo of identities with exactly 2
(they become non-mated probes: without them FPIR could not be measured).
That gives few non-mated probes, so FPIR has a resolution of 1/their number.

Pitfall: labels are trusted as given; the deepface components rest on the
transitivity of its ``Yes`` pairs (checked by eye on one photo of each).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from citywatch.eval.calibrate import sample_impostor_pairs
from citywatch.eval.pairs import lfw_image_path, parse_csv_pairs

__all__ = ["EXTRA_PHOTOS", "KNN_TEST_LABELS", "build_lfw_set", "collect_identities"]

log = logging.getLogger(__name__)

FOLDS = 10

KNN_TEST_LABELS: Mapping[str, str | None] = {
    "alex_lacamoire1.jpg": "alex_lacamoire",
    "johnsnow_test1.jpg": "kit_harington",  # Kit Harington as Jon Snow
    "obama1.jpg": "obama",
    "kit_with_rose.jpg": None,  # two people
    "obama_and_biden.jpg": None,  # two people
}
"""Labels of the flat ``knn_examples/test`` photos (``None`` = left out)."""

EXTRA_PHOTOS: Mapping[str, str] = {
    "face_recognition/examples/obama.jpg": "obama",
    "face_recognition/examples/obama2.jpg": "obama",
    "face_recognition/examples/obama_small.jpg": "obama",
    "face_recognition/examples/biden.jpg": "biden",
    "face_recognition/tests/test_images/obama.jpg": "obama",
    "face_recognition/tests/test_images/obama2.jpg": "obama",
    "face_recognition/tests/test_images/obama3.jpg": "obama",
    "face_recognition/tests/test_images/biden.jpg": "biden",
}
"""Single labelled photos outside ``knn_examples`` (relative to the data folder), by knn folder name."""

_DEEPFACE = Path("deepface/unit/dataset")
_KNN = Path("face_recognition/examples/knn_examples")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _natural_key(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _knn_name(folder: str) -> str:
    return "_".join(part.capitalize() for part in folder.split("_"))


def _deepface_identities(data_dir: Path) -> dict[str, list[Path]]:
    dataset = data_dir / _DEEPFACE
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    negatives: list[tuple[str, str, Path]] = []
    for csv_name in ("master.csv", "face-recognition-pivot.csv"):
        csv_path = dataset / csv_name
        if not csv_path.exists():
            log.warning("deepface: %s missing, skipped", csv_path)
            continue
        for pair in parse_csv_pairs(csv_path, root=Path()):
            a, b = pair.path_a.name, pair.path_b.name
            missing = [n for n in (a, b) if not (dataset / n).is_file()]
            if missing:
                log.warning("deepface: %s names missing photo(s) %s, pair skipped", csv_name, missing)
                continue
            if pair.same:
                parent[find(a)] = find(b)
            else:
                negatives.append((a, b, csv_path))
    groups: dict[str, list[str]] = defaultdict(list)
    for name in list(parent):
        groups[find(name)].append(name)
    for a, b, csv_path in negatives:
        if a in parent and b in parent and find(a) == find(b):
            raise ValueError(
                f"{csv_path}: 'No' pair {a},{b} joins photos that 'Yes' pairs put in one identity"
            )
    components = sorted(
        (sorted(m, key=_natural_key) for m in groups.values()), key=lambda m: _natural_key(m[0])
    )
    width = max(2, len(str(len(components))))
    return {f"deepface_{i:0{width}d}": [dataset / n for n in m] for i, m in enumerate(components, 1)}


def collect_identities(data_dir: Path) -> dict[str, list[Path]]:
    """Identity name -> source photos (deduplicated, path order), as documented in the module.

    Raises:
        FileNotFoundError: none of the expected sources exist under ``data_dir``.
        ValueError: the same image content labelled as two identities, or
            contradicting deepface labels.
    """
    by_knn: dict[str, list[Path]] = defaultdict(list)
    train = data_dir / _KNN / "train"
    if train.is_dir():
        for folder in sorted(p for p in train.iterdir() if p.is_dir()):
            by_knn[folder.name].extend(
                p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
            )
    test = data_dir / _KNN / "test"
    if test.is_dir():
        for entry in sorted(test.iterdir()):
            if entry.is_dir():  # other layouts: test/<name>/...
                by_knn[entry.name].extend(
                    p for p in sorted(entry.iterdir()) if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
                )
            elif entry.suffix.lower() in _IMAGE_SUFFIXES:
                if entry.name not in KNN_TEST_LABELS:
                    log.warning("knn test photo %s has no label, skipped", entry)
                    continue
                label = KNN_TEST_LABELS[entry.name]
                if label is not None:
                    by_knn[label].append(entry)
    for rel, label in EXTRA_PHOTOS.items():
        path = data_dir / rel
        if path.is_file():
            by_knn[label].append(path)
        else:
            log.warning("extra photo %s missing, skipped", path)

    raw: dict[str, list[Path]] = {_knn_name(k): v for k, v in sorted(by_knn.items())}
    raw.update(_deepface_identities(data_dir))
    if not any(raw.values()):
        raise FileNotFoundError(f"no labelled photos found under {data_dir}")

    seen: dict[str, tuple[str, Path]] = {}
    identities: dict[str, list[Path]] = {}
    for name in sorted(raw):
        kept: list[Path] = []
        for path in sorted(raw[name], key=lambda p: _natural_key(str(p.relative_to(data_dir)))):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                other, first = seen[digest]
                if other != name:
                    raise ValueError(f"{path} is the same file as {first} but labelled {name!r} vs {other!r}")
                log.debug("duplicate %s of %s dropped", path, first)
                continue
            seen[digest] = (name, path)
            kept.append(path)
        if kept:
            identities[name] = kept
    return identities


def _place(src: Path, dst: Path, copy: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(src.resolve(), dst)


def _genuine_pairs(
    identities: Mapping[str, Sequence[Path]], rng: np.random.Generator
) -> list[tuple[str, int, int]]:
    per_identity: list[list[tuple[str, int, int]]] = []
    for name, photos in identities.items():
        pairs = [(name, i, j) for i in range(1, len(photos) + 1) for j in range(i + 1, len(photos) + 1)]
        order = rng.permutation(len(pairs))
        per_identity.append([pairs[k] for k in order])
    # round-robin: when pairs must be dropped, they come from the largest identities
    out: list[tuple[str, int, int]] = []
    depth = max((len(p) for p in per_identity), default=0)
    for k in range(depth):
        out.extend(p[k] for p in per_identity if k < len(p))
    return out


def _check_out(out: Path, data_dir: Path, overwrite: bool) -> None:
    resolved = out.resolve()
    if resolved == data_dir.resolve() or data_dir.resolve() in resolved.parents:
        raise ValueError(f"output {out} lies inside the data folder {data_dir}")
    if any((p / ".git").exists() for p in (resolved, *resolved.parents)):
        raise ValueError(f"output {out} lies inside a git repository; use a temporary or output folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output {out} is not empty (pass overwrite=True to rebuild it)")
        if not (out / "manifest.json").is_file():
            raise FileExistsError(
                f"output {out} is not empty and holds no manifest.json: refusing to clear it"
            )
        shutil.rmtree(out)


def build_lfw_set(
    data_dir: Path, out: Path, *, copy: bool = False, seed: int = 0, overwrite: bool = False
) -> Path:
    """Build the LFW-format set described in the module docstring; return the ``pairs.txt`` path.

    ``copy`` copies photos instead of symlinking them (absolute links to the
    resolved source). ``seed`` fixes pair sampling and fold assignment. ``out``
    must be empty or absent (``overwrite`` clears a previous build, recognised
    by its ``manifest.json``) and must not lie in a git repository or in
    ``data_dir``.

    Raises:
        FileNotFoundError: no labelled photos under ``data_dir``.
        FileExistsError: ``out`` is not empty (see ``overwrite``).
        ValueError: ``out`` inside the data folder or a repository; fewer than
            10 genuine pairs; label contradictions (see :func:`collect_identities`).
    """
    _check_out(out, data_dir, overwrite)
    identities = collect_identities(data_dir)
    rng = np.random.default_rng(seed)

    genuine_all = _genuine_pairs(identities, rng)
    per_fold = len(genuine_all) // FOLDS
    if per_fold == 0:
        raise ValueError(f"only {len(genuine_all)} same-person pairs: cannot fill {FOLDS} folds")
    genuine = genuine_all[: per_fold * FOLDS]
    numbered = {name: list(range(1, len(photos) + 1)) for name, photos in identities.items()}
    impostor = [
        (a[0], a[1], b[0], b[1])
        for a, b in sample_impostor_pairs(
            {name: [(name, k) for k in ks] for name, ks in numbered.items()},
            max_pairs=per_fold * FOLDS,
            seed=seed,
        )
    ]
    if len(impostor) < per_fold * FOLDS:
        raise ValueError(
            f"only {len(impostor)} different-person pairs for {per_fold * FOLDS} same-person pairs"
        )
    genuine = [genuine[k] for k in rng.permutation(len(genuine))]
    impostor = [impostor[k] for k in rng.permutation(len(impostor))]

    out.mkdir(parents=True, exist_ok=True)
    manifest_photos: dict[str, list[dict[str, str]]] = {}
    for name, photos in identities.items():
        manifest_photos[name] = []
        for k, src in enumerate(photos, 1):
            dst = lfw_image_path(out, name, k)
            _place(src, dst, copy)
            manifest_photos[name].append(
                {"file": str(dst.relative_to(out)), "source": str(src.relative_to(data_dir))}
            )

    lines = [f"{FOLDS}\t{per_fold}"]
    for f in range(FOLDS):
        lines.extend(f"{n}\t{i}\t{j}" for n, i, j in genuine[f * per_fold : (f + 1) * per_fold])
        lines.extend(f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in impostor[f * per_fold : (f + 1) * per_fold])
    pairs_txt = out / "pairs.txt"
    pairs_txt.write_text("\n".join(lines) + "\n", encoding="utf-8")

    ident_dir = out / "identities"
    mated_ids = non_mated_ids = 0
    for name, photos in identities.items():
        keep = photos if len(photos) != 2 else photos[:1]
        mated_ids += len(keep) > 1
        non_mated_ids += len(keep) == 1
        for k, src in enumerate(keep, 1):
            _place(src, lfw_image_path(ident_dir, name, k), copy)

    counts = {
        "identities": len(identities),
        "images": sum(len(p) for p in identities.values()),
        "genuine_pairs_available": len(genuine_all),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "folds": FOLDS,
        "pairs_per_class_per_fold": per_fold,
        "identify_gallery": mated_ids,
        "identify_mated_probes": sum(len(p) - 1 for p in identities.values() if len(p) > 2),
        "identify_non_mated_probes": non_mated_ids,
    }
    manifest = {
        "data_dir": str(data_dir.resolve()),
        "seed": seed,
        "copy": copy,
        "counts": counts,
        "description": (__doc__ or "").strip(),
        "identities": manifest_photos,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("built LFW-format set in %s: %s", out, counts)
    return pairs_txt
