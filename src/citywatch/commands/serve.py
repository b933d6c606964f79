"""CLI: ``citywatch serve``: the API, the console and the camera workers in one command (uvicorn).

Fixed paths: console ``/``, OpenAPI ``/docs``, public report ``/transparency``
(and ``.json``, ``.csv``), health ``/healthz``, fleet metrics ``/metrics``, API
``/api/...``. Background work in the same process: the camera fleet (workers
are child processes), the retention job every
``governance.retention.interval_minutes``, and the alerts-out dispatcher
(MQTT, webhooks).
"""

from __future__ import annotations

import logging
from types import FrameType
from typing import Annotated

import typer

from citywatch.commands.common import ConfigOpt, DataDirOpt, err, handled

logger = logging.getLogger("citywatch.serve")

GRACEFUL_SHUTDOWN_S = 5
"""How long a shutdown waits for requests still running (streams are ended first)."""


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
    app.command("serve")(serve)


@handled
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Start the camera workers (the fleet).")
    ] = True,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the API, the console and the camera workers on the embedded default (one machine)."""
    import uvicorn

    from citywatch.api import create_app
    from citywatch.app import App
    from citywatch.log import setup_logging
    from citywatch.store.users import list_users

    a = App.open(config, data_dir)
    try:
        setup_logging(a.cfg.log_level)
        if not any(u.has_password and u.active for u in list_users(a.store)):
            err.print(
                "[yellow]note:[/] no user can log in yet: create the first admin with "
                "`citywatch users create NAME --role admin --password`",
                highlight=False,
            )
        api = create_app(a, run_fleet=workers, run_retention=True, run_events=True)
        logger.info("serving %s on http://%s:%d (data %s)", "API + console", host, port, a.home)
        feed = api.state.ctx.feed

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                # open live-alert streams never end by themselves: end them, then shut down
                feed.end_streams_soon()
                super().handle_exit(sig, frame)

        Server(
            uvicorn.Config(
                api,
                host=host,
                port=port,
                log_level=a.cfg.log_level.lower(),
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                proxy_headers=False,
                server_header=False,
            )
        ).run()
    finally:
        a.close()
