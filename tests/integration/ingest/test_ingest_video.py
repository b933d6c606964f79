"""Video files and GIFs through PyAV: sampling, timestamps, damage detection, real footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ingest_media import FPS, RECT, N, rect_x
from PIL import Image

from citywatch.config import IngestConfig
from citywatch.errors import CorruptMediaError, InvalidImageError, SourceError
from citywatch.ingest import open_source
from citywatch.types import Frame

CFG = IngestConfig()


def read_all(path: Path | str, detect_fps: float = FPS, cfg: IngestConfig = CFG) -> list[Frame]:
    with open_source("cam1", str(path), detect_fps=detect_fps, cfg=cfg) as src:
        return list(src)


@pytest.mark.parametrize("kind", ["mp4", "mkv", "mpeg4", "fast"])
def test_decodes_every_frame_in_order(media: dict[str, Path], kind: str) -> None:
    with open_source("cam1", str(media[kind]), detect_fps=FPS, cfg=CFG) as src:
        assert not src.live
        frames = list(src)
        stats = src.stats
    assert [f.index for f in frames] == list(range(N))
    assert [f.timestamp for f in frames] == pytest.approx([i / FPS for i in range(N)], abs=1e-6)
    assert stats.decoded == stats.sampled == N
    assert stats.last_frame_time == pytest.approx((N - 1) / FPS)
    f = frames[7]
    assert f.image.dtype == np.uint8 and f.image.shape == (120, 160, 3) and f.camera == "cam1"
    # RGB content survives the codec: the box is bright where frame 7 drew it, dark elsewhere
    box = f.image[RECT[0] + 5 : RECT[1] - 5, rect_x(7) + 5 : rect_x(7) + 25]
    assert box.mean() > 200
    assert f.image[:30].mean() < 80


def test_sampling_to_detect_fps(media: dict[str, Path]) -> None:
    frames = read_all(media["mp4"], detect_fps=2)
    assert [f.index for f in frames] == [0, 5, 10, 15, 20, 25]
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])


def test_videos_are_sampled_at_sample_fps_when_given(media: dict[str, Path]) -> None:
    # the pipeline's confirmation looks want frames between the detect_fps ones (Config.sample_fps)
    with open_source("cam1", str(media["mp4"]), detect_fps=2, sample_fps=4, cfg=CFG) as src:
        frames = list(src)
    assert [f.timestamp for f in frames][:4] == pytest.approx([0.0, 0.3, 0.5, 0.8])  # 4 fps of a 10 fps clip
    assert len(frames) == 12


def test_sampling_uneven_ratio_keeps_the_rate(media: dict[str, Path]) -> None:
    frames = read_all(media["mkv"], detect_fps=3)
    assert len(frames) == 9  # 3 s at 3 fps, not 3 s at 2.5 fps
    gaps = np.diff([f.timestamp for f in frames])
    assert gaps.min() >= 0.3 - 1e-6 and gaps.max() <= 0.4 + 1e-6


def test_moov_at_end_cut_is_a_clear_source_error(media: dict[str, Path]) -> None:
    with pytest.raises(SourceError, match="moov") as info:
        open_source("cam1", str(media["mp4_cut"]), detect_fps=FPS, cfg=CFG)
    assert "cam1" in str(info.value) and not isinstance(info.value, CorruptMediaError)


def _read_until_error(path: Path) -> tuple[list[Frame], CorruptMediaError]:
    frames: list[Frame] = []
    with open_source("cam1", str(path), detect_fps=FPS, cfg=CFG) as src:
        with pytest.raises(CorruptMediaError) as info:
            for frame in src:
                frames.append(frame)
        assert src.stats.errors and "damaged" in src.stats.errors[-1]
    return frames, info.value


def test_cut_faststart_mp4_yields_good_frames_then_raises(media: dict[str, Path]) -> None:
    frames, err = _read_until_error(media["fast_cut"])
    assert 5 <= len(frames) < N
    assert err.frames_ok == len(frames)
    assert "cam1" in str(err) and "damaged" in str(err)


def test_cut_mkv_ends_silently_but_is_caught_by_declared_duration(media: dict[str, Path]) -> None:
    frames, err = _read_until_error(media["mkv_cut"])
    assert 5 <= len(frames) < N
    assert err.frames_ok == len(frames)
    assert "declares 3.00 s" in str(err)


def test_garbage_in_the_middle(media: dict[str, Path]) -> None:
    frames, err = _read_until_error(media["mp4_garbage"])
    assert 3 <= len(frames) < N
    assert err.frames_ok == len(frames)
    assert [f.index for f in frames] == list(range(len(frames)))


def test_text_file_named_mp4(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video\n" * 20)
    with pytest.raises(SourceError, match="not a video") as info:
        open_source("cam1", str(bogus), detect_fps=FPS, cfg=CFG)
    assert str(bogus) in str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="cam1"):
        open_source("cam1", str(empty), detect_fps=FPS, cfg=CFG)


def test_frames_larger_than_max_pixels_are_refused(media: dict[str, Path]) -> None:
    with pytest.raises(InvalidImageError, match="160x120"):
        open_source("cam1", str(media["mp4"]), detect_fps=FPS, cfg=IngestConfig(max_pixels=160 * 120 - 1))


def test_file_uri(media: dict[str, Path]) -> None:
    assert len(read_all(media["mp4"].as_uri(), detect_fps=1)) == 3


def test_animated_gif_uses_its_frame_durations(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.full((60, 80, 3), i * 30, np.uint8)) for i in range(6)]
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=[100, 100, 300, 100, 100, 100], loop=0
    )
    got = read_all(path, detect_fps=10)
    assert [f.timestamp for f in got] == pytest.approx([0.0, 0.1, 0.2, 0.5, 0.6, 0.7])
    assert got[3].image.shape == (60, 80, 3) and abs(int(got[3].image[0, 0, 0]) - 90) <= 3
    # at 4 fps: t=0 kept, due 0.25; t=0.5 is a period late, so the grid restarts there (due 0.75)
    assert [f.index for f in read_all(path, detect_fps=4)] == [0, 3]


@pytest.mark.data
def test_real_intel_video(shared_data: Path) -> None:
    path = shared_data / "intel-sample-videos" / "one-by-one-person-detection.mp4"
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data set")
    with open_source("intel", str(path), detect_fps=10, cfg=CFG) as src:
        n = 0
        last: Frame | None = None
        for frame in src:
            n += 1
            last = frame
        assert src.stats.decoded == 1394
    assert n == 1394 and last is not None
    assert last.image.shape == (432, 768, 3) and last.timestamp == pytest.approx(139.3, abs=0.01)


@pytest.mark.data
def test_real_vtest_avi(shared_data: Path) -> None:
    path = shared_data / "opencv" / "vtest.avi"
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data set")
    frames = read_all(path, detect_fps=1)
    assert len(frames) == 80  # 795 frames at 10 fps = 79.4 s: t = 0, 1, ..., 79
    assert frames[1].index == 10 and frames[0].image.shape == (576, 768, 3)
