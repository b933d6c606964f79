"""CLI: ``citywatch events``: deliver the alert outbox to MQTT and webhooks, and see how it stands.

``events dispatch`` runs until Ctrl-C (or SIGTERM); ``--once`` delivers what is
due now and exits (cron, tests). ``serve`` runs the same dispatcher in a thread.
Exit codes: 0 ok; 1 a configuration problem (e.g. a webhook secret missing).
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from citywatch.commands.common import ConfigOpt, DataDirOpt, JsonOpt, emit, handled, out

if TYPE_CHECKING:
    from citywatch.config import Config
    from citywatch.store.repo import Store

events_app = typer.Typer(no_args_is_help=True, help="Alerts out: the outbox, MQTT and webhooks.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
    app.add_typer(events_app, name="events")


def _open(config: Path | None, data_dir: Path | None) -> tuple[Config, Store]:
    """Config and store, without reconciling (camera workers may be writing while this runs)."""
    from citywatch.config import load_config, resolve_home
    from citywatch.store.repo import Store

    home = resolve_home(data_dir)
    if config is None and (home / "config.yaml").is_file():
        config = home / "config.yaml"
    cfg = load_config(config)
    return cfg, Store.open(cfg.database.url, home, reconcile=False, vectors=cfg.vectors)


@events_app.command("dispatch")
@handled
def dispatch(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then exit.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver alerts from the outbox to the configured MQTT broker and webhooks (at least once)."""
    from citywatch.events import Dispatcher, build_sinks
    from citywatch.log import setup_logging

    cfg, store = _open(config, data_dir)
    try:
        setup_logging(cfg.log_level)
        dispatcher = Dispatcher(store, cfg.events, build_sinks(cfg.events))
        try:
            if once:
                report = dispatcher.drain()
                if as_json:
                    emit(
                        {
                            "expanded": report.expanded,
                            "delivered": report.delivered,
                            "retried": report.retried,
                            "dead": report.dead,
                        }
                    )
                else:
                    out.print(
                        f"{report.delivered} delivered, {report.retried} to retry, {report.dead} dead "
                        f"({report.expanded} new alerts)"
                    )
                return

            def _stop(signum: int, _frame: FrameType | None) -> None:
                dispatcher.stop(timeout=0)

            signal.signal(signal.SIGTERM, _stop)
            try:
                dispatcher.run_forever()
            except KeyboardInterrupt:
                dispatcher.stop(timeout=0)
        finally:
            dispatcher.close()
    finally:
        store.close()


@events_app.command("status")
@handled
def status(config: ConfigOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Outbox rows per destination and state (pending, delivered, dead; ``*``: not yet expanded)."""
    from citywatch.store import outbox

    _cfg, store = _open(config, data_dir)
    try:
        counts = outbox.counts(store)
        due = outbox.next_due(store)
    finally:
        store.close()
    if as_json:
        emit({"destinations": counts, "next_due": due.isoformat() if due else None})
        return
    table = Table("destination", "pending", "delivered", "dead", "expanded")
    for dest, by_status in counts.items():
        table.add_row(dest, *(str(by_status.get(k, 0)) for k in ("pending", "delivered", "dead", "expanded")))
    out.print(table)
    if due is not None:
        out.print(f"next attempt due {due.astimezone(UTC).isoformat()}")


@events_app.command("retry-dead")
@handled
def retry_dead(
    destination: Annotated[
        str | None, typer.Option("--destination", help="Only this destination (mqtt, webhook:NAME).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give alerts that were given up a fresh set of attempts (after fixing the cause)."""
    from citywatch.store import outbox

    _cfg, store = _open(config, data_dir)
    try:
        n = outbox.retry_dead(store, datetime.now(UTC), destination)
    finally:
        store.close()
    if as_json:
        emit({"revived": n})
    else:
        out.print(f"{n} outbox row(s) pending again")
