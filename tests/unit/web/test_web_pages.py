"""The console's page routes through the real app (TestClient): sessions, roles, safe redirects, assets.

No browser here: these check what the server sends. The browser flow is in
``tests/e2e``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from citywatch.api import create_app
from citywatch.api.deps import CurrentUser
from citywatch.api.security import hash_password
from citywatch.app import App
from citywatch.config import Config
from citywatch.governance.access import Actor, Role, add_user
from citywatch.store.auth import set_password_hash
from citywatch.web.routes import _safe_next, _user_json

PASSWORD = "a long test password"
USERS = {"root": "admin", "olga": "operator", "ivan": "investigator", "sue": "supervisor", "aud": "auditor"}
CONFIG = {
    "cameras": [
        {"name": "gate", "lat": 52.52, "lon": 13.40, "location": "North gate", "cost": 1200},
        {"name": "plaza", "location": "Plaza (no position)"},
    ],
    "console": {
        "map_tile_url": "https://tiles.example.org/{z}/{x}/{y}.png",
        "map_tile_attribution": "© Example",
    },
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    home = tmp_path_factory.mktemp("web") / "home"
    a = App.open(data_dir=home, cfg=Config.model_validate(CONFIG))
    hashed = hash_password(PASSWORD)
    for name, role in USERS.items():
        add_user(a.store, None if name == "root" else "root", name, role)
        set_password_hash(a.store, name, hashed)
    yield a
    a.close()


@pytest.fixture(scope="module")
def anon(app: App) -> Iterator[TestClient]:
    with TestClient(create_app(app), follow_redirects=False) as c:
        yield c


def client_for(app: App, user: str) -> TestClient:
    c = TestClient(create_app(app), follow_redirects=False)
    r = c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


@pytest.mark.parametrize(
    "path", ["/live", "/map", "/search", "/watchlists", "/audit", "/alerts/7", "/map?camera=gate"]
)
def test_pages_send_a_visitor_to_the_login_page(anon: TestClient, path: str) -> None:
    r = anon.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=" + path.replace("?", "%3F").replace("=", "%3D")


def test_home_without_session_goes_to_login(anon: TestClient) -> None:
    r = anon.get("/")
    assert (r.status_code, r.headers["location"]) == (303, "/login")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/search", "/search"),
        ("/map?camera=gate", "/map?camera=gate"),
        (None, "/"),
        ("", "/"),
        ("//evil.example/x", "/"),  # protocol-relative: another host
        ("/\\evil.example", "/"),  # browsers read /\ as //
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\nSet-Cookie: x=1", "/"),
    ],
)
def test_login_goes_back_only_to_local_pages(target: str | None, expected: str) -> None:
    assert _safe_next(target) == expected


def test_login_page_renders_the_safe_target(anon: TestClient) -> None:
    r = anon.get("/login", params={"next": "//evil.example/"})
    assert r.status_code == 200
    assert 'id="next" value="/"' in r.text
    assert "/static/js/console.js?v=" in r.text and "/static/console.css?v=" in r.text


@pytest.mark.parametrize(
    ("user", "home", "shown", "hidden"),
    [
        ("olga", "/live", ["Live", "Map"], ["Search", "Watchlists", "Audit"]),
        ("ivan", "/live", ["Live", "Map", "Search", "Watchlists"], ["Audit"]),
        ("sue", "/live", ["Live", "Map", "Watchlists"], ["Search", "Audit"]),
        ("aud", "/audit", ["Audit"], ["Live", "Map", "Search", "Watchlists"]),
        ("root", "/transparency", [], ["Live", "Map", "Search", "Watchlists", "Audit"]),
    ],
)
def test_navigation_follows_the_role(
    app: App, user: str, home: str, shown: list[str], hidden: list[str]
) -> None:
    with client_for(app, user) as c:
        r = c.get("/")
        assert (r.status_code, r.headers["location"]) == (303, home)
        page = c.get(home).text
        nav = re.search(r'<nav class="nav".*?</nav>', page, re.S)
        assert nav is not None
        labels = re.findall(r">([A-Za-z]+)</a>", nav.group(0))
        assert all(s in labels for s in shown), labels
        assert not any(h in labels for h in hidden), labels
        assert "Transparency" in labels


def test_a_page_outside_the_role_says_why(app: App) -> None:
    with client_for(app, "olga") as c:
        r = c.get("/search")
        assert r.status_code == 403
        assert "not available to your role" in r.text and "<code>search</code>" in r.text
        assert r.headers["cache-control"] == "no-store"


def test_logged_in_user_skips_the_login_page(app: App) -> None:
    with client_for(app, "ivan") as c:
        r = c.get("/login", params={"next": "/search"})
        assert (r.status_code, r.headers["location"]) == (303, "/search")


@pytest.mark.parametrize(
    ("user", "path", "marker"),
    [
        ("olga", "/live", 'id="alert-feed"'),
        ("olga", "/alerts/1", 'data-alert-id="1"'),
        ("olga", "/map", 'id="map"'),
        ("ivan", "/search", 'id="search-form"'),
        ("ivan", "/watchlists", 'id="enrol-form"'),
        ("sue", "/watchlists", 'id="queue-panel"'),
        ("aud", "/audit", 'id="chain-panel"'),
    ],
)
def test_pages_render_for_their_roles(app: App, user: str, path: str, marker: str) -> None:
    with client_for(app, user) as c:
        r = c.get(path)
        assert r.status_code == 200, r.text
        assert marker in r.text
        data = re.search(r"window\.CW_USER = (.*?);</script>", r.text)
        assert data is not None
        me = json.loads(data.group(1))
        assert me["name"] == user and me["role"] == USERS[user]


def test_watchlists_page_shows_only_the_users_part(app: App) -> None:
    with client_for(app, "ivan") as c:
        page = c.get("/watchlists").text
        assert 'id="enrol-form"' in page and 'id="queue-panel"' not in page
        assert 'max="90"' in page  # governance.watchlist_max_days
    with client_for(app, "sue") as c:
        page = c.get("/watchlists").text
        assert 'id="enrol-form"' not in page and 'id="queue-panel"' in page


def test_map_pages_carry_the_configured_tiles(app: App) -> None:
    with client_for(app, "olga") as c:
        page = c.get("/map").text
    assert 'data-tile-url="https://tiles.example.org/{z}/{x}/{y}.png"' in page
    assert "vendor/leaflet/leaflet.js" in page and "js/map.js" in page


def test_user_json_cannot_end_the_inline_script() -> None:
    user = CurrentUser(Actor("x</script><script>alert(1)//", Role.OPERATOR, None), "session")
    out = _user_json(user)
    assert "<" not in out
    assert json.loads(out)["name"] == "x</script><script>alert(1)//"
    assert _user_json(None) == "null"


def test_transparency_page_is_public_and_drawn(anon: TestClient) -> None:
    r = anon.get("/transparency")
    assert r.status_code == 200
    assert "uses face recognition" in r.text
    assert "North gate" in r.text and "Plaza (no position)" in r.text
    assert 'id="pub-map"' in r.text  # gate has a position
    cams = re.search(r"const cams = (.*?);\n", r.text)
    assert cams is not None
    assert {c["name"]: c["lat"] for c in json.loads(cams.group(1))} == {"gate": 52.52, "plaza": None}
    assert "Operator log in" in r.text


def test_transparency_page_of_an_empty_month(anon: TestClient) -> None:
    r = anon.get("/transparency", params={"period": "2001-01"})
    assert r.status_code == 200  # zero counts everywhere: no division by zero in the charts
    assert "2001-01" in r.text


def test_transparency_rejects_a_bad_period(anon: TestClient) -> None:
    r = anon.get("/transparency", params={"period": "2001-13"})
    assert r.status_code == 422


def test_static_files_are_served_and_contained(anon: TestClient) -> None:
    css = anon.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert anon.get("/static/js/console.js").status_code == 200
    assert anon.get("/static/../routes.py").status_code == 404
    assert anon.get("/static/%2e%2e/routes.py").status_code == 404


def test_every_template_script_and_style_exists() -> None:
    """Each ``static('...')`` a template asks for is shipped (the vendor folder is built by ``make web``)."""
    web = Path(__file__).resolve().parents[3] / "src" / "citywatch" / "web"
    wanted = {
        m
        for t in (web / "templates").glob("*.html")
        for m in re.findall(r"static\('([^']+)'\)", t.read_text())
        if not m.startswith("vendor/")
    }
    assert wanted, "templates reference no assets?"
    missing = sorted(m for m in wanted if not (web / "static" / m).is_file())
    assert not missing, missing
