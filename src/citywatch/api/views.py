"""Store records -> public API models (one place, so every route shows a thing the same way)."""

from __future__ import annotations

from datetime import UTC, datetime

from citywatch.api.context import ApiContext
from citywatch.api.deps import CurrentUser
from citywatch.api.schemas.alerts import AlertPublic, SightingPublic
from citywatch.api.schemas.governance import AuthorisationPublic, CasePublic, UnblurRequestPublic
from citywatch.api.schemas.search import TrajectoryStopPublic
from citywatch.api.schemas.watchlists import EntryPublic
from citywatch.governance.watchlist import effective_status
from citywatch.search.trajectory import TrajectoryStop
from citywatch.store.api_views import AlertRow, photo_shas
from citywatch.store.exports import UnblurRequestRecord
from citywatch.store.governance import AuthorisationRecord, EntryState
from citywatch.store.photos import photo_path
from citywatch.store.records import IdentityRecord, SightingRecord
from citywatch.store.retention import CaseRecord
from citywatch.types import SearchHit


def has_photo(ctx: ApiContext, identity_id: int) -> bool:
    shas = photo_shas(ctx.store, identity_id)
    return bool(shas) and photo_path(ctx.home, shas[0]).is_file()


def alert_public(
    ctx: ApiContext, a: AlertRow, user: CurrentUser, *, photo: bool | None = None
) -> AlertPublic:
    lat, lon = ctx.positions().get(a.camera, (None, None))
    if photo is None:
        photo = has_photo(ctx, a.identity_id)
    return AlertPublic(
        id=a.id,
        camera=a.camera,
        sighting_id=a.sighting_id,
        identity_id=a.identity_id,
        identity=a.identity,
        watchlist=a.watchlist,
        start=a.start,
        end=a.end,
        score=round(a.score, 4),
        threshold=round(a.threshold, 4),
        status=a.status,
        decisions=len(a.deciders),
        decided_by_me=user.name in a.deciders,
        created_at=a.created_at,
        thumbnail_url=f"/api/alerts/{a.id}/thumbnail.jpg",
        photo_url=f"/api/alerts/{a.id}/photo.jpg" if photo else None,
        lat=lat,
        lon=lon,
    )


def sighting_public(ctx: ApiContext, s: SightingRecord) -> SightingPublic:
    lat, lon = ctx.positions().get(s.camera, (None, None))
    return SightingPublic(
        id=s.id,
        camera=s.camera,
        track_id=s.track_id,
        start=s.start,
        end=s.end,
        quality=round(s.quality, 4),
        detections=s.detections,
        matched=s.matched,
        identity=s.identity_name,
        score=round(s.score, 4),
        threshold=round(s.threshold, 4),
        thumbnail_url=f"/api/sightings/{s.id}/thumbnail.jpg" if s.thumbnail else None,
        lat=lat,
        lon=lon,
    )


def entry_public(
    ctx: ApiContext, e: IdentityRecord | EntryState, user: CurrentUser, now: datetime
) -> EntryPublic:
    shas = photo_shas(ctx.store, e.id)
    urls = [
        f"/api/watchlists/entries/{e.id}/photos/{i}.jpg"
        for i, sha in enumerate(shas)
        if photo_path(ctx.home, sha).is_file()
    ]
    if isinstance(e, IdentityRecord):
        status = (
            "expired"
            if e.expires_at is not None and e.expires_at <= now and e.status in ("pending", "approved")
            else e.status
        )
        created, photos = e.created_at, e.photos
    else:
        status, created, photos = effective_status(e, now), _created(ctx, e.id), len(shas)
    return EntryPublic(
        id=e.id,
        watchlist=e.watchlist,
        name=e.name,
        status=status,
        legal_basis=e.legal_basis,
        legal_reference=e.legal_reference,
        requested_by=e.requested_by,
        approved_by=e.approved_by,
        expires_at=e.expires_at,
        created_at=created,
        photos=photos,
        photo_urls=urls,
        mine=e.requested_by == user.name,
    )


def _created(ctx: ApiContext, identity_id: int) -> datetime:
    for r in ctx.store.list_identities():
        if r.id == identity_id:
            return r.created_at
    return datetime.now(UTC)


def authorisation_public(a: AuthorisationRecord, user: CurrentUser) -> AuthorisationPublic:
    return AuthorisationPublic(
        id=a.id,
        case_ref=a.case_ref,
        authority=a.authority,
        reference=a.reference,
        purpose=a.purpose,
        use=a.use,
        urgent=a.urgent,
        deadline=a.deadline,
        status=a.status,
        cameras=list(a.cameras) if a.cameras is not None else None,
        window_start=a.window_start,
        window_end=a.window_end,
        requested_by=a.requested_by,
        decided_by=a.decided_by,
        decided_at=a.decided_at,
        created_at=a.created_at,
        targets=list(a.targets),
        mine=a.requested_by == user.name,
    )


def case_public(c: CaseRecord) -> CasePublic:
    return CasePublic(
        case_ref=c.case_ref, title=c.title, legal_hold=c.legal_hold, created_by=c.created_by,
        created_at=c.created_at,
    )  # fmt: skip


def unblur_public(r: UnblurRequestRecord, user: CurrentUser) -> UnblurRequestPublic:
    return UnblurRequestPublic(
        id=r.id, case_ref=r.case_ref, alert_id=r.alert_id, reason=r.reason, requested_by=r.requested_by,
        decided_by=r.decided_by, status=r.status, created_at=r.created_at, mine=r.requested_by == user.name,
    )  # fmt: skip


def stop_public(stop: TrajectoryStop, hits: list[SearchHit]) -> TrajectoryStopPublic:
    """A trajectory stop, naming its best hit (the hits at that camera inside the stop's span)."""
    inside = [h for h in hits if h.camera == stop.camera and stop.start <= h.start <= stop.end]
    best = max(inside, key=lambda h: h.score) if inside else None
    return TrajectoryStopPublic(
        camera=stop.camera,
        lat=stop.lat,
        lon=stop.lon,
        start=datetime.fromtimestamp(stop.start, UTC),
        end=datetime.fromtimestamp(stop.end, UTC),
        sighting_id=best.sighting_id if best is not None else 0,
        sightings=stop.sightings,
        best_score=round(stop.best_score, 4),
    )
