"""Media the ingest integration tests generate: small PyAV-encoded videos and their damaged copies."""

from __future__ import annotations

import functools
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
from PIL import Image

W, H, FPS, N = 160, 120, 10, 30
RECT = (40, 80)  # rows of the moving bright rectangle


def rect_x(i: int) -> int:
    """Left column of the rectangle in frame ``i``."""
    return 5 + i * 4


def synthetic(i: int) -> np.ndarray:
    """Frame ``i``: noisy dark background (so every frame has real bits) and a bright box moving right."""
    rng = np.random.default_rng(i)
    img = rng.integers(20, 60, (H, W, 3), dtype=np.uint8)
    img[RECT[0] : RECT[1], rect_x(i) : rect_x(i) + 30] = 230
    return img


def write_video(path: Path, codec: str = "libx264", *, n: int = N, faststart: bool = False) -> Path:
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=opts) as out:
        stream = out.add_stream(codec, rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": "5"}  # short GOPs: a cut file still has whole frames before the cut
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(synthetic(i), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def cut(src: Path, dst: Path, share: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


def garble(src: Path, dst: Path, length: int = 600) -> Path:
    """Overwrite ``length`` bytes in the middle with a fixed pseudo-random pattern."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + length] = np.random.default_rng(7).integers(0, 256, length, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


class MjpegServer:
    """An MJPEG camera (multipart/x-mixed-replace over HTTP) on a fixed local port.

    ``stop()`` closes the listening socket *and* every open stream, like a camera that
    reboots; ``start()`` brings it back on the same port.
    """

    BOUNDARY = b"frame"

    def __init__(self, port: int = 0, fps: float = 25.0) -> None:
        self.port = port
        self.fps = fps
        self.sent = 0
        self._server: ThreadingHTTPServer | None = None
        self._alive = threading.Event()
        self._jpegs = [self._jpeg(i) for i in range(10)]

    @staticmethod
    def _jpeg(i: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(synthetic(i)).save(buf, "JPEG", quality=80)
        return buf.getvalue()

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while owner._alive.is_set():
                        jpg = owner._jpegs[i % len(owner._jpegs)]
                        head = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                        self.wfile.write(head % (owner.BOUNDARY, len(jpg)) + jpg + b"\r\n")
                        owner.sent += 1
                        i += 1
                        time.sleep(1 / owner.fps)
                except OSError:
                    pass  # client went away

            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._alive.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._alive.clear()  # handlers leave their loop and close their connections
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"


def write_hls(folder: Path, n: int = N) -> Path:
    """An HLS VOD playlist (``index.m3u8`` + 1 s MPEG-TS segments) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    opts = {"hls_time": "1", "hls_list_size": "0", "hls_playlist_type": "vod"}
    with av.open(str(playlist), "w", format="hls", options=opts) as out:
        stream = out.add_stream("libx264", rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"g": "5"}
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(synthetic(i), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return playlist


class StaticServer:
    """Serves a folder over HTTP (for HLS playlists and segments)."""

    def __init__(self, folder: Path) -> None:
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
