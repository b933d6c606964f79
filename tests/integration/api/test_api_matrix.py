"""Every route x every role: refused roles get 403, unauthenticated callers 401, except public routes.

The table of who needs what is read from the routes themselves (their
``Need`` dependencies), so a new route is covered without editing this test,
and a route that forgets its permission shows up as unauthenticated-allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from api_world import ROLE_USER, World
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from citywatch.api.deps import Need, current_user
from citywatch.governance.access import PERMISSIONS, Role

PUBLIC = {
    ("POST", "/api/auth/login"),
    ("GET", "/healthz"),
    ("GET", "/transparency"),
    ("GET", "/transparency.json"),
    ("GET", "/transparency.csv"),
}
SAMPLE = {"name": "gate", "alert_id": "1", "sighting_id": "1", "entry_id": "1", "n": "0", "auth_id": "1",
          "case_ref": "C-1", "export_id": "1", "request_id": "1", "token_id": "1"}  # fmt: skip
STREAMS = {"/api/alerts/stream"}


def _walk(dep: Dependant) -> Iterator[object]:
    yield dep.call
    for sub in dep.dependencies:
        yield from _walk(sub)


def api_routes(world: World) -> list[tuple[str, str, Need | None, bool]]:
    """``(method, path, Need or None, needs login)`` of every JSON API / public route."""
    out = []
    for rc in iter_route_contexts(world.api.routes):
        route = rc.original_route
        # the API and public routes; the console's pages (not in the schema) check on their own
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        calls = list(_walk(rc.dependant))
        needs = [c for c in calls if isinstance(c, Need)]
        login = current_user in calls
        for method in sorted(rc.methods - {"HEAD"}):
            out.append((method, rc.path, needs[0] if needs else None, login))
    return out


def url(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE[m.group(1)], path)


def test_the_walk_finds_every_router(world: World) -> None:
    paths = {p for _, p, _, _ in api_routes(world)}
    for expected in ("/api/alerts", "/api/cameras", "/api/sites", "/api/watchlists/entries", "/api/approvals",
                     "/api/authorisations", "/api/cases", "/api/sightings", "/api/search", "/api/trajectories",
                     "/api/exports", "/api/audit", "/api/reports/transparency", "/api/users", "/api/auth/me",
                     "/metrics"):  # fmt: skip
        assert expected in paths, expected
    assert len(paths) > 40


def test_only_public_routes_answer_without_login(world: World) -> None:
    for method, path, need, login in api_routes(world):
        if (method, path) in PUBLIC:
            assert not login and need is None, f"{method} {path} should be public"
            continue
        assert login, f"{method} {path} does not require a login"
        r = world.client.request(method, url(path))
        assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text[:200]}"
        assert r.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_route_refuses_the_roles_without_its_permission(world: World, role: str) -> None:
    user = ROLE_USER[role]
    checked = 0
    for method, path, need, _ in api_routes(world):
        if need is None:
            continue
        allowed = any(p in PERMISSIONS[Role(role)] for p in need.perms)
        if allowed and path in STREAMS:
            continue  # an allowed stream never ends; tests/integration/api/test_api_stream.py covers it
        r = world.client.request(method, url(path), headers=world.auth(user))
        if allowed:
            assert r.status_code != 401, f"{role} {method} {path}"
            assert not (r.status_code == 403 and "may not" in r.json()["error"]["message"] and
                        any(p.value in r.json()["error"]["message"] for p in need.perms)), f"{role} {method} {path}: {r.text}"  # fmt: skip
        else:
            assert r.status_code == 403, f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
            assert r.json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked > 0 or role == "investigator"


def test_every_route_declares_a_response_model(world: World) -> None:
    for rc in iter_route_contexts(world.api.routes):
        route = rc.original_route
        if not isinstance(route, APIRoute) or not rc.path.startswith("/api/"):
            continue
        binary = route.response_class is not None and route.response_model is None
        assert route.response_model is not None or route.status_code == 204 or binary, rc.path


def test_cameras_outside_the_users_set_do_not_exist(world: World) -> None:
    _, alert_gate = world.sighting("gate", world.identity())
    sid_gate, _ = world.sighting("gate")
    assert alert_gate is not None
    for path in ("/api/cameras/gate", "/api/cameras/gate/frame.jpg", "/api/cameras/gate/sightings",
                 f"/api/alerts/{alert_gate}", f"/api/alerts/{alert_gate}/thumbnail.jpg",
                 f"/api/alerts/{alert_gate}/photo.jpg", f"/api/sightings/{sid_gate}",
                 f"/api/sightings/{sid_gate}/thumbnail.jpg", "/api/alerts?camera=gate"):  # fmt: skip
        r = world.client.get(path, headers=world.auth("gus"))
        assert r.status_code == 404, f"{path}: {r.status_code}"
        assert r.json()["error"]["code"] == "not_found"
    r = world.client.post(f"/api/alerts/{alert_gate}/ack", json={}, headers=world.auth("gus"))
    assert r.status_code == 404
    names = [c["name"] for c in world.client.get("/api/cameras", headers=world.auth("gus")).json()]
    assert names == ["plaza"]
    assert world.client.get("/api/alerts", headers=world.auth("gus")).json() == []
