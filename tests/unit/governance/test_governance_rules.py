"""Accountability rules on a real store, no models: users, approvals, authorisations, verification."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from citywatch.config import GovernanceConfig
from citywatch.errors import NotFoundError, PolicyError
from citywatch.governance import authorisations as auth
from citywatch.governance.access import add_user, require
from citywatch.governance.verification import alerts_for, verify
from citywatch.governance.watchlist import decide, effective_status, expiry_for
from citywatch.store import PhotoIn, SightingIn, Store
from citywatch.store.governance import get_entry, list_alert_states

MODEL = "test_model"
DIM = 8
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOV = GovernanceConfig()


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    s = Store.open(db_url, tmp_path / "home")
    add_user(s, None, "root", "admin")
    for name, role in (
        ("ivy", "investigator"),
        ("sam", "supervisor"),
        ("sue", "supervisor"),
        ("vic", "verifier"),
        ("val", "verifier"),
        ("ola", "operator"),
        ("gate-only", "verifier"),
    ):
        add_user(s, "root", name, role, ["gate"] if name == "gate-only" else None)
    yield s
    s.close()


def entry(
    store: Store, rng: np.random.Generator, *, by: str = "ivy", days: int = 30, now: datetime = T0
) -> int:
    store.ensure_watchlist("wl", by)
    return store.add_identity(
        "wl", "Target", "Statute s.1", by,
        [PhotoIn("ab" * 32, "p.jpg", "court file 7", unit(rng), MODEL)],
        legal_reference="ORD-1", expires_at=expiry_for(GOV, days, now), requested_by=by, status="pending",
    )  # fmt: skip


def sighting(store: Store, rng: np.random.Generator, run: int, ident: int | None, auth_id: int | None) -> int:
    out = store.add_sighting(
        SightingIn(
            run_id=run, camera="gate", track_id=1, start=T0, end=T0 + timedelta(seconds=2),
            start_offset=0.0, end_offset=2.0, embedding=unit(rng), model=MODEL, quality=0.5,
            detections=5, score=0.9, threshold=0.6, identity_id=ident, authorisation_id=auth_id,
        ),
        b"jpeg",
    )  # fmt: skip
    return out.id


def request_auth(store: Store, ident: int, **kw: object) -> auth.AuthorisationRecord:
    args: dict[str, object] = {
        "case_ref": "C-1", "authority": "District court", "reference": "AZ 1/26", "purpose": "listed_offence",
        "use": "post_event", "targets": [ident], "cameras": ["gate"], "window_start": T0 - timedelta(hours=1),
        "window_end": T0 + timedelta(hours=1), "now": T0,
    } | kw  # fmt: skip
    return auth.request(store, GOV, "ivy", **args)  # type: ignore[arg-type]


# --- users and roles -------------------------------------------------------------------


def test_first_user_must_be_admin_then_only_admins_create(tmp_path: Path, db_url: str) -> None:
    with Store.open(db_url, tmp_path / "h") as s:
        with pytest.raises(PolicyError, match="first user must be an admin"):
            add_user(s, None, "ivy", "investigator")
        add_user(s, None, "root", "admin")
        add_user(s, "root", "ivy", "investigator")
        with pytest.raises(PolicyError, match=r"'ivy' \(role investigator\) may not users.manage"):
            add_user(s, "ivy", "eve", "admin")
        with pytest.raises(PolicyError, match="already exists"):
            add_user(s, "root", "ivy", "operator")
        assert [e.action for e in s.list_audit()] == ["user.create", "user.create"]


def test_role_refusals_name_user_role_and_permission(store: Store) -> None:
    with pytest.raises(PolicyError, match=r"user 'ola' \(role operator\) may not search"):
        require(store, "ola", auth.Perm.SEARCH)
    with pytest.raises(PolicyError, match=r"user 'ivy' \(role investigator\) may not watchlist.approve"):
        decide(store, "ivy", 1, approve=True)
    with pytest.raises(NotFoundError, match="no active user 'nobody'"):
        require(store, "nobody", auth.Perm.SEARCH)


# --- watchlist entries -----------------------------------------------------------------


def test_requester_cannot_approve_and_another_supervisor_can(store: Store) -> None:
    rng = np.random.default_rng(0)
    add_user(store, "root", "boss", "supervisor")
    ident = entry(store, rng, by="boss")  # a supervisor's own request
    with pytest.raises(PolicyError, match="'boss' requested watchlist entry"):
        decide(store, "boss", ident, approve=True, now=T0)
    assert len(store.active_gallery(MODEL, T0)) == 0  # pending never matches
    e = decide(store, "sam", ident, approve=True, now=T0)
    assert (e.status, e.approved_by) == ("approved", "sam")
    assert len(store.active_gallery(MODEL, T0)) == 1
    with pytest.raises(PolicyError, match="is approved, not pending"):
        decide(store, "sue", ident, approve=False, note="no", now=T0)
    assert "watchlist.approve" in [a.action for a in store.list_audit()]


def test_rejected_and_expired_entries_never_match(store: Store) -> None:
    rng = np.random.default_rng(1)
    rejected = entry(store, rng)
    with pytest.raises(PolicyError, match="needs a note"):
        decide(store, "sam", rejected, approve=False, now=T0)
    decide(store, "sam", rejected, approve=False, note="weak basis", now=T0)
    short = entry(store, rng, days=1)
    decide(store, "sam", short, approve=True, now=T0)
    assert store.active_gallery(MODEL, T0).identity_ids.tolist() == [short]
    later = T0 + timedelta(days=2)
    assert len(store.active_gallery(MODEL, later)) == 0
    assert effective_status(get_entry(store, short), later) == "expired"
    late = entry(store, rng, days=1)
    with pytest.raises(PolicyError, match="expired"):
        decide(store, "sam", late, approve=True, now=later)
    assert get_entry(store, late).status == "expired"


def test_expiry_bounds() -> None:
    assert expiry_for(GOV, None, T0) == T0 + timedelta(days=30)
    with pytest.raises(PolicyError, match=r"91 day\(s\) is outside 1..90"):
        expiry_for(GOV, 91, T0)


# --- authorisations ---------------------------------------------------------------------


def test_authorisation_request_grant_and_active_rules(store: Store) -> None:
    rng = np.random.default_rng(2)
    ident = entry(store, rng)
    with pytest.raises(PolicyError, match="purpose 'fishing'"):
        request_auth(store, ident, purpose="fishing")
    with pytest.raises(PolicyError, match=r"--until .* is not after --from"):
        request_auth(store, ident, window_end=T0 - timedelta(hours=2))
    with pytest.raises(NotFoundError, match="watchlist entry 999"):
        request_auth(store, 999, targets=[999])
    a = request_auth(store, ident)
    assert a.status == "pending" and not auth.is_active(a, T0)
    with pytest.raises(PolicyError, match=r"'ivy' \(role investigator\) may not authorisation.decide"):
        auth.grant(store, "ivy", a.id, now=T0)
    g = auth.grant(store, "sam", a.id, now=T0)
    assert g.status == "granted" and auth.is_active(g, T0) and g.decided_by == "sam"
    scope = auth.alert_scope(store, live=False, camera="gate", case_ref="C-1", window=(T0, T0), now=T0)
    assert scope.identity_ids() == {ident}
    assert scope.covering(ident, T0, T0) == a.id
    assert scope.covering(ident, T0 + timedelta(hours=2), T0) is None  # outside the window
    assert auth.alert_scope(store, live=False, camera="plaza", case_ref="C-1", window=(T0, T0), now=T0).identity_ids() == set()  # fmt: skip
    assert auth.alert_scope(store, live=False, camera="gate", case_ref=None, window=(T0, T0), now=T0).identity_ids() == set()  # fmt: skip
    assert auth.alert_scope(store, live=True, camera="gate", case_ref=None, window=(T0, T0), now=T0).identity_ids() == set()  # fmt: skip


def test_requester_cannot_decide_own_authorisation(store: Store) -> None:
    from citywatch.store.governance import add_authorisation

    rng = np.random.default_rng(3)
    ident = entry(store, rng)
    # roles keep requesters and deciders apart; the name check holds even if a role changes later
    a = add_authorisation(
        store, case_ref="C-1", authority="x", reference="y", purpose="victim_search", use="live",
        targets=[ident], cameras=None, window_start=T0, window_end=T0 + timedelta(hours=1), urgent=False,
        deadline=None, requested_by="sam", created_at=T0,
    )  # fmt: skip
    with pytest.raises(PolicyError, match=r"'sam' requested authorisation .* another supervisor must"):
        auth.grant(store, "sam", a.id, now=T0)
    with pytest.raises(PolicyError, match="'sam' requested authorisation"):
        auth.refuse(store, "sam", a.id, now=T0)
    assert auth.grant(store, "sue", a.id, now=T0).status == "granted"


def _processed_under(
    store: Store, rng: np.random.Generator, auth_id: int, ident: int
) -> tuple[int, list[int]]:
    run = store.begin_run("gate", "clip.mp4", T0, case_ref="C-1", authorisation_id=auth_id)
    ids = [sighting(store, rng, run, ident, auth_id), sighting(store, rng, run, None, None)]
    store.finish_run(run, 10)
    return run, ids


def _assert_gone(store: Store, sids: list[int]) -> None:
    assert store.list_sightings() == [] and store.list_alerts() == []
    index = store.vector_index(MODEL)
    assert index is not None and len(index.ids("2026-03-01")) == 0
    assert list(store.thumbnails_dir.rglob("*.jpg")) == []
    for sid in sids:
        with pytest.raises(NotFoundError):
            store.get_sighting(sid)


def test_refused_authorisation_deletes_every_output_with_a_receipt(store: Store) -> None:
    rng = np.random.default_rng(4)
    ident = entry(store, rng)
    decide(store, "sam", ident, approve=True, now=T0)
    a = request_auth(store, ident, urgent=True)  # urgent: active (and used) before a decision
    assert a.deadline == T0 + timedelta(hours=48) and auth.is_active(a, T0)
    other = store.begin_run("plaza", "other.mp4", T0)  # not under this authorisation: kept
    kept = sighting(store, rng, other, None, None)
    run, sids = _processed_under(store, rng, a.id, ident)
    assert len(store.list_alerts()) == 1
    with pytest.raises(PolicyError, match=r"'ivy' \(role investigator\) may not authorisation.decide"):
        auth.refuse(store, "ivy", a.id, now=T0)
    rec, gone = auth.refuse(store, "sam", a.id, "not proportionate", now=T0 + timedelta(hours=1))
    assert rec.status == "refused" and gone.sightings == 2 and gone.alerts == 1 and gone.runs == (run,)
    assert [s.id for s in store.list_sightings()] == [kept]
    assert store.get_run(run).status == "failed"
    receipt = [e for e in store.list_audit() if e.action == "authorisation.outputs_deleted"]
    assert len(receipt) == 1 and receipt[0].details == {"runs": [run], "sightings": 2, "alerts": 1}
    assert receipt[0].actor == "sam" and receipt[0].case_ref == "C-1"
    store.delete_sightings([kept])
    _assert_gone(store, sids)
    assert store.verify_audit() == (True, None)


def test_urgent_authorisation_past_deadline_expires_and_deletes_outputs(store: Store) -> None:
    rng = np.random.default_rng(5)
    ident = entry(store, rng)
    decide(store, "sam", ident, approve=True, now=T0)
    a = request_auth(store, ident, urgent=True, use="live", purpose="imminent_threat")
    assert a.deadline == T0 + timedelta(hours=24)
    _, sids = _processed_under(store, rng, a.id, ident)
    assert auth.enforce_deadlines(store, "ola", now=T0 + timedelta(hours=23)) == []
    done = auth.enforce_deadlines(store, "ola", now=T0 + timedelta(hours=24))
    assert [(r.id, g.sightings, g.alerts) for r, g in done] == [(a.id, 2, 1)]
    assert auth.get_authorisation(store, a.id).status == "expired"
    _assert_gone(store, sids)
    actions = [e.action for e in store.list_audit()]
    assert actions[-2:] == ["authorisation.expire", "authorisation.outputs_deleted"]
    with pytest.raises(PolicyError, match="is expired, not pending"):
        auth.grant(store, "sam", a.id, now=T0 + timedelta(hours=25))


def test_grant_after_deadline_is_refused(store: Store) -> None:
    rng = np.random.default_rng(6)
    ident = entry(store, rng)
    a = request_auth(store, ident, urgent=True)
    with pytest.raises(PolicyError, match="passed its urgent deadline"):
        auth.grant(store, "sam", a.id, now=T0 + timedelta(hours=49))
    assert auth.get_authorisation(store, a.id).status == "expired"


def test_restrict_gallery_keeps_only_covered_entries(store: Store) -> None:
    rng = np.random.default_rng(7)
    a, b = entry(store, rng), entry(store, rng)
    for i in (a, b):
        decide(store, "sam", i, approve=True, now=T0)
    g = store.active_gallery(MODEL, T0)
    only = auth.restrict_gallery(g, {b})
    assert only.identity_ids.tolist() == [b] and only.embeddings.shape == (1, DIM)
    assert len(auth.restrict_gallery(g, set())) == 0


# --- two-person verification ----------------------------------------------------------------


def _alert(store: Store) -> int:
    rng = np.random.default_rng(8)
    ident = entry(store, rng)
    run = store.begin_run("gate", "c.mp4", T0)
    sighting(store, rng, run, ident, None)
    return store.list_alerts()[0].id


def test_one_verifier_cannot_confirm_alone_two_can(store: Store) -> None:
    aid = _alert(store)
    r = verify(store, "vic", aid, "confirm", now=T0)
    assert (r.decisions, r.status) == (1, "unconfirmed")
    with pytest.raises(PolicyError, match="'vic' has already decided on alert"):
        verify(store, "vic", aid, "confirm", now=T0)
    assert store.list_alerts()[0].status == "unconfirmed"
    # the second verifier sees a count, never the first decision
    (view,) = alerts_for(store, "val")
    assert (view.status, view.decisions, view.mine) == ("unconfirmed", 1, False)
    assert not hasattr(view, "deciders")
    r = verify(store, "val", aid, "confirm", "same face", now=T0)
    assert (r.decisions, r.status) == (2, "confirmed")
    assert store.list_alerts()[0].status == "confirmed"
    with pytest.raises(PolicyError, match="already decided"):
        verify(store, "gate-only", aid, "reject", now=T0)
    actions = [e.action for e in store.list_audit()]
    assert actions.count("alert.decision") == 2 and "alert.confirmed" in actions


def test_verification_outcomes_and_refusals(store: Store) -> None:
    aid = _alert(store)
    with pytest.raises(PolicyError, match=r"'sam' \(role supervisor\) may not alerts.verify"):
        verify(store, "sam", aid, "confirm")
    with pytest.raises(PolicyError, match="decision 'maybe'"):
        verify(store, "vic", aid, "maybe")
    verify(store, "vic", aid, "confirm")
    assert verify(store, "val", aid, "reject").status == "disputed"
    with pytest.raises(NotFoundError, match="alert 999"):
        verify(store, "vic", 999, "confirm")
    (state,) = list_alert_states(store)
    assert state.deciders == ("vic", "val")


def test_camera_limited_verifier_sees_only_their_cameras(store: Store) -> None:
    aid = _alert(store)  # camera gate
    assert [v.id for v in alerts_for(store, "gate-only")] == [aid]
    add_user(store, "root", "plaza-only", "verifier", ["plaza"])
    assert alerts_for(store, "plaza-only") == []
    with pytest.raises(NotFoundError, match=f"alert {aid} does not exist"):
        verify(store, "plaza-only", aid, "confirm")
