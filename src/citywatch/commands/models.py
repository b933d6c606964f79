"""CLI: the model catalogue (``citywatch models list``) and verified downloads (``citywatch models pull``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from citywatch.commands.common import DataDirOpt, JsonOpt, emit, err, handled, out

models_app = typer.Typer(no_args_is_help=True, help="Face models: licences, shapes, verified downloads.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
    app.add_typer(models_app, name="models")


def _model_dir(data_dir: Path | None, dest: Path | None) -> Path:
    from citywatch.config import resolve_home

    return dest if dest is not None else resolve_home(data_dir) / "models"


@models_app.command("list")
@handled
def models_list(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Every detector and embedder: licence, input, output, where the weights come from, whether installed."""
    from citywatch.zoo import CATALOGUE, installed

    model_dir = _model_dir(data_dir, None)
    rows = []
    for e in CATALOGUE:
        source = f"pip: {e.package}" if e.package else str(e.url)
        if e.archive_member:
            source += f" ({e.archive_member})"
        rows.append(
            {
                "name": e.name,
                "kind": e.kind,
                "config_type": e.plugin,
                "licence": e.licence,
                "input": e.input,
                "output": e.output,
                "dim": e.dim,
                "source": source,
                "sha256": e.sha256,
                "needs_sha256": e.downloadable and e.sha256 is None,
                "file": str(model_dir / e.file) if e.file else None,
                "installed": installed(e, model_dir),
            }
        )
    if as_json:
        for r in rows:
            emit(r)
        return
    table = Table("name", "kind", "config type", "licence", "input", "output", "weights", "installed")
    for r in rows:
        if r["sha256"]:
            weights = f"download, sha256 {str(r['sha256'])[:12]}..."
        elif r["needs_sha256"]:
            weights = "download, needs --sha256"
        else:
            weights = str(r["source"])
        table.add_row(
            str(r["name"]),
            str(r["kind"]),
            str(r["config_type"]),
            str(r["licence"]),
            str(r["input"]),
            str(r["output"]),
            weights,
            "yes" if r["installed"] else "no",
        )
    # a wide table: wrapped into 80 columns it cannot be read, so render at 180 even in a pipe
    Console(width=max(out.width, 180), soft_wrap=True).print(table)
    out.print(f"downloaded weights live in {model_dir}", highlight=False)
    out.print(
        "InsightFace packs (scrfd, arcface from buffalo_l.zip) are licensed for non-commercial research only "
        "and their publisher gives no checksum: `models pull` needs --sha256 for them.",
        highlight=False,
    )
    for r in rows:
        if r["source"] and not str(r["source"]).startswith("pip:"):
            out.print(f"  {r['name']}: {r['source']}", highlight=False)


@models_app.command("pull")
@handled
def models_pull(
    name: Annotated[str, typer.Argument(help="Catalogue name (see `citywatch models list`).")],
    sha256: Annotated[
        str | None,
        typer.Option(
            "--sha256", help="Expected SHA-256 (required where none is published; overrides the pin)."
        ),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Download from here instead (a mirror).")] = None,
    dest: Annotated[
        Path | None, typer.Option("--dest", help="Folder to save into (default <data-dir>/models).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if the file exists.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Download a model's weights from the official location and verify their SHA-256."""
    from citywatch.zoo import entry, pull

    e = entry(name)
    bar = Progress(
        TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err, transient=True
    )
    task = bar.add_task("download", total=e.size)

    def progress(done: int, total: int | None) -> None:
        bar.update(task, completed=done, total=total or e.size)

    with bar:
        path = pull(e, _model_dir(data_dir, dest), url=url, sha256=sha256, force=force, progress=progress)
    if as_json:
        emit({"name": e.name, "path": str(path), "licence": e.licence})
        return
    out.print(f"[green]ok[/]: {path} ({e.licence})", highlight=False)
    out.print(f"use it with:  {e.kind}: {{type: {e.plugin}, model_path: {path}}}", highlight=False)
