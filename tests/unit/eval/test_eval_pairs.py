"""Pair files and the k-fold verification protocol, on synthetic embeddings (plumbing, not accuracy)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from eval_helpers import make_encoder, unit_at

from citywatch.eval.pairs import (
    Pair,
    PairsFormatError,
    evaluate_pairs,
    load_pairs,
    parse_csv_pairs,
    parse_lfw_pairs,
)

REF = Path("ref.jpg")


def scored_pairs(
    spec: list[tuple[float, bool, int]],
) -> tuple[list[Pair], dict[Path, npt.NDArray[np.float64] | None]]:
    """Pairs (REF, img_i) whose cosine similarity is exactly the given score."""
    table: dict[Path, npt.NDArray[np.float64] | None] = {REF: unit_at(1.0)}
    pairs = []
    for i, (score, same, fold) in enumerate(spec):
        p = Path(f"img{i}.jpg")
        table[p] = unit_at(score)
        pairs.append(Pair(REF, p, same, fold))
    return pairs, table


# ----------------------------------------------------------------- protocol


def test_separable_set_scores_one_and_encodes_each_image_once() -> None:
    spec = [(0.9 + 0.005 * f, True, f) for f in range(10)] + [(0.1 + 0.005 * f, False, f) for f in range(10)]
    pairs, table = scored_pairs(spec)
    encode, calls = make_encoder(table)
    report = evaluate_pairs(pairs + pairs, encode)  # every image appears in several pairs
    assert report.accuracy == 1.0
    assert report.accuracy_std == 0.0
    assert report.fold_accuracies == [1.0] * 10
    assert len(calls) == len(set(calls)) == len(table)
    assert report.pairs == 40 and report.no_face == []
    assert all(0.14 < t < 0.9 for t in report.fold_thresholds)


def test_mixed_set_matches_hand_computation() -> None:
    # fold 0: G .9, I .3 | fold 1: G .8, I .85 | fold 2: G .7, I .1
    # fold 0 trained on {G .8, I .85, G .7, I .1}: best t = .4 (3/4, unique) -> G .9 ok, I .3 ok: 1.0
    # fold 1 trained on {G .9, I .3, G .7, I .1}: separable, t = .5 -> G .8 ok, I .85 wrong: 0.5
    # fold 2 trained on {G .9, I .3, G .8, I .85}: t = .55 and .875 tie (3/4), the lower middle
    #   (.55) wins -> G .7 ok, I .1 ok: 1.0
    spec = [
        (0.9, True, 0),
        (0.3, False, 0),
        (0.8, True, 1),
        (0.85, False, 1),
        (0.7, True, 2),
        (0.1, False, 2),
    ]
    pairs, table = scored_pairs(spec)
    report = evaluate_pairs(pairs, make_encoder(table)[0])
    assert report.fold_thresholds == pytest.approx([0.4, 0.5, 0.55])
    assert report.fold_accuracies == [1.0, 0.5, 1.0]
    assert report.accuracy == pytest.approx(5 / 6)
    assert report.accuracy_std == pytest.approx(math.sqrt(1 / 18))
    assert report.accuracy_stderr == pytest.approx(np.std([1.0, 0.5, 1.0], ddof=1) / math.sqrt(3))


def test_tar_at_far_uses_impostor_quantile() -> None:
    imp = np.linspace(-0.5, 0.5, 2000)
    gen = [0.6, 0.45, 0.3, 0.9]
    spec = [(float(s), False, i % 10) for i, s in enumerate(imp)] + [(s, True, i) for i, s in enumerate(gen)]
    pairs, table = scored_pairs(spec)
    report = evaluate_pairs(pairs, make_encoder(table)[0])
    # 2000 impostors, FAR 1e-3 -> 2 false accepts allowed -> threshold = 3rd highest impostor
    assert report.far_threshold == pytest.approx(imp[-3])
    assert report.tar_at_far == 0.5  # .6 and .9 pass
    assert not report.far_coarse
    assert report.impostor_pairs == 2000 and report.genuine_pairs == 4
    out = report.to_json()
    assert out["tar_at_far_1e-3"] == 0.5


def test_few_impostors_give_a_coarse_tar_and_say_so() -> None:
    spec = [(0.9, True, f) for f in range(10)] + [(0.2 + 0.01 * f, False, f) for f in range(10)]
    pairs, table = scored_pairs(spec)
    report = evaluate_pairs(pairs, make_encoder(table)[0])
    assert report.far_coarse and report.impostor_pairs == 10
    assert report.far_threshold == pytest.approx(0.29)  # highest impostor
    assert report.tar_at_far == 1.0


def test_no_face_scores_minus_infinity() -> None:
    spec = [(0.9, True, f) for f in range(10)] + [(0.1, False, f) for f in range(10)]
    pairs, table = scored_pairs(spec)
    missing_g, missing_i = Path("gone_g.jpg"), Path("gone_i.jpg")
    table[missing_g] = table[missing_i] = None
    pairs += [Pair(REF, missing_g, True, 0), Pair(missing_i, REF, False, 1)]
    report = evaluate_pairs(pairs, make_encoder(table)[0])
    # the genuine pair is an error in fold 0 (3 pairs), the impostor pair a correct rejection in fold 1
    assert report.fold_accuracies[0] == pytest.approx(2 / 3)
    assert report.fold_accuracies[1] == 1.0
    assert report.no_face == sorted([str(missing_g), str(missing_i)])
    assert report.no_face_pairs == 2
    assert report.tar_at_far == pytest.approx(10 / 11)
    out = report.to_json()
    assert set(out) >= {"accuracy", "accuracy_std", "tar_at_far_1e-3", "no_face", "pairs", "seconds"}
    json.dumps(out, allow_nan=False)


def test_protocol_refuses_one_fold_and_bad_vectors() -> None:
    pairs, table = scored_pairs([(0.9, True, 0), (0.1, False, 0)])
    with pytest.raises(ValueError, match="2 folds"):
        evaluate_pairs(pairs, make_encoder(table)[0])
    pairs, table = scored_pairs([(0.9, True, 0), (0.1, False, 1)])
    table[REF] = np.zeros(3)
    with pytest.raises(ValueError, match="zero vector"):
        evaluate_pairs(pairs, make_encoder(table)[0])
    table[REF] = np.ones(4)
    with pytest.raises(ValueError, match="dimension"):
        evaluate_pairs(pairs, make_encoder(table)[0])


# ----------------------------------------------------------------- LFW pairs.txt


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_lfw_view2_parses_folds_and_paths(tmp_path: Path) -> None:
    text = "2\t1\nAnn\t1\t2\nAnn\t1\tBob\t3\n\nBob\t2\t3\nCid\t1\tAnn\t12\n"
    pairs = parse_lfw_pairs(write(tmp_path, "pairs.txt", text))
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[0].path_a == tmp_path / "Ann" / "Ann_0001.jpg"
    assert pairs[3].path_b == tmp_path / "Ann" / "Ann_0012.jpg"
    root = tmp_path / "lfw"
    assert load_pairs(tmp_path / "pairs.txt", root)[1].path_b == root / "Bob" / "Bob_0003.jpg"


def test_lfw_single_count_header_gets_stratified_folds(tmp_path: Path) -> None:
    lines = ["3"] + [f"A\t1\t{k}" for k in (2, 3, 4)] + [f"A\t1\tB\t{k}" for k in (1, 2, 3)]
    pairs = parse_lfw_pairs(write(tmp_path, "dev.txt", "\n".join(lines)), folds=2)
    assert [p.fold for p in pairs] == [0, 1, 0, 0, 1, 0]
    assert [p.same for p in pairs] == [True] * 3 + [False] * 3


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("10 300 7\n", 1, "header"),
        ("x 1\n", 1, "not an integer"),
        ("1 1\nAnn 1\nAnn 1 Bob 2\n", 2, "same-person"),
        ("1 1\nAnn 1 Bob 2\nAnn 1 Bob 2\n", 2, "got a different-person line"),
        ("1 1\nAnn 1 2\n\nAnn 1 3\n", 4, "different-person"),
        ("1 1\nAnn 1 0\nAnn 1 Bob 2\n", 2, ">= 1"),
        ("1 1\nAnn 1 two\nAnn 1 Bob 2\n", 2, "not an integer"),
        ("1 2\nAnn 1 2\nAnn 1 3\nAnn 1 Bob 2\n", 5, "promises"),
        ("1 1\nAnn 1 2\nAnn 1 Bob 2\nAnn 1 Bob 3\n", 4, "promises"),
        ("", 1, "empty"),
    ],
)
def test_malformed_lfw_lines_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "pairs.txt", text)
    with pytest.raises(PairsFormatError, match=message) as err:
        parse_lfw_pairs(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}:")


# ----------------------------------------------------------------- CSV


def test_csv_parses_decisions_and_stratifies_folds(tmp_path: Path) -> None:
    rows = ["file_x,file_y,Decision,extra"]
    rows += [f"a{i}.jpg,b{i}.jpg,{'Yes' if i < 12 else 'no'},0.5" for i in range(30)]
    pairs = parse_csv_pairs(write(tmp_path, "master.csv", "\n".join(rows) + "\n"))
    assert len(pairs) == 30
    assert sum(p.same for p in pairs) == 12
    assert pairs[0].path_a == tmp_path / "a0.jpg"
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert sum(p.same for p in in_fold) in (1, 2)
        assert sum(not p.same for p in in_fold) in (1, 2)
    assert [p.fold for p in pairs] == [p.fold for p in load_pairs(tmp_path / "master.csv")]


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "file_x,file_y,decision\na.jpg,b.jpg,Yes\na.jpg,c.jpg,Maybe\n")
    with pytest.raises(PairsFormatError, match="Yes or No") as err:
        parse_csv_pairs(path)
    assert err.value.line == 3
    path = write(tmp_path, "y.csv", "file_x,file_y,label\na.jpg,b.jpg,Yes\n")
    with pytest.raises(PairsFormatError, match=r"decision") as err:
        parse_csv_pairs(path)
    assert err.value.line == 1
    path = write(tmp_path, "z.csv", "file_x,file_y,Decision\na.jpg,Yes\n")
    with pytest.raises(PairsFormatError, match="fields") as err:
        parse_csv_pairs(path)
    assert err.value.line == 2


@pytest.mark.data
def test_shared_master_csv(shared_data: Path) -> None:
    dataset = shared_data / "deepface" / "unit" / "dataset"
    pairs = parse_csv_pairs(dataset / "master.csv")
    assert len(pairs) == 300 and sum(p.same for p in pairs) == 38
    assert {p.fold for p in pairs} == set(range(10))
    assert all(p.path_a.is_file() and p.path_b.is_file() for p in pairs)
