"""Real local stream servers for the engine tests: RTSP (GStreamer) and HTTP MJPEG, both from a real clip.

Both can be killed mid-stream and brought back on the same port, like a camera
that reboots.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
from PIL import Image

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SCRIPT = Path(__file__).with_name("rtsp_gst_server.py")
RTSP_MISSING = (
    "no RTSP server: needs Debian's gst-rtsp-server for the system Python "
    "(apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad); "
    "ffmpeg cannot listen as an RTSP server"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rtsp_server_available() -> bool:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert all(Gst.ElementFactory.find(e) for e in ('qtdemux', 'h264parse', 'rtph264pay'))"
    )
    try:
        return (
            subprocess.run(
                [SYSTEM_PYTHON, "-c", probe], check=False, capture_output=True, timeout=30
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


class RtspServer:
    """``rtsp://127.0.0.1:<port>/cam`` serving ``clip`` in real time from a child process."""

    def __init__(self, clip: Path, port: int | None = None) -> None:
        self.clip = clip
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> None:
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SCRIPT), str(self.clip), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until "ready" (or EOF if it could not listen)
        if line.strip() != b"ready":
            proc.kill()
            proc.wait()
            raise RuntimeError(f"RTSP server did not start on port {self.port}")
        self._proc = proc

    def kill(self) -> None:
        """SIGKILL: the camera is gone at once, connections reset, no goodbye."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)
            self._proc = None


def clip_jpegs(clip: Path, n: int, quality: int = 85) -> list[bytes]:
    """The first ``n`` frames of a real clip, as JPEG files (what an MJPEG camera sends)."""
    out: list[bytes] = []
    with av.open(str(clip)) as c:
        for frame in c.decode(video=0):
            buf = io.BytesIO()
            Image.fromarray(frame.to_ndarray(format="rgb24")).save(buf, "JPEG", quality=quality)
            out.append(buf.getvalue())
            if len(out) >= n:
                break
    return out


class MjpegServer:
    """``multipart/x-mixed-replace`` JPEG frames over HTTP on loopback, looping a real clip.

    ``stop()`` closes the listener and every open stream, as a camera that
    reboots; ``start()`` brings it back on the same port.
    """

    def __init__(self, jpegs: list[bytes], fps: float = 10.0, port: int | None = None) -> None:
        self.jpegs = jpegs
        self.fps = fps
        self.port = port or free_port()
        self.sent = 0
        self._server: ThreadingHTTPServer | None = None
        self._alive = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

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
                        jpg = owner.jpegs[i % len(owner.jpegs)]
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                        self.wfile.write(head + jpg + b"\r\n")
                        owner.sent += 1
                        i += 1
                        time.sleep(1 / owner.fps)
                except OSError:
                    pass  # the client went away

            def log_message(self, format: str, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._alive.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._alive.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
