"""Fixtures of the evaluation tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$CITYWATCH_DATA`` or ``../shared/data`` from the repository root; skips when absent."""
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    data = Path(os.environ.get("CITYWATCH_DATA", default))
    if not (data / "deepface" / "unit" / "dataset" / "master.csv").is_file():
        pytest.skip(f"shared data set not found at {data} (set CITYWATCH_DATA)")
    return data
