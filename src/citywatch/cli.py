"""The ``citywatch`` command line (Typer).

Exit codes: 0 ok, 1 error (bad input, failed step), 2 bad usage (unknown
option, missing required argument; Typer's own convention).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from citywatch.config import check_config_text

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="citywatch: accountable camera face recognition."
)
config_app = typer.Typer(no_args_is_help=True, help="Configuration files.")
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True)
logger = logging.getLogger("citywatch.cli")


@config_app.command("validate")
def config_validate(
    file: Annotated[Path, typer.Argument(help="YAML configuration file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check a configuration file; report every error with its YAML line."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/] {file}: {exc.strerror}")
        raise typer.Exit(1) from exc
    cfg, issues = check_config_text(text)
    if as_json:
        out.print_json(json.dumps({"ok": cfg is not None, "errors": [i.model_dump() for i in issues]}))
    elif cfg is not None:
        out.print(f"[green]ok[/]: {file} ({len(cfg.cameras)} cameras, detector {cfg.detector.type})")
    else:
        for i in issues:
            value = f" (got {i.value})" if i.value is not None else ""
            err.print(f"{file}:{i.line or '?'}: [bold]{i.path}[/]: {i.message}{value}")
    if cfg is None:
        raise typer.Exit(1)


def main() -> None:
    app()
