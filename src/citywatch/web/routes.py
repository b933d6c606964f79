"""The console's pages: server-rendered shells whose data comes from the JSON API (``api/README.md``).

Each page checks the session and the role before it renders, so a user never
sees a page they cannot use; the data calls behind it are checked again by
the API (the page is a convenience, the API is the boundary). Pages hold no
personal data themselves: faces, names and sightings arrive through the API
calls, each of which the API audits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from citywatch.api.deps import CurrentUser, optional_user
from citywatch.config import Config
from citywatch.governance.access import PERMISSIONS, Perm
from citywatch.governance.report import TransparencyReport

templates_dir = Path(__file__).resolve().parent / "templates"
static_dir = Path(__file__).resolve().parent / "static"
LEAFLET = static_dir / "vendor" / "leaflet" / "leaflet.js"

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(templates_dir))


def _asset_version() -> str:
    """Changes whenever a console asset changes, so browsers never mix old and new scripts."""
    newest = max((p.stat().st_mtime_ns for p in static_dir.rglob("*") if p.is_file()), default=0)
    return format(newest // 1_000_000 % 0xFFFFFFFF, "x")


_VERSION = _asset_version()


def _static(path: str) -> str:
    return f"/static/{path}?v={_VERSION}"


templates.env.globals["static"] = _static


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    href: str
    label: str
    perms: frozenset[Perm]
    """Any one of these lets a user open the page; empty: public."""


NAV = (
    NavItem("live", "/live", "Live", frozenset({Perm.ALERTS_VIEW})),
    NavItem("map", "/map", "Map", frozenset({Perm.SIGHTINGS_VIEW})),
    NavItem("search", "/search", "Search", frozenset({Perm.SEARCH})),
    NavItem(
        "watchlists", "/watchlists", "Watchlists", frozenset({Perm.WATCHLIST_REQUEST, Perm.WATCHLIST_APPROVE})
    ),
    NavItem("audit", "/audit", "Audit", frozenset({Perm.AUDIT_READ})),
    NavItem("transparency", "/transparency", "Transparency", frozenset()),
)
_BY_KEY = {n.key: n for n in NAV}


def _allowed(user: CurrentUser | None, item: NavItem) -> bool:
    if not item.perms:
        return True
    return user is not None and any(user.actor.can(p) for p in item.perms)


def _config(request: Request) -> Config:
    """The serving App's configuration (defaults when the app carries none, e.g. in a bare test app)."""
    ctx = getattr(request.app.state, "ctx", None)
    cfg = getattr(getattr(ctx, "app", None), "cfg", None)
    return cfg if isinstance(cfg, Config) else Config()


def script_json(value: object) -> str:
    """JSON to embed in an inline ``<script>``: no ``<`` at all, so no ``</script>`` or ``<!--`` in data."""
    return json.dumps(value).replace("<", "\\u003c")


def _user_json(user: CurrentUser | None) -> str:
    if user is None:
        return "null"
    a = user.actor
    data = {
        "name": a.name,
        "role": a.role.value,
        "cameras": sorted(a.cameras) if a.cameras is not None else None,
        "permissions": sorted(p.value for p in PERMISSIONS[a.role]),
    }
    return script_json(data)


def render(
    request: Request,
    template: str,
    *,
    user: CurrentUser | None,
    title: str,
    active: str | None = None,
    needs_map: bool = False,
    status_code: int = 200,
    extra: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """Render a console template with the shared context (user, navigation, map settings)."""
    console = _config(request).console
    ctx: dict[str, Any] = {
        "title": title,
        "user": user,
        "user_json": _user_json(user),
        "nav": [n for n in NAV if _allowed(user, n)],
        "active": active,
        "needs_map": needs_map,
        "map_ready": LEAFLET.is_file(),
        "tile_url": console.map_tile_url,
        "tile_attribution": console.map_tile_attribution,
    }
    ctx.update(extra or {})
    resp = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, ``//x``, ``/\\x``) goes home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return "/"
    return target


def _page(
    request: Request,
    key: str,
    template: str,
    title: str,
    *,
    needs_map: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    user = optional_user(request)
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)
    item = _BY_KEY[key]
    if not _allowed(user, item):
        need = " or ".join(sorted(p.value for p in item.perms))
        return render(
            request,
            "forbidden.html",
            user=user,
            title="Not available",
            active=key,
            status_code=403,
            extra={"page": item.label, "need": need},
        )
    return render(request, template, user=user, title=title, active=key, needs_map=needs_map, extra=extra)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    """The first page the user's role may open (Live for most, Audit for auditors)."""
    user = optional_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    for item in NAV:
        if item.perms and _allowed(user, item):
            return RedirectResponse(item.href, status_code=303)
    return RedirectResponse("/transparency", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    target = _safe_next(next)
    if optional_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, "login.html", user=None, title="Log in", extra={"next": target})


@router.get("/live", response_class=HTMLResponse)
def live_page(request: Request) -> Response:
    return _page(request, "live", "live.html", "Live")


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: int) -> Response:
    return _page(
        request, "live", "alert.html", f"Alert {alert_id}", needs_map=True, extra={"alert_id": alert_id}
    )


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, camera: str | None = None) -> Response:
    return _page(request, "map", "map.html", "Map", needs_map=True, extra={"camera": camera or ""})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> Response:
    days = _config(request).search.max_window_days
    return _page(request, "search", "search.html", "Search", needs_map=True, extra={"max_window_days": days})


@router.get("/watchlists", response_class=HTMLResponse)
def watchlists_page(request: Request) -> Response:
    gov = _config(request).governance
    user = optional_user(request)
    extra = {
        "default_days": gov.watchlist_default_days,
        "max_days": gov.watchlist_max_days,
        "can_request": user is not None and user.actor.can(Perm.WATCHLIST_REQUEST),
        "can_approve": user is not None and user.actor.can(Perm.WATCHLIST_APPROVE),
    }
    return _page(request, "watchlists", "watchlists.html", "Watchlists", extra=extra)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> Response:
    return _page(request, "audit", "audit.html", "Audit")


def transparency_page(
    request: Request,
    report: TransparencyReport,
    positions: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> HTMLResponse:
    """The public transparency report as HTML (no login; counts only, plus where cameras are).

    ``positions`` maps camera name to (lat, lon) so the page can show the
    cameras on a map; camera locations are public information.
    """
    pos = positions or {}
    cameras = [
        {
            "name": c.name,
            "location": c.location,
            "lat": pos.get(c.name, (None, None))[0],
            "lon": pos.get(c.name, (None, None))[1],
            "recognition": c.recognition_running,
        }
        for c in report.cameras
    ]
    bases = report.metrics.watchlist_entries_by_legal_basis
    return render(
        request,
        "transparency.html",
        user=optional_user(request),
        title="Transparency report",
        active="transparency",
        needs_map=any(c["lat"] is not None for c in cameras),
        extra={
            "report": report,
            "cameras_json": script_json(cameras),
            "basis_peak": max([*bases.values(), 1]),
            "total_cost": sum(c.cost or 0.0 for c in report.cameras),
        },
    )
