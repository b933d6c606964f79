"""Alerts: list, detail, captured thumbnail and enrolled photo, blind decisions, acknowledgements, live stream.

Every read is audited (``alert.list``, ``alert.view``, ``thumbnail.view``,
``watchlist.photo_view``, ``alert.stream``). An alert on a camera the user may
not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from citywatch.api.context import ApiContext
from citywatch.api.deps import Ctx, CurrentUser, audit, need, visible_camera
from citywatch.api.schemas.alerts import (
    AlertAck,
    AlertAckPublic,
    AlertDecisionCreate,
    AlertDecisionPublic,
    AlertPublic,
)
from citywatch.api.schemas.common import ERROR_RESPONSES, JPEG, MAX_ID, IdPath, media
from citywatch.api.views import alert_public
from citywatch.errors import CitywatchError, NotFoundError
from citywatch.governance.access import Perm, get_actor
from citywatch.governance.verification import verify
from citywatch.store.api_views import AlertRow, alerts_after, get_alert_row, list_alert_rows, photo_shas
from citywatch.store.photos import read_photo

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=ERROR_RESPONSES)
Viewer = Annotated[CurrentUser, need(Perm.ALERTS_VIEW)]
KEEPALIVE_S = 15.0
SSE = media("text/event-stream", "Server-sent events: one `alert` per new alert")


def visible_alert(ctx: ApiContext, user: CurrentUser, alert_id: int) -> AlertRow:
    a = get_alert_row(ctx.store, alert_id)
    if a is None or not user.sees(a.camera):
        raise NotFoundError(f"alert {alert_id} does not exist")
    return a


@router.get("", response_model=list[AlertPublic], summary="Alerts on your cameras, newest first")
def alerts(
    user: Viewer,
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=32)] = None,
    camera: Annotated[str | None, Query(max_length=128)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AlertPublic]:
    if camera is not None:
        visible_camera(ctx, user, camera)
    cams = [camera] if camera is not None else user.actor.cameras
    rows = list_alert_rows(ctx.store, cameras=cams, status=status, before_id=before_id, limit=limit)
    audit(
        ctx, user, "alert.list", "alerts",
        details={"status": status, "camera": camera, "count": len(rows), "ids": [a.id for a in rows]},
    )  # fmt: skip
    return [alert_public(ctx, a, user) for a in rows]


def _event(payload: AlertPublic) -> str:
    return f"event: alert\nid: {payload.id}\ndata: {json.dumps(payload.model_dump(mode='json'))}\n\n"


async def _stream(ctx: ApiContext, user: CurrentUser, last_event_id: int | None) -> AsyncIterator[str]:
    feed = ctx.feed
    sub = await feed.subscribe()
    try:
        yield "retry: 2000\n\n"
        if last_event_id is not None:
            # what was committed while the client was away (reconnect), then the live feed
            for missed in await anyio.to_thread.run_sync(alerts_after, ctx.store, last_event_id):
                if missed.id <= feed.last_id and user.sees(missed.camera):
                    yield _event(await anyio.to_thread.run_sync(alert_public, ctx, missed, user))
        while True:
            try:
                row = await asyncio.wait_for(sub.queue.get(), timeout=KEEPALIVE_S)
            except TimeoutError:
                try:  # a user deactivated or demoted meanwhile stops receiving
                    actor = await anyio.to_thread.run_sync(get_actor, ctx.store, user.name)
                except CitywatchError:
                    return
                if not actor.can(Perm.ALERTS_VIEW):
                    return
                yield ": keepalive\n\n"
                continue
            if row is None:
                return
            if not user.sees(row.camera):
                continue
            yield _event(await anyio.to_thread.run_sync(alert_public, ctx, row, user))
            await anyio.to_thread.run_sync(
                partial(audit, ctx, user, "alert.view", f"alert:{row.id}", details={"via": "stream"})
            )
    finally:
        feed.unsubscribe(sub)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=SSE,
    summary="Live alerts (server-sent events); each is committed before it is sent",
)
async def stream(
    user: Viewer,
    ctx: Ctx,
    request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    since = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    await anyio.to_thread.run_sync(
        lambda: audit(ctx, user, "alert.stream", "alerts", details={"last_event_id": since})
    )
    return StreamingResponse(
        _stream(ctx, user, since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertPublic, summary="One alert")
def alert(alert_id: IdPath, user: Viewer, ctx: Ctx) -> AlertPublic:
    a = visible_alert(ctx, user, alert_id)
    audit(ctx, user, "alert.view", f"alert:{a.id}", details={"camera": a.camera})
    return alert_public(ctx, a, user)


@router.get("/{alert_id}/thumbnail.jpg", response_class=Response, responses=JPEG, summary="The captured face")
def alert_thumbnail(alert_id: IdPath, user: Viewer, ctx: Ctx) -> Response:
    a = visible_alert(ctx, user, alert_id)
    s = ctx.store.get_sighting(a.sighting_id)
    path = ctx.store.thumbnail_path(s.thumbnail) if s.thumbnail else None
    if path is None or not path.is_file():
        raise NotFoundError(f"alert {alert_id} has no thumbnail")
    audit(ctx, user, "thumbnail.view", f"sighting:{s.id}", details={"alert": a.id, "camera": a.camera})
    return Response(
        path.read_bytes(), media_type="image/jpeg", headers={"Cache-Control": "private, no-store"}
    )


@router.get("/{alert_id}/photo.jpg", response_class=Response, responses=JPEG, summary="The enrolled photo")
def alert_photo(alert_id: IdPath, user: Viewer, ctx: Ctx) -> Response:
    a = visible_alert(ctx, user, alert_id)
    shas = photo_shas(ctx.store, a.identity_id)
    data = read_photo(ctx.home, shas[0]) if shas else None
    if data is None:
        raise NotFoundError(f"the enrolment photo of alert {alert_id} is not kept")
    audit(ctx, user, "watchlist.photo_view", f"identity:{a.identity_id}", details={"alert": a.id})
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


@router.post(
    "/{alert_id}/decision", response_model=AlertDecisionPublic, summary="Your blind decision (verifier)"
)
def decide(
    alert_id: IdPath,
    body: AlertDecisionCreate,
    user: Annotated[CurrentUser, need(Perm.ALERTS_VERIFY)],
    ctx: Ctx,
) -> AlertDecisionPublic:
    res = verify(ctx.store, user.name, alert_id, body.decision, body.note, now=ctx.now())
    return AlertDecisionPublic(
        alert_id=res.alert_id, decisions=res.decisions, needed=res.needed, status=res.status
    )


@router.post("/{alert_id}/ack", response_model=AlertAckPublic, summary="Acknowledge an alert (operator)")
def acknowledge(
    alert_id: IdPath, body: AlertAck, user: Annotated[CurrentUser, need(Perm.ALERTS_ACK)], ctx: Ctx
) -> AlertAckPublic:
    a = visible_alert(ctx, user, alert_id)
    at = ctx.now()
    audit(
        ctx,
        user,
        "alert.ack",
        f"alert:{a.id}",
        reason=body.note.strip() or None,
        details={"camera": a.camera},
    )
    return AlertAckPublic(alert_id=a.id, acknowledged_by=user.name, at=at)
