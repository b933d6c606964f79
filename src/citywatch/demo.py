"""The demo behind ``make demo``: a generated scene, plus real footage when it is there.

Generated part (always): scikit-image ships a public-domain NASA portrait
(``skimage.data.astronaut``). We paste that person into three synthetic
"camera" clips, walking past one camera after another, enrol the portrait on
a demo watchlist, process the clips, and search with a mirrored copy of the
photo. Everything generated is labelled as such in the output.

Real part (when ``$CITYWATCH_DATA`` holds the shared data): two of the Intel
sample clips (people facing a camera) are processed as two more cameras,
which gives real sightings of real people (none of them enrolled, so no
alerts; they show up in the search as leads below the threshold).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np

from citywatch.config import CameraConfig, Config, GovernanceConfig
from citywatch.store.governance import AuthorisationRecord
from citywatch.store.repo import Store
from citywatch.types import ImageArray

DEMO_MARKER = ".citywatch-demo"
SCENE_SIZE = (640, 360)
SCENE_FPS = 10
# Made-up positions along one street (lat, lon): a trajectory needs places.
DEMO_CAMERAS = (
    ("gate-north", "Demo: north gate (generated scene)", 52.5200, 13.4050),
    ("plaza", "Demo: plaza (generated scene)", 52.5206, 13.4090),
    ("station", "Demo: station entrance (generated scene)", 52.5213, 13.4131),
)

# Real clips from the shared data in which people face the camera.
REAL_CAMERAS = (
    ("desk", "head-pose-face-detection-female-and-male.gif", 52.5210, 13.4070),
    ("corridor", "face-demographics-walking-and-pause.gif", 52.5203, 13.4110),
)


@dataclass(frozen=True, slots=True)
class DemoClip:
    camera: str
    path: Path
    recorded_at: datetime
    generated: bool


def shared_data_dir() -> Path | None:
    """``$CITYWATCH_DATA`` (default ``../shared/data``) if it exists."""
    p = Path(os.environ.get("CITYWATCH_DATA", "../shared/data")).expanduser()
    return p if p.is_dir() else None


def astronaut() -> ImageArray:
    from skimage import data

    img: ImageArray = np.ascontiguousarray(data.astronaut())  # type: ignore[no-untyped-call]
    return img


def _background(rng: np.random.Generator, seed_shift: int) -> ImageArray:
    w, h = SCENE_SIZE
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = 90 + 60 * y + 25 * np.sin(6 * x + seed_shift)
    img = np.stack([base, base * 0.95 + 10 * seed_shift, base * 0.9], axis=-1)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    # a few "doors"/"pillars" so the scene is not featureless
    for i in range(4):
        x0 = int((i + 0.5) * w / 4 + 20 * seed_shift) % w
        img[40:300, x0 : x0 + 18] *= 0.6
    out: ImageArray = np.clip(img, 0, 255).astype(np.uint8)
    return out


def _person_sprite(scale: float) -> tuple[ImageArray, np.ndarray]:
    """Head-and-shoulders of the astronaut, scaled, with a feathered oval alpha mask."""
    person = astronaut()[0:420, 95:375]
    sprite: ImageArray = np.asarray(
        cv2.resize(person, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8
    )
    h, w = sprite.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, int(h * 0.55)), (int(w * 0.47), int(h * 0.6)), 0, 0, 360, 1.0, -1)
    mask = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigmaX=max(2.0, w * 0.03)), np.float32)
    return sprite, mask


def render_walk(path: Path, *, seconds: float = 4.0, scale: float = 0.55, seed: int = 0) -> Path:
    """Write an H.264 clip of the astronaut walking across a synthetic corridor."""
    rng = np.random.default_rng(seed)
    bg = _background(rng, seed)
    sprite, mask = _person_sprite(scale)
    sh, sw = sprite.shape[:2]
    w, h = SCENE_SIZE
    n = int(seconds * SCENE_FPS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=SCENE_FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            frame = bg.astype(np.float32)
            x0 = int(-sw * 0.3 + (w - sw * 0.4) * i / max(1, n - 1))
            y0 = int(30 + 6 * np.sin(i * 1.3))  # walking bob
            xs, xe = max(0, x0), min(w, x0 + sw)
            ys, ye = max(0, y0), min(h, y0 + sh)
            if xe > xs and ye > ys:
                sp = sprite[ys - y0 : ye - y0, xs - x0 : xe - x0].astype(np.float32)
                a = mask[ys - y0 : ye - y0, xs - x0 : xe - x0, None]
                frame[ys:ye, xs:xe] = frame[ys:ye, xs:xe] * (1 - a) + sp * a
            frame += rng.normal(0, 3, frame.shape).astype(np.float32)  # sensor noise
            img = np.clip(frame, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


LIVE_CAMERA = ("lobby", "face-demographics-walking-and-pause.gif", 52.5199, 13.4085)
"""The camera ``make demo`` leaves running under ``citywatch serve``: a recording replayed as live."""


def demo_config(shared: Path | None, home: Path) -> Config:
    """The demo's cameras: the recorded ones are processed once by ``citywatch demo`` and are
    ``enabled: false`` so that ``serve`` does not process them again; ``lobby`` replays a clip as a
    live camera (real footage when the shared data is there, else the generated walk)."""
    cams = [
        CameraConfig(name=name, location=loc, lat=lat, lon=lon, detect_fps=5.0, source="", enabled=False)
        for name, loc, lat, lon in DEMO_CAMERAS
    ]
    name, clip, lat, lon = LIVE_CAMERA
    if shared is not None:
        for real, real_clip, rlat, rlon in REAL_CAMERAS:
            cams.append(
                CameraConfig(
                    name=real,
                    location=f"Intel sample video {real_clip} (real footage, CC-BY 4.0)",
                    lat=rlat,
                    lon=rlon,
                    detect_fps=10.0,
                    source=str(shared / "intel-sample-videos" / "preview" / real_clip),
                    enabled=False,
                )
            )
        live_src, where = shared / "intel-sample-videos" / "preview" / clip, f"Intel sample video {clip}"
    else:
        live_src, where = home / "demo-scene" / f"{DEMO_CAMERAS[0][0]}.mp4", "the generated walk"
    cams.append(
        CameraConfig(
            name=name,
            location=f"DEMO live camera: {where} replayed in a loop, every 20 s",
            lat=lat,
            lon=lon,
            detect_fps=10.0,
            source=f"replay:{live_src}?pause=20",
        )
    )
    return Config(cameras=cams)


def set_demo_passwords(store: Store) -> str:
    """Give every demo account one random password (printed once by the demo; never a default)."""
    import secrets

    from citywatch.api.security import hash_password
    from citywatch.store.auth import set_password_hash

    password = "demo-" + secrets.token_urlsafe(9)
    for name, _ in DEMO_USERS:
        set_password_hash(store, name, hash_password(password))
    return password


def demo_clips(home: Path, start: datetime | None = None) -> list[DemoClip]:
    """Render the generated clips (one per demo camera, a few minutes apart)."""
    t0 = (start or datetime.now(UTC).replace(microsecond=0)) - timedelta(hours=1)
    clips = []
    for i, (name, _, _, _) in enumerate(DEMO_CAMERAS):
        path = render_walk(home / "demo-scene" / f"{name}.mp4", seed=i)
        clips.append(DemoClip(name, path, t0 + timedelta(minutes=4 * i), generated=True))
    return clips


def prepare_home(home: Path) -> None:
    """Make ``home`` a fresh demo directory; refuse to wipe a directory that is not a demo's."""
    import shutil

    if home.exists() and any(home.iterdir()):
        if not (home / DEMO_MARKER).exists():
            raise FileExistsError(
                f"{home} holds data that is not from a demo; choose another --data-dir for the demo"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / DEMO_MARKER).write_text("created by `citywatch demo`; safe to delete\n")


DEMO_USERS = (
    ("demo-admin", "admin"),
    ("demo-investigator", "investigator"),
    ("demo-supervisor", "supervisor"),
    ("demo-verifier-1", "verifier"),
    ("demo-verifier-2", "verifier"),
)
"""Clearly labelled demo accounts: the first is the bootstrap admin, who creates the others."""
DEMO_CASE = "DEMO-0001"
DEMO_AUTHORITY = "DEMO ONLY - no issuing authority; generated scene"
DEMO_REFERENCE = "DEMO ONLY - DEMO-AUTH-0001"


def create_demo_users(store: Store) -> None:
    """Create the demo accounts (the first, an admin, bootstraps the others)."""
    from citywatch.governance.access import add_user

    admin = DEMO_USERS[0][0]
    for name, role in DEMO_USERS:
        add_user(store, admin, name, role)


def demo_authorisation(
    store: Store, gov: GovernanceConfig, entry_id: int, cameras: list[str], around: datetime
) -> AuthorisationRecord:
    """Request (investigator) and grant (supervisor) the labelled demo post-event authorisation."""
    from citywatch.governance.authorisations import grant, request

    rec = request(
        store,
        gov,
        "demo-investigator",
        case_ref=DEMO_CASE,
        authority=DEMO_AUTHORITY,
        reference=DEMO_REFERENCE,
        purpose="post_event",
        use="post_event",
        targets=[entry_id],
        cameras=cameras,
        window_start=around - timedelta(hours=3),
        window_end=around + timedelta(hours=1),
    )
    return grant(store, "demo-supervisor", rec.id)
