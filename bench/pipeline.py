"""Pipeline benchmark: decode only vs the naive loop vs the citywatch pipeline, one process, one run.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/pipeline.py [--video PATH] [--naive-frames N]

(a) decode: PyAV decode of every frame to RGB, nothing else (the floor).
(b) naive: what a face_recognition script does: dlib HOG with one upsample and
    the ResNet encoder (5-point aligner) on every frame at full resolution.
    It is slow, so it runs on the first --naive-frames frames and its rate is
    extrapolated (the rate is per frame, so that is fair).
(c) citywatch: the real pipeline through ``App.process`` (sampling to the
    camera's detect fps, motion gate, BlazeFace, ByteTrack, best shots, face
    verifier, batched embedding, matching, SQLite + FAISS + thumbnails) on the
    whole video, at detect fps 5 and 10 (every frame of this 10 fps video),
    each with ``ingest.motion.focus`` off (the default: every frame that
    passes the gate gets the full tiled pass) and on (only the tiles that
    overlap moving areas and tracked faces, full passes on keepalive frames);
    at 5 fps also without confirmation looks (``tracker.confirm_rate`` 1: a
    new face is not looked for again off the 5 fps grid).

Every person still found: the reference is the full pass on every frame
(focus off, 10 fps). Each of its tracks (a face seen in >= 3 frames, before
the face verifier) must overlap in time a track of the run being checked.
In this clip people walk *away* from the camera: the tracks are backs of
heads, which the verifier rightly drops, so every run stores 0 sightings
(docs/detectors.md); what the check compares is what the detector found.

Frames/s are *video* frames covered per second of wall time. Ratios are taken
within this one run, because this machine is noisy (the load average is
recorded). Writes bench/results/pipeline.json and pipeline.png (seconds per
stage for each run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import dlib
import face_recognition_models as frm
import numpy as np

from citywatch.app import App
from citywatch.config import CameraConfig, Config, IngestConfig, MotionConfig, TrackerConfig
from citywatch.engine.verify import FaceVerifier
from citywatch.governance.access import add_user
from citywatch.store import Store
from citywatch.types import ClosedTrack

DATA = Path(os.environ.get("CITYWATCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_VIDEO = DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4"
STAGES = ("decode", "motion", "detect", "track", "verify", "align", "embed", "match", "store")
MIN_REFERENCE_DETECTIONS = 3


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def decode_only(video: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        for frame in c.decode(video=0):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n, time.perf_counter() - t0


def naive(video: Path, limit: int) -> tuple[int, float, int]:
    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    n = faces = 0
    t0 = time.perf_counter()
    with av.open(str(video)) as c:
        for frame in c.decode(video=0):
            img = frame.to_ndarray(format="rgb24")
            for r in det(img, 1):
                faces += 1
                np.asarray(net.compute_face_descriptor(img, sp(img, r), 1))
            n += 1
            if n >= limit:
                break
    return n, time.perf_counter() - t0, faces


class RecordingVerifier(FaceVerifier):
    """The real verifier, remembering every track it was asked about (the detector's findings)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[ClosedTrack] = []

    def confirms(self, track: ClosedTrack) -> bool:
        self.seen.append(track)
        return super().confirms(track)


def pipeline(video: Path, fps: float, focus: bool, confirm_rate: float = 2.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        motion = MotionConfig(focus=focus)
        cfg = Config(
            cameras=[CameraConfig(name="bench", detect_fps=fps, source=str(video))],
            ingest=IngestConfig(motion=motion),
            tracker=TrackerConfig(confirm_rate=confirm_rate),
        )
        app = App(cfg, Path(home), Store.open("", Path(home)))
        try:
            app.detector, app.embedder  # noqa: B018 - load models outside the timed part
            verifier = RecordingVerifier()
            verifier.load()
            app.__dict__["verifier"] = verifier  # App.verifier is a cached property
            add_user(app.store, None, "bench", "admin")  # processing acts as a user; no case: no alerts
            s = app.process(str(video), "bench", actor="bench")
        finally:
            app.close()
    return {
        "detect_fps": fps,
        "focus": focus,
        "confirm_rate": confirm_rate,
        "detected": s.detected,
        "confirm_looks": s.confirm_looks,
        "sampled_frames": s.frames,
        "motion_skipped": s.stats.motion_skipped,
        "seconds": s.seconds,
        "sightings": s.sightings,
        "tracks": [[round(t.start, 2), round(t.end, 2), t.detections] for t in verifier.seen],
        "stage_seconds": {k: round(s.stage_seconds.get(k, 0.0), 3) for k in STAGES},
    }


def label(run: dict[str, Any]) -> str:
    """``5 fps``, ``5 fps focus``, ``5 fps no-confirm``: the variant a run measured."""
    return (
        f"{run['detect_fps']:g} fps"
        + (" focus" if run["focus"] else "")
        + (" no-confirm" if run["confirm_rate"] == 1 else "")
    )


def coverage(reference: list[list[float]], run: list[list[float]]) -> tuple[int, int, list[list[float]]]:
    """(found, total, missed): reference tracks with a time-overlapping track in ``run``."""
    wanted = [r for r in reference if r[2] >= MIN_REFERENCE_DETECTIONS]
    missed = [r for r in wanted if not any(t[0] <= r[1] and r[0] <= t[1] for t in run)]
    return len(wanted) - len(missed), len(wanted), missed


def plot(runs: list[dict[str, Any]], decode_s: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    labels = [label(r) for r in runs]
    left = np.zeros(len(runs))
    for stage in STAGES:
        vals = np.array([r["stage_seconds"][stage] for r in runs])
        if vals.sum() == 0:
            continue
        ax.barh(labels, vals, left=left, label=stage)
        left += vals
    ax.axvline(decode_s, color="black", linestyle="--", linewidth=0.8, label="decode only (floor)")
    ax.set_xlabel("seconds for the whole clip (one core)")
    ax.legend(fontsize=7, ncol=5, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--naive-frames", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pipeline.json")
    args = ap.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"video not found: {args.video} (set CITYWATCH_DATA)")

    load_before = uptime()
    total, t_dec = decode_only(args.video)
    n_naive, t_naive, naive_faces = naive(args.video, args.naive_frames)
    variants = [(5.0, False, 2.0), (5.0, True, 2.0), (5.0, False, 1.0), (10.0, False, 2.0), (10.0, True, 2.0)]
    runs = [pipeline(args.video, fps, focus, rate) for fps, focus, rate in variants]
    load_after = uptime()

    dec_fps = total / t_dec
    naive_fps = n_naive / t_naive
    reference = next(r for r in runs if r["detect_fps"] == 10.0 and not r["focus"])["tracks"]
    rows: list[tuple[str, int, float, float, str]] = [("decode only", total, t_dec, dec_fps, "")]
    rows.append(("naive dlib loop", n_naive, t_naive, naive_fps, f"{naive_faces} faces"))
    for r in runs:
        secs = float(r["seconds"])
        found, wanted, missed = coverage(reference, r["tracks"])
        r["persons_found"] = [found, wanted]
        r["persons_missed"] = missed
        name = f"citywatch {label(r)}"
        note = (
            f"{len(r['tracks'])} tracks, {found}/{wanted} persons, {r['sightings']} sightings, "
            f"{r['confirm_looks']} confirm looks"
        )
        rows.append((name, total, secs, total / secs, note))
    print(f"video: {args.video.name}, {total} frames; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"load before: {load_before}\nload after:  {load_after}")
    print(f"{'run':<34}{'frames':>7}{'seconds':>9}{'frames/s':>10}{'x naive':>9}{'/ decode':>10}  notes")
    for name, n, secs, fps, note in rows:
        print(
            f"{name:<34}{n:>7}{secs:>9.2f}{fps:>10.1f}{fps / naive_fps:>9.1f}{fps / dec_fps:>10.3f}  {note}"
        )

    print("\nper stage, seconds for the whole clip (ms per video frame in brackets):")
    heads = [label(r) for r in runs]
    print(f"{'stage':<9}" + "".join(f"{h:>20}" for h in heads))
    for stage in STAGES:
        cells = "".join(
            f"{r['stage_seconds'][stage]:>11.2f} ({1000 * r['stage_seconds'][stage] / total:5.2f})"
            for r in runs
        )
        print(f"{stage:<9}{cells}")
    print(
        f"{'total':<9}" + "".join(f"{r['seconds']:>11.2f} ({1000 * r['seconds'] / total:5.2f})" for r in runs)
    )
    print(
        f"decode-only floor: {t_dec:.2f} s ({1000 * t_dec / total:.2f} ms per frame, {dec_fps:.0f} frames/s)"
    )
    for r in runs:
        if r["persons_missed"]:
            print(f"missed at {label(r)}: {r['persons_missed']}")

    result = {
        "video": str(args.video.name),
        "frames": total,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.machine(),
        "load_before": load_before,
        "load_after": load_after,
        "decode": {"seconds": t_dec, "fps": dec_fps},
        "naive": {"frames": n_naive, "seconds": t_naive, "fps": naive_fps, "faces": naive_faces},
        "citywatch": [
            r | {"fps": total / float(r["seconds"]), "x_naive": total / float(r["seconds"]) / naive_fps}
            for r in runs
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    plot(runs, t_dec, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
