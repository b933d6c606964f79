"""The world the console tests run in: real footage, a live MJPEG camera, users, and the real server.

Footage (``$CITYWATCH_DATA/intel-sample-videos/preview``, CC-BY 4.0): the
woman on the left of ``face-demographics-walking-and-pause.gif`` is also the
woman on the left of ``head-pose-face-detection-female-and-male.gif``. She is
enrolled from a crop of one frame of the first clip; the probe photo of the
search is a crop of the second clip. Both clips are processed as recordings of
two cameras a quarter of an hour apart, which gives two alerts and a
trajectory. ``face-demographics-walking.gif`` (other people) loops as a live
MJPEG camera so the Live page has a running camera tile.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
from PIL import Image

CLIPS = "intel-sample-videos/preview"
ENROL_CLIP = "face-demographics-walking-and-pause.gif"
PROBE_CLIP = "head-pose-face-detection-female-and-male.gif"
LIVE_CLIP = "face-demographics-walking.gif"
# (frame index, face box x0, y0, x1, y1) of the woman on the left; found with BlazeFace once
ENROL_FACE = (24, (55, 88, 113, 146))
PROBE_FACE = (0, (59, 75, 128, 145))

PASSWORD = "correct horse battery staple"
USERS = (
    ("root", "admin"),
    ("ivy", "investigator"),
    ("sam", "supervisor"),
    ("vera", "verifier"),
    ("vic", "verifier"),
    ("otto", "operator"),
    ("aud", "auditor"),
)
CASE = "C-2024-0117"

CONFIG = """\
governance:
  operator_name: City of Example (test)
cameras:
  - name: lobby
    source: {live_url}
    detect_fps: 3
    location: Town hall lobby (live MJPEG loop of a real clip)
    lat: 52.5194
    lon: 13.4010
    district: Mitte
    purpose: entrance safety
    vendor: Axis
    cost: 1850
    installed_on: "2023-04-12"
  - name: station
    enabled: false
    detect_fps: 10
    location: Station entrance (recordings)
    lat: 52.5219
    lon: 13.4132
    district: Mitte
    purpose: transport hub
    cost: 2400
    installed_on: "2022-11-03"
  - name: plaza
    enabled: false
    detect_fps: 10
    location: Market plaza (recordings)
    lat: 52.5203
    lon: 13.4071
    district: Mitte
    purpose: public square
    cost: 2100
    installed_on: "2023-01-20"
"""


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def face_crop(
    image: np.ndarray, box: tuple[int, int, int, int], scale: float = 2.2, up: int = 2
) -> Image.Image:
    """A head-and-shoulders crop around ``box``, enlarged: what an enrolment or probe photo looks like."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * scale / 2
    h, w = image.shape[:2]
    left, top = int(max(0, cx - half)), int(max(0, cy - 0.9 * half))
    right, bottom = int(min(w, cx + half)), int(min(h, cy + 1.1 * half))
    im = Image.fromarray(image[top:bottom, left:right])
    return im.resize((im.width * up, im.height * up), Image.Resampling.LANCZOS)


@dataclass(frozen=True)
class Footage:
    enrol_photo: Path
    probe_photo: Path
    no_face_photo: Path
    station_clip: Path
    plaza_clip: Path
    live_clip: Path


def prepare_footage(data: Path, out: Path) -> Footage:
    clips = data / CLIPS
    out.mkdir(parents=True, exist_ok=True)
    i, box = ENROL_FACE
    enrol = out / "dana-enrolment.jpg"
    face_crop(frames(clips / ENROL_CLIP)[i], box).save(enrol, quality=92)
    i, box = PROBE_FACE
    probe = out / "dana-probe.jpg"
    face_crop(frames(clips / PROBE_CLIP)[i], box).save(probe, quality=92)
    wall = out / "corridor-wall.jpg"  # a real picture with nobody in it
    Image.fromarray(frames(clips / LIVE_CLIP)[0][0:120, 0:180]).save(wall, quality=92)
    return Footage(enrol, probe, wall, clips / PROBE_CLIP, clips / ENROL_CLIP, clips / LIVE_CLIP)


class MjpegLoop:
    """A live MJPEG camera (multipart/x-mixed-replace over HTTP) that loops a real clip.

    Between loops it shows the empty first frame blurred for ``gap_s``, so
    people leave the picture and the tracker ends their tracks, like someone
    walking out of view.
    """

    def __init__(self, clip: Path, fps: float = 10.0, gap_s: float = 1.5) -> None:
        self.fps = fps
        imgs = frames(clip)
        blank = Image.fromarray(imgs[0]).resize((48, 27)).resize((imgs[0].shape[1], imgs[0].shape[0]))
        gap = [np.asarray(blank)] * int(gap_s * fps)
        self._jpegs = [self._jpeg(f) for f in [*imgs, *gap]]
        self._server: ThreadingHTTPServer | None = None
        self._alive = threading.Event()

    @staticmethod
    def _jpeg(img: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=80)
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
                        head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                        self.wfile.write(head % len(jpg) + jpg + b"\r\n")
                        i += 1
                        time.sleep(1 / owner.fps)
                except OSError:
                    pass  # the camera worker went away

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._alive.set()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._alive.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/lobby.mjpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def create_users(home: Path) -> None:
    """The test users, with passwords, created through the same calls as ``citywatch users create``."""
    from citywatch.api.security import hash_password
    from citywatch.governance.access import add_user
    from citywatch.store.auth import set_password_hash
    from citywatch.store.repo import Store

    hashed = hash_password(PASSWORD)  # one slow argon2 hash serves every test user
    with Store.open("", home) as store:
        for name, role in USERS:
            add_user(store, None if name == "root" else "root", name, role)
            set_password_hash(store, name, hashed)


@dataclass
class Server:
    """``citywatch serve`` running in a subprocess on a free port."""

    home: Path
    config: Path
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return os.environ | {"CITYWATCH_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}

    def start(self, timeout: float = 90.0) -> None:
        self.port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "citywatch",
            "serve",
            "--port",
            str(self.port),
            "--config",
            str(self.config),
        ]
        cmd += ["--data-dir", str(self.home)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"citywatch serve exited {self.proc.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if json.load(r).get("database"):
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(
            f"citywatch serve did not answer /healthz in {timeout} s:\n{self.log.read_text()[-4000:]}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def cli(self, *args: str, actor: str = "ivy", timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run the real CLI against the server's data directory (a second process, like an operator's shell)."""
        cmd = [
            sys.executable,
            "-m",
            "citywatch",
            *args,
            "--config",
            str(self.config),
            "--data-dir",
            str(self.home),
        ]
        res = subprocess.run(
            [*cmd, "--as", actor],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise AssertionError(f"citywatch {' '.join(args)} exited {res.returncode}:\n{res.stderr[-3000:]}")
        return res


def recorded(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0).isoformat()


def json_lines(text: str) -> Sequence[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
