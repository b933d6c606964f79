"""CLI: Redacted evidence export (and the two-person unblur approval).

Command forms::

    citywatch export --case REF --alert ID [-o FILE.zip] [--seconds 2] [--reason TEXT]
                     [--unblur-request ID] --as USER
    citywatch export unblur-request --case REF --alert ID --reason TEXT --as USER
    citywatch export unblur-approve REQUEST_ID [--refuse] --as USER

``export`` is a Typer group that runs the export itself when no sub-command
is given. The rules live in :mod:`citywatch.governance.export`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from citywatch.commands.common import ActorOpt, ConfigOpt, DataDirOpt, JsonOpt, emit, fail, handled, out

export_app = typer.Typer(
    invoke_without_command=True,
    help="Redacted evidence packages (confirmed alerts only) and two-person unblur approvals.",
)

CaseOpt = Annotated[str | None, typer.Option("--case", help="Case reference the export belongs to.")]
AlertOpt = Annotated[int | None, typer.Option("--alert", help="Alert id (must be confirmed).")]


@export_app.callback()
@handled
def export_run(
    ctx: typer.Context,
    case: CaseOpt = None,
    alert: AlertOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Zip file to write (default <data-dir>/exports/...)."),
    ] = None,
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.0, max=60.0, help="Context before and after the sighting.")
    ] = 2.0,
    reason: Annotated[str, typer.Option("--reason", help="Why the package is made (audited).")] = (
        "evidence export"
    ),
    unblur_request: Annotated[
        int | None,
        typer.Option("--unblur-request", help="Use this approved unblur request (once): no blurring."),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Write a redacted evidence package (zip) for a confirmed alert: every face but the subject's blurred."""
    if ctx.invoked_subcommand is not None:
        return
    if case is None or alert is None:
        raise fail("an export needs --case REF and --alert ID (see `citywatch export --help`)", code=2)
    from citywatch.app import current_actor, open_app
    from citywatch.governance.export import export_evidence

    user = current_actor(actor)
    with open_app(config, data_dir) as a:
        if output is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in case)
            output = a.home / "exports" / f"{safe}-alert{alert}-{stamp}.zip"
        res = export_evidence(
            a.store,
            a.detector,
            case_ref=case,
            alert_id=alert,
            exporter=user,
            output=output,
            reason=reason,
            seconds=seconds,
            unblur_request_id=unblur_request,
            embedder=a.embedder,
        )
    if as_json:
        emit(res.to_json())
        return
    mode = f"UNBLURRED (approved by {res.unblur_approved_by})" if res.unblurred else "bystanders blurred"
    out.print(
        f"wrote {res.path} ({res.frames} frames, {res.files} files, {mode}, "
        f"{res.blurred_boxes} face regions blurred); sha256 {res.sha256}",
        highlight=False,
    )


@export_app.command("unblur-request")
@handled
def unblur_request_cmd(
    case: Annotated[str, typer.Option("--case", help="Case reference.")],
    alert: Annotated[int, typer.Option("--alert", help="Alert id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why bystanders must be visible.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Ask for an unblurred export (a supervisor other than you must approve it)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.export import request_unblur

    with open_app(config, data_dir) as a:
        req = request_unblur(
            a.store, case_ref=case, alert_id=alert, reason=reason, requested_by=current_actor(actor)
        )
    if as_json:
        emit({"request_id": req.id, "case": req.case_ref, "alert_id": req.alert_id, "status": req.status})
        return
    out.print(
        f"unblur request {req.id} ({req.status}): ask a supervisor to run `citywatch export unblur-approve {req.id}`"
    )


@export_app.command("unblur-approve")
@handled
def unblur_approve_cmd(
    request_id: Annotated[int, typer.Argument(help="Unblur request id.")],
    refuse: Annotated[bool, typer.Option("--refuse", help="Refuse instead of approving.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Approve (or --refuse) someone else's unblur request."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.export import decide_unblur

    with open_app(config, data_dir) as a:
        req = decide_unblur(a.store, request_id, current_actor(actor), approve=not refuse)
    if as_json:
        emit({"request_id": req.id, "status": req.status, "decided_by": req.decided_by})
        return
    out.print(f"unblur request {req.id} {req.status} by {req.decided_by}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
    app.add_typer(export_app, name="export")
