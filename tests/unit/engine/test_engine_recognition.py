"""The Ray engine's batched recognition, without Ray: batching, per-request results, a bad batch."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from citywatch.config import DlibResnetConfig
from citywatch.engine.ray_runner import RecognitionActor


@pytest.fixture(scope="module")
def actor(tmp_path_factory: pytest.TempPathFactory) -> RecognitionActor:
    models = tmp_path_factory.mktemp("models")
    return RecognitionActor(DlibResnetConfig().model_dump_json(), str(models), 8, 50.0, "WARNING")


def chips(n: int, seed: int) -> list[np.ndarray]:
    """Plumbing only: random 150x150 chips (what the camera actors send after alignment)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (150, 150, 3), dtype=np.uint8) for _ in range(n)]


def test_requests_arriving_together_share_a_batch_and_get_their_own_rows(actor: RecognitionActor) -> None:
    requests = [chips(n, seed) for seed, n in enumerate([1, 2, 3, 1, 1])]

    async def all_at_once() -> list[np.ndarray]:
        return list(await asyncio.gather(*(actor.embed_aligned(r) for r in requests)))

    before = actor.batches
    results = asyncio.run(all_at_once())
    assert actor.batches - before < len(requests)  # batched: fewer forward passes than requests
    for req, got in zip(requests, results, strict=True):
        alone = actor.embedder.embed_aligned(req)
        assert got.shape == (len(req), actor.embedder.dim)
        np.testing.assert_allclose(got, alone, atol=1e-5)
    assert asyncio.run(actor.embed_aligned([])).shape == (0, actor.embedder.dim)


def test_a_bad_batch_fails_its_callers_and_the_actor_keeps_serving(actor: RecognitionActor) -> None:
    bad = [np.zeros((10, 10), np.uint8)]  # not an RGB chip

    async def scenario() -> tuple[BaseException | np.ndarray, np.ndarray]:
        failed = await asyncio.gather(actor.embed_aligned(bad), return_exceptions=True)
        ok = await actor.embed_aligned(chips(2, 99))
        return failed[0], ok

    failed, ok = asyncio.run(scenario())
    assert isinstance(failed, Exception)
    assert ok.shape == (2, actor.embedder.dim)
    assert np.allclose(np.linalg.norm(ok, axis=1), 1.0, atol=1e-5)


def test_info_names_the_model(actor: RecognitionActor) -> None:
    assert actor.info() == (actor.embedder.model_id, actor.embedder.dim)
