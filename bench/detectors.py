"""Benchmark every face detector on the shared videos, single-threaded.

    OMP_NUM_THREADS=1 .venv/bin/python bench/detectors.py [--stride 5] [--cnn-frames 4]

Detectors run with one thread (BlazeFace ``threads=1``, ``cv2.setNumThreads(1)``;
the Makefile's ``OMP_NUM_THREADS=1`` covers BLAS). Prints a table (detector, source, frames, ms/frame, frames with >= 1 face,
faces found, median face size in px) and writes bench/results/detectors.json.
"Faces found" is not recall: these clips have no labels, and some detectors fire
on the backs of heads; read it with the face sizes and look at the frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from citywatch.config import BlazeFaceConfig, DlibCnnConfig, DlibHogConfig
from citywatch.detect import FaceDetector, build_detector
from citywatch.types import ImageArray

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CITYWATCH_DATA") or REPO.parent / "shared" / "data")
OUT = REPO / "bench" / "results" / "detectors.json"


@dataclass
class Row:
    detector: str
    source: str
    frames: int
    ms_per_frame: float
    frames_with_face: int
    faces: int
    median_face_px: float


def read_frames(path: Path, stride: int) -> list[ImageArray]:
    """Every ``stride``-th frame, RGB, decoded with PyAV (GIF, MP4 and AVI alike)."""
    frames: list[ImageArray] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % stride == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
    return frames


def sources(stride: int) -> dict[str, list[ImageArray]]:
    videos = [DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4", DATA / "opencv" / "vtest.avi"]
    gifs = sorted((DATA / "intel-sample-videos" / "preview").glob("*.gif"))
    out = {p.name: read_frames(p, stride) for p in videos if p.is_file()}
    out.update({p.name: read_frames(p, 1) for p in gifs})  # GIFs are short previews: every frame
    return out


def run(name: str, detector: FaceDetector, source: str, frames: list[ImageArray]) -> Row:
    detector.load()
    detector.detect(frames[0])  # warm-up (allocations, first-call costs) not timed
    sizes: list[float] = []
    with_face = 0
    start = time.perf_counter()
    for image in frames:
        found = detector.detect(image)
        with_face += len(found) > 0
        sizes.extend(float(s) for s in np.sqrt(np.prod(found.xyxy[:, 2:] - found.xyxy[:, :2], axis=1)))
    elapsed = time.perf_counter() - start
    return Row(
        detector=name,
        source=source,
        frames=len(frames),
        ms_per_frame=round(1000 * elapsed / len(frames), 1),
        frames_with_face=with_face,
        faces=len(sizes),
        median_face_px=round(statistics.median(sizes), 1) if sizes else 0.0,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stride", type=int, default=5, help="keep every n-th frame of the two videos")
    parser.add_argument("--cnn-frames", type=int, default=4, help="frames per source for the dlib CNN")
    parser.add_argument("--only", default="", help="comma-separated detector names to run")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}; set CITYWATCH_DATA", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    data = sources(args.stride)
    detectors: dict[str, tuple[Callable[[], FaceDetector], int | None]] = {
        "blazeface_full_tiled": (lambda: build_detector(BlazeFaceConfig(tile=True)), None),
        "blazeface_full": (lambda: build_detector(BlazeFaceConfig(tile=False)), None),
        "blazeface_short_tiled": (
            lambda: build_detector(BlazeFaceConfig(variant="short_range", tile=True)),
            None,
        ),
        "dlib_hog": (lambda: build_detector(DlibHogConfig(upsample=0)), None),
        "dlib_hog_up1": (lambda: build_detector(DlibHogConfig(upsample=1)), None),
        "dlib_cnn": (lambda: build_detector(DlibCnnConfig(upsample=0)), args.cnn_frames),
    }
    only = {s for s in args.only.split(",") if s}
    rows: list[Row] = []
    header = f"{'detector':22} {'source':44} {'frames':>6} {'ms/frame':>9} {'w/face':>6} {'faces':>6} {'med px':>6}"
    print(header)
    print("-" * len(header))
    for name, (make, limit) in detectors.items():
        if only and name not in only:
            continue
        det = make()
        for source, all_frames in data.items():
            frames = all_frames
            if limit is not None:
                # spread the few CNN frames over the clip rather than taking its first seconds
                picks = np.linspace(0, len(all_frames) - 1, min(limit, len(all_frames)), dtype=int)
                frames = [all_frames[i] for i in picks]
            row = run(name, det, source, frames)
            rows.append(row)
            print(
                f"{row.detector:22} {row.source:44} {row.frames:6d} {row.ms_per_frame:9.1f} "
                f"{row.frames_with_face:6d} {row.faces:6d} {row.median_face_px:6.1f}",
                flush=True,
            )
        det.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "threads": 1,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "video_stride": args.stride,
        "cnn_frames_per_source": args.cnn_frames,
        "data": str(DATA),
        "note": "faces found is not recall: the clips are unlabelled; backs of heads count as false positives",
    }
    args.out.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
