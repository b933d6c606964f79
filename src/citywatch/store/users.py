"""Users table: the SQL behind ``governance.access`` (store/ owns all SQL)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from citywatch.errors import PolicyError, StoreError
from citywatch.store import models as m
from citywatch.store.repo import Store


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    name: str
    role: str
    cameras: tuple[str, ...] | None
    active: bool
    has_password: bool
    created_by: str
    created_at: datetime


def _record(u: m.User) -> UserRecord:
    cams = tuple(u.cameras) if u.cameras is not None else None
    return UserRecord(
        u.id, u.name, u.role, cams, u.active, u.password_hash is not None, u.created_by, u.created_at
    )


def create_user(
    store: Store,
    name: str,
    role: str,
    created_by: str,
    *,
    cameras: Collection[str] | None = None,
    password_hash: str | None = None,
) -> UserRecord:
    """Insert a user; PolicyError if the name is taken or the role unknown."""
    if role not in m.ROLES:
        raise PolicyError(f"unknown role {role!r} (roles: {', '.join(m.ROLES)})")
    if not name.strip():
        raise PolicyError("a user needs a name")
    try:
        with store._tx() as s:
            u = m.User(
                name=name.strip(),
                role=role,
                cameras=sorted(cameras) if cameras is not None else None,
                password_hash=password_hash,
                active=True,
                created_by=created_by,
            )
            s.add(u)
            s.flush()
            return _record(u)
    except IntegrityError as exc:
        raise PolicyError(f"user {name!r} already exists") from exc


def get_user(store: Store, name: str) -> UserRecord | None:
    with store._session() as s:
        u = s.scalar(select(m.User).where(m.User.name == name))
        return None if u is None else _record(u)


def list_users(store: Store) -> list[UserRecord]:
    with store._session() as s:
        return [_record(u) for u in s.scalars(select(m.User).order_by(m.User.name))]


def count_users(store: Store) -> int:
    with store._session() as s:
        return int(s.scalar(select(func.count()).select_from(m.User)) or 0)


def set_user_active(store: Store, name: str, active: bool) -> UserRecord:
    with store._tx() as s:
        u = s.scalar(select(m.User).where(m.User.name == name))
        if u is None:
            raise StoreError(f"no user {name!r}")
        u.active = active
        s.flush()
        return _record(u)
