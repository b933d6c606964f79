"""Fixtures of the console tests: headless Chromium (Playwright) against the real ``citywatch serve``.

One server per module (CI has two cores): real data directory, users with
passwords, a live MJPEG camera, the camera fleet. Screenshots go to
``tests/e2e/output/`` (git-ignored; ``CITYWATCH_E2E_OUTPUT`` overrides).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_world import CONFIG, PASSWORD, Footage, MjpegLoop, Server, create_users, prepare_footage

from citywatch.web.routes import LEAFLET

CHROMIUM = Path(os.environ.get("CITYWATCH_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(os.environ.get("CITYWATCH_E2E_OUTPUT", Path(__file__).resolve().parent / "output"))

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None
else:
    expect.set_options(timeout=15_000)  # CI has two busy cores; a check that passes is not slowed by this


@pytest.fixture(scope="session")
def output_dir() -> Path:
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CITYWATCH_CHROMIUM)")
    if not LEAFLET.is_file():
        pytest.skip(f"the console's map library is not built ({LEAFLET}): run `make web`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def footage(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Footage:
    clips = shared_data / "intel-sample-videos" / "preview"
    if not clips.is_dir():
        pytest.skip(f"the Intel sample clips are not in the shared data ({clips})")
    return prepare_footage(shared_data, tmp_path_factory.mktemp("footage"))


@pytest.fixture(scope="module")
def server(footage: Footage, tmp_path_factory: pytest.TempPathFactory, output_dir: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("console")
    camera = MjpegLoop(footage.live_clip)
    camera.start()
    config = root / "config.yaml"
    config.write_text(CONFIG.format(live_url=camera.url))
    home = root / "home"
    create_users(home)
    srv = Server(home, config, root / "serve.log")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        camera.stop()
        if srv.log.is_file():  # next to the screenshots, for whoever reads a failed run
            shutil.copy(srv.log, output_dir / "serve.log")


Login = Callable[[str], Page]


@pytest.fixture(scope="module")
def login(browser: Browser, server: Server) -> Iterator[Login]:
    """``login(user)``: a page in its own browser context, logged in through the login form."""
    contexts: list[BrowserContext] = []

    def _login(user: str) -> Page:
        ctx = browser.new_context(viewport={"width": 1440, "height": 960}, base_url=server.url)
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto("/login")
        page.fill("#username", user)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("#login-submit")
        return page

    yield _login
    for c in contexts:
        c.close()
