"""A data directory with a configured camera, an enrolled identity and a generated clip.

The clip is the demo's generated scene (scikit-image's public-domain astronaut
portrait walking past a synthetic camera): it exercises the real decoder,
detector, tracker and embedder without needing the shared data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_world import CONFIG, World
from PIL import Image

from citywatch.config import GovernanceConfig
from citywatch.demo import astronaut, render_walk
from citywatch.governance.access import add_user
from citywatch.governance.authorisations import grant, request
from citywatch.governance.cases import open_case
from citywatch.governance.watchlist import decide
from citywatch.store.repo import Store


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("assets")
    clip = render_walk(root / "walk.mp4", seconds=4.0, seed=1)
    photo = root / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    probe = root / "probe.png"
    Image.fromarray(astronaut()[:, ::-1].copy()).save(probe)
    return clip, photo, probe


USERS = (
    ("tester", "investigator"),
    ("sup", "supervisor"),
    ("vic", "verifier"),
    ("val", "verifier"),
    ("ola", "operator"),
)
"""The test users (created in-process: a subprocess per user would cost seconds); ``root`` is the admin."""


@pytest.fixture
def world(tmp_path: Path, assets: tuple[Path, Path, Path]) -> World:
    clip, photo, probe = assets
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    home = tmp_path / "home"
    with Store.open("", home) as store:
        add_user(store, None, "root", "admin")
        for name, role in USERS:
            add_user(store, "root", name, role)
    return World(tmp_path, home, cfg, clip, photo, probe)


@pytest.fixture
def enrolled(world: World) -> World:
    """``world`` with an approved entry (1), case C-1 and a granted post-event authorisation of it on gate."""
    world.run(
        "enroll", "--watchlist", "wl", "--name", "Astronaut", "--photo", str(world.photo),
        "--legal-basis", "Test statute s.1", "--legal-reference", "ORD-1", "--provenance", "test asset",
        check=True,
    )  # fmt: skip
    now = datetime.now(UTC)
    with Store.open("", world.home) as store:
        decide(store, "sup", 1, approve=True)
        open_case(store, "tester", "C-1", "test case")
        a = request(
            store, GovernanceConfig(), "tester", case_ref="C-1", authority="Test court", reference="AZ-1",
            purpose="listed_offence", use="post_event", targets=[1], cameras=["gate"],
            window_start=now - timedelta(days=30), window_end=now + timedelta(days=1),
        )  # fmt: skip
        grant(store, "sup", a.id)
    return world
