"""Open the right :class:`FrameSource` for a camera's ``source`` string.

==========================  =======================================================
``rtsp://``, ``rtsps://``,   :class:`~citywatch.ingest.live.LiveSource` (PyAV in a thread,
``rtmp(s)://``,              wall-clock stamps, reconnects, bounded drop-oldest queue);
``http(s)://``               HTTP covers MJPEG (multipart/x-mixed-replace), HLS and plain
                             video files served over HTTP (those replay when they end).
a folder                     :class:`~citywatch.ingest.files.ImageFolderSource`
an image file (.jpg, ...)    one-frame :class:`~citywatch.ingest.files.ImageFolderSource`
any other file (``file://``  :class:`~citywatch.ingest.files.VideoFileSource` (video, GIF)
accepted)
``replay:PATH``              :class:`~citywatch.ingest.replay.ReplaySource`: a file played as a
                             live camera (real-time pace, wall-clock stamps, looping; demos)
==========================  =======================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from citywatch.config import IngestConfig
from citywatch.errors import SourceError
from citywatch.ingest.base import FrameSource
from citywatch.ingest.files import IMAGE_SUFFIXES, ImageFolderSource, VideoFileSource
from citywatch.ingest.live import LiveSource
from citywatch.ingest.replay import SCHEME as REPLAY
from citywatch.ingest.replay import ReplaySource
from citywatch.log import scrub_url

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https"})


def open_source(
    camera: str,
    uri: str,
    *,
    detect_fps: float,
    cfg: IngestConfig,
    sample_fps: float | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], object] | None = None,
) -> FrameSource:
    """Open ``uri`` for ``camera``: videos and live streams sampled to ``sample_fps`` frames a
    second (default ``detect_fps``; the pipeline may look at more than ``detect_fps`` to confirm
    new faces, ``Config.sample_fps``); still images play back one per ``1/detect_fps``, every
    one of them on the detect grid.

    ``clock`` stamps live frames; ``sleep`` waits between live reconnects (default: a wait
    that :meth:`FrameSource.close` interrupts). Both exist for tests.

    Raises :class:`SourceError` (message names the camera and the credential-scrubbed
    URI) for an empty or unsupported URI, a missing path, or a file that cannot be opened;
    :class:`~citywatch.errors.InvalidImageError` when a video's frame size exceeds
    ``cfg.max_pixels``. Live URLs never fail here: connection errors are retried by the
    reader thread and show in ``stats``.
    """
    if not uri.strip():
        raise SourceError(f"camera {camera}: no source configured")
    rate = sample_fps or detect_fps
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in LIVE_SCHEMES:
        return LiveSource(camera, uri, detect_fps=rate, cfg=cfg, clock=clock, sleep=sleep)
    if scheme == REPLAY:
        path = Path(unquote(parts.path)).expanduser()
        if not path.is_file():
            raise SourceError(f"camera {camera}: {path}: no such file to replay")
        query = parse_qs(parts.query)
        try:
            pause = float(query.get("pause", ["0"])[0])
        except ValueError as exc:
            raise SourceError(f"camera {camera}: replay pause {query['pause'][0]!r} is not a number") from exc
        return ReplaySource(camera, path, detect_fps=rate, cfg=cfg, clock=clock, pause=pause)
    if scheme == "file":
        path = Path(unquote(parts.path))
    elif len(scheme) > 1 and "://" in uri:  # a one-letter "scheme" is a Windows drive
        raise SourceError(f"camera {camera}: unsupported source {scrub_url(uri)!r} (scheme {scheme}://)")
    else:
        path = Path(uri).expanduser()
    if not path.exists():
        raise SourceError(f"camera {camera}: {path}: no such file or folder")
    if path.is_dir():
        return ImageFolderSource.from_folder(camera, path, detect_fps=detect_fps, cfg=cfg)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFolderSource(camera, [path], detect_fps=detect_fps, cfg=cfg)
    return VideoFileSource(camera, path, detect_fps=rate, cfg=cfg)
