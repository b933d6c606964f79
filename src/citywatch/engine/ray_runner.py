"""The Ray engine: camera workers as Ray actors, recognition as batched actors that may hold a GPU.

A camera actor runs the very :class:`~citywatch.engine.worker.CameraWorker`
of the local engine (decode, motion gate, detect, track, best shots, verify,
match, persist), except that embedding goes to a recognition actor: one model
serves many cameras, and faces from several cameras share a forward pass
(``ray.batch_size`` faces or ``ray.batch_wait_ms``, whichever comes first).
Recognition actors ask Ray for ``ray.num_gpus`` GPUs each.

Both kinds are restartable (``ray.max_restarts``, ``max_task_retries=-1``):
when a node or an actor dies, Ray rebuilds it and re-runs the call that was in
flight, so a live camera resumes by itself; a file camera starts its file
again, and ``begin_run`` replaces the unfinished run's rows.

Ray is imported only here, so the local engine never needs it installed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from citywatch.config import Config, EmbedderConfig
from citywatch.embed import build_embedder
from citywatch.embed.base import FaceEmbedder, FaceInput
from citywatch.engine.health import CameraHealth, CameraStatus
from citywatch.engine.worker import CameraWorker, WorkerSpec
from citywatch.errors import ModelError
from citywatch.log import setup_logging
from citywatch.types import FloatArray, ImageArray

logger = logging.getLogger(__name__)

RECOGNITION_NAME = "citywatch-recognition-{}-{}"
"""Per runner (its id, then the actor's index): a runner kills only the actors it made."""
HEALTH_TIMEOUT_S = 5.0


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError("engine: ray needs the 'ray' extra: pip install 'citywatch[ray]'") from exc
    return ray


# --- recognition ------------------------------------------------------------------


class RecognitionActor:
    """Batched embedding for many cameras (an async Ray actor; the network runs in a thread).

    Camera actors align faces themselves (CPU work, next to the frames) and
    send the small aligned chips. Requests queue up; a batcher takes whatever
    arrived within ``batch_wait_ms`` (whole requests, up to ``batch_size``
    chips) and runs the network once, so each request's rows are what
    embedding it alone gives, up to floating-point summation order.
    """

    def __init__(
        self, embedder_json: str, model_dir: str, batch_size: int, batch_wait_ms: float, log_level: str
    ) -> None:
        setup_logging(log_level)
        cfg: EmbedderConfig = TypeAdapter(EmbedderConfig).validate_json(embedder_json)
        self.embedder = build_embedder(cfg, Path(model_dir))
        self.embedder.load()
        self.batch_size = batch_size
        self.wait = batch_wait_ms / 1000.0
        self._queue: asyncio.Queue[tuple[list[ImageArray], asyncio.Future[FloatArray]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0
        self.chips = 0

    def info(self) -> tuple[str, int]:
        return self.embedder.model_id, self.embedder.dim

    def stats(self) -> dict[str, int]:
        """Batches run and chips embedded since the actor (re)started."""
        return {"batches": self.batches, "chips": self.chips}

    async def embed_aligned(self, chips: list[ImageArray]) -> FloatArray:
        if not chips:
            return np.zeros((0, self.embedder.dim), np.float32)
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:  # Ray keeps one loop; tests may not
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._batcher())
        fut: asyncio.Future[FloatArray] = loop.create_future()
        self._queue.put_nowait((chips, fut))
        return await fut

    async def _batcher(self) -> None:
        assert self._queue is not None
        q = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await q.get()]
            n = len(batch[0][0])
            deadline = loop.time() + self.wait
            while n < self.batch_size:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(q.get(), left)
                except TimeoutError:
                    break
                batch.append(item)
                n += len(item[0])
            chips = [c for cs, _ in batch for c in cs]
            try:
                vectors = await loop.run_in_executor(None, self.embedder.embed_aligned, chips)
            except Exception as exc:  # one bad batch fails its callers, not the actor
                logger.exception("recognition: a batch of %d chips failed", len(chips))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.batches += 1
            self.chips += len(chips)
            row = 0
            for cs, fut in batch:
                if not fut.done():
                    fut.set_result(np.ascontiguousarray(vectors[row : row + len(cs)]))
                row += len(cs)


class RemoteEmbedder(FaceEmbedder):
    """Aligns here (``local``'s alignment), runs the network in a recognition actor."""

    def __init__(self, local: FaceEmbedder, actor_name: str) -> None:
        self.local = local
        self.actor_name = actor_name
        self.model_id = local.model_id
        self.dim = local.dim
        self._handle: Any = None

    def load(self) -> None:
        if self._handle is not None:
            return
        ray = _ray()
        self.local.load()
        handle = ray.get_actor(self.actor_name)
        model_id, dim = ray.get(handle.info.remote())
        if (model_id, dim) != (self.local.model_id, self.local.dim):
            raise ModelError(
                f"recognition actor {self.actor_name!r} runs {model_id!r} ({dim}-d) but this camera "
                f"aligns for {self.local.model_id!r} ({self.local.dim}-d)"
            )
        self._handle = handle

    def align(self, faces: Sequence[FaceInput]) -> list[ImageArray]:
        self.load()
        return self.local.align(faces)

    def embed_aligned(self, chips: Sequence[ImageArray]) -> FloatArray:
        self.load()
        if not chips:
            return np.zeros((0, self.dim), np.float32)
        out: FloatArray = _ray().get(self._handle.embed_aligned.remote(list(chips)))
        return out

    def close(self) -> None:
        self.local.close()


# --- cameras ------------------------------------------------------------------------


class CameraActor:
    """A camera worker in a Ray actor (threaded: ``health``/``stop`` answer while ``run`` runs)."""

    def __init__(self, spec: WorkerSpec, recognition: str | None, log_level: str) -> None:
        setup_logging(log_level)
        self.incarnation = uuid.uuid4().hex
        embedder = None
        if recognition:
            cfg = spec.config()
            embedder = RemoteEmbedder(build_embedder(cfg.embedder, Path(spec.home) / "models"), recognition)
        self.worker = CameraWorker(spec, embedder=embedder, engine="ray")
        if _ray().get_runtime_context().was_current_actor_reconstructed:
            logger.warning("camera %s: actor restarted by Ray; resuming", spec.camera)

    def run(self) -> CameraHealth:
        return self.worker.run()

    def health(self) -> tuple[str, CameraHealth]:
        return self.incarnation, self.worker.health()

    def stop(self) -> None:
        self.worker.stop()


class RayWorker:
    """Driver-side handle of one camera actor."""

    def __init__(self, runner: RayRunner, spec: WorkerSpec) -> None:
        ray = _ray()
        rc = runner.cfg.ray
        self.spec = spec
        self.health = CameraHealth(spec.camera, CameraStatus.STARTING, engine="ray")
        self.incarnation = ""
        self.health_ref: Any = None
        self.actor = (
            ray.remote(CameraActor)
            .options(
                num_cpus=rc.camera_cpus,
                max_restarts=rc.max_restarts,
                max_task_retries=-1,
                max_concurrency=4,
                name=f"citywatch-camera-{spec.camera}-{uuid.uuid4().hex[:8]}",
            )
            .remote(spec, runner.recognition_for(spec.camera), runner.cfg.log_level)
        )
        self.run_ref = self.actor.run.remote()

    def alive(self) -> bool:
        ready, _ = _ray().wait([self.run_ref], timeout=0)
        return not ready

    def exit_health(self) -> CameraHealth:
        ray = _ray()
        try:
            final: CameraHealth = ray.get(self.run_ref, timeout=HEALTH_TIMEOUT_S)
        except ray.exceptions.RayError as exc:  # task error, actor died, timeout: not a clean end
            why = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            return replace(self.health, status=CameraStatus.FAILED, error=why, fps_in=0.0, fps_out=0.0)
        return final

    def request_stop(self) -> None:
        self.actor.stop.remote()

    def join(self, timeout: float) -> None:
        ray = _ray()
        ray.wait([self.run_ref], timeout=timeout)
        ray.kill(self.actor, no_restart=True)  # ended or stuck: free its CPUs either way

    def kill(self) -> None:
        """As a crash: Ray restarts the actor and re-runs the camera."""
        _ray().kill(self.actor, no_restart=False)


class RayRunner:
    """Connects to (or starts) Ray, owns the recognition actors, spawns camera actors."""

    engine = "ray"

    def __init__(self, cfg: Config, home: Path) -> None:
        self.cfg = cfg
        self.home = home
        self._recognition: list[Any] = []
        self._owns_ray = False
        self._id = uuid.uuid4().hex[:8]

    def start(self) -> None:
        ray = _ray()
        rc = self.cfg.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"namespace": rc.namespace, "log_to_driver": False}
            if rc.address:
                ray.init(address=rc.address, **kwargs)
            else:
                ray.init(include_dashboard=False, **kwargs)
            self._owns_ray = True
        actor_cls = ray.remote(RecognitionActor)
        for i in range(rc.recognition_actors):
            self._recognition.append(
                actor_cls.options(
                    name=RECOGNITION_NAME.format(self._id, i),
                    num_cpus=rc.recognition_cpus,
                    num_gpus=rc.num_gpus,
                    max_restarts=rc.max_restarts,
                    max_task_retries=-1,
                ).remote(
                    self.cfg.embedder.model_dump_json(),
                    str(self.home / "models"),
                    rc.batch_size,
                    rc.batch_wait_ms,
                    self.cfg.log_level,
                )
            )
        logger.info(
            "ray engine: %d recognition actor(s) with %g GPU(s) each, on %s",
            rc.recognition_actors, rc.num_gpus, rc.address or "a local Ray instance",
        )  # fmt: skip

    def recognition_for(self, camera: str) -> str | None:
        if not self._recognition:
            return None
        # a stable hash (not hash(), which is salted per process) spreads cameras over the actors
        return RECOGNITION_NAME.format(self._id, zlib.crc32(camera.encode()) % len(self._recognition))

    def spawn(self, spec: WorkerSpec) -> RayWorker:
        return RayWorker(self, spec)

    def poll(self, workers: Sequence[object], timeout: float) -> None:
        ray = _ray()
        mine = [w for w in workers if isinstance(w, RayWorker)]
        for w in mine:
            if w.health_ref is None:
                w.health_ref = w.actor.health.remote()
        refs = [w.health_ref for w in mine]
        if not refs:
            time.sleep(timeout)
            return
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        done = set(ready)
        for w in mine:
            if w.health_ref not in done:
                continue
            ref, w.health_ref = w.health_ref, None
            try:
                w.incarnation, w.health = ray.get(ref)
            except ray.exceptions.RayError as exc:  # restarting or gone: say so until it answers
                w.health = replace(
                    w.health, status=CameraStatus.FAILED, error=f"actor unavailable: {type(exc).__name__}"
                )

    def close(self) -> None:
        ray = _ray()
        for actor in self._recognition:
            ray.kill(actor, no_restart=True)
        self._recognition.clear()
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
