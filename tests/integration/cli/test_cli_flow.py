"""The CLI end to end, in subprocesses, on real models and a real decoder."""

from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from cli_world import World, json_lines
from PIL import Image

from citywatch.app import open_app
from citywatch.demo import astronaut
from citywatch.store.repo import Store

pytestmark = pytest.mark.slow
LABELS = ("--legal-reference", "ORD-1", "--provenance", "test photo")


def _png_header_bomb(path: Path, w: int = 20_000, h: int = 20_000) -> None:
    """A tiny file that claims 20,000 x 20,000 pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_enroll_process_alert_and_search(enrolled: World) -> None:
    res = enrolled.run(
        "process", str(enrolled.clip), "--camera", "gate", "--case", "C-1", "--json", check=True
    )
    lines = json_lines(res.stdout)
    sightings = [x for x in lines if x["type"] == "sighting"]
    alerts = [x for x in lines if x["type"] == "alert"]
    assert len(sightings) == 1, res.stdout
    assert len(alerts) == 1
    a = alerts[0]
    for key in ("camera", "track_id", "start", "end", "identity", "score", "thumbnail"):
        assert key in a
    assert a["identity"] == "Astronaut" and a["camera"] == "gate"
    assert float(a["score"]) >= float(a["threshold"])  # type: ignore[arg-type]
    assert Path(str(a["thumbnail"])).is_file()

    day = ("--since", (datetime.now(UTC) - timedelta(days=1)).isoformat())
    res = enrolled.run(
        "search", "--photo", str(enrolled.probe), "--case", "C-1", "--reason", "test", *day, "--json", check=True
    )  # fmt: skip
    hits = json_lines(res.stdout)
    assert [h["camera"] for h in hits] == ["gate"]
    assert hits[0]["above_threshold"] is True
    # camera and time filters
    res = enrolled.run(
        "search",
        "--photo",
        str(enrolled.probe),
        "--case",
        "C-1",
        "--reason",
        "t",
        "--camera",
        "plaza",
        *day,
        "--json",
        check=True,
    )
    assert json_lines(res.stdout) == []
    res = enrolled.run(
        "search",
        "--photo",
        str(enrolled.probe),
        "--case",
        "C-1",
        "--reason",
        "t",
        "--since",
        "1999-12-31",
        "--until",
        "2000-01-01",
        "--json",
        check=True,
    )
    assert json_lines(res.stdout) == []

    with Store.open("", enrolled.home) as store:
        assert len(store.list_alerts()) == 1
        ok, bad = store.verify_audit()
        assert ok, bad
        actions = [e.action for e in store.list_audit()]
        assert actions.count("search") == 3 and "watchlist.request" in actions
        (run,) = store.list_runs()
        assert run.status == "done"


def test_scripted_flow_as_users(world: World) -> None:
    """Request, approve as another user, authorise, process, verify: all through the CLI."""
    w = world
    res = w.run("enroll", "--watchlist", "wl", "--name", "Astronaut", "--photo", str(w.photo),
                "--legal-basis", "Statute s.1", "--legal-reference", "ORD-9", "--provenance", "court file",
                "--json", check=True)  # fmt: skip
    assert json_lines(res.stdout)[0]["status"] == "pending"
    res = w.run("watchlist", "approve", "1", "--as", "tester")
    assert res.returncode == 1 and "'tester' (role investigator) may not watchlist.approve" in res.stderr
    w.run("watchlist", "approve", "1", "--as", "sup", check=True)
    res = w.run("watchlist", "list", "--json", check=True)
    assert json_lines(res.stdout)[0]["status"] == "approved"
    # no --case: a post-event use without a case raises no alert
    res = w.run("process", str(w.clip), "--camera", "gate", "--json", check=True)
    assert [x["type"] for x in json_lines(res.stdout)] == ["sighting"]
    assert "no --case" in res.stderr
    res = w.run("auth", "request", "--case", "C-7", "--authority", "Test court", "--reference", "AZ 7",
                "--purpose", "victim_search", "--use", "post_event", "--target", "1", "--camera", "gate",
                "--from", "2000-01-01", "--until", "2100-01-01", "--json", check=True)  # fmt: skip
    auth_id = str(json_lines(res.stdout)[0]["id"])
    res = w.run("auth", "grant", auth_id, "--as", "tester")
    assert res.returncode == 1 and "may not authorisation.decide" in res.stderr
    w.run("auth", "grant", auth_id, "--as", "sup", check=True)
    res = w.run("process", str(w.clip), "--camera", "gate", "--case", "C-7", "--json", check=True)
    alerts = [x for x in json_lines(res.stdout) if x["type"] == "alert"]
    assert len(alerts) == 1 and alerts[0]["identity"] == "Astronaut"
    aid = str(alerts[0]["alert_id"])
    res = w.run("alerts", "verify", aid, "--decision", "confirm", "--as", "vic", "--json", check=True)
    assert json_lines(res.stdout)[0]["status"] == "unconfirmed"
    res = w.run("alerts", "list", "--as", "val", "--json", check=True)
    (row,) = json_lines(res.stdout)
    assert (row["status"], row["decisions"], row["decided_by_me"]) == ("unconfirmed", 1, False)
    assert set(row) == {"id", "camera", "identity", "start", "score", "threshold", "status", "decisions",
                        "decided_by_me"}  # fmt: skip
    res = w.run("alerts", "verify", aid, "--decision", "confirm", "--as", "val", "--json", check=True)
    assert json_lines(res.stdout)[0]["status"] == "confirmed"
    # role refusals name the user, role and permission
    res = w.run("search", "--photo", str(w.probe), "--case", "C-7", "--reason", "r", "--as", "ola")
    assert res.returncode == 1 and "user 'ola' (role operator) may not search" in res.stderr
    w.run("users", "create", "eve", "--role", "operator", "--camera", "gate", "--as", "root", check=True)
    with Store.open("", w.home) as store:
        ok, _ = store.verify_audit()
        actions = [e.action for e in store.list_audit()]
    assert ok
    for action in ("watchlist.request", "watchlist.approve", "authorisation.request", "authorisation.grant",
                   "alert.decision", "alert.confirmed", "user.create", "alerts.view", "process",
                   "config.change"):  # fmt: skip
        assert action in actions


def test_refused_authorisation_deletes_outputs_via_cli(enrolled: World) -> None:
    w = enrolled
    res = w.run("auth", "request", "--case", "C-9", "--authority", "Police chief", "--reference", "U-1",
                "--purpose", "imminent_threat", "--use", "post_event", "--target", "1",
                "--from", "2000-01-01", "--until", "2100-01-01", "--urgent", "--json", check=True)  # fmt: skip
    auth_id = str(json_lines(res.stdout)[0]["id"])
    res = w.run("process", str(w.clip), "--camera", "gate", "--case", "C-9", "--json", check=True)
    assert len([x for x in json_lines(res.stdout) if x["type"] == "alert"]) == 1  # urgent: active
    thumbs = list((w.home / "thumbnails").rglob("*.jpg"))
    assert len(thumbs) == 1
    res = w.run("auth", "refuse", auth_id, "--note", "not proportionate", "--as", "sup", check=True)
    assert "deleted 1 sighting(s) and 1 alert(s)" in res.stdout
    assert not any(p.exists() for p in thumbs)
    with Store.open("", w.home) as store:
        assert store.list_sightings() == [] and store.list_alerts() == []
        index = store.vector_index(
            next(iter({p.parent.name for p in (w.home / "vectors").glob("*/meta.json")}))
        )
        assert index is not None and all(len(index.ids(d)) == 0 for d in index.days())
        receipt = [e for e in store.list_audit() if e.action == "authorisation.outputs_deleted"]
        assert receipt and receipt[0].details and receipt[0].details["sightings"] == 1


def test_urgent_authorisation_expires_at_deadline_via_cli(enrolled: World) -> None:
    w = enrolled
    res = w.run("auth", "request", "--case", "C-5", "--authority", "Police chief", "--reference", "U-2",
                "--purpose", "imminent_threat", "--use", "post_event", "--target", "1",
                "--from", "2000-01-01", "--until", "2100-01-01", "--urgent", "--json", check=True)  # fmt: skip
    deadline = str(json_lines(res.stdout)[0]["deadline"])
    w.run("process", str(w.clip), "--camera", "gate", "--case", "C-5", check=True)
    res = w.run("auth", "enforce", "--now", deadline, check=True)
    assert "expired at its deadline" in res.stdout and "deleted 1 sighting(s) and 1 alert(s)" in res.stdout
    with Store.open("", w.home) as store:
        assert store.list_sightings() == []
        assert [e.action for e in store.list_audit()][-2:] == [
            "authorisation.expire",
            "authorisation.outputs_deleted",
        ]


def test_unenrolled_person_is_an_explicit_no_match(world: World) -> None:
    res = world.run("process", str(world.clip), "--camera", "gate", "--case", "C-1", "--json", check=True)
    lines = json_lines(res.stdout)
    assert [x["type"] for x in lines] == ["sighting"]
    assert lines[0]["identity"] is None


def test_search_needs_case_and_reason(enrolled: World) -> None:
    res = enrolled.run("search", "--photo", str(enrolled.probe), "--reason", "r")
    assert res.returncode == 2 and "--case" in res.stderr
    res = enrolled.run("search", "--photo", str(enrolled.probe), "--case", " ", "--reason", "r")
    assert res.returncode == 1 and "case reference" in res.stderr
    res = enrolled.run("search", "--photo", str(enrolled.probe), "--case", "C", "--reason", "")
    assert res.returncode == 1 and "reason" in res.stderr


def test_search_needs_an_existing_case_and_a_bounded_window(enrolled: World) -> None:
    probe = ("--photo", str(enrolled.probe), "--reason", "r")
    res = enrolled.run("search", *probe, "--case", "NOPE-1", "--since", "2026-01-01")
    assert res.returncode == 1 and "case 'NOPE-1' does not exist" in res.stderr
    res = enrolled.run("search", *probe, "--case", "C-1")
    assert res.returncode == 1 and "bounded time window" in res.stderr
    res = enrolled.run("search", *probe, "--case", "C-1", "--since", "2020-01-01", "--until", "2020-03-01")
    assert res.returncode == 1 and "longer than search.max_window_days = 31" in res.stderr
    res = enrolled.run("search", *probe, "--case", "C-1", "--since", "2020-03-01", "--until", "2020-01-01")
    assert res.returncode == 1 and "window is empty" in res.stderr
    with Store.open("", enrolled.home) as store:
        assert store.count_searches() == 0  # refused searches are not run


def test_search_only_reaches_data_inside_retention(enrolled: World) -> None:
    """A matched sighting is searchable for 30 days, then not, even before the retention job runs."""
    enrolled.run("process", str(enrolled.clip), "--camera", "gate", "--case", "C-1", check=True)
    with open_app(enrolled.config, enrolled.home) as app:
        (s,) = app.store.list_sightings()
        assert s.matched

        def search(now: datetime) -> int:
            hits = app.search(enrolled.probe, "C-1", "retention test", "tester",
                              since=s.start - timedelta(hours=1), until=s.end + timedelta(hours=1), now=now)  # fmt: skip
            return len(hits)

        assert search(s.end + timedelta(days=29)) == 1
        assert search(s.created_at + timedelta(days=30, minutes=1)) == 0


def test_enroll_bad_photos(world: World, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    res = world.run(
        "enroll", "--watchlist", "w", "--name", "n", "--photo", str(blank), "--legal-basis", "x", *LABELS
    )
    assert res.returncode == 1 and "blank.png: no face" in res.stderr

    two = tmp_path / "two.png"
    face = astronaut()[0:300, 100:380]
    Image.fromarray(np.concatenate([face, face], axis=1)).save(two)
    res = world.run(
        "enroll", "--watchlist", "w", "--name", "n", "--photo", str(two), "--legal-basis", "x", *LABELS
    )
    assert res.returncode == 1 and "two.png: shows 2 faces" in res.stderr

    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    res = world.run(
        "enroll", "--watchlist", "w", "--name", "n", "--photo", str(text), "--legal-basis", "x", *LABELS
    )
    assert res.returncode == 1 and "notes.jpg: not a readable image" in res.stderr

    bomb = tmp_path / "bomb.png"
    _png_header_bomb(bomb)
    res = world.run(
        "enroll", "--watchlist", "w", "--name", "n", "--photo", str(bomb), "--legal-basis", "x", *LABELS
    )
    assert res.returncode == 1 and "bomb.png: too large to decode safely" in res.stderr

    res = world.run(
        "enroll",
        "--watchlist",
        "w",
        "--name",
        "n",
        "--photo",
        str(world.photo),
        "--legal-basis",
        " ",
        *LABELS,
    )
    assert res.returncode == 1 and "legal basis" in res.stderr
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(world.photo.parent),
                    "--legal-basis", "x", *LABELS)  # fmt: skip
    assert res.returncode == 1 and "bulk import of photo folders is not allowed" in res.stderr
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(world.photo),
                    "--legal-basis", "x", *LABELS, "--expires-days", "365")  # fmt: skip
    assert res.returncode == 1 and "365 day(s) is outside 1..90" in res.stderr
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(world.photo),
                    "--legal-basis", "x", "--legal-reference", "R")  # fmt: skip
    assert res.returncode == 2 and "--provenance" in res.stderr
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(world.photo),
                    "--legal-basis", "x", *LABELS, "--as", "ola")  # fmt: skip
    assert res.returncode == 1 and "user 'ola' (role operator) may not watchlist.request" in res.stderr
    # a good photo next to a bad one: nothing is enrolled
    res = world.run(
        "enroll",
        "--watchlist",
        "w",
        "--name",
        "n",
        "--photo",
        str(world.photo),
        "--photo",
        str(blank),
        "--legal-basis",
        "x",
        *LABELS,
    )
    assert res.returncode == 1
    with Store.open("", world.home) as store:
        assert store.list_identities() == []


def test_process_bad_inputs(world: World, tmp_path: Path) -> None:
    res = world.run("process", str(world.clip), "--camera", "nowhere")
    assert res.returncode == 1 and "unknown camera 'nowhere'" in res.stderr
    res = world.run("process", str(tmp_path / "missing.mp4"), "--camera", "gate")
    assert res.returncode == 1 and "missing.mp4" in res.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    res = world.run("process", str(junk), "--camera", "gate")
    assert res.returncode == 1 and "junk.mp4" in res.stderr


def test_truncated_video_keeps_what_came_before(world: World, tmp_path: Path) -> None:
    from citywatch.demo import render_walk

    full = render_walk(tmp_path / "walk.mkv", seconds=4.0, seed=1)  # Matroska: readable up to a cut
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    res = world.run("process", str(cut), "--camera", "gate", "--json")
    assert res.returncode == 1
    assert "cut.mkv" in res.stderr and "kept" in res.stderr
    kept = [x for x in json_lines(res.stdout) if x["type"] == "sighting"]
    assert len(kept) == 1  # the person seen before the damage was stored
    with Store.open("", world.home) as store:
        (run,) = store.list_runs("gate")
        assert run.status == "failed" and run.error and "cut.mkv" in run.error
        assert len(store.list_sightings(run_id=run.id)) == 1

    moov_last = tmp_path / "cut.mp4"  # an MP4 whose index was never written: nothing is decodable
    moov_last.write_bytes(world.clip.read_bytes()[: int(world.clip.stat().st_size * 0.7)])
    res = world.run("process", str(moov_last), "--camera", "gate")
    assert res.returncode == 1 and "cut.mp4" in res.stderr


def test_kill_mid_process_then_rerun(world: World, tmp_path: Path) -> None:
    # a longer clip: the walk three times over
    long = tmp_path / "long.mp4"
    from citywatch.demo import render_walk

    render_walk(long, seconds=12.0, seed=3)
    env_home = world.home
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citywatch",
            "process",
            str(long),
            "--camera",
            "gate",
            "--json",
            "--config",
            str(world.config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**__import__("os").environ, "CITYWATCH_HOME": str(env_home), "CITYWATCH_USER": "tester"},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first stored sighting: we are mid-run now
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert first.startswith("{"), "process ended before storing a sighting"
    with Store.open("", env_home) as store:
        runs = store.list_runs("gate")
        assert [r.status for r in runs] == ["running"]
        report = store.reconcile()
        assert report is not None
        for s in store.list_sightings():
            assert s.thumbnail and store.thumbnail_path(s.thumbnail).is_file()
    res = world.run("process", str(long), "--camera", "gate", "--json", check=True)
    n = len([x for x in json_lines(res.stdout) if x["type"] == "sighting"])
    with Store.open("", env_home) as store:
        runs = store.list_runs("gate")
        assert [r.status for r in runs] == ["done"]  # the killed run was replaced, not duplicated
        assert len(store.list_sightings()) == n >= 1
        files = list((env_home / "thumbnails").rglob("*.jpg"))
        assert len(files) == n


def test_eval_and_calibrate_commands(world: World, shared_data: Path, tmp_path: Path) -> None:
    train = shared_data / "face_recognition" / "examples" / "knn_examples" / "train"
    res = world.run("eval", "identify", "--root", str(train), "--json", check=True)
    out = json_lines(res.stdout)[0]
    assert {"rank1", "fnir_at_fpir_0.003", "gallery", "probes"} <= out.keys()
    assert out["rank1"] == 1.0

    csv = tmp_path / "pairs.csv"
    imgs = sorted(p for p in train.rglob("*.jpg"))
    rows = ["file_x,file_y,Decision"]
    for i, a in enumerate(imgs):
        for b in imgs[i + 1 :]:
            rows.append(f"{a},{b},{'Yes' if a.parent == b.parent else 'No'}")
    csv.write_text("\n".join(rows) + "\n")
    res = world.run("eval", "pairs", "--pairs", str(csv), "--root", "/", "--json", check=True)
    out = json_lines(res.stdout)[0]
    assert {"accuracy", "accuracy_std", "tar_at_far_1e-3", "no_face", "pairs", "seconds"} <= out.keys()
    assert float(out["accuracy"]) > 0.9  # type: ignore[arg-type]

    res = world.run("calibrate", "--identities", str(train), "--far", "0.001")
    assert res.returncode == 1 and "impostor" in res.stderr  # too few pairs to measure 1e-3
    cfg = tmp_path / "calibrated.yaml"
    shutil.copy(world.config, cfg)
    res = world.run(
        "calibrate", "--identities", str(train), "--far", "0.1", "--write-config", str(cfg), check=True
    )
    text = cfg.read_text()
    assert "threshold:" in text and "cameras:" in text
    assert world.run("config", "validate", str(cfg)).returncode == 0


def test_demo_without_shared_data(world: World, tmp_path: Path) -> None:
    import os

    home = tmp_path / "demo"
    res = subprocess.run(
        [sys.executable, "-m", "citywatch", "demo", "--data-dir", str(home)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"CITYWATCH_DATA": str(tmp_path / "absent")},
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "GENERATED DEMO" in res.stdout and "shared data not found" in res.stdout
    assert res.stdout.count("1 alert(s)") == 3
    assert "chain intact" in res.stdout
    with Store.open("", home) as store:
        assert len(store.list_alerts()) == 3
        assert store.count_searches() == 1
    # a second run replaces the demo directory; a non-demo directory is never wiped
    res = subprocess.run(
        [sys.executable, "-m", "citywatch", "demo", "--data-dir", str(world.root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 1 and "not from a demo" in res.stderr
    assert world.config.is_file()


def test_build_set(world: World, shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "lfw"
    res = world.run("eval", "build-set", "--out", str(out), "--data", str(shared_data), check=True)
    assert (out / "pairs.txt").is_file() and (out / "identities").is_dir(), res.stdout
    header = (out / "pairs.txt").read_text().splitlines()[0]
    assert header.split()[0] == "10"


def test_recognition_refused_on_a_camera_below_the_floor(enrolled: World) -> None:
    """Below the capture-quality floor (or switched off) a camera stores sightings and never alerts."""
    w = enrolled
    w.config.write_text(w.config.read_text() + "governance:\n  min_eye_px: 500\n  min_quality_sightings: 1\n")
    args = ("process", str(w.clip), "--camera", "gate", "--case", "C-1", "--json")
    res = w.run(*args, check=True)  # no measured face yet: judged after the first one
    assert [x["type"] for x in json_lines(res.stdout)] == ["sighting", "alert"]
    res = w.run(*args, check=True)
    lines = json_lines(res.stdout)
    assert [x["type"] for x in lines] == ["sighting"] and lines[0]["identity"] is None
    assert "recognition refused on camera 'gate': median inter-eye distance" in res.stderr
    assert "below the floor of 500 px" in res.stderr
    w.config.write_text(w.config.read_text().replace("name: gate\n", "name: gate\n    recognition: false\n"))
    res = w.run(*args, check=True)
    assert [x["type"] for x in json_lines(res.stdout)] == ["sighting"]
    assert "recognition is switched off for camera 'gate'" in res.stderr
