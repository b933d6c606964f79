"""Frame sources for local media: video files and GIFs (PyAV), and image folders (Pillow).

Files are decoded synchronously in the consumer's thread: reading waits for the consumer,
so nothing is ever dropped and the result does not depend on machine speed.

Damage detection (measured with PyAV 18 / FFmpeg 7, see the tests):

* An MP4/MOV whose ``moov`` index sits at the end (the default without ``faststart``) and
  that was cut short cannot be opened at all; we name the missing index in the error.
* Cut files whose index is at the front (faststart MP4), and garbage in the middle of MP4
  or MKV, make the decoder raise ``InvalidDataError`` at the damaged packet.
* A cut MKV or AVI just ends early with no exception (FFmpeg only logs), so at the end we
  compare what was decoded with the frame count / duration the container declares.
* Garbage inside an AVI (MPEG-4 part 2) is concealed by the decoder: frames come out
  damaged but nothing is raised or detectable here.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from citywatch.config import IngestConfig
from citywatch.errors import CorruptMediaError, InvalidImageError, SourceError
from citywatch.ingest.base import FrameSource, Sampler, check_pixels
from citywatch.types import Frame, ImageArray

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
"""Single files with these suffixes are read as one-frame sources through Pillow."""

SHORT_SHARE = 0.10
"""A file is "far shorter than its container says" when more than this share is missing..."""
SHORT_MIN_SECONDS = 1.0
"""...and at least this many seconds (so rounding on tiny clips never trips it)..."""
SHORT_MIN_FRAMES = 10
"""...or at least this many frames, when the container declares a frame count."""

_ISO_BOXES = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"pdin", b"moof", b"styp"}
)


def _mp4_problem(path: Path) -> str | None:
    """Explain why an ISO-BMFF file (MP4/MOV) cannot open, by walking its top-level boxes.

    Returns ``None`` when the file does not look like MP4/MOV or its layout looks fine.
    """
    try:
        size = path.stat().st_size
        seen: list[bytes] = []
        cut: bytes | None = None
        with path.open("rb") as fh:
            pos = 0
            while pos + 8 <= size:
                fh.seek(pos)
                header = fh.read(8)
                length, kind = int.from_bytes(header[:4], "big"), header[4:8]
                if length == 1:
                    length = int.from_bytes(fh.read(8), "big")
                elif length == 0:
                    length = size - pos
                if not seen and kind not in _ISO_BOXES:
                    return None
                if length < 8:
                    break
                seen.append(kind)
                if pos + length > size:
                    cut = kind
                    break
                pos += length
    except OSError:
        return None
    if not seen:
        return None
    if b"moov" not in seen:
        where = f" (the file ends inside its '{cut.decode('latin-1')}' box)" if cut else ""
        return (
            "the MP4/MOV index ('moov' atom) is missing" + where + ": the file was cut short or is still "
            "being written, and without the index nothing in it can be decoded (recorders that write "
            "the index first, e.g. ffmpeg -movflags +faststart, leave cut files partly readable)"
        )
    return None


def _natural_key(path: Path) -> list[Any]:
    """Sort ``img2`` before ``img10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _open_error(camera: str, uri: str, exc: BaseException) -> SourceError:
    return SourceError(f"camera {camera}: cannot open {uri}: {exc}")


class VideoFileSource(FrameSource):
    """Frames of the first video stream of a file PyAV can read (MP4, MKV, AVI, GIF, ...).

    Timestamps are media seconds relative to the first decoded frame
    (``(pts - first_pts) * time_base``), so they start at 0 even for files with an offset.
    Raises :class:`SourceError` at construction for a missing/unreadable file or one
    without video, :class:`InvalidImageError` when the stream is larger than
    ``cfg.max_pixels``, and :class:`CorruptMediaError` from iteration for damage found after
    some frames (``frames_ok`` = frames decoded intact before the damage).
    """

    def __init__(
        self, camera: str, path: Path, *, detect_fps: float, cfg: IngestConfig, uri: str | None = None
    ):
        super().__init__(camera, uri or str(path))
        self._path = path
        self._cfg = cfg
        self._sampler = Sampler(detect_fps)
        self._closed = False
        self._done = False
        self._decoded = 0
        self._first_pts: int | None = None
        self._last_ts = 0.0
        self._last_end = 0.0
        try:
            self._container = av.open(str(path), mode="r")
        except av.error.FFmpegError as exc:
            hint = _mp4_problem(path) if path.suffix.lower() in {".mp4", ".m4v", ".mov", ".3gp"} else None
            if hint is None:
                hint = f"not a video FFmpeg can read ({exc.strerror or exc})"
            raise SourceError(f"camera {camera}: cannot open {self.uri}: {hint}") from exc
        except OSError as exc:
            raise _open_error(camera, self.uri, exc) from exc
        try:
            if not self._container.streams.video:
                raise SourceError(f"camera {camera}: {self.uri} has no video stream")
            self._stream = self._container.streams.video[0]
            # frame threads: decode faster on multi-core machines; latency does not matter for files
            self._stream.thread_type = "AUTO"
            ctx = self._stream.codec_context
            if ctx.width and ctx.height:
                check_pixels(ctx.width, ctx.height, cfg.max_pixels, f"camera {camera}: {self.uri}")
            self._time_base: Fraction = self._stream.time_base or Fraction(1, 1)
            rate = self._stream.average_rate or self._stream.guessed_rate
            self._frame_seconds = float(1 / rate) if rate else 0.0
            self._frames = self._container.decode(self._stream)
        except BaseException:
            self._container.close()
            raise

    @property
    def live(self) -> bool:
        return False

    def _timestamp(self, frame: av.VideoFrame) -> float:
        if frame.pts is None:  # some AVI/raw streams: count frames at the nominal rate instead
            return self._last_ts + self._frame_seconds if self._decoded > 1 else 0.0
        if self._first_pts is None:
            self._first_pts = frame.pts
        return float((frame.pts - self._first_pts) * self._time_base)

    def __next__(self) -> Frame:
        if self._closed or self._done:
            raise StopIteration
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                self._done = True
                self._check_complete()
                self.close()
                raise
            except av.error.FFmpegError as exc:
                self._done = True
                self.close()
                raise self._corrupt(f"decoding failed ({exc.strerror or exc})") from exc
            self._decoded += 1
            self._counter.add(decoded=1)
            ts = self._timestamp(frame)
            duration = float(frame.duration * self._time_base) if frame.duration else self._frame_seconds
            self._last_ts, self._last_end = ts, ts + duration
            if not self._sampler.keep(ts):
                continue
            check_pixels(frame.width, frame.height, self._cfg.max_pixels, f"camera {self.camera}: {self.uri}")
            image = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)  # no copy: rgb24 is uint8
            self._counter.frame(ts)
            return Frame(camera=self.camera, index=self._decoded - 1, timestamp=ts, image=image, live=False)

    def _corrupt(self, what: str) -> CorruptMediaError:
        msg = (
            f"camera {self.camera}: {self.uri} is damaged: {what}; {self._decoded} frames "
            f"({self._last_end:.2f} s) decoded intact before it were delivered"
        )
        log.warning("%s", msg)
        self._counter.error(msg)
        return CorruptMediaError(msg, frames_ok=self._decoded)

    def _check_complete(self) -> None:
        """At end of stream: raise when far less was decoded than the container declares.

        A cut MKV/AVI ends early without any decoder error, so this is the only signal.
        The container-level duration is used only for single-stream files: with audio it
        may describe the longer audio track.
        """
        stream, container = self._stream, self._container
        declared_frames = int(stream.frames or 0)
        declared: float | None = None
        if stream.duration:
            declared = float(stream.duration * self._time_base)
        elif container.duration and len(container.streams) == 1:
            declared = container.duration / av.time_base
        if self._decoded == 0:
            if declared_frames or declared:
                raise self._corrupt("no frame could be decoded")
            raise SourceError(f"camera {self.camera}: {self.uri} contains no decodable video frames")
        missing_frames = declared_frames - self._decoded
        if declared_frames and missing_frames > max(SHORT_MIN_FRAMES, SHORT_SHARE * declared_frames):
            raise self._corrupt(
                f"the file declares {declared_frames} frames but ends after {self._decoded} (truncated?)"
            )
        if declared is not None:
            missing = declared - self._last_end
            if missing > max(SHORT_MIN_SECONDS, SHORT_SHARE * declared):
                raise self._corrupt(
                    f"the file declares {declared:.2f} s but ends after {self._last_end:.2f} s (truncated?)"
                )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


class ImageFolderSource(FrameSource):
    """Still images as frames: a folder (natural sort order) or a single image file.

    Each image is one frame; ``timestamp = index / detect_fps`` where ``index`` counts the
    images delivered so far, so the folder plays back at the detect rate (no sampling).
    Files Pillow does not recognise are skipped with a warning; images that fail to decode
    (truncated JPEG, ...) are skipped with a warning and recorded in ``stats.errors``.
    An image larger than ``cfg.max_pixels`` raises :class:`InvalidImageError`, decided
    from the header before any pixel is decoded. EXIF orientation is applied.
    """

    def __init__(
        self, camera: str, paths: list[Path], *, detect_fps: float, cfg: IngestConfig, uri: str | None = None
    ) -> None:
        super().__init__(camera, uri or (str(paths[0]) if len(paths) == 1 else "(images)"))
        if not detect_fps > 0:
            raise ValueError(f"detect_fps must be > 0, got {detect_fps}")
        self._paths = list(paths)
        self._pos = 0
        self._index = 0
        self._period = 1.0 / detect_fps
        self._cfg = cfg
        self._closed = False

    @classmethod
    def from_folder(
        cls, camera: str, folder: Path, *, detect_fps: float, cfg: IngestConfig
    ) -> ImageFolderSource:
        """All regular, non-hidden files directly in ``folder``, in natural sort order."""
        try:
            paths = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        except OSError as exc:
            raise _open_error(camera, str(folder), exc) from exc
        return cls(camera, sorted(paths, key=_natural_key), detect_fps=detect_fps, cfg=cfg, uri=str(folder))

    @property
    def live(self) -> bool:
        return False

    def __next__(self) -> Frame:
        while not self._closed and self._pos < len(self._paths):
            path = self._paths[self._pos]
            self._pos += 1
            image = self._load(path)
            if image is None:
                continue
            ts = self._index * self._period
            frame = Frame(camera=self.camera, index=self._index, timestamp=ts, image=image, live=False)
            self._index += 1
            self._counter.add(decoded=1)
            self._counter.frame(ts)
            return frame
        raise StopIteration

    def _load(self, path: Path) -> ImageArray | None:
        what = f"camera {self.camera}: {path}"
        try:
            im = Image.open(path)  # lazy: reads the header only
        except Image.DecompressionBombError as exc:  # Pillow's own hard limit (2x MAX_IMAGE_PIXELS)
            raise InvalidImageError(f"{what}: refused: {exc}") from exc
        except UnidentifiedImageError:
            log.warning("%s: not an image, skipped", what)
            return None
        except OSError as exc:
            log.warning("%s: unreadable, skipped: %s", what, exc)
            self._counter.error(f"{what}: unreadable: {exc}")
            return None
        with im:
            check_pixels(im.width, im.height, self._cfg.max_pixels, what)
            try:
                rgb = ImageOps.exif_transpose(im).convert("RGB")
            except Image.DecompressionBombError as exc:
                raise InvalidImageError(f"{what}: refused: {exc}") from exc
            except (OSError, ValueError, SyntaxError) as exc:  # Pillow raises all three on bad data
                log.warning("%s: damaged image, skipped: %s", what, exc)
                self._counter.error(f"{what}: damaged image: {exc}")
                return None
        return np.asarray(rgb, dtype=np.uint8)

    def close(self) -> None:
        self._closed = True
