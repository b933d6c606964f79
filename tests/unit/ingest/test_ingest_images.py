"""Image folders, single images, decompression bombs and source dispatch errors."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from citywatch.config import IngestConfig
from citywatch.errors import InvalidImageError, SourceError
from citywatch.ingest import ImageFolderSource, open_source

CFG = IngestConfig()


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid-looking PNG claiming ``width`` x ``height`` with a tiny IDAT: a bomb's header, cheaply."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "shots"
    d.mkdir()
    for i, name in [(0, "img1.jpg"), (1, "img2.png"), (2, "img10.png")]:
        Image.fromarray(np.full((40, 60, 3), 50 * (i + 1), np.uint8)).save(d / name)
    Image.fromarray(np.full((30, 30), 7, np.uint8), mode="L").save(d / "img3_grey.png")
    (d / "readme.txt").write_text("not an image")
    (d / ".hidden.jpg").write_bytes(b"junk")
    (d / "sub").mkdir()
    return d


def test_folder_in_natural_order_with_non_images_skipped(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), open_source("c", str(folder), detect_fps=4, cfg=CFG) as src:
        assert not src.live
        frames = list(src)
        stats = src.stats
    assert [f.image[0, 0, 0] for f in frames] == [50, 100, 7, 150]  # img1, img2, img3_grey, img10
    assert [f.timestamp for f in frames] == [0.0, 0.25, 0.5, 0.75]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(f.image.dtype == np.uint8 and f.image.ndim == 3 and f.image.shape[2] == 3 for f in frames)
    assert stats.decoded == stats.sampled == 4
    assert "readme.txt: not an image, skipped" in caplog.text


def test_damaged_image_is_skipped_and_recorded(folder: Path) -> None:
    good = (folder / "img1.jpg").read_bytes()
    (folder / "img0.jpg").write_bytes(good[: len(good) // 3])
    with open_source("c", str(folder), detect_fps=1, cfg=CFG) as src:
        assert len(list(src)) == 4
        assert any("img0.jpg" in e for e in src.stats.errors)


def test_single_image_file(folder: Path) -> None:
    frames = list(open_source("c", str(folder / "img2.png"), detect_fps=1, cfg=CFG))
    assert len(frames) == 1 and frames[0].image.shape == (40, 60, 3)


def test_huge_png_header_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)
    # Pillow refuses this one in Image.open already (over 2x MAX_IMAGE_PIXELS); the message says why
    with pytest.raises(InvalidImageError, match=r"(?i)refused.*decompression bomb") as info:
        list(open_source("c", str(bomb), detect_fps=1, cfg=CFG))
    assert "bomb.png" in str(info.value)


def test_max_pixels_applies_below_pillows_own_limit(tmp_path: Path) -> None:
    png = png_header_only(tmp_path / "big.png", 3000, 3000)  # 9 MP: Pillow itself would decode it
    with pytest.raises(InvalidImageError, match=r"3000x3000 .*\(ingest\.max_pixels\)"):
        list(ImageFolderSource("c", [png], detect_fps=1, cfg=IngestConfig(max_pixels=4_000_000)))


def test_missing_path_and_bad_uris(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"camera c: .*nope.mp4: no such file"):
        open_source("c", str(tmp_path / "nope.mp4"), detect_fps=1, cfg=CFG)
    with pytest.raises(SourceError, match="no source configured"):
        open_source("c", " ", detect_fps=1, cfg=CFG)
    with pytest.raises(SourceError, match="unsupported") as info:
        open_source("c", "ftp://admin:hunter2@cam.local/x", detect_fps=1, cfg=CFG)
    assert "hunter2" not in str(info.value) and "***@" in str(info.value)


def test_close_stops_iteration(folder: Path) -> None:
    src = open_source("c", str(folder), detect_fps=1, cfg=CFG)
    next(src)
    src.close()
    assert list(src) == []


def test_images_stay_on_the_detect_grid_when_the_pipeline_samples_faster(folder: Path) -> None:
    # videos are sampled at sample_fps (confirmation looks); each still image is one detect-fps frame
    with open_source("c", str(folder), detect_fps=4, sample_fps=8, cfg=CFG) as src:
        frames = list(src)
    assert [f.timestamp for f in frames] == [0.0, 0.25, 0.5, 0.75]
