"""Watchlists and entries: list, request an entry (photos + legal basis + provenance), the approvals queue.

Requests go through ``App.enroll`` (legal basis, reference, one provenance
per photo, expiry bounds, exactly one face per photo) and decisions through
``governance.watchlist.decide`` (a different supervisor, a note to reject).
The uploaded photos are kept (``store.photos``) so reviewers and operators
can compare an alert with the photo it matched.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi import Path as PathParam

from citywatch.api.context import ApiContext
from citywatch.api.deps import Ctx, CurrentUser, audit, need
from citywatch.api.routes.search import save_upload
from citywatch.api.schemas.common import ERROR_RESPONSES, JPEG, IdPath
from citywatch.api.schemas.watchlists import ApprovalsPublic, EntryDecision, EntryPublic, WatchlistPublic
from citywatch.api.views import authorisation_public, entry_public, unblur_public
from citywatch.errors import NotFoundError
from citywatch.governance.access import Perm
from citywatch.governance.watchlist import decide
from citywatch.images import encode_jpeg, load_image
from citywatch.store.api_views import pending_unblur_requests, photo_shas, photo_used_elsewhere
from citywatch.store.governance import list_authorisations
from citywatch.store.photos import delete_photo, read_photo, save_photo
from citywatch.store.records import IdentityRecord

router = APIRouter(tags=["watchlists"], responses=ERROR_RESPONSES)
Reader = Annotated[CurrentUser, need(Perm.WATCHLIST_REQUEST, Perm.WATCHLIST_APPROVE)]


def _entry(ctx: ApiContext, entry_id: int) -> IdentityRecord:
    for r in ctx.store.list_identities():
        if r.id == entry_id:
            return r
    raise NotFoundError(f"watchlist entry {entry_id} does not exist")


@router.get("/api/watchlists", response_model=list[WatchlistPublic], summary="Watchlists")
def watchlists(user: Reader, ctx: Ctx) -> list[WatchlistPublic]:
    counts: dict[str, int] = {}
    for r in ctx.store.list_identities():
        counts[r.watchlist] = counts.get(r.watchlist, 0) + 1
    return [
        WatchlistPublic(name=w.name, description=w.description, entries=counts.get(w.name, 0))
        for w in ctx.store.list_watchlists()
    ]


@router.get("/api/watchlists/entries", response_model=list[EntryPublic], summary="Watchlist entries")
def entries(
    user: Reader,
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=16)] = None,
    watchlist: Annotated[str | None, Query(max_length=128)] = None,
) -> list[EntryPublic]:
    now = ctx.now()
    out = [entry_public(ctx, r, user, now) for r in ctx.store.list_identities(watchlist)]
    out = [e for e in out if status is None or e.status == status]
    audit(ctx, user, "watchlist.view", "watchlist", details={"count": len(out), "ids": [e.id for e in out]})
    return out


@router.get("/api/watchlists/entries/{entry_id}", response_model=EntryPublic, summary="One watchlist entry")
def entry(entry_id: IdPath, user: Reader, ctx: Ctx) -> EntryPublic:
    rec = _entry(ctx, entry_id)
    audit(ctx, user, "watchlist.view", f"identity:{entry_id}")
    return entry_public(ctx, rec, user, ctx.now())


@router.get(
    "/api/watchlists/entries/{entry_id}/photos/{n}.jpg",
    response_class=Response,
    responses=JPEG,
    summary="An enrolment photo of an entry (0-based)",
)
def entry_photo(
    entry_id: IdPath, n: Annotated[int, PathParam(ge=0, le=10_000)], user: Reader, ctx: Ctx
) -> Response:
    _entry(ctx, entry_id)
    shas = photo_shas(ctx.store, entry_id)
    data = read_photo(ctx.home, shas[n]) if 0 <= n < len(shas) else None
    if data is None:
        raise NotFoundError(f"photo {n} of watchlist entry {entry_id} is not kept")
    audit(ctx, user, "watchlist.photo_view", f"identity:{entry_id}", details={"photo": n})
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.post(
    "/api/watchlists/entries",
    response_model=EntryPublic,
    status_code=201,
    summary="Request a watchlist entry (pending until a supervisor approves it)",
)
def request_entry(
    user: Annotated[CurrentUser, need(Perm.WATCHLIST_REQUEST)],
    ctx: Ctx,
    watchlist: Annotated[str, Form(min_length=1, max_length=128)],
    name: Annotated[str, Form(min_length=1, max_length=256)],
    legal_basis: Annotated[str, Form(min_length=1, max_length=2000)],
    legal_reference: Annotated[str, Form(min_length=1, max_length=2000)],
    photos: Annotated[list[UploadFile], File(description="One or more photos, each of the one person.")],
    provenance: Annotated[
        list[str], Form(description="Where each photo comes from: one per photo, or one for all.")
    ],
    expires_days: Annotated[int | None, Form(ge=1, le=365)] = None,
) -> EntryPublic:
    with tempfile.TemporaryDirectory(prefix="citywatch-enrol-") as tmp:
        paths = [save_upload(ctx, p, Path(tmp), i) for i, p in enumerate(photos)]
        with ctx.models() as app:
            ident = app.enroll(
                watchlist, name, paths, legal_basis, user.name, provenance=provenance,
                legal_reference=legal_reference, expires_days=expires_days, now=ctx.now(),
            )  # fmt: skip
        for p in paths:
            # kept as JPEG under the hash enroll recorded (of the uploaded bytes)
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            save_photo(
                ctx.home, sha, encode_jpeg(load_image(p, max_pixels=app.cfg.ingest.max_pixels), quality=90)
            )
    return entry_public(ctx, _entry(ctx, ident.identity_id), user, ctx.now())


@router.get(
    "/api/approvals",
    response_model=ApprovalsPublic,
    tags=["approvals"],
    summary="What waits for a decision: entries, authorisations, unblur requests",
)
def approvals(
    user: Annotated[CurrentUser, need(Perm.WATCHLIST_APPROVE, Perm.AUTH_DECIDE, Perm.UNBLUR_APPROVE)],
    ctx: Ctx,
) -> ApprovalsPublic:
    now = ctx.now()
    ents = (
        [
            e
            for e in (entry_public(ctx, r, user, now) for r in ctx.store.list_identities())
            if e.status == "pending"
        ]
        if user.actor.can(Perm.WATCHLIST_APPROVE)
        else []
    )
    auths = (
        [authorisation_public(a, user) for a in list_authorisations(ctx.store, statuses=["pending"])]
        if user.actor.can(Perm.AUTH_DECIDE)
        else []
    )
    unblur = (
        [unblur_public(r, user) for r in pending_unblur_requests(ctx.store)]
        if user.actor.can(Perm.UNBLUR_APPROVE)
        else []
    )
    audit(
        ctx, user, "approvals.view", "approvals",
        details={"entries": [e.id for e in ents], "authorisations": [a.id for a in auths]},
    )  # fmt: skip
    return ApprovalsPublic(entries=ents, authorisations=auths, unblur_requests=unblur)


@router.post(
    "/api/approvals/entries/{entry_id}",
    response_model=EntryPublic,
    tags=["approvals"],
    summary="Approve or reject a pending watchlist entry (not your own request)",
)
def decide_entry(
    entry_id: IdPath,
    body: EntryDecision,
    user: Annotated[CurrentUser, need(Perm.WATCHLIST_APPROVE)],
    ctx: Ctx,
) -> EntryPublic:
    state = decide(ctx.store, user.name, entry_id, body.approve, body.note, now=ctx.now())
    if not body.approve:
        # a rejected request's photos have no purpose left: keep only the row (and its hashes)
        for sha in photo_shas(ctx.store, entry_id):
            if not photo_used_elsewhere(ctx.store, sha, entry_id):
                delete_photo(ctx.home, sha)
    return entry_public(ctx, state, user, ctx.now())
