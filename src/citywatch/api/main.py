"""The FastAPI app factory: ``create_app(app)`` wires routers, errors, auth, the alert feed and background jobs.

Nothing is built at import time. ``citywatch serve`` calls
``create_app(app, run_fleet=True, run_retention=True)``; tests call
``create_app(app)`` on an App opened on a temporary data directory (no camera
workers, no scheduled jobs) and drive it with ``TestClient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citywatch.api import errors
from citywatch.api.context import ApiContext, _utcnow
from citywatch.api.feed import AlertFeed
from citywatch.api.fleet import FleetLike, effective_cameras, load_fleet
from citywatch.api.routes import (
    alerts,
    audit,
    auth,
    authorisations,
    cameras,
    exports,
    public,
    search,
    sightings,
    sites,
    users,
    watchlists,
)
from citywatch.api.security import LoginLimiter
from citywatch.app import App
from citywatch.config import Config
from citywatch.errors import CitywatchError
from citywatch.governance.retention import SYSTEM_ACTOR, run_retention
from citywatch.store.repo import AUDIT_CLIENT

if TYPE_CHECKING:
    from citywatch.events.outbox import Dispatcher

log = logging.getLogger(__name__)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    users.router,
    cameras.router,
    sites.router,
    alerts.router,
    sightings.router,
    search.router,
    watchlists.router,
    authorisations.router,
    exports.router,
    audit.router,
    public.router,
)
WEB_MODULE = "citywatch.web.routes"

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class RequestContext:
    """Pure ASGI middleware: records the client address for audit entries and adds security headers.

    Pure ASGI (not ``BaseHTTPMiddleware``) so the context variable is set in
    the task that runs the endpoint and every thread it hands work to.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = AUDIT_CLIENT.set(str(client[0]) if client else "unknown")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            AUDIT_CLIENT.reset(token)


def _mount_console(api: FastAPI) -> None:
    """Include the console's pages (``citywatch.web.routes.router``) and static files, when they exist."""
    if importlib.util.find_spec("citywatch.web") is None or importlib.util.find_spec(WEB_MODULE) is None:
        log.info("no console module (%s): serving the API only", WEB_MODULE)
        return
    mod = importlib.import_module(WEB_MODULE)
    router = getattr(mod, "router", None)
    static = getattr(mod, "static_dir", None) or Path(mod.__file__ or "").resolve().parent / "static"
    if isinstance(static, str | Path) and Path(static).is_dir():
        api.mount("/static", StaticFiles(directory=str(static)), name="static")
    if isinstance(router, APIRouter):
        api.include_router(router)


async def _retention_loop(ctx: ApiContext) -> None:
    """Run the retention job at start and every ``governance.retention.interval_minutes``."""
    while True:
        cfg = ctx.app.cfg.governance.retention
        try:
            await anyio.to_thread.run_sync(partial(run_retention, ctx.store, cfg, ctx.now(), SYSTEM_ACTOR))
        except Exception:
            log.exception("scheduled retention run failed")
        await asyncio.sleep(cfg.interval_minutes * 60)


def _start_dispatcher(ctx: ApiContext) -> Dispatcher | None:
    """The alerts-out dispatcher, started; ``None`` (logged) when its destinations are misconfigured.

    A misconfigured destination does not stop the console: alerts stay in the
    outbox until the configuration is fixed and ``serve`` restarts.
    """
    from citywatch.events.outbox import Dispatcher, build_sinks

    cfg = ctx.app.cfg.events
    try:
        dispatcher = Dispatcher(ctx.store, cfg, build_sinks(cfg))
    except CitywatchError as exc:
        log.error("alerts are not delivered to MQTT/webhooks: %s (they wait in the outbox)", exc)
        return None
    dispatcher.start()
    return dispatcher


def create_app(
    app: App | None = None,
    *,
    cfg: Config | None = None,
    home: Path | None = None,
    fleet: FleetLike | None = None,
    run_fleet: bool = False,
    run_retention: bool = False,
    run_events: bool = False,
    now: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The API (and console, when present) for ``app``, or for an App opened from ``cfg`` + ``home``.

    ``fleet``: a running fleet to report and manage (tests pass a fake or
    none). ``run_fleet``: build ``engine.fleet.Fleet`` from the effective
    configuration and start/stop it with the server. ``run_retention``: run
    the retention job on its interval. ``run_events``: deliver alerts to MQTT
    and webhooks (``events.outbox.Dispatcher`` in a thread). ``now``: the clock
    of auth and governance decisions (tests).
    """
    owned = app is None
    if app is None:
        app = App.open(data_dir=home, cfg=cfg)
    app.cfg = effective_cameras(app.store, app.cfg)
    api_cfg = app.cfg.api
    ctx = ApiContext(
        app=app,
        fleet=fleet,
        limiter=LoginLimiter(api_cfg.login_max_failures, api_cfg.login_window_seconds),
        feed=AlertFeed(app.store, api_cfg.alert_poll_seconds),
        now=now or _utcnow,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs: list[asyncio.Task[Any]] = []
        started: FleetLike | None = None
        if run_fleet and ctx.fleet is None:
            started = await anyio.to_thread.run_sync(load_fleet, ctx.app.cfg, ctx.home)
            if started is not None:
                await anyio.to_thread.run_sync(started.start)
                ctx.fleet = started
                log.info("camera fleet started (%d camera(s))", len(ctx.cameras()))
        if run_retention:
            jobs.append(
                asyncio.get_running_loop().create_task(_retention_loop(ctx), name="citywatch.retention")
            )
        dispatcher = _start_dispatcher(ctx) if run_events else None
        try:
            yield
        finally:
            await ctx.feed.close()
            if dispatcher is not None:
                await anyio.to_thread.run_sync(dispatcher.stop)
                dispatcher.close()
            for job in jobs:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            if started is not None:
                await anyio.to_thread.run_sync(started.stop)
                ctx.fleet = None
                log.info("camera fleet stopped")
            if owned:
                ctx.app.close()

    api = FastAPI(
        title="citywatch",
        summary="Accountable camera face recognition: REST API",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.state.ctx = ctx
    errors.install(api)
    for r in ROUTERS:
        api.include_router(r)
    _mount_console(api)
    api.add_middleware(RequestContext)
    return api
