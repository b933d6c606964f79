"""Users and roles (``users.manage``: admin). Every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from citywatch.api.deps import Ctx, CurrentUser, audit, need
from citywatch.api.schemas.common import ERROR_RESPONSES
from citywatch.api.schemas.users import UserCreate, UserPublic, UserUpdate
from citywatch.api.security import check_password_policy, hash_password
from citywatch.errors import NotFoundError, PolicyError
from citywatch.governance.access import Perm, add_user
from citywatch.store.auth import set_password_hash, update_user
from citywatch.store.users import UserRecord, get_user, list_users

router = APIRouter(prefix="/api/users", tags=["users"], responses=ERROR_RESPONSES)
Admin = Annotated[CurrentUser, need(Perm.USERS_MANAGE)]


def _public(u: UserRecord) -> UserPublic:
    return UserPublic(
        name=u.name, role=u.role, cameras=list(u.cameras) if u.cameras is not None else None, active=u.active,
        has_password=u.has_password, created_by=u.created_by, created_at=u.created_at,
    )  # fmt: skip


def _check_cameras(ctx: Ctx, cameras: list[str] | None) -> None:
    for c in cameras or ():
        if ctx.camera(c) is None:
            raise PolicyError(f"unknown camera {c!r}")


@router.get("", response_model=list[UserPublic], summary="All users")
def users(user: Admin, ctx: Ctx) -> list[UserPublic]:
    return [_public(u) for u in list_users(ctx.store)]


@router.get("/{name}", response_model=UserPublic, summary="One user")
def one_user(name: str, user: Admin, ctx: Ctx) -> UserPublic:
    u = get_user(ctx.store, name)
    if u is None:
        raise NotFoundError(f"user {name!r} does not exist")
    return _public(u)


@router.post("", response_model=UserPublic, status_code=201, summary="Create a user")
def create_user(body: UserCreate, user: Admin, ctx: Ctx) -> UserPublic:
    _check_cameras(ctx, body.cameras)
    if body.password is not None:
        check_password_policy(body.password, body.name)
    rec = add_user(ctx.store, user.name, body.name, body.role, body.cameras)
    if body.password is not None:
        rec = set_password_hash(ctx.store, rec.name, hash_password(body.password))
        audit(ctx, user, "user.password", f"user:{rec.name}", details={"by": "admin"})
    return _public(rec)


@router.patch(
    "/{name}", response_model=UserPublic, summary="Change a user's role, cameras, active flag or password"
)
def change_user(name: str, body: UserUpdate, user: Admin, ctx: Ctx) -> UserPublic:
    _check_cameras(ctx, body.cameras)
    if name == user.name and (body.active is False or (body.role is not None and body.role != "admin")):
        raise PolicyError(f"user {name!r} may not deactivate or demote themselves; another admin must")
    if body.password is not None:
        check_password_policy(body.password, name)
    before, after = update_user(
        ctx.store,
        name,
        role=body.role,
        cameras=body.cameras,
        all_cameras=body.all_cameras,
        active=body.active,
    )
    changes = {
        k: {"from": getattr(before, k), "to": getattr(after, k)}
        for k in ("role", "cameras", "active")
        if getattr(before, k) != getattr(after, k)
    }
    if changes:
        audit(ctx, user, "user.update", f"user:{name}", details=changes)
    if body.password is not None:
        after = set_password_hash(ctx.store, name, hash_password(body.password))
        audit(ctx, user, "user.password", f"user:{name}", details={"by": "admin"})
    return _public(after)
