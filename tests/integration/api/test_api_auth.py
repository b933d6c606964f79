"""Console logins (session + CSRF cookies), the login rate limit, bearer tokens, passwords."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_world import PASSWORD, World

from citywatch.api.security import digest, new_token
from citywatch.store.auth import add_token


def login(world: World, user: str, password: str = PASSWORD) -> dict[str, object]:
    r = world.client.post("/api/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def test_login_sets_httponly_session_and_readable_csrf_cookie(world: World) -> None:
    world.set_password("olga")
    r = world.client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == "olga" and body["role"] == "operator" and "alerts.view" in body["permissions"]
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    assert "HttpOnly" in cookies["cw_session"] and "SameSite=strict" in cookies["cw_session"]
    assert "HttpOnly" not in cookies["cw_csrf"]
    assert body["csrf_token"] == world.client.cookies["cw_csrf"]
    me = world.client.get("/api/auth/me").json()
    assert me["user"] == "olga" and me["csrf_token"] == body["csrf_token"]
    assert ("auth.login", "user:olga", "testclient") in world.audit_actions("olga")


def test_wrong_password_unknown_user_and_no_password_are_one_answer(world: World) -> None:
    world.set_password("olga")
    for user, pw in (("olga", "not the password"), ("nobody", PASSWORD), ("ivan", PASSWORD)):
        r = world.client.post("/api/auth/login", json={"username": user, "password": pw})
        assert r.status_code == 401
        assert r.json() == {"error": {"code": "unauthenticated", "message": "wrong user name or password",
                                      "detail": None}}  # fmt: skip
    assert ("auth.login_failed", "user:nobody", "testclient") in world.audit_actions()


def test_state_changes_with_a_session_need_the_csrf_header(world: World) -> None:
    world.set_password("ada")
    csrf = login(world, "ada")["csrf_token"]
    body = {"name": "newbie", "role": "operator"}
    r = world.client.post("/api/users", json=body)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = world.client.post("/api/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert world.client.get("/api/users").status_code == 200  # reads need no token
    r = world.client.post("/api/users", json=body, headers={"X-CSRF-Token": str(csrf)})
    assert r.status_code == 201


def test_a_csrf_cookie_planted_without_the_session_does_not_pass(world: World) -> None:
    world.set_password("ada")
    login(world, "ada")
    world.client.cookies.set("cw_csrf", "attacker-chosen")
    r = world.client.post(
        "/api/users", json={"name": "x1", "role": "operator"}, headers={"X-CSRF-Token": "attacker-chosen"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"


def test_logout_ends_the_session(world: World) -> None:
    world.set_password("olga")
    csrf = str(login(world, "olga")["csrf_token"])
    assert world.client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert world.client.get("/api/auth/me").status_code == 401


def test_five_failures_a_minute_then_429_with_retry_after(world: World) -> None:
    world.set_password("olga")
    for _ in range(5):
        r = world.client.post("/api/auth/login", json={"username": "olga", "password": "wrong password"})
        assert r.status_code == 401
    r = world.client.post("/api/auth/login", json={"username": "olga", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # another user from the same address is not locked out
    world.set_password("ivan")
    assert (
        world.client.post("/api/auth/login", json={"username": "ivan", "password": PASSWORD}).status_code
        == 200
    )


def test_bearer_tokens(world: World) -> None:
    r = world.client.get("/api/auth/me", headers=world.auth("ivan"))
    assert r.status_code == 200 and r.json()["user"] == "ivan" and r.json()["csrf_token"] is None
    # a bearer token needs no CSRF header on state changes
    r = world.client.post("/api/cases", json={"case_ref": "C-7", "title": "t"}, headers=world.auth("ivan"))
    assert r.status_code == 201
    made = world.client.post("/api/auth/tokens", json={"label": "script"}, headers=world.auth("ivan"))
    assert made.status_code == 201
    token = made.json()["token"]
    assert token.startswith("cw_")
    listed = world.client.get("/api/auth/tokens", headers=world.auth("ivan")).json()
    assert all("token" not in t for t in listed)
    hdr = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/auth/me", headers=hdr).json()["user"] == "ivan"
    assert world.client.delete(f"/api/auth/tokens/{made.json()['id']}", headers=hdr).status_code == 200
    r = world.client.get("/api/auth/me", headers=hdr)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    for bad in ("Bearer cw_nonsense", "Basic abc", "Bearer"):
        assert world.client.get("/api/auth/me", headers={"Authorization": bad}).status_code == 401


def test_expired_tokens_and_deactivated_users_are_refused(world: World) -> None:
    old = new_token()
    add_token(world.app.store, "ivan", digest(old), old[:10], "old", datetime.now(UTC) - timedelta(seconds=1))
    assert world.client.get("/api/auth/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    r = world.client.patch("/api/users/ivan", json={"active": False}, headers=world.auth("ada"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert world.client.get("/api/auth/me", headers=world.auth("ivan")).status_code == 401


def test_password_rules_and_change(world: World) -> None:
    r = world.client.post("/api/users", json={"name": "shorty", "role": "operator", "password": "short"},
                          headers=world.auth("ada"))  # fmt: skip
    assert r.status_code == 400 and "too short" in r.json()["error"]["message"]
    world.set_password("olga")
    csrf = str(login(world, "olga")["csrf_token"])
    h = {"X-CSRF-Token": csrf}
    r = world.client.post(
        "/api/auth/password", json={"current": "wrong", "new": "another long password"}, headers=h
    )
    assert r.status_code == 403
    r = world.client.post(
        "/api/auth/password", json={"current": PASSWORD, "new": "another long password"}, headers=h
    )
    assert r.status_code == 204
    assert world.client.get("/api/auth/me").status_code == 401  # sessions end with a password change
    login(world, "olga", "another long password")


def test_admins_cannot_lock_themselves_out(world: World) -> None:
    r = world.client.patch("/api/users/ada", json={"active": False}, headers=world.auth("ada"))
    assert r.status_code == 403
    r = world.client.patch("/api/users/ada", json={"role": "operator"}, headers=world.auth("ada"))
    assert r.status_code == 403


def test_user_changes_are_audited(world: World) -> None:
    r = world.client.patch("/api/users/olga", json={"cameras": ["gate"]}, headers=world.auth("ada"))
    assert r.status_code == 200 and r.json()["cameras"] == ["gate"]
    r = world.client.patch("/api/users/olga", json={"cameras": ["nowhere"]}, headers=world.auth("ada"))
    assert r.status_code == 400
    assert ("user.update", "user:olga", "testclient") in world.audit_actions("ada")
    r = world.client.post("/api/users", json={"name": "olga", "role": "operator"}, headers=world.auth("ada"))
    assert r.status_code == 409
