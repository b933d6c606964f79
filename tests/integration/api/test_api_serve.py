"""``citywatch serve`` for real: a child process with the fleet, fixed paths, a CLI-made admin logging in."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

PASSWORD = "serve test password"


def cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citywatch", *args, "--data-dir", str(home)],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
        env=os.environ | {"CITYWATCH_USER": ""},
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_users_create_reads_the_password_from_stdin_and_refuses_weak_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    weak = cli(home, "users", "create", "root", "--role", "admin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "too short" in weak.stderr
    made = cli(
        home,
        "users",
        "create",
        "root",
        "--role",
        "admin",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert '"has_password": true' in made.stdout
    plain = cli(home, "users", "create", "ola", "--role", "operator", "--as", "root")
    assert plain.returncode == 0 and "no password" in plain.stderr  # scriptable as before: no prompt
    tok = cli(home, "users", "token", "--as", "ola", "--label", "script", "--json")
    assert tok.returncode == 0 and '"token": "cw_' in tok.stdout
    other = cli(home, "users", "password", "root", "--password-stdin", "--as", "ola", stdin=PASSWORD + "x\n")
    assert other.returncode == 1 and "may not users.manage" in other.stderr


def test_serve_answers_on_its_fixed_paths_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert (
        cli(
            home, "users", "create", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
        ).returncode
        == 0
    )
    assert cli(home, "users", "create", "ola", "--role", "operator", "--as", "root").returncode == 0
    token = json.loads(cli(home, "users", "token", "--as", "ola", "--json").stdout)["token"]
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "citywatch", "serve", "--port", str(port), "--data-dir", str(home)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(base + "/healthz", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health == {"status": "ok", "database": True, "cameras": 0, "fleet": "running"}, (
            tmp_path / "serve.log"
        ).read_text()
        assert httpx.get(base + "/docs").status_code == 200
        assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "citywatch"
        assert httpx.get(base + "/transparency").status_code == 200
        assert httpx.get(base + "/transparency.csv").text.startswith("section,")
        with httpx.Client(base_url=base) as c:
            r = c.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
            assert r.status_code == 200 and r.json()["role"] == "admin"
            assert c.get("/api/users").status_code == 200
            assert c.get("/metrics").status_code == 200
        # an open live-alert stream does not hold the shutdown up
        opened = threading.Event()

        def hold_stream() -> None:
            with (
                contextlib.suppress(httpx.TransportError),
                httpx.stream(
                    "GET",
                    base + "/api/alerts/stream",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=None,
                ) as r,
            ):
                assert r.status_code == 200
                opened.set()
                for _ in r.iter_lines():
                    pass

        reader = threading.Thread(target=hold_stream, daemon=True)
        reader.start()
        assert opened.wait(10)
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stopped_in = time.monotonic() - t0
        log.close()
    reader.join(5)
    assert not reader.is_alive()
    text = (tmp_path / "serve.log").read_text()
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is a clean stop
    assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in text, text
    assert "camera fleet stopped" in text and "events dispatcher started" in text
    assert "graceful shutdown exceeded" not in text and stopped_in < 5, (stopped_in, text)
