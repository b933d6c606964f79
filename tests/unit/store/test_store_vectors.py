"""FaissDayIndex: ranking, filters, day segments, persistence and model/dimension checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from store_helpers import DIM, MODEL, unit

from citywatch.errors import ModelError
from citywatch.store.vectors import FaissDayIndex, VectorIndex


def _ids(*xs: int) -> np.ndarray:
    return np.asarray(xs, dtype=np.int64)


def test_search_ranks_by_cosine_and_filters(tmp_path: Path, rng: np.random.Generator) -> None:
    idx = FaissDayIndex(tmp_path, DIM, MODEL)
    assert isinstance(idx, VectorIndex)
    probe = unit(rng)
    noise = np.stack([unit(rng) for _ in range(3)])
    near = (probe + 0.1 * noise[0]) / np.linalg.norm(probe + 0.1 * noise[0])
    mid = (probe + 0.8 * noise[1]) / np.linalg.norm(probe + 0.8 * noise[1])
    idx.add("2024-05-01", _ids(1, 2), np.stack([near, -probe]).astype(np.float32))
    idx.add("2024-05-02", _ids(3, 4), np.stack([mid, probe]).astype(np.float32))

    hits = idx.search(probe, 3)
    assert [h[0] for h in hits] == [4, 1, 3]
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert hits[0][1] >= hits[1][1] >= hits[2][1]

    assert [h[0] for h in idx.search(probe, 10, days=["2024-05-01"])] == [1, 2]
    assert [h[0] for h in idx.search(probe, 10, allowed_ids={2, 3})] == [3, 2]
    assert idx.search(probe, 10, allowed_ids=set()) == []
    assert idx.search(probe, 10, days=["2023-01-01"]) == []
    assert idx.count() == 4
    assert idx.days() == ["2024-05-01", "2024-05-02"]


def test_add_replaces_existing_id_and_remove(tmp_path: Path, rng: np.random.Generator) -> None:
    idx = FaissDayIndex(tmp_path, DIM, MODEL)
    a, b = unit(rng), unit(rng)
    idx.add("2024-05-01", _ids(7), a[None])
    idx.add("2024-05-01", _ids(7), b[None])
    assert idx.count() == 1
    assert idx.search(b, 1)[0][1] == pytest.approx(1.0, abs=1e-5)
    assert idx.remove([7]) == 1
    assert idx.count() == 0


def test_flush_persists_and_drop_day_deletes_file(tmp_path: Path, rng: np.random.Generator) -> None:
    idx = FaissDayIndex(tmp_path, DIM, MODEL)
    v = np.stack([unit(rng) for _ in range(5)])
    idx.add("2024-05-01", _ids(1, 2, 3), v[:3])
    idx.add("2024-05-02", _ids(4, 5), v[3:])
    idx.flush()
    assert (tmp_path / MODEL / "2024-05-01.faiss").exists()
    assert not list((tmp_path / MODEL).glob(".*.tmp-*"))

    again = FaissDayIndex(tmp_path, DIM, MODEL)
    assert again.count() == 5
    assert sorted(again.ids("2024-05-02").tolist()) == [4, 5]

    again.drop_day("2024-05-01")
    assert not (tmp_path / MODEL / "2024-05-01.faiss").exists()
    assert again.days() == ["2024-05-02"]
    assert [h[0] for h in again.search(v[0], 5)] != [] and 1 not in [h[0] for h in again.search(v[0], 5)]


def test_two_writers_merge_on_flush(tmp_path: Path, rng: np.random.Generator) -> None:
    """Two handles (as in two processes) adding to the same day both survive."""
    w1 = FaissDayIndex(tmp_path, DIM, MODEL)
    w2 = FaissDayIndex(tmp_path, DIM, MODEL)
    w1.add("2024-05-01", _ids(1), unit(rng)[None])
    w2.add("2024-05-01", _ids(2), unit(rng)[None])
    w1.flush()
    w2.flush()
    w2.remove([1])
    w2.flush()
    reader = FaissDayIndex(tmp_path, DIM, MODEL)
    assert sorted(reader.ids("2024-05-01").tolist()) == [2]
    assert sorted(w1.ids("2024-05-01").tolist()) == [2]  # w1 sees w2's file on refresh


def test_wrong_dimension_or_model_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    idx = FaissDayIndex(tmp_path, DIM, MODEL)
    with pytest.raises(ModelError):
        idx.add("2024-05-01", _ids(1), unit(rng, DIM + 1)[None])
    with pytest.raises(ModelError):
        idx.add("2024-05-01", _ids(1), unit(rng)[None].astype(np.float64))
    with pytest.raises(ModelError):
        idx.search(unit(rng, DIM + 1), 3)
    with pytest.raises(ModelError, match="dim"):
        FaissDayIndex(tmp_path, DIM * 2, MODEL)
    # a root whose meta.json names another model
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "meta.json").write_text('{"model": "someone_else", "dim": 16}')
    with pytest.raises(ModelError, match="someone_else"):
        FaissDayIndex(tmp_path, DIM, "other")


def test_unsafe_model_names_refused(tmp_path: Path) -> None:
    for bad in ("..", ".", "a/b", ""):
        with pytest.raises(ModelError):
            FaissDayIndex(tmp_path, DIM, bad)
