"""SQL of API authentication: password hashes, bearer tokens, console sessions, user changes.

Secrets never reach the database in clear: passwords as argon2 hashes (made by
``api.security``), tokens and session cookies as SHA-256 hex (they are 256-bit
random values, so a fast hash is enough; a slow one would only slow requests).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from citywatch.errors import NotFoundError, PolicyError
from citywatch.store import models as m
from citywatch.store.repo import Store
from citywatch.store.users import UserRecord, _record


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    user: str
    csrf_hash: str
    client: str | None
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


def password_hash_of(store: Store, name: str) -> str | None:
    """The stored argon2 hash of an *active* user, or ``None`` (unknown, inactive, or no password)."""
    with store._session() as s:
        u = s.scalar(select(m.User).where(m.User.name == name))
        return u.password_hash if u is not None and u.active else None


def set_password_hash(store: Store, name: str, password_hash: str | None) -> UserRecord:
    """Replace a user's password hash (``None`` removes it); ends their console sessions."""
    with store._tx() as s:
        u = s.scalar(select(m.User).where(m.User.name == name))
        if u is None:
            raise NotFoundError(f"user {name!r} does not exist")
        u.password_hash = password_hash
        s.execute(delete(m.WebSession).where(m.WebSession.user_id == u.id))
        s.flush()
        return _record(u)


def update_user(
    store: Store,
    name: str,
    *,
    role: str | None = None,
    cameras: Collection[str] | None = None,
    all_cameras: bool = False,
    active: bool | None = None,
) -> tuple[UserRecord, UserRecord]:
    """Change role, camera set (``all_cameras`` lifts the limit) or active flag; returns (before, after).

    Deactivating a user ends their sessions and revokes their tokens at once.
    """
    if role is not None and role not in m.ROLES:
        raise PolicyError(f"unknown role {role!r} (roles: {', '.join(m.ROLES)})")
    with store._tx() as s:
        u = s.scalar(select(m.User).where(m.User.name == name))
        if u is None:
            raise NotFoundError(f"user {name!r} does not exist")
        before = _record(u)
        if role is not None:
            u.role = role
        if all_cameras:
            u.cameras = None
        elif cameras is not None:
            u.cameras = sorted(set(cameras))
        if active is not None:
            u.active = active
            if not active:
                s.execute(delete(m.WebSession).where(m.WebSession.user_id == u.id))
                s.execute(
                    update(m.ApiToken)
                    .where(m.ApiToken.user_id == u.id, m.ApiToken.revoked_at.is_(None))
                    .values(revoked_at=m.utcnow())
                )
        s.flush()
        return before, _record(u)


# --- tokens -------------------------------------------------------------------------


def _token(t: m.ApiToken, user: str) -> TokenRecord:
    return TokenRecord(
        t.id, user, t.label, t.prefix, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
    )


def add_token(
    store: Store, user: str, token_hash: str, prefix: str, label: str, expires_at: datetime | None
) -> TokenRecord:
    with store._tx() as s:
        u = s.scalar(select(m.User).where(m.User.name == user))
        if u is None:
            raise NotFoundError(f"user {user!r} does not exist")
        t = m.ApiToken(user_id=u.id, label=label, token_hash=token_hash, prefix=prefix, expires_at=expires_at)
        s.add(t)
        s.flush()
        return _token(t, u.name)


def token_user(store: Store, token_hash: str, now: datetime) -> str | None:
    """The name of the active user owning an unrevoked, unexpired token; records its use."""
    with store._session() as s:
        row = s.execute(
            select(m.ApiToken, m.User.name, m.User.active)
            .join(m.User, m.ApiToken.user_id == m.User.id)
            .where(m.ApiToken.token_hash == token_hash)
        ).first()
    if row is None:
        return None
    t, name, active = row
    if not active or t.revoked_at is not None or (t.expires_at is not None and t.expires_at <= now):
        return None
    if t.last_used_at is None or (now - t.last_used_at).total_seconds() > 60:
        # a write per request would serialise every API call on SQLite's write lock
        with store._tx() as s:
            s.execute(update(m.ApiToken).where(m.ApiToken.id == t.id).values(last_used_at=now))
    return str(name)


def list_tokens(store: Store, user: str) -> list[TokenRecord]:
    with store._session() as s:
        rows = s.execute(
            select(m.ApiToken, m.User.name)
            .join(m.User, m.ApiToken.user_id == m.User.id)
            .where(m.User.name == user)
            .order_by(m.ApiToken.id)
        ).all()
        return [_token(t, n) for t, n in rows]


def revoke_token(store: Store, user: str, token_id: int, now: datetime) -> TokenRecord:
    """Revoke one of ``user``'s tokens; NotFoundError for another user's (or no) token."""
    with store._tx() as s:
        row = s.execute(
            select(m.ApiToken, m.User.name)
            .join(m.User, m.ApiToken.user_id == m.User.id)
            .where(m.ApiToken.id == token_id, m.User.name == user)
        ).first()
        if row is None:
            raise NotFoundError(f"token {token_id} does not exist")
        t, name = row
        if t.revoked_at is None:
            t.revoked_at = now
        s.flush()
        return _token(t, name)


# --- console sessions ----------------------------------------------------------------


def add_session(
    store: Store, user: str, token_hash: str, csrf_hash: str, client: str | None, expires_at: datetime
) -> SessionRecord:
    with store._tx() as s:
        u = s.scalar(select(m.User).where(m.User.name == user))
        if u is None:
            raise NotFoundError(f"user {user!r} does not exist")
        # expired sessions of anyone are cleaned up here, at the rare moment of a login
        s.execute(delete(m.WebSession).where(m.WebSession.expires_at <= m.utcnow()))
        w = m.WebSession(
            user_id=u.id, token_hash=token_hash, csrf_hash=csrf_hash, client=client, expires_at=expires_at
        )
        s.add(w)
        s.flush()
        return SessionRecord(w.id, u.name, csrf_hash, client, w.created_at, expires_at, w.last_seen_at)


def session_user(store: Store, token_hash: str, now: datetime) -> SessionRecord | None:
    """The session of an unexpired cookie whose user is active, else ``None``."""
    with store._session() as s:
        row = s.execute(
            select(m.WebSession, m.User.name, m.User.active)
            .join(m.User, m.WebSession.user_id == m.User.id)
            .where(m.WebSession.token_hash == token_hash)
        ).first()
    if row is None:
        return None
    w, name, active = row
    if not active or w.expires_at <= now:
        return None
    if (now - w.last_seen_at).total_seconds() > 60:
        with store._tx() as s:
            s.execute(update(m.WebSession).where(m.WebSession.id == w.id).values(last_seen_at=now))
    return SessionRecord(w.id, str(name), w.csrf_hash, w.client, w.created_at, w.expires_at, w.last_seen_at)


def end_session(store: Store, session_id: int) -> None:
    with store._tx() as s:
        s.execute(delete(m.WebSession).where(m.WebSession.id == session_id))


__all__ = [
    "SessionRecord",
    "TokenRecord",
    "add_session",
    "add_token",
    "end_session",
    "list_tokens",
    "password_hash_of",
    "revoke_token",
    "session_user",
    "set_password_hash",
    "token_user",
    "update_user",
]
