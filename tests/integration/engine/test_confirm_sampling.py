"""Confirmation looks through ``App.process``: videos are handed over at detect_fps x confirm_rate and
the extra frames are detected only for new faces; still images stay one frame each on the detect grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from citywatch.app import App
from citywatch.config import CameraConfig, Config, TrackerConfig
from citywatch.demo import astronaut, render_walk
from citywatch.store.users import create_user


def open_app(home: Path, confirm_rate: float = 2.0) -> App:
    cfg = Config(
        cameras=[CameraConfig(name="cam", detect_fps=5.0, source="")],
        tracker=TrackerConfig(confirm_rate=confirm_rate),
    )
    app = App.open(data_dir=home, cfg=cfg)
    create_user(app.store, "ivy", "investigator", "admin")
    return app


def test_a_walk_is_handed_over_at_twice_detect_fps_and_new_faces_get_extra_looks(tmp_path: Path) -> None:
    walk = render_walk(tmp_path / "walk.mp4", seed=3)  # 4 s at 10 fps: the astronaut walks past
    app = open_app(tmp_path / "home")
    try:
        s = app.process(str(walk), "cam", actor="ivy")
    finally:
        app.close()
    assert s.frames == 40  # 4 s x 5 fps x confirm_rate 2: every frame of the clip
    assert s.confirm_looks >= 1  # the face, new, was looked at between the 5 fps frames
    assert s.detected <= 20 + s.confirm_looks  # otherwise only the 5 fps grid was detected
    assert s.sightings == 1


def test_without_confirmation_the_source_samples_detect_fps_only(tmp_path: Path) -> None:
    walk = render_walk(tmp_path / "walk.mp4", seed=3)
    app = open_app(tmp_path / "home", confirm_rate=1.0)
    try:
        s = app.process(str(walk), "cam", actor="ivy")
    finally:
        app.close()
    assert (s.frames, s.detected, s.confirm_looks, s.sightings) == (20, 20, 0, 1)


def test_every_still_image_is_one_detected_frame(tmp_path: Path) -> None:
    folder = tmp_path / "stills"
    folder.mkdir()
    face = astronaut()
    for i in range(4):  # the same photo shifted: every image differs from the last (motion)
        Image.fromarray(np.roll(face, 40 * i, axis=1)).save(folder / f"{i}.png")
    app = open_app(tmp_path / "home")
    try:
        s = app.process(str(folder), "cam", actor="ivy")
    finally:
        app.close()
    assert s.frames == 4 and s.detected == 4 and s.confirm_looks == 0
