"""Redacted evidence packages and the two-person unblur approval (rules in ``governance.export``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from citywatch.api.context import ApiContext
from citywatch.api.deps import Ctx, CurrentUser, audit, need
from citywatch.api.schemas.common import ERROR_RESPONSES, IdPath, media
from citywatch.api.schemas.governance import (
    ExportCreate,
    ExportPublic,
    UnblurDecision,
    UnblurRequestCreate,
    UnblurRequestPublic,
)
from citywatch.api.views import unblur_public
from citywatch.errors import NotFoundError
from citywatch.governance.access import Perm
from citywatch.governance.export import decide_unblur, export_evidence, request_unblur
from citywatch.store.exports import ExportRecord, alert_context, list_exports

router = APIRouter(prefix="/api/exports", tags=["exports"], responses=ERROR_RESPONSES)
Exporter = Annotated[CurrentUser, need(Perm.EXPORT)]
ZIP = media("application/zip", "The evidence package")


def _public(e: ExportRecord) -> ExportPublic:
    return ExportPublic(
        id=e.id, case_ref=e.case_ref, alert_id=e.alert_id, sha256=e.sha256, exporter=e.exporter,
        unblurred=e.unblurred, unblur_approved_by=e.unblur_approved_by, created_at=e.created_at,
        download_url=f"/api/exports/{e.id}/download",
    )  # fmt: skip


def _visible(ctx: ApiContext, user: CurrentUser, e: ExportRecord) -> bool:
    if user.actor.cameras is None:
        return True
    if e.alert_id is None:
        return False
    try:
        return user.sees(alert_context(ctx.store, e.alert_id).camera)
    except NotFoundError:
        return False


@router.get("", response_model=list[ExportPublic], summary="Evidence packages")
def exports(
    user: Exporter, ctx: Ctx, case: Annotated[str | None, Query(max_length=128)] = None
) -> list[ExportPublic]:
    return [_public(e) for e in list_exports(ctx.store, case) if _visible(ctx, user, e)]


@router.post("", response_model=ExportPublic, status_code=201, summary="Make a redacted evidence package")
def create_export(body: ExportCreate, user: Exporter, ctx: Ctx) -> ExportPublic:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in body.case)
    output = ctx.home / "exports" / f"{safe}-alert{body.alert_id}-{stamp}.zip"
    with ctx.models() as app:
        res = export_evidence(
            app.store, app.detector, case_ref=body.case, alert_id=body.alert_id, exporter=user.name,
            output=output, reason=body.reason, seconds=body.seconds, unblur_request_id=body.unblur_request_id,
            embedder=app.embedder,
        )  # fmt: skip
    rec = next(e for e in list_exports(ctx.store, res.case_ref) if e.id == res.export_id)
    return _public(rec)


@router.get("/{export_id}/download", response_class=FileResponse, responses=ZIP, summary="Download a package")
def download(export_id: IdPath, user: Exporter, ctx: Ctx) -> FileResponse:
    rec = next((e for e in list_exports(ctx.store) if e.id == export_id), None)
    if rec is None or not _visible(ctx, user, rec):
        raise NotFoundError(f"export {export_id} does not exist")
    path = Path(rec.path)
    if not path.is_file():
        raise NotFoundError(f"the file of export {export_id} is gone: {path.name}")
    audit(
        ctx,
        user,
        "export.download",
        f"export:{rec.id}",
        case_ref=rec.case_ref,
        details={"sha256": rec.sha256},
    )
    return FileResponse(path, media_type="application/zip", filename=path.name)


@router.post(
    "/unblur-requests",
    response_model=UnblurRequestPublic,
    status_code=201,
    summary="Ask for a package without blurred bystanders (a supervisor must approve)",
)
def create_unblur_request(body: UnblurRequestCreate, user: Exporter, ctx: Ctx) -> UnblurRequestPublic:
    req = request_unblur(
        ctx.store, case_ref=body.case, alert_id=body.alert_id, reason=body.reason, requested_by=user.name
    )
    return unblur_public(req, user)


@router.post(
    "/unblur-requests/{request_id}/decision",
    response_model=UnblurRequestPublic,
    summary="Approve or refuse someone else's unblur request",
)
def decide_unblur_request(
    request_id: IdPath,
    body: UnblurDecision,
    user: Annotated[CurrentUser, need(Perm.UNBLUR_APPROVE)],
    ctx: Ctx,
) -> UnblurRequestPublic:
    return unblur_public(decide_unblur(ctx.store, request_id, user.name, approve=body.approve), user)
