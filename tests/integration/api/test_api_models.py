"""Photo uploads through the API with the real detector and embedder: request a watchlist entry,
approve it, see the enrolled photo next to an alert, search by photo and get a trajectory."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from api_world import World
from PIL import Image

from citywatch.demo import astronaut
from citywatch.images import encode_jpeg
from citywatch.store import SightingIn


def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    face = astronaut()
    return {
        "photo": png(face),
        "probe": png(face[:, ::-1].copy()),
        "blank": png(np.full((200, 200, 3), 128, np.uint8)),
    }


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    return r.json()


def test_enrol_approve_alert_photo_search_and_trajectory(world: World, photos: dict[str, bytes]) -> None:
    form = {"watchlist": "wanted", "name": "Astronaut", "legal_basis": "Statute s.1", "legal_reference": "ORD-9",
            "provenance": "public-domain test image"}  # fmt: skip
    entry = ok(
        world.client.post(
            "/api/watchlists/entries", data=form, files=[("photos", ("a.png", photos["photo"], "image/png"))],
            headers=world.auth("ivan"),
        ),
        201,
    )  # fmt: skip
    assert entry["status"] == "pending" and entry["requested_by"] == "ivan" and len(entry["photo_urls"]) == 1
    shown = world.client.get(entry["photo_urls"][0], headers=world.auth("sue"))
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    ok(
        world.client.post(
            f"/api/approvals/entries/{entry['id']}", json={"approve": True}, headers=world.auth("sue")
        )
    )

    # a sighting of the same face on gate, as a camera worker would store it
    app = world.app
    img = astronaut()
    face = app.photo_face(img, "astronaut")
    assert face is not None
    vec = app.embedder.embed([face])[0]
    t = datetime.now(UTC) - timedelta(hours=1)
    run = app.store.begin_run("gate", "gate-live", t, replace_unfinished=False)
    out = app.store.add_sighting(
        SightingIn(
            run_id=run, camera="gate", track_id=3, start=t, end=t + timedelta(seconds=3), start_offset=0.0,
            end_offset=3.0, embedding=vec, model=app.embedder.model_id, quality=0.8, detections=12, score=0.9,
            threshold=app.threshold, identity_id=entry["id"], face_px=40.0, frontal=0.9,
        ),
        encode_jpeg(img[50:250, 150:330]),
    )  # fmt: skip
    alert = ok(world.client.get(f"/api/alerts/{out.alert_id}", headers=world.auth("olga")))
    assert alert["photo_url"] == f"/api/alerts/{out.alert_id}/photo.jpg"
    assert world.client.get(alert["photo_url"], headers=world.auth("olga")).status_code == 200
    assert ("watchlist.photo_view", f"identity:{entry['id']}", "testclient") in world.audit_actions("olga")

    ok(
        world.client.post(
            "/api/cases", json={"case_ref": "C-9", "title": "test"}, headers=world.auth("ivan")
        ),
        201,
    )
    fields = {"case": "C-9", "reason": "find the astronaut", "cameras": "gate,plaza",
              "since": (t - timedelta(days=1)).isoformat(), "until": datetime.now(UTC).isoformat()}  # fmt: skip
    res = ok(
        world.client.post(
            "/api/search", data=fields, files={"photo": ("probe.png", photos["probe"], "image/png")},
            headers=world.auth("ivan"),
        )
    )  # fmt: skip
    assert res["hits"] and res["hits"][0]["sighting_id"] == out.id and res["hits"][0]["above_threshold"]
    assert (
        res["hits"][0]["lat"] == 52.52
        and res["hits"][0]["thumbnail_url"] == f"/api/sightings/{out.id}/thumbnail.jpg"
    )
    assert res["trajectory"][0] | {"start": None, "end": None} == {
        "camera": "gate", "lat": 52.52, "lon": 13.40, "start": None, "end": None, "sighting_id": out.id,
        "sightings": 1, "best_score": res["hits"][0]["score"],
    }  # fmt: skip
    assert any(a == "search" and c == "testclient" for a, _, c in world.audit_actions("ivan"))

    path = ok(world.client.post("/api/trajectories", json={"case": "C-9", "reason": "path", "sighting_ids": [out.id]},
                                headers=world.auth("ivan")))  # fmt: skip
    assert [s["camera"] for s in path["stops"]] == ["gate"]


def test_bad_uploads_are_refused(world: World, photos: dict[str, bytes]) -> None:
    ok(world.client.post("/api/cases", json={"case_ref": "C-2"}, headers=world.auth("ivan")), 201)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    base = {"case": "C-2", "reason": "r", "since": since}
    r = world.client.post("/api/search", data=base, files={"photo": ("b.png", photos["blank"], "image/png")},
                          headers=world.auth("ivan"))  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_photo"
    r = world.client.post("/api/search", data=base, files={"photo": ("x.png", b"not an image", "image/png")},
                          headers=world.auth("ivan"))  # fmt: skip
    assert r.status_code == 400
    r = world.client.post("/api/search", data=base | {"case": "NO-SUCH-CASE"},
                          files={"photo": ("p.png", photos["probe"], "image/png")}, headers=world.auth("ivan"))  # fmt: skip
    assert r.status_code in (400, 404)
    ctx = world.api.state.ctx
    ctx.app.cfg = ctx.app.cfg.model_copy(
        update={"api": ctx.app.cfg.api.model_copy(update={"max_upload_mb": 0.001})}
    )
    r = world.client.post("/api/search", data=base, files={"photo": ("p.png", photos["probe"], "image/png")},
                          headers=world.auth("ivan"))  # fmt: skip
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    form = {"watchlist": "w", "name": "X", "legal_basis": "", "legal_reference": "R", "provenance": "p"}
    r = world.client.post("/api/watchlists/entries", data=form, files=[("photos", ("a.png", b"x", "image/png"))],
                          headers=world.auth("ivan"))  # fmt: skip
    assert r.status_code == 422


def test_a_rejected_request_loses_its_photos(world: World, photos: dict[str, bytes]) -> None:
    form = {"watchlist": "wanted", "name": "Astronaut", "legal_basis": "Statute s.1", "legal_reference": "ORD-9",
            "provenance": "public-domain test image", "expires_days": "10"}  # fmt: skip
    entry = ok(world.client.post("/api/watchlists/entries", data=form,
                                 files=[("photos", ("a.png", photos["photo"], "image/png"))],
                                 headers=world.auth("ivan")), 201)  # fmt: skip
    assert entry["expires_at"] is not None and len(entry["photo_urls"]) == 1
    r = world.client.post(
        f"/api/approvals/entries/{entry['id']}", json={"approve": False}, headers=world.auth("sue")
    )
    assert r.status_code == 400  # a rejection needs a note
    done = ok(world.client.post(f"/api/approvals/entries/{entry['id']}", json={"approve": False, "note": "no basis"},
                                headers=world.auth("sue")))  # fmt: skip
    assert done["status"] == "rejected" and done["photo_urls"] == []
    assert world.client.get(entry["photo_urls"][0], headers=world.auth("sue")).status_code == 404
