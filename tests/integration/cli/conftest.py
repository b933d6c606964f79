"""A data directory with a configured camera, an enrolled identity and a generated clip.

The clip is the demo's generated scene (scikit-image's public-domain astronaut
portrait walking past a synthetic camera): it exercises the real decoder,
detector, tracker and embedder without needing the shared data.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_world import CONFIG, World
from PIL import Image

from citywatch.demo import astronaut, render_walk


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("assets")
    clip = render_walk(root / "walk.mp4", seconds=4.0, seed=1)
    photo = root / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    probe = root / "probe.png"
    Image.fromarray(astronaut()[:, ::-1].copy()).save(probe)
    return clip, photo, probe


@pytest.fixture
def world(tmp_path: Path, assets: tuple[Path, Path, Path]) -> World:
    clip, photo, probe = assets
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    return World(tmp_path, tmp_path / "home", cfg, clip, photo, probe)


@pytest.fixture
def enrolled(world: World) -> World:
    world.run(
        "enroll", "--watchlist", "wl", "--name", "Astronaut", "--photo", str(world.photo),
        "--legal-basis", "Test statute s.1", check=True,
    )  # fmt: skip
    return world
