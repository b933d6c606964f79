"""Who may do what: roles, permissions and the check every door (CLI, API) goes through.

Roles are fixed (DESIGN.md §1). Configuration cannot grant a role more than
this table says, and there is no "superuser bypass": even an admin does not
verify alerts or approve watchlist entries (those are other people's
decisions, by design). A user may be limited to some cameras; data from other
cameras is then invisible to them (the API answers 404, not 403).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from citywatch.errors import NotFoundError, PolicyError
from citywatch.store.repo import Store
from citywatch.store.users import UserRecord, count_users, create_user, get_user


class Role(StrEnum):
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    VERIFIER = "verifier"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Perm(StrEnum):
    ALERTS_VIEW = "alerts.view"
    ALERTS_ACK = "alerts.ack"
    ALERTS_VERIFY = "alerts.verify"
    SIGHTINGS_VIEW = "sightings.view"
    SEARCH = "search"
    PROCESS = "process"
    WATCHLIST_REQUEST = "watchlist.request"
    WATCHLIST_APPROVE = "watchlist.approve"
    AUTH_REQUEST = "authorisation.request"
    AUTH_DECIDE = "authorisation.decide"
    CASES_MANAGE = "cases.manage"
    EXPORT = "export"
    UNBLUR_APPROVE = "export.unblur.approve"
    AUDIT_READ = "audit.read"
    REPORTS_READ = "reports.read"
    CAMERAS_MANAGE = "cameras.manage"
    USERS_MANAGE = "users.manage"
    RETENTION_RUN = "retention.run"


P = Perm
PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.OPERATOR: frozenset({P.ALERTS_VIEW, P.ALERTS_ACK, P.SIGHTINGS_VIEW}),
    Role.INVESTIGATOR: frozenset(
        {
            P.ALERTS_VIEW,
            P.SIGHTINGS_VIEW,
            P.SEARCH,
            P.PROCESS,
            P.WATCHLIST_REQUEST,
            P.AUTH_REQUEST,
            P.CASES_MANAGE,
            P.EXPORT,
        }
    ),
    Role.VERIFIER: frozenset({P.ALERTS_VIEW, P.ALERTS_VERIFY, P.SIGHTINGS_VIEW}),
    Role.SUPERVISOR: frozenset(
        {
            P.ALERTS_VIEW,
            P.SIGHTINGS_VIEW,
            P.WATCHLIST_APPROVE,
            P.AUTH_DECIDE,
            P.UNBLUR_APPROVE,
            P.CASES_MANAGE,
            P.REPORTS_READ,
        }
    ),
    Role.AUDITOR: frozenset({P.AUDIT_READ, P.REPORTS_READ}),
    Role.ADMIN: frozenset({P.CAMERAS_MANAGE, P.USERS_MANAGE, P.RETENTION_RUN, P.REPORTS_READ, P.PROCESS}),
}
"""The whole permission table. Changing it is a code change, reviewed like one."""


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated user acting now."""

    name: str
    role: Role
    cameras: frozenset[str] | None
    """Cameras this user may see; ``None`` means all."""

    def can(self, perm: Perm) -> bool:
        return perm in PERMISSIONS[self.role]

    def sees_camera(self, camera: str) -> bool:
        return self.cameras is None or camera in self.cameras


def get_actor(store: Store, name: str) -> Actor:
    """The active user called ``name``; NotFoundError names the user when there is none."""
    u = get_user(store, name)
    if u is None or not u.active:
        raise NotFoundError(
            f"no active user {name!r}: create one with `citywatch users create {name} --role ROLE` "
            "(act as a user with --as or CITYWATCH_USER)"
        )
    return Actor(u.name, Role(u.role), frozenset(u.cameras) if u.cameras is not None else None)


def require(store: Store, name: str, perm: Perm, *, camera: str | None = None) -> Actor:
    """The acting user, if their role has ``perm`` (and, with ``camera``, may see that camera).

    Raises :class:`PolicyError` naming the user, role and missing permission
    (the API maps it to 403), or :class:`NotFoundError` for a camera the user
    may not see (404: they may not know it exists).
    """
    actor = get_actor(store, name)
    if not actor.can(perm):
        raise PolicyError(f"user {actor.name!r} (role {actor.role}) may not {perm.value}")
    if camera is not None and not actor.sees_camera(camera):
        raise NotFoundError(f"unknown camera {camera!r}")
    return actor


def add_user(
    store: Store, acting: str | None, name: str, role: str, cameras: Collection[str] | None = None
) -> UserRecord:
    """Create a user, audited as ``user.create``.

    The very first user needs no acting user but must be an admin (bootstrap);
    afterwards ``acting`` must be an active user with ``users.manage``.
    PolicyError names the user and role on a refusal.
    """
    if role not in {r.value for r in Role}:
        raise PolicyError(f"user {name!r}: unknown role {role!r} (roles: {', '.join(r.value for r in Role)})")
    if count_users(store) == 0:
        if role != Role.ADMIN:
            raise PolicyError(
                f"user {name!r}: the first user must be an admin (got role {role!r}); "
                f"create one with `citywatch users create NAME --role admin`"
            )
        rec = create_user(store, name, role, created_by=name, cameras=cameras)
        store.append_audit(
            rec.name, "user.create", f"user:{rec.name}", role=rec.role,
            details={"role": rec.role, "cameras": list(rec.cameras or []) or None, "bootstrap": True},
        )  # fmt: skip
        return rec
    if acting is None:
        raise PolicyError("creating a user needs an acting admin (--as or CITYWATCH_USER)")
    actor = require(store, acting, Perm.USERS_MANAGE)
    rec = create_user(store, name, role, created_by=actor.name, cameras=cameras)
    store.append_audit(
        actor.name, "user.create", f"user:{rec.name}", role=actor.role,
        details={"role": rec.role, "cameras": list(rec.cameras) if rec.cameras is not None else None},
    )  # fmt: skip
    return rec
