"""Resources through the API: alerts and their decisions, sightings, cameras (with a fleet), sites,
approvals, authorisations, cases, audit log, reports, retention. Reads are audited with the client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_world import World

from citywatch.config import CameraConfig


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json()


def test_alert_list_detail_thumbnail_and_audit(world: World) -> None:
    ident = world.identity("Wanted Person")
    _, alert_id = world.sighting("gate", ident)
    rows = ok(world.client.get("/api/alerts", headers=world.auth("olga")))
    assert [a["id"] for a in rows] == [alert_id]
    a = rows[0]
    assert a["camera"] == "gate" and a["identity"] == "Wanted Person" and a["watchlist"] == "wanted"
    assert a["lat"] == 52.52 and a["status"] == "unconfirmed" and a["photo_url"] is None
    assert ok(world.client.get(f"/api/alerts/{alert_id}", headers=world.auth("olga")))["id"] == alert_id
    thumb = world.client.get(a["thumbnail_url"], headers=world.auth("olga"))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert (
        world.client.get(f"/api/alerts/{alert_id}/photo.jpg", headers=world.auth("olga")).status_code == 404
    )
    assert world.client.get("/api/alerts/999", headers=world.auth("olga")).status_code == 404
    actions = world.audit_actions("olga")
    for expected in (("alert.list", "alerts"), ("alert.view", f"alert:{alert_id}"), ("thumbnail.view", f"sighting:{a['sighting_id']}")):  # fmt: skip
        assert (*expected, "testclient") in actions, expected


def test_two_verifiers_decide_blind(world: World) -> None:
    _, alert_id = world.sighting("gate", world.identity())
    r = ok(
        world.client.post(
            f"/api/alerts/{alert_id}/decision", json={"decision": "confirm"}, headers=world.auth("vera")
        )
    )
    assert r == {"alert_id": alert_id, "decisions": 1, "needed": 2, "status": "unconfirmed"}
    seen = ok(world.client.get(f"/api/alerts/{alert_id}", headers=world.auth("val")))
    assert seen["decisions"] == 1 and seen["decided_by_me"] is False and seen["status"] == "unconfirmed"
    again = world.client.post(
        f"/api/alerts/{alert_id}/decision", json={"decision": "reject"}, headers=world.auth("vera")
    )
    assert again.status_code == 409
    r = ok(
        world.client.post(
            f"/api/alerts/{alert_id}/decision", json={"decision": "confirm"}, headers=world.auth("val")
        )
    )
    assert r["status"] == "confirmed"
    bad = world.client.post(
        f"/api/alerts/{alert_id}/decision", json={"decision": "maybe"}, headers=world.auth("val")
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    assert bad.json()["error"]["detail"][0]["loc"] == ["body", "decision"]


def test_operators_acknowledge(world: World) -> None:
    _, alert_id = world.sighting("plaza", world.identity())
    r = ok(world.client.post(f"/api/alerts/{alert_id}/ack", json={"note": "seen"}, headers=world.auth("gus")))
    assert r["acknowledged_by"] == "gus"
    assert ("alert.ack", f"alert:{alert_id}", "testclient") in world.audit_actions("gus")


def test_sightings_within_retention_only(world: World) -> None:
    later = datetime.now(UTC) + timedelta(days=4)  # past the 72 h of unmatched sightings stored now
    world.api.state.ctx.now = lambda: later
    old, _ = world.sighting("gate", start=datetime.now(UTC) - timedelta(minutes=10))
    fresh, _ = world.sighting("gate", start=later - timedelta(minutes=5))
    rows = ok(world.client.get("/api/sightings", headers=world.auth("olga")))
    ids = [r["id"] for r in rows]
    assert fresh in ids and old not in ids
    assert world.client.get(f"/api/sightings/{old}", headers=world.auth("olga")).status_code == 404
    one = ok(world.client.get(f"/api/sightings/{fresh}", headers=world.auth("olga")))
    assert one["camera"] == "gate" and one["thumbnail_url"] == f"/api/sightings/{fresh}/thumbnail.jpg"
    per_cam = ok(world.client.get("/api/cameras/gate/sightings", headers=world.auth("olga")))
    assert [r["id"] for r in per_cam] == [fresh]
    assert ("sighting.view", f"sighting:{fresh}", "testclient") in world.audit_actions("olga")


class RecordingFleet:
    """Stands in for ``engine.fleet.Fleet`` to see what the API tells it (no camera processes here)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def start(self) -> None: ...
    def stop(self) -> None: ...

    def health(self) -> list[dict[str, object]]:
        return [{"camera": "gate", "status": "running", "fps_out": 4.8, "frames_dropped": 2, "frames": 100}]

    def add_camera(self, cam: CameraConfig) -> None:
        self.calls.append(("add", cam.name))

    def update_camera(self, cam: CameraConfig) -> None:
        self.calls.append(("update", cam.name))

    def remove_camera(self, name: str) -> None:
        self.calls.append(("remove", name))


def test_admins_add_change_and_remove_cameras(world: World) -> None:
    fleet = RecordingFleet()
    world.api.state.ctx.fleet = fleet
    cams = ok(world.client.get("/api/cameras", headers=world.auth("olga")))
    gate = next(c for c in cams if c["name"] == "gate")
    assert (
        gate["health"]["state"] == "running"
        and gate["health"]["fps"] == 4.8
        and gate["health"]["dropped"] == 2
    )
    assert gate["source"] is None  # not an admin
    body = {
        "name": "dock",
        "source": "rtsp://user:secret@10.0.0.9/s1",
        "lat": 52.5,
        "lon": 13.3,
        "detect_fps": 4,
    }
    made = ok(world.client.post("/api/cameras", json=body, headers=world.auth("ada")), 201)
    assert made["source"] == "rtsp://***@10.0.0.9/s1" and made["source_kind"] == "rtsp"
    assert world.client.post("/api/cameras", json=body, headers=world.auth("ada")).status_code == 409
    bad = world.client.post("/api/cameras", json={"name": "bad name!"}, headers=world.auth("ada"))
    assert bad.status_code == 422
    changed = ok(world.client.put("/api/cameras/dock", json={"detect_fps": 2.5}, headers=world.auth("ada")))
    assert changed["detect_fps"] == 2.5 and changed["lat"] == 52.5
    assert world.app.camera("dock").detect_fps == 2.5  # searches and runs see it at once
    ok(world.client.delete("/api/cameras/dock", headers=world.auth("ada")))
    assert world.client.get("/api/cameras/dock", headers=world.auth("ada")).status_code == 404
    assert fleet.calls == [("add", "dock"), ("update", "dock"), ("remove", "dock")]
    details = [e.details for e in world.app.store.list_audit() if e.action == "camera.create"]
    assert details and "secret" not in str(details)


def test_camera_changes_survive_a_restart(world: World, tmp_path: Any) -> None:
    from citywatch.api import create_app

    ok(
        world.client.post(
            "/api/cameras", json={"name": "dock", "lat": 1.0, "lon": 2.0}, headers=world.auth("ada")
        ),
        201,
    )
    ok(world.client.delete("/api/cameras/plaza", headers=world.auth("ada")))
    world.app.cfg = world.app.cfg.model_copy(
        update={"cameras": [CameraConfig(name="gate"), CameraConfig(name="plaza")]}
    )
    create_app(world.app)  # a restart re-reads the config file's cameras, then applies the API's changes
    assert sorted(c.name for c in world.app.cfg.cameras) == ["dock", "gate"]
    assert "plaza" not in [c.name for c in world.app.store.list_cameras()]


def test_sites_group_cameras(world: World) -> None:
    ok(world.client.post("/api/sites", json={"name": "Central", "cameras": ["gate", "plaza"], "lat": 52.5}, headers=world.auth("ada")), 201)  # fmt: skip
    assert ok(world.client.get("/api/sites", headers=world.auth("gus")))[0]["cameras"] == ["plaza"]
    cams = {c["name"]: c["site"] for c in ok(world.client.get("/api/cameras", headers=world.auth("olga")))}
    assert cams == {"gate": "Central", "plaza": "Central"}
    ok(world.client.put("/api/sites/Central", json={"cameras": ["gate"]}, headers=world.auth("ada")))
    assert ok(world.client.get("/api/sites/Central", headers=world.auth("ada")))["cameras"] == ["gate"]
    bad = world.client.post(
        "/api/sites", json={"name": "X", "cameras": ["nowhere"]}, headers=world.auth("ada")
    )
    assert bad.status_code == 400
    ok(world.client.delete("/api/sites/Central", headers=world.auth("ada")))
    assert world.client.get("/api/sites/Central", headers=world.auth("ada")).status_code == 404


def test_cases_authorisations_and_the_approvals_queue(world: World) -> None:
    ident = world.identity()
    ok(
        world.client.post(
            "/api/cases", json={"case_ref": "C-1", "title": "burglary"}, headers=world.auth("ivan")
        ),
        201,
    )
    now = datetime.now(UTC)
    body = {"case": "C-1", "authority": "Court", "reference": "AZ 1", "purpose": "listed_offence", "use": "live",
            "targets": [ident], "cameras": ["gate"], "window_start": now.isoformat(),
            "window_end": (now + timedelta(days=1)).isoformat()}  # fmt: skip
    auth = ok(world.client.post("/api/authorisations", json=body, headers=world.auth("ivan")), 201)
    assert auth["status"] == "pending" and auth["mine"] is True
    queue = ok(world.client.get("/api/approvals", headers=world.auth("sue")))
    assert [a["id"] for a in queue["authorisations"]] == [auth["id"]]
    granted = ok(world.client.post(f"/api/authorisations/{auth['id']}/grant", headers=world.auth("sue")))
    assert granted["status"] == "granted" and granted["decided_by"] == "sue"
    again = world.client.post(f"/api/authorisations/{auth['id']}/grant", headers=world.auth("sam"))
    assert again.status_code == 400
    ok(world.client.post("/api/cases/C-1/hold", json={"reason": "trial"}, headers=world.auth("sue")))
    assert ok(world.client.get("/api/cases/C-1", headers=world.auth("ivan")))["legal_hold"] is True
    assert world.client.get("/api/cases/NOPE", headers=world.auth("ivan")).status_code == 404
    bad = dict(body, purpose="curiosity")
    assert world.client.post("/api/authorisations", json=bad, headers=world.auth("ivan")).status_code == 422


def test_pending_entries_are_decided_by_another_supervisor(world: World) -> None:
    store = world.app.store
    store.ensure_watchlist("wanted", "ivan")
    from api_world import MODEL, unit

    from citywatch.store import PhotoIn

    photo = PhotoIn(
        sha256="ab" * 32, filename="p.jpg", provenance="test", embedding=unit(world.rng), model=MODEL
    )
    ident = store.add_identity(
        "wanted", "Pending Person", "statute", "sue", [photo], requested_by="sue", status="pending"
    )
    queue = ok(world.client.get("/api/approvals", headers=world.auth("sue")))
    assert [(e["id"], e["mine"]) for e in queue["entries"]] == [(ident, True)]
    own = world.client.post(
        f"/api/approvals/entries/{ident}", json={"approve": True}, headers=world.auth("sue")
    )
    assert own.status_code == 403 and "may not decide" in own.json()["error"]["message"]
    done = ok(
        world.client.post(
            f"/api/approvals/entries/{ident}", json={"approve": True}, headers=world.auth("sam")
        )
    )
    assert done["status"] == "approved" and done["approved_by"] == "sam"
    listed = ok(world.client.get("/api/watchlists/entries?status=approved", headers=world.auth("ivan")))
    assert [e["id"] for e in listed] == [ident]
    assert ok(world.client.get("/api/watchlists", headers=world.auth("sue")))[0]["entries"] == 1


def test_audit_log_and_chain_status(world: World) -> None:
    world.client.get("/api/alerts", headers=world.auth("olga"))
    page = ok(world.client.get("/api/audit?action=alert.list", headers=world.auth("aud")))
    assert page["entries"] and all(e["action"] == "alert.list" for e in page["entries"])
    assert page["entries"][-1]["client"] == "testclient"
    chain = ok(world.client.get("/api/audit/verify", headers=world.auth("aud")))
    assert chain["ok"] is True and chain["head"]["seq"] >= page["next_seq"]
    newest = ok(
        world.client.get(f"/api/audit?before_seq={chain['head']['seq']}&limit=2", headers=world.auth("aud"))
    )
    assert [e["seq"] for e in newest["entries"]] == [chain["head"]["seq"] - 2, chain["head"]["seq"] - 1]


def test_reports_retention_and_public_pages(world: World) -> None:
    rep = ok(world.client.get("/api/reports/transparency", headers=world.auth("aud")))
    assert {c["name"] for c in rep["cameras"]} == {"gate", "plaza"}
    assert ok(world.client.get("/transparency.json"))["period"] == rep["period"]
    page = world.client.get("/transparency")
    assert page.status_code == 200 and "North gate" in page.text
    csv = world.client.get("/transparency.csv")
    assert csv.text.startswith("section,item,field,value") and csv.headers["content-type"].startswith(
        "text/csv"
    )
    assert world.client.get("/transparency.json?period=2026-13").status_code == 422
    quality = ok(world.client.get("/api/reports/quality", headers=world.auth("ada")))
    assert [q["camera"] for q in quality] == ["gate", "plaza"]
    world.sighting("gate", start=datetime.now(UTC) - timedelta(days=10))
    world.api.state.ctx.now = lambda: datetime.now(UTC) + timedelta(days=4)
    run = ok(world.client.post("/api/retention/run", headers=world.auth("ada")))
    assert run["unmatched_sightings"] == 1
    assert ok(world.client.get("/healthz")) == {
        "status": "ok",
        "database": True,
        "cameras": 2,
        "fleet": "absent",
    }
    assert world.client.get("/metrics", headers=world.auth("ada")).status_code == 404  # no fleet here


def test_errors_have_one_shape(world: World) -> None:
    for r in (
        world.client.get("/api/nope"),
        world.client.get("/api/alerts/x", headers=world.auth("olga")),
        world.client.post("/api/cases", json={"case_ref": ""}, headers=world.auth("ivan")),
        world.client.post(
            "/api/cases",
            content=b"{not json",
            headers=world.auth("ivan") | {"content-type": "application/json"},
        ),
        world.client.get("/api/users", headers=world.auth("olga")),
    ):
        body = r.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}, body
        assert r.status_code in (403, 404, 422)


def test_a_camera_change_that_breaks_a_rule_is_422(world: World) -> None:
    r = world.client.put("/api/cameras/gate", json={"detect_fps": None}, headers=world.auth("ada"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    assert world.app.camera("gate").detect_fps == 5.0
