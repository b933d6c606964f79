"""Fixtures for the ingest integration tests: generated media (``shared_data`` is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_media import cut, garble, write_video


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    mp4 = write_video(d / "h264.mp4")
    mkv = write_video(d / "h264.mkv")
    fast = write_video(d / "fast.mp4", faststart=True)
    return {
        "mp4": mp4,
        "mkv": mkv,
        "mpeg4": write_video(d / "mpeg4.avi", "mpeg4"),
        "fast": fast,
        "mp4_cut": cut(mp4, d / "h264_cut.mp4"),
        "mkv_cut": cut(mkv, d / "h264_cut.mkv"),
        "fast_cut": cut(fast, d / "fast_cut.mp4"),
        "mp4_garbage": garble(mp4, d / "h264_garbage.mp4"),
    }
