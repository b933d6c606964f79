"""Login (session cookie + CSRF cookie), logout, who am I, bearer tokens, own password."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from citywatch.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    CurrentUser,
    User,
    audit,
    client_of,
)
from citywatch.api.errors import ApiError
from citywatch.api.schemas.auth import (
    LoginRequest,
    MePublic,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from citywatch.api.schemas.common import ERROR_RESPONSES, IdPath
from citywatch.api.security import (
    check_password_policy,
    digest,
    hash_password,
    new_secret,
    new_token,
    same,
    verify_password,
)
from citywatch.governance.access import PERMISSIONS, Actor, get_actor
from citywatch.store.auth import (
    TokenRecord,
    add_session,
    add_token,
    end_session,
    list_tokens,
    password_hash_of,
    revoke_token,
    set_password_hash,
)

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=ERROR_RESPONSES)


def _me(actor: Actor, csrf: str | None) -> MePublic:
    return MePublic(
        user=actor.name,
        role=actor.role.value,
        cameras=sorted(actor.cameras) if actor.cameras is not None else None,
        permissions=sorted(p.value for p in PERMISSIONS[actor.role]),
        csrf_token=csrf,
    )


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.post("/login", response_model=MePublic, summary="Log in to the console (sets the session cookies)")
def login(body: LoginRequest, request: Request, response: Response, ctx: Ctx) -> MePublic:
    client = client_of(request)
    wait = ctx.limiter.retry_after(body.username, client)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"too many failed logins for {body.username!r} from {client}; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    if not verify_password(password_hash_of(ctx.store, body.username), body.password):
        ctx.limiter.failed(body.username, client)
        ctx.store.append_audit(body.username[:128], "auth.login_failed", f"user:{body.username[:128]}")
        raise ApiError(401, "unauthenticated", "wrong user name or password")
    ctx.limiter.succeeded(body.username, client)
    actor = get_actor(ctx.store, body.username)
    token, csrf = new_secret(), new_secret()
    hours = ctx.app.cfg.api.session_hours
    add_session(
        ctx.store, actor.name, digest(token), digest(csrf), client, ctx.now() + timedelta(hours=hours)
    )
    secure = ctx.app.cfg.api.cookie_secure
    max_age = int(hours * 3600)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )
    # readable by the console's JS, which echoes it in X-CSRF-Token (double submit)
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure, path="/"
    )
    ctx.store.append_audit(actor.name, "auth.login", f"user:{actor.name}", role=actor.role.value)
    return _me(actor, csrf)


@router.post("/logout", status_code=204, response_class=Response, summary="End this console session")
def logout(user: User, ctx: Ctx) -> Response:
    response = Response(status_code=204)
    if user.session_id is not None:
        end_session(ctx.store, user.session_id)
        audit(ctx, user, "auth.logout", f"user:{user.name}")
    _clear_cookies(response)
    return response


@router.get("/me", response_model=MePublic, summary="Who is logged in")
def me(user: User, request: Request) -> MePublic:
    csrf = request.cookies.get(CSRF_COOKIE) if user.via == "session" else None
    if csrf is not None and not same(digest(csrf), user.csrf_hash or ""):
        csrf = None
    return _me(user.actor, csrf)


@router.post("/password", status_code=204, response_class=Response, summary="Change your own password")
def change_password(body: PasswordChange, user: User, ctx: Ctx) -> Response:
    if not verify_password(password_hash_of(ctx.store, user.name), body.current):
        raise ApiError(403, "forbidden", "the current password is wrong")
    check_password_policy(body.new, user.name)
    set_password_hash(ctx.store, user.name, hash_password(body.new))
    audit(ctx, user, "user.password", f"user:{user.name}", details={"by": "self"})
    response = Response(status_code=204)
    _clear_cookies(response)  # every session of the user ended: log in again
    return response


def _token_public(t: TokenRecord) -> TokenPublic:
    return TokenPublic(
        id=t.id, label=t.label, prefix=t.prefix, created_at=t.created_at, expires_at=t.expires_at,
        last_used_at=t.last_used_at, revoked_at=t.revoked_at,
    )  # fmt: skip


def issue_token(ctx: Ctx, user: CurrentUser, body: TokenCreate) -> TokenCreated:
    limit = ctx.app.cfg.api.token_max_days
    days = min(body.expires_days or limit, limit)
    token = new_token()
    rec = add_token(
        ctx.store, user.name, digest(token), token[:10], body.label, ctx.now() + timedelta(days=days)
    )
    audit(ctx, user, "auth.token_create", f"token:{rec.id}", details={"label": rec.label, "days": days})
    return TokenCreated(**_token_public(rec).model_dump(), token=token)


@router.post(
    "/tokens", response_model=TokenCreated, status_code=201, summary="Create a bearer token for yourself"
)
def create_token(body: TokenCreate, user: User, ctx: Ctx) -> TokenCreated:
    return issue_token(ctx, user, body)


@router.get(
    "/tokens", response_model=list[TokenPublic], summary="Your bearer tokens (never the tokens themselves)"
)
def tokens(user: User, ctx: Ctx) -> list[TokenPublic]:
    return [_token_public(t) for t in list_tokens(ctx.store, user.name)]


@router.delete("/tokens/{token_id}", response_model=TokenPublic, summary="Revoke one of your tokens")
def delete_token(token_id: IdPath, user: User, ctx: Ctx) -> TokenPublic:
    rec = revoke_token(ctx.store, user.name, token_id, ctx.now())
    audit(ctx, user, "auth.token_revoke", f"token:{rec.id}")
    return _token_public(rec)
