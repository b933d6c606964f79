"""build_lfw_set on the shared development photos (skips without them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citywatch.eval.calibrate import scan_identity_tree
from citywatch.eval.datasets import build_lfw_set
from citywatch.eval.pairs import parse_lfw_pairs

pytestmark = pytest.mark.data


def test_builds_a_parseable_lfw_set(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "lfw"
    pairs_txt = build_lfw_set(shared_data, out)
    assert pairs_txt == out / "pairs.txt"
    pairs = parse_lfw_pairs(pairs_txt)
    assert all(p.path_a.is_file() and p.path_b.is_file() for p in pairs)
    assert {p.fold for p in pairs} == set(range(10))
    same = [p for p in pairs if p.same]
    assert len(same) * 2 == len(pairs) >= 200
    assert all(p.path_a.parent == p.path_b.parent and p.path_a != p.path_b for p in same)
    assert all(p.path_a.parent != p.path_b.parent for p in pairs if not p.same)
    assert len({(p.path_a, p.path_b) for p in pairs}) == len(pairs)

    counts = json.loads((out / "manifest.json").read_text())["counts"]
    tree = scan_identity_tree(out)
    assert len(tree) == counts["identities"] >= 15
    assert sum(len(v) for v in tree.values()) == counts["images"]
    ids = scan_identity_tree(out / "identities")
    assert sum(len(v) == 1 for v in ids.values()) == counts["identify_non_mated_probes"] > 0
    assert sum(len(v) > 1 for v in ids.values()) == counts["identify_gallery"]

    again = tmp_path / "again"
    build_lfw_set(shared_data, again, copy=True)
    assert (again / "pairs.txt").read_text() == pairs_txt.read_text()
    assert not (again / "Obama" / "Obama_0001.jpg").is_symlink()


def test_refuses_unsafe_outputs(shared_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data folder"):
        build_lfw_set(shared_data, shared_data / "lfw")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_lfw_set(shared_data, tmp_path / "x", overwrite=True)
    out = tmp_path / "y"
    build_lfw_set(shared_data, out)
    with pytest.raises(FileExistsError, match="overwrite"):
        build_lfw_set(shared_data, out)
    build_lfw_set(shared_data, out, overwrite=True)
    assert (out / "pairs.txt").is_file()
