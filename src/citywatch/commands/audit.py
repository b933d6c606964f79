"""CLI: Audit trail (verify, signed export), retention job, cases and holds, transparency report, capture quality.

Exit codes: 0 ok; 1 a failed check (``audit verify``, ``audit verify-export``)
or a refused/failed request. ``--json`` prints one JSON object on stdout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from citywatch.commands.common import (
    ActorOpt,
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    emit,
    err,
    fail,
    handled,
    out,
    parse_time,
)

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail: verify, sign, export.")
retention_app = typer.Typer(no_args_is_help=True, help="Retention: delete what is past its period.")
case_app = typer.Typer(no_args_is_help=True, help="Cases and legal holds.")
cameras_app = typer.Typer(no_args_is_help=True, help="Cameras: capture quality.")

NowOpt = Annotated[str | None, typer.Option("--now", help="Clock override, ISO 8601 (tests, replays).")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(retention_app, name="retention")
    app.add_typer(case_app, name="case")
    app.add_typer(cameras_app, name="cameras")
    app.command("report")(report)


# --- audit ------------------------------------------------------------------------------


@audit_app.command("verify")
@handled
def audit_verify(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False
) -> None:
    """Verify the whole audit chain and its head anchor (auditor). Exit 1 naming the first bad entry."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import Perm, require
    from citywatch.governance.audit import verify_audit_trail

    with open_app(config, data_dir) as a:
        who = require(a.store, current_actor(actor), Perm.AUDIT_READ)
        res = verify_audit_trail(a.store)
        a.store.append_audit(
            who.name, "audit.verify", "audit_log", role=who.role,
            details={"ok": res.ok, "entries": res.entries, "first_bad_seq": res.first_bad_seq},
        )  # fmt: skip
    if as_json:
        emit(res.to_json())
    elif res.ok:
        head = f"head {res.head.seq} {res.head.hash[:16]}…" if res.head else "empty"
        out.print(f"[green]ok[/]: {res.entries} audit entries, chain and anchor intact ({head})")
    else:
        where = f"entry {res.first_bad_seq}" if res.first_bad_seq is not None else "the trail"
        err.print(f"[red]TAMPERED[/]: {where}: {res.reason}", highlight=False)
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("export")
@handled
def audit_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON Lines file to write.")],
    since: Annotated[
        str | None, typer.Option("--since", help="Entries at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Entries before this time (ISO 8601).")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a signed (Ed25519) JSON Lines export of the audit trail (auditor); audited ``audit.export``."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import Perm, require
    from citywatch.governance.audit import export_audit

    t0, t1 = parse_time(since, "--since"), parse_time(until, "--until")
    with open_app(config, data_dir) as a:
        who = require(a.store, current_actor(actor), Perm.AUDIT_READ)
        res = export_audit(a.store, output, t0, t1)
        a.store.append_audit(
            who.name, "audit.export", str(output), role=who.role,
            details={
                "since": t0.isoformat() if t0 else None, "until": t1.isoformat() if t1 else None,
                "entries": res.entries, "first_seq": res.first_seq, "last_seq": res.last_seq,
                "sha256": res.sha256, "public_key": res.public_key,
            },
        )  # fmt: skip
    if as_json:
        emit(
            {
                "path": str(res.path), "entries": res.entries, "first_seq": res.first_seq,
                "last_seq": res.last_seq, "sha256": res.sha256, "public_key": res.public_key,
            }
        )  # fmt: skip
    else:
        out.print(
            f"wrote {res.entries} entries ({res.first_seq}..{res.last_seq}) to {res.path}; "
            f"verify with `citywatch audit verify-export {res.path} --public-key {res.public_key}`",
            highlight=False,
        )


@audit_app.command("verify-export")
@handled
def audit_verify_export(
    file: Annotated[Path, typer.Argument(help="An audit export (JSON Lines).")],
    public_key: Annotated[
        str, typer.Option("--public-key", help="Public key: a file (hex or PEM) or 64 hex characters.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Verify a signed audit export with the public key alone (no database). Exit 1 if it fails."""
    from citywatch.governance.audit import verify_export

    res = verify_export(file, public_key)
    if as_json:
        emit(res.to_json())
    elif res.ok:
        out.print(
            f"[green]ok[/]: signature valid, {res.entries} entries ({res.first_seq}..{res.last_seq}) intact"
        )
    else:
        line = f"line {res.bad_line}: " if res.bad_line is not None else ""
        err.print(f"[red]INVALID[/]: {line}{res.reason}", highlight=False)
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("key")
@handled
def audit_key(config: ConfigOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Print the audit signing public key (created on first use). The public key is public."""
    from citywatch.config import resolve_home
    from citywatch.governance.audit import ensure_keys

    keys = ensure_keys(resolve_home(data_dir))
    if as_json:
        emit({"public_key": keys.public_hex, "public_key_file": str(keys.public_path)})
    else:
        out.print(f"{keys.public_hex}\n{keys.public_path}", highlight=False)


# --- retention ----------------------------------------------------------------------------


@retention_app.command("run")
@handled
def retention_run(
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete sightings past their retention period (admin); audited ``retention.run`` with counts."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import Perm, require
    from citywatch.governance.retention import run_retention

    clock = parse_time(now, "--now") or datetime.now(UTC)
    with open_app(config, data_dir) as a:
        who = require(a.store, current_actor(actor), Perm.RETENTION_RUN)
        rep = run_retention(a.store, a.cfg.governance.retention, clock, who.name, role=who.role)
    if as_json:
        emit(rep.to_json())
    else:
        out.print(
            f"deleted {rep.unmatched_sightings} unmatched and {rep.matched_sightings} matched sighting(s), "
            f"{rep.alerts} alert(s), {rep.thumbnails} thumbnail(s); {rep.held} kept under legal hold",
            highlight=False,
        )


# --- cases -------------------------------------------------------------------------------------


@case_app.command("create")
@handled
def case_create(
    case_ref: Annotated[str, typer.Argument(help="Case reference.")],
    title: Annotated[str, typer.Option("--title", help="Short title.")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a case (investigator or supervisor)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.cases import open_case

    with open_app(config, data_dir) as a:
        rec = open_case(a.store, current_actor(actor), case_ref, title)
    _print_case(rec.case_ref, rec.title, rec.legal_hold, as_json, "created")


@case_app.command("hold")
@handled
def case_hold(
    case_ref: Annotated[str, typer.Argument(help="Case reference.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (court order, appeal, ...).")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put a case on legal hold: its matched sightings and alerts outlive their retention period."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.cases import hold

    with open_app(config, data_dir) as a:
        rec = hold(a.store, current_actor(actor), case_ref, reason)
    _print_case(rec.case_ref, rec.title, rec.legal_hold, as_json, "on hold")


@case_app.command("release")
@handled
def case_release(
    case_ref: Annotated[str, typer.Argument(help="Case reference.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Release a case's legal hold: the next retention run deletes what is past its period."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.cases import release

    with open_app(config, data_dir) as a:
        rec = release(a.store, current_actor(actor), case_ref, reason)
    _print_case(rec.case_ref, rec.title, rec.legal_hold, as_json, "released")


@case_app.command("list")
@handled
def case_list(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False
) -> None:
    """List cases and their holds (investigator or supervisor)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import Perm, require
    from citywatch.store.retention import list_cases

    with open_app(config, data_dir) as a:
        require(a.store, current_actor(actor), Perm.CASES_MANAGE)
        cases = list_cases(a.store)
    if as_json:
        for c in cases:
            emit(
                {"case": c.case_ref, "title": c.title, "legal_hold": c.legal_hold, "created_by": c.created_by}
            )
        return
    table = Table(title=f"{len(cases)} case(s)")
    for col in ("case", "title", "legal hold", "created by"):
        table.add_column(col)
    for c in cases:
        table.add_row(c.case_ref, c.title, "yes" if c.legal_hold else "no", c.created_by)
    out.print(table)


def _print_case(ref: str, title: str, held: bool, as_json: bool, what: str) -> None:
    if as_json:
        emit({"case": ref, "title": title, "legal_hold": held})
    else:
        out.print(f"case [bold]{ref}[/] {what} (legal hold: {'yes' if held else 'no'})", highlight=False)


# --- report --------------------------------------------------------------------------------


@handled
def report(
    period: Annotated[str, typer.Option("--period", help="Month to report, YYYY-MM.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Directory for report.json, report.csv, activity.png."),
    ] = None,
    accuracy: Annotated[
        Path | None, typer.Option("--accuracy", help="JSON of accuracy measured for this deployment.")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the public transparency report for a month (no login: counts only, never identities)."""
    from citywatch.app import open_app
    from citywatch.governance.report import build_report, write_report

    with open_app(config, data_dir) as a:
        acc = accuracy if accuracy is not None else a.home / "accuracy.json"
        rep = build_report(a.store, a.cfg, period, accuracy_file=acc)
        out_dir = output if output is not None else a.home / "reports" / period
    paths = write_report(rep, out_dir)
    if as_json:
        emit({"period": rep.period, **{k: str(v) for k, v in paths.items()}})
    else:
        mt = rep.metrics
        out.print(
            f"{rep.period}: {mt.faces_processed} faces processed, {mt.alerts} alerts "
            f"({mt.alerts_confirmed} confirmed, {mt.alerts_rejected} rejected), {mt.searches} searches",
            highlight=False,
        )
        for p in paths.values():
            out.print(f"  {p}", highlight=False)


# --- cameras -------------------------------------------------------------------------------


@cameras_app.command("quality")
@handled
def cameras_quality(config: ConfigOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Capture quality per camera (median inter-eye px, frontalness, share recognisable) and the floor's verdict."""
    from citywatch.app import open_app
    from citywatch.governance.quality import all_camera_quality
    from citywatch.store.stats import sighting_cameras

    with open_app(config, data_dir) as a:
        names = sorted({c.name for c in a.store.list_cameras()} | set(sighting_cameras(a.store)))
        rows = all_camera_quality(a.store, names, a.cfg.governance)
    if as_json:
        for q in rows:
            emit(q.to_json())
        return
    if not rows:
        raise fail("no cameras configured and no sightings stored")
    table = Table(title=f"capture quality (floor {a.cfg.governance.min_eye_px:g} px between the eyes)")
    for col in ("camera", "faces", "median eye px", "median frontal", "recognisable", "recognition"):
        table.add_column(col)
    for q in rows:
        table.add_row(
            q.camera,
            str(q.faces),
            f"{q.median_eye_px:.1f}" if q.median_eye_px is not None else "-",
            f"{q.median_frontal:.2f}" if q.median_frontal is not None else "-",
            f"{q.share_recognisable:.0%}" if q.share_recognisable is not None else "-",
            "allowed" if q.recognition_allowed else "[red]refused[/]",
        )
    out.print(table)
    for q in rows:
        if not q.recognition_allowed:
            err.print(f"[yellow]warning:[/] {q.reason}", highlight=False)
