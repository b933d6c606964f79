"""Vector indexes (FAISS day files and Milvus): ranking, filters, day segments, persistence, model checks.

Every test taking ``backend`` runs on both; FAISS-only tests check its files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from store_helpers import DIM, MODEL, unit

from citywatch.config import VectorConfig
from citywatch.errors import ConfigError, ModelError, StoreError
from citywatch.store.vectors import (
    FaissBackend,
    FaissDayIndex,
    VectorBackend,
    VectorFilter,
    VectorIndex,
    VectorMeta,
    open_vector_backend,
)

BackendFactory = Callable[[], VectorBackend]


def _ids(*xs: int) -> np.ndarray:
    return np.asarray(xs, dtype=np.int64)


@pytest.fixture
def new_backend(vector_cfg: VectorConfig, tmp_path: Path) -> Iterator[BackendFactory]:
    """Opens the backend of this test's vector config (each call: a new handle, as another process would)."""
    opened: list[VectorBackend] = []

    def make() -> VectorBackend:
        b = open_vector_backend(vector_cfg, tmp_path)
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()


@pytest.fixture
def backend(new_backend: BackendFactory) -> VectorBackend:
    return new_backend()


def test_search_ranks_by_cosine_and_filters(backend: VectorBackend, rng: np.random.Generator) -> None:
    idx = backend.open(MODEL, DIM)
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
    assert idx.search(probe, 0) == []
    assert idx.count() == 4
    assert idx.days() == ["2024-05-01", "2024-05-02"]
    assert sorted(backend.models()) == [MODEL] and backend.dim_of(MODEL) == DIM
    assert backend.dim_of("never_used") is None


def test_scores_agree_with_numpy(backend: VectorBackend, rng: np.random.Generator) -> None:
    """The score is the cosine similarity, whichever backend (Milvus's IP metric, FAISS's IndexFlatIP)."""
    idx = backend.open(MODEL, DIM)
    vecs = np.stack([unit(rng) for _ in range(20)])
    idx.add("2024-05-01", np.arange(1, 21, dtype=np.int64), vecs)
    probe = unit(rng)
    expected = sorted(((int(i) + 1, float(vecs[i] @ probe)) for i in range(20)), key=lambda h: -h[1])[:5]
    got = idx.search(probe, 5)
    assert [h[0] for h in got] == [h[0] for h in expected]
    assert [h[1] for h in got] == pytest.approx([h[1] for h in expected], abs=1e-5)


def test_add_replaces_existing_id_and_remove(backend: VectorBackend, rng: np.random.Generator) -> None:
    idx = backend.open(MODEL, DIM)
    a, b = unit(rng), unit(rng)
    idx.add("2024-05-01", _ids(7), a[None])
    idx.add("2024-05-01", _ids(7), b[None])
    assert idx.count() == 1
    assert idx.search(b, 1)[0][1] == pytest.approx(1.0, abs=1e-5)
    assert idx.remove([7, 8]) == 1
    assert idx.remove([7]) == 0
    assert idx.count() == 0
    with pytest.raises(StoreError, match="duplicate"):
        idx.add("2024-05-01", _ids(1, 1), np.stack([a, b]))
    with pytest.raises(StoreError, match="ids for"):
        idx.add("2024-05-01", _ids(1, 2), a[None])
    with pytest.raises(StoreError, match="bad day"):
        idx.add("May 1st", _ids(1), a[None])


def test_remove_from_given_days_only(backend: VectorBackend, rng: np.random.Generator) -> None:
    idx = backend.open(MODEL, DIM)
    v = np.stack([unit(rng) for _ in range(3)])
    idx.add("2024-05-01", _ids(1, 2), v[:2])
    idx.add("2024-05-02", _ids(3), v[2:])
    assert idx.remove([1, 3], days=["2024-05-02"]) == 1
    assert idx.remove([1], days=["2030-01-01"]) == 0  # a day without a segment
    assert idx.ids("2024-05-01").tolist() == [1, 2]
    assert idx.ids("2024-05-02").tolist() == []


def test_reopen_sees_flushed_vectors_and_drop_day(
    new_backend: BackendFactory, rng: np.random.Generator
) -> None:
    idx = new_backend().open(MODEL, DIM)
    v = np.stack([unit(rng) for _ in range(5)])
    idx.add("2024-05-01", _ids(1, 2, 3), v[:3])
    idx.add("2024-05-02", _ids(4, 5), v[3:])
    idx.flush()
    assert idx.pending() == 0

    again = new_backend().open(MODEL, DIM)
    assert again.count() == 5
    assert sorted(again.ids("2024-05-02").tolist()) == [4, 5]
    again.drop_day("2024-05-01")
    again.drop_day("2024-05-01")  # dropping a missing day is fine
    assert again.days() == ["2024-05-02"]
    assert again.count() == 2
    found = [h[0] for h in again.search(v[0], 5)]
    assert found and 1 not in found


def test_two_writers_both_survive(new_backend: BackendFactory, rng: np.random.Generator) -> None:
    """Two handles (as in two processes) adding to the same day both survive."""
    w1 = new_backend().open(MODEL, DIM)
    w2 = new_backend().open(MODEL, DIM)
    w1.add("2024-05-01", _ids(1), unit(rng)[None])
    w2.add("2024-05-01", _ids(2), unit(rng)[None])
    w1.flush()
    w2.flush()
    w2.remove([1])
    w2.flush()
    reader = new_backend().open(MODEL, DIM)
    assert sorted(reader.ids("2024-05-01").tolist()) == [2]
    assert sorted(w1.ids("2024-05-01").tolist()) == [2]  # w1 sees w2's change


def test_wrong_dimension_or_type_refused(backend: VectorBackend, rng: np.random.Generator) -> None:
    idx = backend.open(MODEL, DIM)
    with pytest.raises(ModelError):
        idx.add("2024-05-01", _ids(1), unit(rng, DIM + 1)[None])
    with pytest.raises(ModelError):
        idx.add("2024-05-01", _ids(1), unit(rng)[None].astype(np.float64))
    with pytest.raises(ModelError):
        idx.search(unit(rng, DIM + 1), 3)
    with pytest.raises(ModelError, match="dim"):
        backend.open(MODEL, DIM * 2)
    with pytest.raises(ModelError):
        backend.open(MODEL, 0)


def test_camera_and_time_filters_in_the_index(backend: VectorBackend, rng: np.random.Generator) -> None:
    """Milvus keeps camera and times per vector and filters on them; FAISS refuses (SQL filters for it)."""
    idx = backend.open(MODEL, DIM)
    probe = unit(rng)
    vecs = np.stack([probe, probe, probe]).astype(np.float32)
    meta = VectorMeta(("gate", "plaza", 'odd "name"'), (100.0, 200.0, 300.0), (110.0, 210.0, 310.0))
    idx.add("2024-05-01", _ids(1, 2, 3), vecs, meta)
    where = VectorFilter(cameras=frozenset({"gate"}))
    if not idx.filters_metadata:
        with pytest.raises(StoreError, match="allowed_ids"):
            idx.search(probe, 10, where=where)
        return

    def found(w: VectorFilter, **kw: object) -> list[int]:
        return sorted(h[0] for h in idx.search(probe, 10, where=w, **kw))  # type: ignore[arg-type]

    assert found(where) == [1]
    assert found(VectorFilter(cameras=frozenset({'odd "name"', "plaza"}))) == [2, 3]
    assert found(VectorFilter(cameras=frozenset())) == []
    assert found(VectorFilter(since=205.0)) == [2, 3]  # overlap: ends at or after since
    assert found(VectorFilter(since=210.0)) == [2, 3]
    assert found(VectorFilter(until=200.0)) == [1, 2]  # starts at or before until
    assert found(VectorFilter(since=105.0, until=205.0)) == [1, 2]
    assert found(VectorFilter(cameras=frozenset({"plaza"}), since=105.0), allowed_ids={1, 2}) == [2]
    with pytest.raises(StoreError, match="meta for"):
        idx.add("2024-05-01", _ids(4, 5), vecs[:2], meta)


# --- FAISS files -------------------------------------------------------------------------


def test_faiss_flush_writes_day_files_atomically(tmp_path: Path, rng: np.random.Generator) -> None:
    idx = FaissDayIndex(tmp_path, DIM, MODEL)
    v = np.stack([unit(rng) for _ in range(3)])
    idx.add("2024-05-01", _ids(1, 2, 3), v)
    assert idx.pending() == 3
    idx.flush()
    assert (tmp_path / MODEL / "2024-05-01.faiss").exists()
    assert not list((tmp_path / MODEL).glob(".*.tmp-*"))
    idx.drop_day("2024-05-01")
    assert not (tmp_path / MODEL / "2024-05-01.faiss").exists()


def test_faiss_root_of_another_model_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "meta.json").write_text('{"model": "someone_else", "dim": 16}')
    with pytest.raises(ModelError, match="someone_else"):
        FaissDayIndex(tmp_path, DIM, "other")
    with pytest.raises(ModelError, match="someone_else"):
        FaissBackend(tmp_path).open("other", DIM)


def test_faiss_unsafe_model_names_refused(tmp_path: Path) -> None:
    for bad in ("..", ".", "a/b", ""):
        with pytest.raises(ModelError):
            FaissDayIndex(tmp_path, DIM, bad)


def test_empty_uri_means_faiss_in_the_data_directory(tmp_path: Path) -> None:
    backend = open_vector_backend(VectorConfig(), tmp_path)
    assert isinstance(backend, FaissBackend) and backend.root == tmp_path / "vectors"


# --- Milvus ----------------------------------------------------------------------------------


def test_milvus_collection_of_another_model_refused(milvus_lite_uri: str, tmp_path: Path) -> None:
    from citywatch.store.milvus import MilvusBackend, collection_name, drop_collections

    cfg = VectorConfig(uri=milvus_lite_uri, collection_prefix="cwclash")
    backend = MilvusBackend(cfg, tmp_path)
    try:
        backend.open("someone_else", DIM)
        # a collection that carries the name of model "other" but was built for someone else
        client = backend.client
        client.rename_collection(
            collection_name("cwclash", "someone_else"), collection_name("cwclash", "other")
        )
        with pytest.raises(ModelError, match="someone_else"):
            backend.open("other", DIM)
        with pytest.raises(ModelError, match="someone_else"):
            backend.dim_of("other")
    finally:
        backend.close()
        drop_collections(cfg)


def test_milvus_uri_must_be_a_server_or_a_db_file(tmp_path: Path) -> None:
    from citywatch.store.milvus import resolve_uri

    assert resolve_uri("http://milvus:19530", tmp_path) == "http://milvus:19530"
    assert resolve_uri("vec/vectors.db", tmp_path) == str(tmp_path / "vec" / "vectors.db")
    with pytest.raises(ConfigError, match=r"\.db"):
        resolve_uri("vectors.sqlite", tmp_path)


def test_milvus_server_down_is_a_store_error(tmp_path: Path) -> None:
    from citywatch.store.milvus import MilvusBackend

    cfg = VectorConfig(uri="http://127.0.0.1:9", token_env="CITYWATCH_TEST_NO_SUCH_TOKEN")
    backend = MilvusBackend(cfg, tmp_path)
    with pytest.raises(StoreError, match="cannot connect"):
        backend.models()
