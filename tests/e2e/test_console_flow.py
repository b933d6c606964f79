"""The console end to end, in headless Chromium against the real server, with real footage.

The flow is one story, in order: an investigator requests a watchlist entry
(photo dropped on the page), a supervisor approves it and grants the case's
authorisation, recordings are processed by the CLI while an operator watches
the Live page (the alerts arrive without a reload), two verifiers decide
blind, the investigator searches by photo and follows the trajectory on the
map, an auditor checks the chain. Each page is saved as a screenshot.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_world import CASE, Footage, Server, recorded
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.data]

Login = Callable[[str], Page]

WAIT_MS = 30_000


def shot(page: Page, out: Path, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=full_page)


def drop_files(page: Page, selector: str, files: list[Path]) -> None:
    """Drag and drop real files onto ``selector`` (a DataTransfer built in the page, as a browser does)."""
    payload = [{"name": f.name, "b64": base64.b64encode(f.read_bytes()).decode()} for f in files]
    dt = page.evaluate_handle(
        """files => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bin = atob(f.b64);
                const buf = new Uint8Array(bin.length);
                for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
                dt.items.add(new File([buf], f.name, { type: "image/jpeg" }));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event(selector, "drop", {"dataTransfer": dt})


def loaded(page: Page, selector: str) -> None:
    """Every image under ``selector`` has really loaded (not a placeholder, not a broken image)."""
    expect(page.locator(selector).first).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
        timeout=WAIT_MS,
    )


def csrf_post(page: Page, path: str, body: dict[str, object]) -> dict[str, object]:
    """A state-changing API call from the logged-in browser context, with its CSRF header."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "cw_csrf")
    res = page.request.post(path, data=body, headers={"X-CSRF-Token": token})
    assert res.ok, f"POST {path}: {res.status} {res.text()}"
    data: dict[str, object] = res.json()
    return data


def test_login_page_and_refusals(login: Login, server: Server, browser, output_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server.url)
    page = ctx.new_page()
    page.goto("/live")
    expect(page).to_have_url(re.compile(r"/login\?next=/live$"))  # a page needs a session
    page.fill("#username", "otto")
    page.fill("#password", "not the password")
    page.click("#login-submit")
    expect(page.locator("#login-error .error-box")).to_contain_text("wrong")
    shot(page, output_dir, "01-login-error")
    api = page.request.get("/api/alerts")
    assert api.status == 401 and api.json()["error"]["code"] == "unauthenticated"
    ctx.close()

    otto = login("otto")  # an operator may not search: the page says so instead of failing later
    resp = otto.goto("/search")
    assert resp is not None and resp.status == 403
    expect(otto.locator("h1")).to_contain_text("not available to your role")
    expect(otto.locator(".nav a", has_text="Search")).to_have_count(0)


def test_console_flow(login: Login, server: Server, footage: Footage, output_dir: Path) -> None:
    # --- an investigator requests an entry: photo dropped on the page -------------------------
    ivy = login("ivy")
    ivy.goto("/watchlists")
    ivy.click("#enrol-submit")  # nothing given: the form lists what is missing, nothing is sent
    expect(ivy.locator("#enrol-errors")).to_contain_text("Add at least one photo")
    expect(ivy.locator("#enrol-errors")).to_contain_text("legal basis")
    drop_files(ivy, "#photo-zone", [footage.enrol_photo])
    loaded(ivy, "#photo-previews img")
    ivy.fill(
        "#photo-previews input", "frame 24 of face-demographics-walking-and-pause.gif (Intel, CC-BY 4.0)"
    )
    ivy.fill("#wl-name", "missing-persons")
    ivy.fill("#person", "Dana Example")
    ivy.fill("#legal-basis", "Police Act s.23(1)")
    ivy.fill("#legal-ref", "Court order 2024/117")
    ivy.click("#enrol-submit")
    row = ivy.locator("#entries-table tbody tr", has_text="Dana Example")
    expect(row).to_contain_text("pending", timeout=WAIT_MS)
    expect(row).to_contain_text("expires in")
    entry_id = int(row.get_attribute("data-entry-id") or 0)
    shot(ivy, output_dir, "02-watchlists-requested")

    # the case and its post-event authorisation, through the API (as the investigator)
    now = datetime.now(UTC)
    csrf_post(ivy, "/api/cases", {"case_ref": CASE, "title": "Missing person, last seen near the station"})
    csrf_post(
        ivy,
        "/api/authorisations",
        {
            "case": CASE,
            "authority": "District Court Example",
            "reference": "AZ 12 Gs 345/24",
            "purpose": "victim_search",
            "use": "post_event",
            "targets": [entry_id],
            "cameras": ["station", "plaza"],
            "window_start": (now - timedelta(hours=2)).isoformat(),
            "window_end": (now + timedelta(hours=1)).isoformat(),
        },
    )

    # --- a supervisor approves the entry and grants the authorisation --------------------------
    sam = login("sam")
    sam.goto("/watchlists")
    card = sam.locator(f".entry-card[data-entry-id='{entry_id}']")
    loaded(sam, f".entry-card[data-entry-id='{entry_id}'] img")
    shot(sam, output_dir, "03-approval-queue")
    card.get_by_role("button", name="Approve").click()
    expect(sam.locator("#entries-table tbody tr", has_text="Dana Example")).to_contain_text("approved")
    expect(card).to_have_count(0)
    sam.locator("#auth-queue tr", has_text=CASE).get_by_role("button", name="Grant").click()
    expect(sam.locator("#auth-queue tr", has_text=CASE)).to_have_count(0)
    shot(sam, output_dir, "04-watchlists-approved")

    # --- recordings are processed while the operator watches Live ------------------------------
    otto = login("otto")
    expect(otto).to_have_url(re.compile(r"/live$"))
    expect(otto.locator("#stream-state")).to_contain_text("live", timeout=WAIT_MS)
    loaded(otto, ".tile[data-camera='lobby'] .frame img")  # the live camera's latest frame
    lobby = otto.locator(".tile[data-camera='lobby']")
    expect(lobby.locator(".chip")).to_contain_text("running")
    expect(lobby.locator(".stat .v").nth(0)).to_have_text(re.compile(r"^\d+\.\d$"), timeout=WAIT_MS)  # fps
    expect(lobby.locator(".stat .v").nth(1)).to_have_text(re.compile(r"^\d+$"))  # frames dropped
    otto.evaluate("window.__sameDocument = true")
    server.cli("process", str(footage.station_clip), "--camera", "station", "--case", CASE,
               "--recorded-at", recorded(40))  # fmt: skip
    expect(otto.locator(".alert-card")).to_have_count(1, timeout=WAIT_MS)
    server.cli("process", str(footage.plaza_clip), "--camera", "plaza", "--case", CASE,
               "--recorded-at", recorded(25))  # fmt: skip
    expect(otto.locator(".alert-card")).to_have_count(2, timeout=WAIT_MS)
    assert otto.evaluate("window.__sameDocument") is True  # arrived over SSE, no reload
    expect(otto.locator(".alert-card").first).to_contain_text("Dana Example")
    loaded(otto, ".alert-card img")
    shot(otto, output_dir, "05-live")
    alert_ids = [
        int(x) for x in otto.locator(".alert-card").evaluate_all("cs => cs.map(c => c.dataset.alertId)")
    ]

    # --- two verifiers decide blind --------------------------------------------------------------
    vera = login("vera")
    vera.goto(f"/alerts/{alert_ids[-1]}")
    expect(vera.locator("#lead-banner")).to_contain_text("A lead, not an identification")
    loaded(vera, "#fig-captured img")
    loaded(vera, "#fig-enrolled img")
    expect(vera.locator("#gauge")).to_contain_text("threshold")
    expect(vera.locator("#facts")).to_contain_text("Capture quality")
    expect(vera.locator("#verify-body")).to_contain_text("0 of 2")
    shot(vera, output_dir, "06-alert-detail")
    vera.fill("#verify-note", "same face shape, hair and eyebrows")
    vera.click("#btn-confirm")
    expect(vera.locator("#verify-body")).to_contain_text("Your decision is recorded")
    expect(vera.locator("#btn-confirm")).to_have_count(0)

    vera.goto("/alerts/999")
    expect(vera.locator("#alert-root .error-box")).to_contain_text("does not exist")

    vic = login("vic")
    vic.goto(f"/alerts/{alert_ids[-1]}")
    expect(vic.locator("#verify-body")).to_contain_text("1 of 2")
    body = vic.locator("#verify-body").inner_text()
    assert "vera" not in body and "confirmed" not in body.lower()  # blind: not whose, not what
    shot(vic, output_dir, "07-alert-second-verifier")
    vic.click("#btn-confirm")
    expect(vic.locator("#verify-body")).to_contain_text("confirmed")

    # --- the investigator searches by photo and follows the trajectory ---------------------------
    ivy.goto("/search")
    expect(ivy.locator("#cameras input")).to_have_count(3)
    ivy.click("#search-submit")  # nothing filled in: the form says what is missing
    expect(ivy.locator("#search-errors")).to_contain_text("Choose a probe photo")
    ivy.set_input_files("#probe", str(footage.no_face_photo))
    ivy.fill("#case", CASE)
    ivy.fill("#reason", "witness saw her near the station on the evening she went missing")
    ivy.click("#search-submit")  # a photo without a face: the server's refusal is shown as it is
    expect(ivy.locator("#search-errors .error-box")).to_contain_text("no face", timeout=WAIT_MS)
    ivy.set_input_files("#probe", str(footage.probe_photo))
    loaded(ivy, "#probe-preview img")
    ivy.click("#search-submit")
    expect(ivy.locator("#hits .thumb.above")).to_have_count(2, timeout=WAIT_MS)
    loaded(ivy, "#hits img")
    expect(ivy.locator("#result-title")).to_contain_text("2 stop(s)")
    expect(ivy.locator("#traj-map .stop-icon")).to_have_count(2)
    expect(ivy.locator("#timeline circle").first).to_be_visible()
    stops = ivy.locator("#traj-map .stop-icon").evaluate_all("ns => ns.map(n => n.textContent)")
    assert stops == ["1", "2"]
    ivy.wait_for_timeout(400)  # let the map finish its fit animation before the picture
    shot(ivy, output_dir, "08-search-trajectory")

    # --- the map: cameras as markers, a camera's recent sightings -------------------------------
    ivy.goto("/map")
    expect(ivy.locator("path.cam-marker")).to_have_count(3)
    expect(ivy.locator("#cam-list li")).to_have_count(3)
    ivy.wait_for_timeout(300)
    shot(ivy, output_dir, "09-map")
    ivy.locator("path.cam-plaza").click()
    expect(ivy.locator("#side-camera h2")).to_have_text("plaza")
    expect(ivy.locator("#sightings .thumb")).to_have_count(3, timeout=WAIT_MS)
    loaded(ivy, "#sightings img")
    ivy.wait_for_timeout(300)
    shot(ivy, output_dir, "10-map-camera")

    # --- the auditor: chain status and the log --------------------------------------------------
    aud = login("aud")
    expect(aud).to_have_url(re.compile(r"/audit$"))
    expect(aud.locator("#chain-status")).to_have_attribute("data-ok", "1", timeout=WAIT_MS)
    expect(aud.locator("#audit-table tbody tr").first).to_be_visible()
    aud.fill("#f-action", "search")
    aud.click("#audit-filters button[type=submit]")
    actions = aud.locator("#audit-table td.action")
    expect(actions.first).to_have_text("search")
    assert all(a.startswith("search") for a in actions.all_inner_texts())
    aud.fill("#f-action", "")
    aud.click("#audit-filters button[type=submit]")
    expect(aud.locator("#audit-table td.action", has_text="alert.confirmed")).to_have_count(1)
    shot(aud, output_dir, "11-audit", full_page=False)  # the log is long: its first screen


def test_transparency_is_public(browser, server: Server, output_dir: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 960}, base_url=server.url)
    page = ctx.new_page()
    resp = page.goto("/transparency")
    assert resp is not None and resp.status == 200
    expect(page.locator("h1")).to_contain_text("uses face recognition")
    expect(page.locator("table.grid tbody tr")).to_have_count(3)
    if page.locator("#pub-map").count():
        expect(page.locator("#pub-map path.cam-marker")).to_have_count(3)
    shot(page, output_dir, "12-transparency")
    ctx.close()
