"""Fixtures for the engine tests: a data directory with a first admin, the shared clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from citywatch.governance.access import add_user
from citywatch.store.repo import Store


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory whose first admin exists, so the fleet may create its service account."""
    with Store.open("", tmp_path) as store:
        add_user(store, None, "root", "admin")
    return tmp_path


@pytest.fixture(scope="session")
def clip(shared_data: Path) -> Path:
    path = shared_data / "intel-sample-videos" / "one-by-one-person-detection.mp4"
    if not path.is_file():
        pytest.skip(f"{path} not found (see SOURCES.md)")
    return path
