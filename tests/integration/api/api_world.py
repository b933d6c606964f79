"""The API test world: a data directory with users of every role, cameras, and alerts to look at.

Built through the real App, Store and governance functions (no fakes); users
authenticate with real bearer tokens (fast) and, where a test is about the
console, with real password logins.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from citywatch.api import create_app
from citywatch.api.security import digest, hash_password, new_token
from citywatch.app import App
from citywatch.config import Config
from citywatch.governance.access import add_user
from citywatch.store import PhotoIn, SightingIn
from citywatch.store.auth import add_token, set_password_hash

CONFIG = {
    "cameras": [
        {"name": "gate", "lat": 52.52, "lon": 13.40, "location": "North gate", "district": "Mitte"},
        {"name": "plaza", "lat": 52.51, "lon": 13.41, "location": "Plaza"},
    ]
}
USERS: dict[str, tuple[str, list[str] | None]] = {
    "ada": ("admin", None),
    "olga": ("operator", None),
    "ivan": ("investigator", None),
    "vera": ("verifier", None),
    "val": ("verifier", None),
    "sue": ("supervisor", None),
    "sam": ("supervisor", None),
    "aud": ("auditor", None),
    "gus": ("operator", ["plaza"]),
}
"""``name -> (role, cameras)``; ``gus`` may only see ``plaza``."""
ROLE_USER = {"admin": "ada", "operator": "olga", "investigator": "ivan", "verifier": "vera",
             "supervisor": "sue", "auditor": "aud"}  # fmt: skip
PASSWORD = "a long test password"
DIM = 16
MODEL = "test_model"


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class World:
    home: Path
    app: App
    api: FastAPI
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, path: str, user: str, **kw: object) -> object:
        return self.client.get(path, headers=self.auth(user), **kw)  # type: ignore[arg-type]

    def set_password(self, user: str, password: str = PASSWORD) -> None:
        set_password_hash(self.app.store, user, hash_password(password))

    # --- data --------------------------------------------------------------------------

    def identity(self, name: str = "Suspect", photo_sha: str | None = None) -> int:
        store = self.app.store
        store.ensure_watchlist("wanted", "sue")
        photo = PhotoIn(
            sha256=photo_sha or name.encode().hex().ljust(64, "0")[:64],
            filename=f"{name}.jpg",
            provenance="test",
            embedding=unit(self.rng),
            model=MODEL,
        )
        return store.add_identity(
            "wanted", name, "court order", "ivan", [photo], legal_reference="ref-1", status="approved"
        )

    def run(self, camera: str) -> int:
        return self.app.store.begin_run(camera, f"{camera}.mp4", datetime.now(UTC), replace_unfinished=False)

    def sighting(
        self, camera: str, identity_id: int | None = None, *, start: datetime | None = None
    ) -> tuple[int, int | None]:
        """``(sighting id, alert id)``: a sighting on ``camera`` (an alert when ``identity_id`` is given)."""
        t = start or datetime.now(UTC) - timedelta(minutes=5)
        s = SightingIn(
            run_id=self.run(camera), camera=camera, track_id=1, start=t, end=t + timedelta(seconds=2),
            start_offset=0.0, end_offset=2.0, embedding=unit(self.rng), model=MODEL, quality=0.5, detections=5,
            score=0.9 if identity_id else 0.1, threshold=0.6, identity_id=identity_id, face_px=30.0, frontal=0.9,
        )  # fmt: skip
        out = self.app.store.add_sighting(s, b"\xff\xd8\xff\xe0 test jpeg \xff\xd9")
        return out.id, out.alert_id

    def audit_actions(self, actor: str | None = None) -> list[tuple[str, str, str | None]]:
        """``(action, target, client)`` of every audit entry (of ``actor``)."""
        return [
            (e.action, e.target, e.client) for e in self.app.store.list_audit() if actor in (None, e.actor)
        ]


def build_world(home: Path) -> Iterator[World]:
    cfg = Config.model_validate(CONFIG)
    (home / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    app = App.open(data_dir=home, cfg=cfg)
    add_user(app.store, None, "ada", "admin")
    for name, (role, cams) in USERS.items():
        if name != "ada":
            add_user(app.store, "ada", name, role, cams)
    tokens = {}
    for name in USERS:
        tok = new_token()
        add_token(app.store, name, digest(tok), tok[:10], "test", datetime.now(UTC) + timedelta(days=30))
        tokens[name] = tok
    api = create_app(app)
    with TestClient(api) as client:
        yield World(home, app, api, client, tokens)
    app.close()


class ServerThread:
    """A real uvicorn server on a free port in a thread (for streams, which TestClient cannot end)."""

    def __init__(self, api: FastAPI) -> None:
        import socket
        import threading

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.server = uvicorn.Server(
            uvicorn.Config(
                api, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "uvicorn did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
