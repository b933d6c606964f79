"""Authorisations (request by one user, grant or refuse by another) and cases with legal holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from citywatch.api.deps import Ctx, CurrentUser, need
from citywatch.api.schemas.common import ERROR_RESPONSES, IdPath
from citywatch.api.schemas.governance import (
    AuthorisationCreate,
    AuthorisationPublic,
    AuthorisationRefuse,
    CaseCreate,
    CaseHold,
    CasePublic,
    RefusalPublic,
)
from citywatch.api.views import authorisation_public, case_public
from citywatch.errors import PolicyError
from citywatch.governance import authorisations as gov_auth
from citywatch.governance.access import Perm
from citywatch.governance.cases import hold, open_case, release
from citywatch.store.governance import get_authorisation, list_authorisations
from citywatch.store.retention import get_case, list_cases

router = APIRouter(tags=["authorisations"], responses=ERROR_RESPONSES)
Reader = Annotated[CurrentUser, need(Perm.AUTH_REQUEST, Perm.AUTH_DECIDE)]
Decider = Annotated[CurrentUser, need(Perm.AUTH_DECIDE)]
CaseManager = Annotated[CurrentUser, need(Perm.CASES_MANAGE)]


@router.get("/api/authorisations", response_model=list[AuthorisationPublic], summary="Authorisations")
def authorisations(
    user: Reader, ctx: Ctx, case: Annotated[str | None, Query(max_length=128)] = None
) -> list[AuthorisationPublic]:
    return [authorisation_public(a, user) for a in list_authorisations(ctx.store, case_ref=case)]


@router.get("/api/authorisations/{auth_id}", response_model=AuthorisationPublic, summary="One authorisation")
def authorisation(auth_id: IdPath, user: Reader, ctx: Ctx) -> AuthorisationPublic:
    return authorisation_public(get_authorisation(ctx.store, auth_id), user)


@router.post(
    "/api/authorisations",
    response_model=AuthorisationPublic,
    status_code=201,
    summary="Request an authorisation (pending until another user grants it)",
)
def request_authorisation(
    body: AuthorisationCreate, user: Annotated[CurrentUser, need(Perm.AUTH_REQUEST)], ctx: Ctx
) -> AuthorisationPublic:
    for c in body.cameras or ():
        if ctx.camera(c) is None or not user.sees(c):
            raise PolicyError(f"unknown camera {c!r}")
    rec = gov_auth.request(
        ctx.store, ctx.app.cfg.governance, user.name, case_ref=body.case, authority=body.authority,
        reference=body.reference, purpose=body.purpose, use=body.use, targets=body.targets,
        cameras=body.cameras or None, window_start=body.window_start, window_end=body.window_end,
        urgent=body.urgent, now=ctx.now(),
    )  # fmt: skip
    return authorisation_public(rec, user)


@router.post(
    "/api/authorisations/{auth_id}/grant", response_model=AuthorisationPublic, summary="Grant (not your own)"
)
def grant(auth_id: IdPath, user: Decider, ctx: Ctx) -> AuthorisationPublic:
    return authorisation_public(gov_auth.grant(ctx.store, user.name, auth_id, now=ctx.now()), user)


@router.post(
    "/api/authorisations/{auth_id}/refuse",
    response_model=RefusalPublic,
    summary="Refuse (not your own); every output of its use is deleted",
)
def refuse(auth_id: IdPath, body: AuthorisationRefuse, user: Decider, ctx: Ctx) -> RefusalPublic:
    rec, gone = gov_auth.refuse(ctx.store, user.name, auth_id, body.note, now=ctx.now())
    return RefusalPublic(
        authorisation=authorisation_public(rec, user),
        deleted_sightings=gone.sightings,
        deleted_alerts=gone.alerts,
    )


@router.get("/api/cases", response_model=list[CasePublic], tags=["cases"], summary="Cases")
def cases(user: CaseManager, ctx: Ctx) -> list[CasePublic]:
    return [case_public(c) for c in list_cases(ctx.store)]


@router.get("/api/cases/{case_ref}", response_model=CasePublic, tags=["cases"], summary="One case")
def case(case_ref: str, user: CaseManager, ctx: Ctx) -> CasePublic:
    return case_public(get_case(ctx.store, case_ref))


@router.post("/api/cases", response_model=CasePublic, status_code=201, tags=["cases"], summary="Open a case")
def create_case(body: CaseCreate, user: CaseManager, ctx: Ctx) -> CasePublic:
    return case_public(open_case(ctx.store, user.name, body.case_ref, body.title))


@router.post(
    "/api/cases/{case_ref}/hold", response_model=CasePublic, tags=["cases"], summary="Put on legal hold"
)
def hold_case(case_ref: str, body: CaseHold, user: CaseManager, ctx: Ctx) -> CasePublic:
    return case_public(hold(ctx.store, user.name, case_ref, body.reason))


@router.post(
    "/api/cases/{case_ref}/release", response_model=CasePublic, tags=["cases"], summary="Release a hold"
)
def release_case(case_ref: str, body: CaseHold, user: CaseManager, ctx: Ctx) -> CasePublic:
    return case_public(release(ctx.store, user.name, case_ref, body.reason))
