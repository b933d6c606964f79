"""The local engine: one spawned worker process per camera (the GIL and dlib make threads useless).

Each worker talks to the fleet over its own pipe (a worker killed
mid-message breaks only its own pipe, never a queue shared with the others):
health goes up, ``"stop"`` comes down, and a worker whose fleet died (end of
file on the pipe) stops by itself instead of running on as an orphan. The supervisor side
(:class:`LocalRunner`) only starts, watches and stops processes; restarts and
backoff live in :mod:`citywatch.engine.fleet`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from types import FrameType

from citywatch.engine.health import CameraHealth, CameraStatus
from citywatch.engine.worker import CameraWorker, WorkerSpec
from citywatch.log import setup_logging

logger = logging.getLogger(__name__)

_CTX = mp.get_context("spawn")


def _worker_main(spec: WorkerSpec, conn: Connection, health_seconds: float, log_level: str) -> None:
    """Entry point of a worker process: run the camera, report health until it ends."""
    setup_logging(log_level)
    worker: CameraWorker | None = None
    ended = threading.Event()
    send_lock = threading.Lock()

    def send(h: CameraHealth) -> None:
        # the fleet may be gone (stop is coming, or this process is orphaned): never fail on it
        with send_lock, contextlib.suppress(OSError, ValueError):
            conn.send(h)

    def on_term(signum: int, frame: FrameType | None) -> None:
        if worker is not None:
            worker.stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the fleet stops us
    try:
        worker = CameraWorker(spec)
    except Exception:
        logger.exception("camera %s: worker cannot start", spec.camera)
        send(
            CameraHealth(spec.camera, CameraStatus.FAILED, error=f"camera {spec.camera}: worker cannot start")
        )
        sys.exit(1)
    w = worker

    def watch_stop() -> None:
        with contextlib.suppress(EOFError, OSError):
            conn.recv()  # "stop", or EOF when the fleet is gone
        w.stop()

    def report() -> None:
        while not ended.wait(health_seconds):
            send(w.health())

    threading.Thread(target=watch_stop, name=f"citywatch.stop:{spec.camera}", daemon=True).start()
    threading.Thread(target=report, name=f"citywatch.health:{spec.camera}", daemon=True).start()
    send(w.health())
    code = 0
    try:
        final = w.run()
    except Exception:
        logger.exception("camera %s: worker failed", spec.camera)
        final, code = w.health(), 1
    ended.set()
    send(final)
    conn.close()
    sys.exit(code)


class LocalWorker:
    """Parent-side handle of one worker process."""

    incarnation = "process"
    """A process is never restarted in place: the fleet starts a new one."""

    def __init__(self, spec: WorkerSpec, *, health_seconds: float, log_level: str) -> None:
        self.spec = spec
        self.health: CameraHealth = CameraHealth(spec.camera, CameraStatus.STARTING)
        mine, theirs = _CTX.Pipe(duplex=True)
        self._conn: Connection | None = mine
        self.process: SpawnProcess = _CTX.Process(
            target=_worker_main,
            args=(spec, theirs, health_seconds, log_level),
            name=f"citywatch.camera:{spec.camera}",
            daemon=True,
        )
        self.process.start()
        theirs.close()  # the child holds the only other end: EOF when it dies

    @property
    def conn(self) -> Connection | None:
        return self._conn

    def receive(self) -> None:
        """Read what the worker sent (call when :attr:`conn` is ready)."""
        if self._conn is None:
            return
        try:
            while self._conn.poll():
                self.health = self._conn.recv()
        except (EOFError, OSError):
            self._conn.close()
            self._conn = None

    def alive(self) -> bool:
        return self.process.is_alive()

    def exit_health(self) -> CameraHealth:
        """The last health, marked failed unless the worker stopped cleanly."""
        self.receive()
        code = self.process.exitcode
        if code == 0 and self.health.status == CameraStatus.STOPPED:
            return self.health
        why = self.health.error or f"worker process exited with code {code}"
        return replace(self.health, status=CameraStatus.FAILED, error=why, fps_in=0.0, fps_out=0.0)

    def request_stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send("stop")

    def join(self, timeout: float) -> None:
        """Wait for a requested stop; terminate, then kill, a worker that does not stop in time."""
        self.process.join(timeout)
        if self.process.is_alive():
            logger.warning("camera %s: worker did not stop in %.0f s, terminating", self.spec.camera, timeout)
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        self.receive()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def kill(self) -> None:
        """Kill the process at once (tests and hung workers)."""
        if self.process.pid is not None and self.process.is_alive():
            self.process.kill()


class LocalRunner:
    """Starts worker processes and waits on their pipes."""

    engine = "local"

    def __init__(self, *, health_seconds: float, log_level: str) -> None:
        self.health_seconds = health_seconds
        self.log_level = log_level

    def start(self) -> None:
        pass

    def spawn(self, spec: WorkerSpec) -> LocalWorker:
        return LocalWorker(spec, health_seconds=self.health_seconds, log_level=self.log_level)

    def poll(self, workers: Sequence[object], timeout: float) -> None:
        local = [w for w in workers if isinstance(w, LocalWorker)]
        conns = [w.conn for w in local if w.conn is not None]
        if not conns:
            time.sleep(timeout)
            return
        ready = set(map(id, wait(conns, timeout)))
        for w in local:
            if w.conn is not None and id(w.conn) in ready:
                w.receive()

    def close(self) -> None:
        pass
