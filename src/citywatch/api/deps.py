"""Request dependencies: the context, who is calling (session cookie or bearer token), permissions.

Route signatures say what they need::

    def list_alerts(ctx: Ctx, user: Annotated[CurrentUser, need(Perm.ALERTS_VIEW)]) -> ...

``need`` answers 401 without credentials and 403 when the role lacks every
listed permission. Requests authenticated by the console's session cookie
must also pass the CSRF check on every state-changing method (double submit:
header ``X-CSRF-Token`` equal to the ``cw_csrf`` cookie, whose hash the
session row keeps). Bearer tokens are not sent by browsers on their own, so
they need no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from citywatch.api.context import ApiContext
from citywatch.api.errors import ApiError
from citywatch.api.security import TOKEN_PREFIX, digest, same
from citywatch.errors import NotFoundError
from citywatch.governance.access import Actor, Perm, get_actor
from citywatch.store.auth import session_user, token_user

SESSION_COOKIE = "cw_session"
CSRF_COOKIE = "cw_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The authenticated caller of one request."""

    actor: Actor
    via: Literal["session", "token"]
    session_id: int | None = None
    csrf_hash: str | None = None

    @property
    def name(self) -> str:
        return self.actor.name

    @property
    def role(self) -> str:
        return self.actor.role.value

    def sees(self, camera: str) -> bool:
        return self.actor.sees_camera(camera)


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _unauthenticated(message: str = "log in or send a bearer token") -> ApiError:
    return ApiError(401, "unauthenticated", message, headers={"WWW-Authenticate": "Bearer"})


def _actor(ctx: ApiContext, name: str) -> Actor | None:
    try:
        return get_actor(ctx.store, name)
    except NotFoundError:
        return None


def authenticate(request: Request, ctx: ApiContext) -> CurrentUser | None:
    """The caller, ``None`` without credentials; 401 for a bearer token that is wrong or expired."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip().startswith(TOKEN_PREFIX):
            raise _unauthenticated("Authorization must be 'Bearer cw_...'")
        name = token_user(ctx.store, digest(token.strip()), ctx.now())
        actor = _actor(ctx, name) if name else None
        if actor is None:
            raise _unauthenticated("bearer token is unknown, revoked or expired")
        return CurrentUser(actor, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    sess = session_user(ctx.store, digest(cookie), ctx.now())
    actor = _actor(ctx, sess.user) if sess is not None else None
    if sess is None or actor is None:
        return None
    return CurrentUser(actor, "session", sess.id, sess.csrf_hash)


def check_csrf(request: Request, user: CurrentUser) -> None:
    """403 unless a session-authenticated, state-changing request carries the session's CSRF token."""
    if user.via != "session" or request.method in SAFE_METHODS:
        return
    header = request.headers.get(CSRF_HEADER, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not header or not cookie or not same(header, cookie) or not same(digest(header), user.csrf_hash or ""):
        raise ApiError(
            403,
            "csrf_failed",
            f"missing or wrong {CSRF_HEADER} header: send the value of the {CSRF_COOKIE} cookie",
        )


def current_user(request: Request, ctx: Ctx) -> CurrentUser:
    """The authenticated caller (401 otherwise), CSRF-checked."""
    user = authenticate(request, ctx)
    if user is None:
        raise _unauthenticated()
    check_csrf(request, user)
    return user


def optional_user(request: Request) -> CurrentUser | None:
    """For console pages: the logged-in user or ``None`` (no CSRF check: pages are GETs)."""
    try:
        return authenticate(request, get_ctx(request))
    except ApiError:
        return None


User = Annotated[CurrentUser, Depends(current_user)]


class Need:
    """Dependency: the caller, if their role has at least one of ``perms`` (else 403)."""

    def __init__(self, *perms: Perm) -> None:
        self.perms = perms

    def __call__(self, user: User) -> CurrentUser:
        if not any(user.actor.can(p) for p in self.perms):
            wanted = " or ".join(p.value for p in self.perms)
            raise ApiError(403, "forbidden", f"user {user.name!r} (role {user.role}) may not {wanted}")
        return user

    def __repr__(self) -> str:
        return f"Need({', '.join(p.value for p in self.perms)})"


def need(*perms: Perm) -> Any:
    """``Depends(Need(*perms))``, for ``Annotated[CurrentUser, need(...)]``."""
    return Depends(Need(*perms))


def audit(
    ctx: ApiContext,
    user: CurrentUser,
    action: str,
    target: str,
    *,
    case_ref: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an audit entry for ``user`` (the client address is added by the request middleware)."""
    ctx.store.append_audit(
        user.name, action, target, case_ref=case_ref, reason=reason, role=user.role, details=details
    )


def visible_camera(ctx: ApiContext, user: CurrentUser, name: str) -> None:
    """404 for a camera that does not exist or that ``user`` may not see (they may not know it exists)."""
    if ctx.camera(name) is None or not user.sees(name):
        raise NotFoundError(f"camera {name!r} does not exist")
