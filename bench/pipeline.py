"""Pipeline benchmark: decode only vs the naive loop vs the citywatch pipeline, one process, one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/pipeline.py [--video PATH] [--naive-frames N]

(a) decode: PyAV decode of every frame to RGB, nothing else (the floor).
(b) naive: what a face_recognition script does: dlib HOG with one upsample and
    the ResNet encoder (5-point aligner) on every frame at full resolution.
    It is slow, so it runs on the first --naive-frames frames and its rate is
    extrapolated (the rate is per frame, so that is fair).
(c) citywatch: the real pipeline through ``App.process`` (sampling to the
    camera's detect fps, motion gate, tiled BlazeFace, ByteTrack, best shots,
    batched embedding, matching, SQLite + FAISS + thumbnails) on the whole
    video, at detect fps 5 and 10 (every frame of this 10 fps video).

Frames/s are *video* frames covered per second of wall time. Ratios are taken
within this one run, because this machine is noisy. Writes JSON to
bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import av
import dlib
import face_recognition_models as frm
import numpy as np

from citywatch.app import App
from citywatch.config import CameraConfig, Config
from citywatch.governance.access import add_user
from citywatch.store import Store

DATA = Path(os.environ.get("CITYWATCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEFAULT_VIDEO = DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4"


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


def pipeline(video: Path, fps: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as home:
        cfg = Config(cameras=[CameraConfig(name="bench", detect_fps=fps, source=str(video))])
        app = App(cfg, Path(home), Store.open("", Path(home)))
        try:
            app.detector, app.embedder  # noqa: B018 - load models outside the timed part
            add_user(app.store, None, "bench", "admin")  # processing acts as a user; no case: no alerts
            s = app.process(str(video), "bench", actor="bench")
            sightings = app.store.list_sightings()
        finally:
            app.close()
    return {
        "detect_fps": fps,
        "sampled_frames": s.frames,
        "seconds": s.seconds,
        "sightings": s.sightings,
        "sighting_spans_s": [round((x.end - x.start).total_seconds(), 1) for x in sightings],
        "stage_seconds": {k: round(v, 3) for k, v in s.stage_seconds.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--naive-frames", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pipeline.json")
    args = ap.parse_args()
    if not args.video.is_file():
        raise SystemExit(f"video not found: {args.video} (set CITYWATCH_DATA)")

    total, t_dec = decode_only(args.video)
    n_naive, t_naive, naive_faces = naive(args.video, args.naive_frames)
    runs = [pipeline(args.video, fps) for fps in (5.0, 10.0)]

    dec_fps = total / t_dec
    naive_fps = n_naive / t_naive
    rows = [("decode only", total, t_dec, dec_fps, "")]
    rows.append(("naive dlib loop", n_naive, t_naive, naive_fps, f"{naive_faces} faces"))
    for r in runs:
        secs = float(r["seconds"])  # type: ignore[arg-type]
        rows.append(
            (f"citywatch @ {r['detect_fps']:g} fps", total, secs, total / secs, f"{r['sightings']} sightings")
        )
    print(f"video: {args.video.name}, {total} frames; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{'run':<24}{'frames':>8}{'seconds':>10}{'frames/s':>10}{'x naive':>9}{'/ decode':>10}  notes")
    for name, n, secs, fps, note in rows:
        print(
            f"{name:<24}{n:>8}{secs:>10.2f}{fps:>10.1f}{fps / naive_fps:>9.1f}{fps / dec_fps:>10.3f}  {note}"
        )
    for r in runs:
        print(f"stage seconds @ {r['detect_fps']:g} fps: {r['stage_seconds']}")
    result = {
        "video": str(args.video.name),
        "frames": total,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.machine(),
        "decode": {"seconds": t_dec, "fps": dec_fps},
        "naive": {"frames": n_naive, "seconds": t_naive, "fps": naive_fps, "faces": naive_faces},
        "citywatch": [
            r | {"fps": total / float(r["seconds"]), "x_naive": total / float(r["seconds"]) / naive_fps}
            for r in runs
        ],  # type: ignore[arg-type]
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
