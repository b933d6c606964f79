"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$CITYWATCH_DATA`` or ``../shared/data`` from the repository root; skips when absent."""
    data = Path(os.environ.get("CITYWATCH_DATA", REPO.parent / "shared" / "data"))
    if not (data / "deepface" / "unit" / "dataset" / "master.csv").is_file():
        pytest.skip(f"shared data set not found at {data} (set CITYWATCH_DATA)")
    return data
