"""Open-set 1:N metrics on a tiny hand-checked gallery (synthetic vectors)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from eval_helpers import make_encoder

from citywatch.eval.identify import evaluate_identification, identification_metrics


def unit(*xs: float) -> npt.NDArray[np.float64]:
    v = np.array(xs, dtype=np.float64)
    return v / np.linalg.norm(v)


def build_tree(
    tmp_path: Path, table: dict[str, npt.NDArray[np.float64] | None]
) -> dict[Path, npt.NDArray[np.float64] | None]:
    out: dict[Path, npt.NDArray[np.float64] | None] = {}
    for rel, vec in table.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        out[path] = vec
    return out


def test_tiny_gallery_by_hand(tmp_path: Path) -> None:
    # gallery: A/a1 = e0, B/b1 = e1, E/e1 has no face (E not enrolled)
    # mated:   A/a2 -> A at .9 (right), A/a3 -> B (wrong), A/a4 no face, B/b2 -> B at .6, E/e2 -> wrong
    # non-mated: C/c1 best .7, D/d1 best .3 (+ root files and empty folders ignored)
    s51, s91 = math.sqrt(0.51), math.sqrt(0.91)
    table = build_tree(
        tmp_path,
        {
            "A/a1.jpg": unit(1, 0, 0),
            "A/a2.jpg": unit(0.9, 0, math.sqrt(0.19)),
            "A/a3.jpg": unit(0.2, 0.9, 0.1),
            "A/a4.jpg": None,
            "B/b1.jpg": unit(0, 1, 0),
            "B/b2.jpg": unit(0, 0.6, 0.8),
            "C/c1.jpg": unit(0.7, 0, s51),
            "D/d1.jpg": unit(0.3, 0, s91),
            "E/e1.jpg": None,
            "E/e2.jpg": unit(0, 0, 1),
        },
    )
    (tmp_path / "pairs.txt").write_text("ignored")
    (tmp_path / "empty").mkdir()
    (tmp_path / "A" / "notes.txt").write_text("not a photo")
    encode, calls = make_encoder(table)
    report = evaluate_identification(tmp_path, encode, fpir_targets=(0.01, 0.5))
    assert sorted(calls) == sorted(table)
    assert report.gallery == 2 and report.gallery_no_face == 1
    assert (report.probes, report.mated, report.non_mated) == (7, 5, 2)
    assert report.rank1 == pytest.approx(2 / 5)
    # FPIR 0.01 with 2 non-mated probes: coarse, threshold = best non-mated score .7 -> only a2 passes
    assert report.thresholds[0.01] == pytest.approx(0.7)
    assert report.fpir_measured[0.01] == 0.0 and report.fpir_coarse[0.01]
    assert report.fnir_at_fpir[0.01] == pytest.approx(4 / 5)
    # FPIR 0.5: one false positive allowed -> threshold .3, a2 and b2 pass
    assert report.thresholds[0.5] == pytest.approx(0.3)
    assert report.fpir_measured[0.5] == 0.5 and not report.fpir_coarse[0.5]
    assert report.fnir_at_fpir[0.5] == pytest.approx(3 / 5)
    assert report.no_face == sorted(str(tmp_path / p) for p in ("A/a4.jpg", "E/e1.jpg"))
    out = report.to_json()
    assert out["fnir_at_fpir_0.5"] == pytest.approx(3 / 5)
    json.dumps(out, allow_nan=False)


def test_default_json_keys(tmp_path: Path) -> None:
    table = build_tree(tmp_path, {"A/1.jpg": unit(1, 0), "A/2.jpg": unit(1, 0.1), "B/1.jpg": unit(0, 1)})
    out = evaluate_identification(tmp_path, make_encoder(table)[0]).to_json()
    for key in (
        "rank1",
        "fnir_at_fpir_0.01",
        "fnir_at_fpir_0.003",
        "fnir_at_fpir_0.001",
        "gallery",
        "probes",
    ):
        assert key in out
    assert out["rank1"] == 1.0 and out["fnir_at_fpir_0.001"] == 0.0


def test_without_non_mated_probes_fpir_is_undefined(tmp_path: Path) -> None:
    table = build_tree(tmp_path, {"A/1.jpg": unit(1, 0), "A/2.jpg": unit(1, 0.1)})
    report = evaluate_identification(tmp_path, make_encoder(table)[0])
    assert report.rank1 == 1.0
    assert report.fnir_at_fpir == {0.01: None, 0.003: None, 0.001: None}
    with pytest.raises(ValueError, match="no identity"):
        evaluate_identification(tmp_path / "A", make_encoder(table)[0])


def test_metrics_from_scores() -> None:
    rank1, fnir, thr, fpir, coarse = identification_metrics(
        np.array([0.9, 0.8, -np.inf, 0.5]),
        np.array([True, False, False, True]),
        np.linspace(0.0, 0.6, 1000),
        (0.001,),
    )
    assert rank1 == 0.5
    assert thr[0.001] == pytest.approx(0.6 - 0.6 / 999)  # 2nd highest: one false positive allowed
    assert fpir[0.001] == 0.001 and not coarse[0.001]
    assert fnir[0.001] == 0.75  # 0.9 passes and is right; misses: 0.8 wrong, no face, 0.5 below
