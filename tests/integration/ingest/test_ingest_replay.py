"""``replay:FILE``: a recording played as a live camera (real-time pace, wall-clock stamps, looping)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from ingest_media import FPS, write_video

from citywatch.config import IngestConfig
from citywatch.errors import SourceError
from citywatch.ingest import open_source
from citywatch.ingest.replay import ReplaySource

CFG = IngestConfig()
SHORT = 6  # frames: 0.6 s a pass at 10 fps


def test_loops_at_real_time_with_wall_clock_stamps(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "short.mp4", n=SHORT)
    t0 = time.time()
    with open_source("lobby", f"replay:{clip}", detect_fps=FPS, cfg=CFG) as src:
        assert isinstance(src, ReplaySource) and src.live
        frames = [next(src) for _ in range(2 * SHORT + 1)]
        assert src.loops == 2
        assert src.stats.sampled == 2 * SHORT + 1 and src.stats.last_frame_time == frames[-1].timestamp
    stamps = [f.timestamp for f in frames]
    assert all(f.live for f in frames) and stamps == sorted(stamps)
    assert stamps[0] >= t0  # wall clock, not media time
    # paced by the file's own timestamps: two passes cannot be read faster than the media lasts
    assert stamps[-1] - stamps[0] >= 0.8 * (2 * SHORT - 1) / FPS
    assert [f.index for f in frames] == list(range(1, 2 * SHORT + 2))


def test_close_from_another_thread_ends_iteration(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "short.mp4", n=SHORT)
    src = open_source("lobby", f"replay://{clip}", detect_fps=FPS, cfg=CFG)
    next(src)
    threading.Timer(0.2, src.close).start()
    with pytest.raises(StopIteration):
        for _ in range(10_000):
            next(src)


def test_missing_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"camera lobby: .*nope.mp4: no such file to replay"):
        open_source("lobby", f"replay:{tmp_path / 'nope.mp4'}", detect_fps=FPS, cfg=CFG)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError, match="camera lobby"):
        open_source("lobby", f"replay:{junk}", detect_fps=FPS, cfg=CFG)


def test_a_slow_consumer_gets_late_frames_dropped_and_counted(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "short.mp4", n=SHORT)
    with open_source("lobby", f"replay:{clip}?pause=0.3", detect_fps=FPS, cfg=CFG) as src:
        first = next(src)
        time.sleep(0.45)  # the next frames are due at 0.1 s steps: most are now late
        second = next(src)
        assert src.stats.dropped >= 2 and second.index == first.index + 1
        assert second.timestamp - first.timestamp >= 0.45


def test_a_bad_pause_is_refused(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "short.mp4", n=SHORT)
    with pytest.raises(SourceError, match="replay pause 'soon' is not a number"):
        open_source("lobby", f"replay:{clip}?pause=soon", detect_fps=FPS, cfg=CFG)
    with pytest.raises(SourceError, match="must not be negative"):
        open_source("lobby", f"replay:{clip}?pause=-1", detect_fps=FPS, cfg=CFG)
