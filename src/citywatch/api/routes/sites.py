"""Sites: named places grouping cameras (admins manage them; everyone logged in may list them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from citywatch.api.deps import Ctx, CurrentUser, User, audit, need
from citywatch.api.schemas.cameras import SiteCreate, SitePublic, SiteUpdate
from citywatch.api.schemas.common import ERROR_RESPONSES
from citywatch.errors import PolicyError
from citywatch.governance.access import Perm
from citywatch.store.sites import SiteRecord, delete_site, get_site, list_sites, save_site

router = APIRouter(prefix="/api/sites", tags=["sites"], responses=ERROR_RESPONSES)
Admin = Annotated[CurrentUser, need(Perm.CAMERAS_MANAGE)]


def _public(s: SiteRecord, user: CurrentUser) -> SitePublic:
    return SitePublic(
        name=s.name, description=s.description, lat=s.lat, lon=s.lon,
        cameras=[c for c in s.cameras if user.sees(c)], created_by=s.created_by, created_at=s.created_at,
    )  # fmt: skip


def _check(ctx: Ctx, user: CurrentUser, cameras: list[str]) -> None:
    for c in cameras:
        if ctx.camera(c) is None or not user.sees(c):
            raise PolicyError(f"unknown camera {c!r}")


@router.get("", response_model=list[SitePublic], summary="Sites and their cameras")
def sites(user: User, ctx: Ctx) -> list[SitePublic]:
    return [_public(s, user) for s in list_sites(ctx.store)]


@router.get("/{name}", response_model=SitePublic, summary="One site")
def site(name: str, user: User, ctx: Ctx) -> SitePublic:
    return _public(get_site(ctx.store, name), user)


@router.post("", response_model=SitePublic, status_code=201, summary="Create a site (admin)")
def create_site(body: SiteCreate, user: Admin, ctx: Ctx) -> SitePublic:
    _check(ctx, user, body.cameras)
    rec = save_site(
        ctx.store, body.name, description=body.description, lat=body.lat, lon=body.lon, cameras=body.cameras,
        by=user.name, create=True,
    )  # fmt: skip
    audit(ctx, user, "site.create", f"site:{rec.name}", details={"cameras": list(rec.cameras)})
    return _public(rec, user)


@router.put("/{name}", response_model=SitePublic, summary="Change a site (admin)")
def update_site(name: str, body: SiteUpdate, user: Admin, ctx: Ctx) -> SitePublic:
    old = get_site(ctx.store, name)
    cams = body.cameras if body.cameras is not None else list(old.cameras)
    _check(ctx, user, [c for c in cams if c not in old.cameras])
    rec = save_site(
        ctx.store, name,
        description=body.description if body.description is not None else old.description,
        lat=body.lat if body.lat is not None else old.lat, lon=body.lon if body.lon is not None else old.lon,
        cameras=cams, by=user.name, create=False,
    )  # fmt: skip
    audit(ctx, user, "site.update", f"site:{rec.name}", details={"cameras": list(rec.cameras)})
    return _public(rec, user)


@router.delete("/{name}", response_model=SitePublic, summary="Delete a site (admin); its cameras stay")
def remove_site(name: str, user: Admin, ctx: Ctx) -> SitePublic:
    rec = delete_site(ctx.store, name)
    audit(ctx, user, "site.delete", f"site:{rec.name}")
    return _public(rec, user)
