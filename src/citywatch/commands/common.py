"""What every CLI command module shares: consoles, options, error handling, JSON output."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from citywatch.errors import CitywatchError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger("citywatch.cli")

P = ParamSpec("P")
R = TypeVar("R")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config (default: <data-dir>/config.yaml if present)."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CITYWATCH_HOME", help="Data directory (default ./citywatch-data)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output on stdout.")]
ActorOpt = Annotated[str | None, typer.Option("--as", help="Act as this user (default $CITYWATCH_USER).")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn citywatch errors into a one-line message and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CitywatchError as exc:
            raise fail(str(exc)) from exc

    return wrapper


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def parse_time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{what}: {value!r} is not an ISO 8601 time (e.g. 2026-11-28T14:00)"
        ) from exc
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
