"""The audit log and its chain status (auditor), reports, and the retention job (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Response

from citywatch.api.deps import Ctx, CurrentUser, audit, need
from citywatch.api.schemas.audit import (
    AuditEntryPublic,
    AuditPage,
    CameraQualityPublic,
    ChainStatus,
    HeadPublic,
    RetentionRunPublic,
    RetentionSettingsPublic,
)
from citywatch.api.schemas.common import ERROR_RESPONSES, MAX_ID
from citywatch.errors import NotFoundError
from citywatch.governance.access import Perm
from citywatch.governance.audit import verify_audit_trail
from citywatch.governance.quality import camera_quality
from citywatch.governance.report import TransparencyReport, build_report
from citywatch.governance.retention import run_retention
from citywatch.store.api_views import audit_page

router = APIRouter(responses=ERROR_RESPONSES)
Auditor = Annotated[CurrentUser, need(Perm.AUDIT_READ)]
ReportReader = Annotated[CurrentUser, need(Perm.REPORTS_READ)]


@router.get("/api/audit", response_model=AuditPage, tags=["audit"], summary="Audit entries in order")
def audit_log(
    user: Auditor,
    ctx: Ctx,
    since_seq: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
) -> AuditPage:
    rows = audit_page(
        ctx.store, after_seq=since_seq, before_seq=before_seq, limit=limit, action=action, actor=actor
    )
    audit(
        ctx, user, "audit.read", "audit_log",
        details={"since_seq": since_seq, "before_seq": before_seq, "count": len(rows), "action": action,
                 "actor": actor},
    )  # fmt: skip
    entries = [
        AuditEntryPublic(
            seq=r.seq,
            ts=r.ts,
            actor=r.actor,
            role=r.role,
            action=r.action,
            target=r.target,
            case_ref=r.case_ref,
            reason=r.reason,
            client=r.client,
            details=r.details,
            hash=r.hash,
        )
        for r in rows
    ]
    return AuditPage(entries=entries, next_seq=rows[-1].seq if rows else since_seq)


@router.get("/api/audit/verify", response_model=ChainStatus, tags=["audit"], summary="Verify the hash chain")
async def audit_verify(user: Auditor, ctx: Ctx) -> ChainStatus:
    res = await anyio.to_thread.run_sync(verify_audit_trail, ctx.store)
    await anyio.to_thread.run_sync(
        lambda: audit(
            ctx,
            user,
            "audit.verify",
            "audit_log",
            details={"ok": res.ok, "entries": res.entries, "first_bad_seq": res.first_bad_seq},
        )
    )
    return ChainStatus(
        ok=res.ok,
        entries=res.entries,
        head=HeadPublic(seq=res.head.seq, hash=res.head.hash) if res.head else None,
        anchor=HeadPublic(seq=res.anchor.seq, hash=res.anchor.hash) if res.anchor else None,
        first_bad_seq=res.first_bad_seq,
        reason=res.reason,
    )


def current_period() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@router.get(
    "/api/reports/transparency",
    response_model=TransparencyReport,
    tags=["reports"],
    summary="The transparency report of a month (as published)",
)
def transparency(
    user: ReportReader, ctx: Ctx, period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None
) -> TransparencyReport:
    app = ctx.app
    return build_report(
        app.store, app.cfg, period or current_period(), accuracy_file=app.home / "accuracy.json"
    )


@router.get(
    "/api/reports/quality",
    response_model=list[CameraQualityPublic],
    tags=["reports"],
    summary="Capture quality per camera (the recognition floor)",
)
def quality(user: ReportReader, ctx: Ctx) -> list[CameraQualityPublic]:
    gov = ctx.app.cfg.governance
    out = []
    for c in ctx.cameras():
        if user.sees(c.name):
            q = camera_quality(ctx.store, c.name, gov)
            out.append(CameraQualityPublic(**q.to_json()))
    return out


@router.get(
    "/api/retention", response_model=RetentionSettingsPublic, tags=["retention"], summary="Retention periods"
)
def retention(
    user: Annotated[CurrentUser, need(Perm.RETENTION_RUN, Perm.REPORTS_READ)], ctx: Ctx
) -> RetentionSettingsPublic:
    r = ctx.app.cfg.governance.retention
    return RetentionSettingsPublic(
        unmatched_hours=r.unmatched_hours, matched_days=r.matched_days, audit_days=r.audit_days,
        interval_minutes=r.interval_minutes,
    )  # fmt: skip


@router.post(
    "/api/retention/run",
    response_model=RetentionRunPublic,
    tags=["retention"],
    summary="Run the retention job now",
)
def retention_run(user: Annotated[CurrentUser, need(Perm.RETENTION_RUN)], ctx: Ctx) -> RetentionRunPublic:
    rep = run_retention(ctx.store, ctx.app.cfg.governance.retention, ctx.now(), user.name, role=user.role)
    return RetentionRunPublic(
        unmatched_sightings=rep.unmatched_sightings, matched_sightings=rep.matched_sightings, alerts=rep.alerts,
        thumbnails=rep.thumbnails, held=rep.held,
    )  # fmt: skip


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    tags=["reports"],
    summary="Camera fleet metrics for Prometheus (a bearer token of a report reader)",
)
def metrics(user: ReportReader, ctx: Ctx) -> Response:
    render = getattr(ctx.fleet, "metrics", None)
    if not callable(render):
        raise NotFoundError("no camera fleet runs in this server")
    from citywatch.engine.health import METRICS_CONTENT_TYPE

    return Response(bytes(render()), media_type=METRICS_CONTENT_TYPE)
