"""The CLI end to end, in subprocesses, on real models and a real decoder."""

from __future__ import annotations

import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from cli_world import World, json_lines
from PIL import Image

from citywatch.demo import astronaut
from citywatch.store.repo import Store

pytestmark = pytest.mark.slow


def _png_header_bomb(path: Path, w: int = 20_000, h: int = 20_000) -> None:
    """A tiny file that claims 20,000 x 20,000 pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_enroll_process_alert_and_search(enrolled: World) -> None:
    res = enrolled.run("process", str(enrolled.clip), "--camera", "gate", "--json", check=True)
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

    res = enrolled.run(
        "search", "--photo", str(enrolled.probe), "--case", "C-1", "--reason", "test", "--json", check=True
    )
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
        assert actions.count("search") == 3 and "watchlist.enroll" in actions


def test_unenrolled_person_is_an_explicit_no_match(world: World) -> None:
    res = world.run("process", str(world.clip), "--camera", "gate", "--json", check=True)
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


def test_enroll_bad_photos(world: World, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(blank), "--legal-basis", "x")
    assert res.returncode == 1 and "blank.png: no face" in res.stderr

    two = tmp_path / "two.png"
    face = astronaut()[0:300, 100:380]
    Image.fromarray(np.concatenate([face, face], axis=1)).save(two)
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(two), "--legal-basis", "x")
    assert res.returncode == 1 and "two.png: shows 2 faces" in res.stderr

    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(text), "--legal-basis", "x")
    assert res.returncode == 1 and "notes.jpg: not a readable image" in res.stderr

    bomb = tmp_path / "bomb.png"
    _png_header_bomb(bomb)
    res = world.run("enroll", "--watchlist", "w", "--name", "n", "--photo", str(bomb), "--legal-basis", "x")
    assert res.returncode == 1 and "bomb.png: too large to decode safely" in res.stderr

    res = world.run(
        "enroll", "--watchlist", "w", "--name", "n", "--photo", str(world.photo), "--legal-basis", " "
    )
    assert res.returncode == 1 and "legal basis" in res.stderr
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
        env={**__import__("os").environ, "CITYWATCH_HOME": str(env_home)},
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
