"""Milvus vector indexes: the :class:`~citywatch.store.vectors.VectorIndex` for city scale.

One collection per embedding model (``<prefix>_<model>_<hash>``), one
partition per UTC day (``dYYYYMMDD``): retention drops a day by dropping its
partition, and a search over a time window touches only that window's
partitions. Each row keeps the sighting id (primary key), the vector, the day,
the camera and the sighting's start and end (UTC epoch seconds), so camera and
time filters run inside Milvus (``filters_metadata``) instead of shipping
millions of SQL ids with every query.

Contracts and pitfalls:

* Vectors are L2-normalised float32 and the metric is inner product, so scores
  are cosine similarities, the same numbers FAISS gives. ``HNSW`` (the
  default) is approximate; ``FLAT`` is exact.
* The collection records its model and dimension in its properties
  (``citywatch.model``, ``citywatch.dim``); opening it for another model or
  dimension raises :class:`~citywatch.errors.ModelError`.
* Every write is durable and visible when the call returns (collections are
  created with ``Strong`` consistency), so ``flush`` has nothing to do and a
  killed process loses nothing that was acknowledged. SQL is still the source
  of truth: ``Store.reconcile`` repairs an index that disagrees with it.
* milvus-lite (a ``.db`` path) runs an in-process server on that directory and
  locks it: one process at a time. Camera workers in several processes need a
  Milvus server (``http://host:19530``).
* No filter templating in milvus-lite: filter expressions are built here, ids as
  integers and camera names as JSON string literals.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from citywatch.errors import ConfigError, ModelError, StoreError
from citywatch.log import scrub_url
from citywatch.store.vectors import DAY_RE, IdArray, VectorFilter, VectorMeta, check_vectors

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from citywatch.config import VectorConfig

log = logging.getLogger(__name__)

MODEL_PROP = "citywatch.model"
DIM_PROP = "citywatch.dim"
MAX_TOPK = 16_384  # Milvus refuses larger limits
_BATCH = 2_000  # rows per insert call (gRPC messages stay well under 64 MB)
_ID_CHUNK = 1_000  # ids per ``id in [...]`` expression
_PARTITION_RE = re.compile(r"^d(\d{4})(\d{2})(\d{2})$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def collection_name(prefix: str, model: str) -> str:
    """``<prefix>_<model, made safe>_<8 hex of sha256(model)>``: distinct models never share one."""
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}_{_UNSAFE.sub('_', model)[:80]}_{digest}"


def partition_name(day: str) -> str:
    if not DAY_RE.match(day):
        raise StoreError(f"vector index: bad day {day!r} (expected YYYY-MM-DD)")
    return "d" + day.replace("-", "")


def _day_of_partition(name: str) -> str | None:
    m = _PARTITION_RE.match(name)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else None


def resolve_uri(uri: str, home: Path) -> str:
    """A server URI as given; a milvus-lite file (``*.db``) made absolute, relative to ``home``."""
    if "://" in uri:
        return uri
    if not uri.endswith(".db"):
        raise ConfigError(
            f"vectors.uri {uri!r}: give a Milvus server URI (http://host:19530) or a milvus-lite file "
            "ending in .db"
        )
    path = Path(uri).expanduser()
    path = path if path.is_absolute() else Path(home) / path
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def _quote(value: str) -> str:
    """A Milvus string literal (JSON escaping: quotes and backslashes cannot break out)."""
    return json.dumps(value, ensure_ascii=False)


def _id_list(ids: Collection[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in sorted(ids)) + "]"


def _filter_expr(allowed_ids: set[int] | None, where: VectorFilter | None) -> str:
    parts: list[str] = []
    if allowed_ids is not None:
        parts.append(f"id in {_id_list(allowed_ids)}")
    if where is not None:
        if where.cameras is not None:
            parts.append("camera in [" + ",".join(_quote(c) for c in sorted(where.cameras)) + "]")
        if where.since is not None:
            parts.append(f"t_end >= {float(where.since)!r}")
        if where.until is not None:
            parts.append(f"t_start <= {float(where.until)!r}")
    return " and ".join(parts)


def _chunks(ids: Sequence[int], n: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


class MilvusDayIndex:
    """One model's vectors in one Milvus collection, one partition per UTC day. Thread-safe."""

    def __init__(
        self, client: MilvusClient, collection: str, model: str, dim: int, cfg: VectorConfig
    ) -> None:
        self._client = client
        self._collection = collection
        self._model = model
        self._dim = dim
        self._cfg = cfg
        self._lock = threading.RLock()
        self._partitions: set[str] | None = None

    # --- properties ----------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model(self) -> str:
        return self._model

    @property
    def collection(self) -> str:
        return self._collection

    @property
    def filters_metadata(self) -> bool:
        return True

    # --- partitions ----------------------------------------------------------

    def _known_partitions(self, refresh: bool = False) -> set[str]:
        with self._lock:
            if self._partitions is None or refresh:
                self._partitions = set(self._client.list_partitions(self._collection))
            return self._partitions

    def _existing(self, days: Collection[str]) -> list[str]:
        """Partition names of ``days`` that exist (another process may have created some: refresh once)."""
        wanted = {partition_name(d) for d in days if DAY_RE.match(d)}
        have = self._known_partitions()
        if not wanted <= have:
            have = self._known_partitions(refresh=True)
        return sorted(wanted & have)

    def _ensure_partition(self, day: str) -> str:
        name = partition_name(day)
        with self._lock:
            if name in self._known_partitions():
                return name
            if not self._client.has_partition(self._collection, name):
                from pymilvus import MilvusException

                try:
                    self._client.create_partition(self._collection, name)
                except MilvusException:
                    # another process may have created it between the check and the call
                    if not self._client.has_partition(self._collection, name):
                        raise
            self._known_partitions().add(name)
            return name

    # --- VectorIndex ---------------------------------------------------------

    def _check_vectors(self, vectors: npt.NDArray[Any], what: str) -> npt.NDArray[np.float32]:
        return check_vectors(vectors, self._dim, self._model, what)

    def add(
        self, day: str, ids: IdArray, vectors: npt.NDArray[np.float32], meta: VectorMeta | None = None
    ) -> None:
        vecs = self._check_vectors(vectors, "vector index add")
        id_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(id_arr) != len(vecs):
            raise StoreError(f"vector index add: {len(id_arr)} ids for {len(vecs)} vectors")
        if len(np.unique(id_arr)) != len(id_arr):
            raise StoreError("vector index add: duplicate ids in one call")
        if meta is not None and len(meta.cameras) != len(id_arr):
            raise StoreError(f"vector index add: meta for {len(meta.cameras)} vectors, not {len(id_arr)}")
        if len(id_arr) == 0:
            return
        part = self._ensure_partition(day)
        rows = [
            {
                "id": int(i),
                "vector": vecs[n].tolist(),
                "day": day,
                "camera": meta.cameras[n] if meta else "",
                "t_start": float(meta.starts[n]) if meta else 0.0,
                "t_end": float(meta.ends[n]) if meta else 0.0,
            }
            for n, i in enumerate(id_arr.tolist())
        ]
        for start in range(0, len(rows), _BATCH):
            # upsert: an id already in this day is replaced, never duplicated
            self._client.upsert(self._collection, rows[start : start + _BATCH], partition_name=part)

    def _present(self, ids: Sequence[int], partitions: list[str] | None) -> list[int]:
        found: list[int] = []
        for chunk in _chunks(ids, _ID_CHUNK):
            res = self._client.query(
                self._collection,
                filter=f"id in {_id_list(chunk)}",
                output_fields=["id"],
                partition_names=partitions,
            )
            found.extend(int(r["id"]) for r in res)
        return found

    def remove(self, ids: Collection[int] | IdArray, days: Collection[str] | None = None) -> int:
        id_list = sorted({int(i) for i in np.asarray(list(ids), dtype=np.int64).reshape(-1).tolist()})
        if not id_list:
            return 0
        removed = 0
        with self._lock:
            targets: list[str | None] = list(self._existing(days)) if days is not None else [None]
            for part in targets:
                present = self._present(id_list, [part] if part else None)
                if not present:
                    continue
                for chunk in _chunks(sorted(set(present)), _ID_CHUNK):
                    if part is None:
                        self._client.delete(self._collection, filter=f"id in {_id_list(chunk)}")
                    else:
                        self._client.delete(self._collection, ids=list(chunk), partition_name=part)
                removed += len(present)
        return removed

    def drop_day(self, day: str) -> None:
        name = partition_name(day)
        with self._lock:
            if self._client.has_partition(self._collection, name):
                # a loaded partition cannot be dropped on a Milvus server; milvus-lite does not mind
                with contextlib.suppress(Exception):
                    self._client.release_partitions(self._collection, [name])
                self._client.drop_partition(self._collection, name)
            self._known_partitions().discard(name)
        log.info("vector index %s: dropped day %s", self._model, day)

    def search(
        self,
        vector: npt.NDArray[np.float32],
        k: int,
        days: Collection[str] | None = None,
        allowed_ids: set[int] | None = None,
        where: VectorFilter | None = None,
    ) -> list[tuple[int, float]]:
        q = np.asarray(vector)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.shape != (self._dim,):
            raise ModelError(
                f"vector search: probe of shape {q.shape} does not fit index {self._model!r} "
                f"of dimension {self._dim}"
            )
        if k <= 0 or (allowed_ids is not None and not allowed_ids):
            return []
        if where is not None and where.cameras is not None and not where.cameras:
            return []
        partitions: list[str] | None = None
        if days is not None:
            partitions = self._existing(days)
            if not partitions:
                return []
        limit = min(k, MAX_TOPK)
        if k > MAX_TOPK:
            log.warning("vector search on %s: k=%d capped at Milvus's %d", self._model, k, MAX_TOPK)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self._cfg.index_type == "HNSW":
            params["params"] = {"ef": max(self._cfg.hnsw_ef, limit)}
        res = self._client.search(
            self._collection,
            data=[q.astype(np.float32, copy=False).tolist()],
            limit=limit,
            filter=_filter_expr(allowed_ids, where),
            output_fields=["id"],
            search_params=params,
            partition_names=partitions,
        )
        hits = [(int(h["id"]), float(h["distance"])) for h in res[0]] if res else []
        hits.sort(key=lambda h: (-h[1], h[0]))
        return hits[:k]

    def ids(self, day: str) -> IdArray:
        name = partition_name(day)
        if not self._existing([day]):
            return np.zeros((0,), dtype=np.int64)
        found: list[int] = []
        it = self._client.query_iterator(
            self._collection, batch_size=4_096, filter="", output_fields=["id"], partition_names=[name]
        )
        try:
            while batch := it.next():
                found.extend(int(r["id"]) for r in batch)
        finally:
            it.close()
        return np.asarray(sorted(found), dtype=np.int64)

    def days(self) -> list[str]:
        names = self._known_partitions(refresh=True)
        return sorted(d for d in map(_day_of_partition, names) if d is not None)

    def count(self) -> int:
        res = self._client.query(self._collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def flush(self) -> None:
        return None  # every write is durable when acknowledged

    def pending(self) -> int:
        return 0

    def cleanup_tmp(self) -> int:
        return 0

    def close(self) -> None:
        return None  # the client belongs to the backend


class MilvusBackend:
    """Milvus (server or milvus-lite file): one collection per model under ``cfg.collection_prefix``.

    The client connects on first use, so opening a store costs nothing until
    vectors are touched. The token comes from the environment variable named
    by ``cfg.token_env`` and is never logged.
    """

    def __init__(self, cfg: VectorConfig, home: Path, env: Mapping[str, str] | None = None) -> None:
        self._cfg = cfg
        self._uri = resolve_uri(cfg.uri, home)
        self._token = (os.environ if env is None else env).get(cfg.token_env, "")
        self._client: MilvusClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> MilvusClient:
        with self._lock:
            if self._client is None:
                from pymilvus import MilvusClient

                try:
                    self._client = MilvusClient(uri=self._uri, token=self._token)
                except Exception as exc:  # connection errors come in many types (gRPC, OS, Milvus)
                    hint = (
                        " (a milvus-lite file is used by one process at a time: is another citywatch "
                        "process holding it? Several processes need a Milvus server)"
                        if "://" not in self._uri
                        else ""
                    )
                    raise StoreError(
                        f"vector store {scrub_url(self._uri)}: cannot connect to Milvus: {exc}{hint}"
                    ) from exc
                log.info("vector store: Milvus at %s", scrub_url(self._uri))
            return self._client

    def _collections(self) -> list[str]:
        prefix = self._cfg.collection_prefix + "_"
        return [c for c in self.client.list_collections() if c.startswith(prefix)]

    def _recorded(self, collection: str) -> tuple[str, int]:
        desc = self.client.describe_collection(collection)
        props = desc.get("properties") or {}
        model = str(props.get(MODEL_PROP, ""))
        dims = [f["params"].get("dim") for f in desc.get("fields", []) if f.get("name") == "vector"]
        dim = int(props.get(DIM_PROP) or (dims[0] if dims else 0))
        return model, dim

    def models(self) -> set[str]:
        out: set[str] = set()
        for c in self._collections():
            model, _ = self._recorded(c)
            if model and collection_name(self._cfg.collection_prefix, model) == c:
                out.add(model)
        return out

    def dim_of(self, model: str) -> int | None:
        name = collection_name(self._cfg.collection_prefix, model)
        if not self.client.has_collection(name):
            return None
        return self._check(name, model, None)

    def _check(self, name: str, model: str, dim: int | None) -> int:
        have_model, have_dim = self._recorded(name)
        if have_model != model or (dim is not None and have_dim != dim):
            raise ModelError(
                f"Milvus collection {name} was built for model {have_model!r} (dim {have_dim}), "
                f"not {model!r} (dim {dim if dim is not None else have_dim}); use another collection_prefix"
            )
        return have_dim

    def open(self, model: str, dim: int) -> MilvusDayIndex:
        if dim <= 0:
            raise ModelError(f"vector index: dimension must be positive, got {dim}")
        if not model:
            raise ModelError("vector index: the embedding model must be named")
        name = collection_name(self._cfg.collection_prefix, model)
        client = self.client
        if not client.has_collection(name):
            self._create(name, model, dim)
        self._check(name, model, dim)
        state = client.get_load_state(name).get("state")
        if getattr(state, "name", str(state)) != "Loaded":
            client.load_collection(name)
        return MilvusDayIndex(client, name, model, dim, self._cfg)

    def _create(self, name: str, model: str, dim: int) -> None:
        from pymilvus import DataType, MilvusException

        client = self.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("day", DataType.VARCHAR, max_length=10)
        schema.add_field("camera", DataType.VARCHAR, max_length=256)
        schema.add_field("t_start", DataType.DOUBLE)
        schema.add_field("t_end", DataType.DOUBLE)
        index = client.prepare_index_params()
        if self._cfg.index_type == "HNSW":
            index.add_index(
                "vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200}
            )
        else:
            index.add_index("vector", index_type="FLAT", metric_type="IP")
        try:
            client.create_collection(
                name,
                schema=schema,
                index_params=index,
                consistency_level="Strong",
                properties={MODEL_PROP: model, DIM_PROP: str(dim)},
            )
        except MilvusException:
            if not client.has_collection(name):  # not a lost race with another process
                raise
        log.info("vector store: created collection %s for model %s (dim %d)", name, model, dim)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None

    def __repr__(self) -> str:
        return f"MilvusBackend({scrub_url(self._uri)}, prefix={self._cfg.collection_prefix!r})"


def drop_collections(cfg: VectorConfig, home: Path | None = None) -> int:
    """Drop every collection under ``cfg.collection_prefix`` (tests, and wiping a deployment); returns how many."""
    backend = MilvusBackend(cfg, home or Path.cwd())
    try:
        names = backend._collections()
        for name in names:
            backend.client.drop_collection(name)
        return len(names)
    finally:
        backend.close()
