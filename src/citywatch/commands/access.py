"""CLI: Users, roles, watchlist approvals, authorisations and two-person alert verification.

Every command acts as a named user (``--as USER`` or ``$CITYWATCH_USER``) and
goes through the same checks as the API (``governance.access.require``); a
refusal exits 1 with a message naming the user, role and permission.
"""

from __future__ import annotations

from datetime import UTC, datetime
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

users_app = typer.Typer(no_args_is_help=True, help="Users and roles.")
watchlist_app = typer.Typer(no_args_is_help=True, help="Watchlist entries: approval and expiry.")
auth_app = typer.Typer(no_args_is_help=True, help="Authorisations for live and post-event recognition.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts and their two-person verification.")

NowOpt = Annotated[str | None, typer.Option("--now", hidden=True, help="Clock override (tests).")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``citywatch`` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(watchlist_app, name="watchlist")
    app.add_typer(auth_app, name="auth")
    app.add_typer(alerts_app, name="alerts")


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _clock(now: str | None) -> datetime:
    return parse_time(now, "--now") or datetime.now(UTC)


# --- users --------------------------------------------------------------------------


PasswordOpt = Annotated[
    bool | None,
    typer.Option(
        "--password/--no-password",
        help="Prompt for a password (default: prompt only for the first admin on a terminal).",
    ),
]
PasswordStdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (scripts).")
]


def _read_password(name: str, prompt: bool | None, from_stdin: bool, default_prompt: bool) -> str | None:
    """The new password of ``name`` from stdin, a prompt, or ``None`` (no password set)."""
    import sys

    from citywatch.api.security import check_password_policy

    if from_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
        if not pw:
            raise fail("--password-stdin: no password on stdin")
    elif prompt or (prompt is None and default_prompt and sys.stdin.isatty()):
        pw = typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    else:
        return None
    check_password_policy(pw, name)
    return pw


@users_app.command("create")
@handled
def users_create(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help="operator, investigator, verifier, supervisor, ...")],
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Limit the user to these cameras (repeatable).")
    ] = None,
    password: PasswordOpt = None,
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user. The first user must be an admin and needs no acting user; then an admin must act.

    There is no default password: give one (``--password`` prompts, ``--password-stdin`` reads a
    line) or the user can use the CLI but not log in to the console or the API until
    ``citywatch users password NAME`` sets one.
    """
    import os

    from citywatch.api.security import hash_password
    from citywatch.app import open_app
    from citywatch.governance.access import add_user
    from citywatch.store.auth import set_password_hash
    from citywatch.store.users import count_users

    acting = actor or os.environ.get("CITYWATCH_USER")
    with open_app(config, data_dir) as a:
        for c in camera or ():
            a.camera(c)
        first = count_users(a.store) == 0
        pw = _read_password(name, password, password_stdin, default_prompt=first)
        rec = add_user(a.store, acting, name, role, camera or None)
        if pw is not None:
            rec = set_password_hash(a.store, rec.name, hash_password(pw))
            a.store.append_audit(
                rec.created_by, "user.password", f"user:{rec.name}", details={"by": "cli", "bootstrap": first}
            )
    if as_json:
        emit(
            {
                "name": rec.name, "role": rec.role, "cameras": rec.cameras, "created_by": rec.created_by,
                "has_password": rec.has_password,
            }
        )  # fmt: skip
    else:
        cams = ", ".join(rec.cameras) if rec.cameras is not None else "all cameras"
        out.print(f"created user [bold]{rec.name}[/] (role {rec.role}; {cams})", highlight=False)
        if not rec.has_password:
            err.print(
                f"note: {rec.name} has no password: CLI only, no console or API login until "
                f"`citywatch users password {rec.name}` sets one",
                highlight=False,
            )


@users_app.command("password")
@handled
def users_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdinOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Set a user's password (yourself, or anyone as an admin); ends their console sessions."""
    from citywatch.api.security import hash_password
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import Perm, get_actor, require
    from citywatch.store.auth import set_password_hash

    with open_app(config, data_dir) as a:
        who = get_actor(a.store, current_actor(actor))
        if who.name != name:
            require(a.store, who.name, Perm.USERS_MANAGE)
        pw = _read_password(name, True, password_stdin, default_prompt=True)
        if pw is None:
            raise fail("no password given")
        set_password_hash(a.store, name, hash_password(pw))
        a.store.append_audit(who.name, "user.password", f"user:{name}", role=who.role, details={"by": "cli"})
    out.print(f"password of [bold]{name}[/] set; their console sessions ended", highlight=False)


@users_app.command("token")
@handled
def users_token(
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Validity (default api.token_max_days).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API bearer token for yourself (--as); it is printed once, only its hash is kept."""
    from datetime import timedelta

    from citywatch.api.security import digest, new_token
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import get_actor
    from citywatch.store.auth import add_token

    with open_app(config, data_dir) as a:
        who = get_actor(a.store, current_actor(actor))
        limit = a.cfg.api.token_max_days
        d = min(days or limit, limit)
        token = new_token()
        rec = add_token(
            a.store, who.name, digest(token), token[:10], label, datetime.now(UTC) + timedelta(days=d)
        )
        a.store.append_audit(
            who.name,
            "auth.token_create",
            f"token:{rec.id}",
            role=who.role,
            details={"label": label, "days": d},
        )
    if as_json:
        emit({"id": rec.id, "token": token, "expires_at": _iso(rec.expires_at)})
    else:
        out.print(token, highlight=False)
        err.print(f"token {rec.id} for {who.name}, expires {_iso(rec.expires_at)}; it is not shown again")


@users_app.command("list")
@handled
def users_list(config: ConfigOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List users, their roles and cameras."""
    from citywatch.app import open_app
    from citywatch.store.users import list_users

    with open_app(config, data_dir) as a:
        users = list_users(a.store)
    if as_json:
        for u in users:
            emit({"name": u.name, "role": u.role, "cameras": u.cameras, "active": u.active})
        return
    table = Table(title=f"{len(users)} user(s)")
    for col in ("name", "role", "cameras", "active", "created by"):
        table.add_column(col)
    for u in users:
        cams = ", ".join(u.cameras) if u.cameras is not None else "all"
        table.add_row(u.name, u.role, cams, "yes" if u.active else "no", u.created_by)
    out.print(table)


# --- watchlist ----------------------------------------------------------------------


@watchlist_app.command("approve")
@handled
def watchlist_approve(
    entry_id: Annotated[int, typer.Argument(help="Watchlist entry id.")],
    note: Annotated[str, typer.Option("--note", help="Optional note.")] = "",
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Approve a pending entry (supervisor; not its requester). Only approved entries raise alerts."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.watchlist import decide

    with open_app(config, data_dir) as a:
        e = decide(a.store, current_actor(actor), entry_id, approve=True, note=note, now=_clock(now))
    out.print(f"entry {e.id} ({e.name}) approved by {e.approved_by}; expires {_iso(e.expires_at)}")


@watchlist_app.command("reject")
@handled
def watchlist_reject(
    entry_id: Annotated[int, typer.Argument(help="Watchlist entry id.")],
    note: Annotated[str, typer.Option("--note", help="Why (required).")],
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Reject a pending entry (supervisor; not its requester)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.watchlist import decide

    with open_app(config, data_dir) as a:
        e = decide(a.store, current_actor(actor), entry_id, approve=False, note=note, now=_clock(now))
    out.print(f"entry {e.id} ({e.name}) rejected")


@watchlist_app.command("list")
@handled
def watchlist_list(
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Watchlist entries with status (pending/approved/rejected/expired), requester, approver, expiry."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import get_actor

    t = _clock(now)
    with open_app(config, data_dir) as a:
        get_actor(a.store, current_actor(actor))
        rows = a.store.list_identities()
    status = {
        r.id: "expired"
        if r.expires_at is not None and r.expires_at <= t and r.status in ("pending", "approved")
        else r.status
        for r in rows
    }
    if as_json:
        for r in rows:
            emit(
                {
                    "id": r.id, "watchlist": r.watchlist, "name": r.name, "status": status[r.id],
                    "legal_basis": r.legal_basis, "legal_reference": r.legal_reference,
                    "requested_by": r.requested_by, "approved_by": r.approved_by,
                    "expires_at": _iso(r.expires_at), "photos": r.photos,
                }
            )  # fmt: skip
        return
    table = Table(title=f"{len(rows)} watchlist entr{'y' if len(rows) == 1 else 'ies'}")
    for col in ("id", "watchlist", "name", "status", "legal basis", "requested by", "approved by", "expires"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r.id), r.watchlist, r.name, status[r.id], f"{r.legal_basis} ({r.legal_reference})",
            r.requested_by, r.approved_by or "", f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else "",
        )  # fmt: skip
    out.print(table)


# --- authorisations -----------------------------------------------------------------


@auth_app.command("request")
@handled
def auth_request(
    case: Annotated[str, typer.Option("--case", help="Case reference.")],
    authority: Annotated[str, typer.Option("--authority", help="Issuing authority.")],
    reference: Annotated[str, typer.Option("--reference", help="The authority's reference number.")],
    purpose: Annotated[
        str, typer.Option("--purpose", help="victim_search, imminent_threat, listed_offence or post_event.")
    ],
    use: Annotated[str, typer.Option("--use", help="live (alerting on cameras) or post_event (recordings).")],
    target: Annotated[list[int], typer.Option("--target", help="Watchlist entry id covered (repeatable).")],
    since: Annotated[str, typer.Option("--from", help="Start of the window (ISO 8601).")],
    until: Annotated[str, typer.Option("--until", help="End of the window (ISO 8601).")],
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Cameras covered (repeatable; default all).")
    ] = None,
    urgent: Annotated[
        bool, typer.Option("--urgent", help="Active before it is granted, until a 24 h / 48 h deadline.")
    ] = False,
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record an authorisation (pending until another user grants it)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.authorisations import request

    t0, t1 = parse_time(since, "--from"), parse_time(until, "--until")
    assert t0 is not None and t1 is not None
    with open_app(config, data_dir) as a:
        for c in camera or ():
            a.camera(c)
        rec = request(
            a.store, a.cfg.governance, current_actor(actor), case_ref=case, authority=authority,
            reference=reference, purpose=purpose, use=use, targets=target, cameras=camera or None,
            window_start=t0, window_end=t1, urgent=urgent, now=_clock(now),
        )  # fmt: skip
    if as_json:
        emit({"id": rec.id, "status": rec.status, "case_ref": rec.case_ref, "deadline": _iso(rec.deadline)})
        return
    dl = f"; urgent: active until {_iso(rec.deadline)} unless granted" if rec.urgent else ""
    out.print(f"authorisation {rec.id} for case {rec.case_ref}: {rec.status}{dl}", highlight=False)


@auth_app.command("grant")
@handled
def auth_grant(
    auth_id: Annotated[int, typer.Argument(help="Authorisation id.")],
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Grant a pending authorisation (supervisor; not its requester)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.authorisations import grant

    with open_app(config, data_dir) as a:
        rec = grant(a.store, current_actor(actor), auth_id, now=_clock(now))
    out.print(f"authorisation {rec.id} granted by {rec.decided_by}")


@auth_app.command("refuse")
@handled
def auth_refuse(
    auth_id: Annotated[int, typer.Argument(help="Authorisation id.")],
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Refuse a pending authorisation; every output of its use is deleted (receipt in the audit trail)."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.authorisations import refuse

    with open_app(config, data_dir) as a:
        rec, gone = refuse(a.store, current_actor(actor), auth_id, note, now=_clock(now))
    out.print(
        f"authorisation {rec.id} refused; deleted {gone.sightings} sighting(s) and {gone.alerts} alert(s) "
        f"of {len(gone.runs)} run(s)"
    )


@auth_app.command("enforce")
@handled
def auth_enforce(
    now: NowOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
) -> None:
    """Expire urgent authorisations past their deadline ungranted and delete their outputs."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.authorisations import enforce_deadlines

    with open_app(config, data_dir) as a:
        done = enforce_deadlines(a.store, current_actor(actor), now=_clock(now))
    for rec, gone in done:
        out.print(
            f"authorisation {rec.id} (case {rec.case_ref}) expired at its deadline {_iso(rec.deadline)}; "
            f"deleted {gone.sightings} sighting(s) and {gone.alerts} alert(s)"
        )
    if not done:
        out.print("no urgent authorisation is past its deadline")


@auth_app.command("list")
@handled
def auth_list(
    case: Annotated[str | None, typer.Option("--case", help="Only this case.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Authorisations with status, targets, cameras, window and deadline."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.access import get_actor
    from citywatch.store.governance import list_authorisations

    with open_app(config, data_dir) as a:
        get_actor(a.store, current_actor(actor))
        recs = list_authorisations(a.store, case_ref=case)
    if as_json:
        for r in recs:
            emit(
                {
                    "id": r.id, "case_ref": r.case_ref, "status": r.status, "use": r.use,
                    "purpose": r.purpose, "authority": r.authority, "reference": r.reference,
                    "targets": list(r.targets), "cameras": r.cameras, "window_start": _iso(r.window_start),
                    "window_end": _iso(r.window_end), "urgent": r.urgent, "deadline": _iso(r.deadline),
                    "requested_by": r.requested_by, "decided_by": r.decided_by,
                }
            )  # fmt: skip
        return
    table = Table(title=f"{len(recs)} authorisation(s)")
    for col in ("id", "case", "status", "use", "purpose", "authority / ref", "targets", "cameras", "window"):
        table.add_column(col)
    for r in recs:
        table.add_row(
            str(r.id), r.case_ref, r.status + (f" (urgent, by {_iso(r.deadline)})" if r.urgent else ""),
            r.use, r.purpose, f"{r.authority} / {r.reference}", ", ".join(map(str, r.targets)),
            ", ".join(r.cameras) if r.cameras is not None else "all",
            f"{r.window_start:%Y-%m-%d %H:%M} - {r.window_end:%Y-%m-%d %H:%M}",
        )  # fmt: skip
    out.print(table)


# --- alerts -------------------------------------------------------------------------


@alerts_app.command("list")
@handled
def alerts_list(
    status: Annotated[
        str | None, typer.Option("--status", help="unconfirmed, confirmed, rejected or disputed.")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts on the cameras you may see; never shows another user's verification decision."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.verification import alerts_for

    with open_app(config, data_dir) as a:
        views = alerts_for(a.store, current_actor(actor), status=status)
    if as_json:
        for v in views:
            emit(
                {
                    "id": v.id, "camera": v.camera, "identity": v.identity_name, "start": _iso(v.start),
                    "score": round(v.score, 4), "threshold": round(v.threshold, 4), "status": v.status,
                    "decisions": v.decisions, "decided_by_me": v.mine,
                }
            )  # fmt: skip
        return
    table = Table(title=f"{len(views)} alert(s)")
    for col in ("id", "camera", "start (UTC)", "identity", "score", "status", "decisions", "you decided"):
        table.add_column(col)
    for v in views:
        table.add_row(
            str(v.id), v.camera, f"{v.start:%Y-%m-%d %H:%M:%S}", v.identity_name, f"{v.score:.3f}",
            v.status, f"{v.decisions}/2", "yes" if v.mine else "",
        )  # fmt: skip
    out.print(table)


@alerts_app.command("verify")
@handled
def alerts_verify(
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    decision: Annotated[str, typer.Option("--decision", help="confirm or reject.")],
    note: Annotated[str, typer.Option("--note", help="Optional note.")] = "",
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record your blind decision on an alert (verifier); two different verifiers decide it."""
    from citywatch.app import current_actor, open_app
    from citywatch.governance.verification import verify

    with open_app(config, data_dir) as a:
        res = verify(a.store, current_actor(actor), alert_id, decision, note)
    if as_json:
        emit(
            {"alert_id": res.alert_id, "decisions": res.decisions, "needed": res.needed, "status": res.status}
        )
    elif res.decisions < res.needed:
        out.print(
            f"decision on alert {res.alert_id} recorded ({res.decisions} of {res.needed}); "
            "awaiting another verifier"
        )
    else:
        out.print(
            f"decision on alert {res.alert_id} recorded ({res.decisions} of {res.needed}): {res.status}"
        )
