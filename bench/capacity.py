"""Capacity: cameras per CPU core for the real pipeline, and throughput against worker processes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/capacity.py [--fps 2 5 10] [--workers 1 2]

(a) Per detect fps and video: one worker process, pinned to one core, runs
    the camera worker's path (``App.process``: decode, sampling, motion gate,
    tiled BlazeFace, ByteTrack, best shots, face verifier, embedding,
    matching, SQLite + FAISS + thumbnails) over the whole file. The realtime
    factor is media seconds processed per second; measured on the process's
    CPU time it is the number of such cameras one core keeps up with
    (cameras/core), and this is robust to other load on a shared machine.
    The wall-clock factor is printed beside it as a check.
(b) Throughput against workers: 1..N worker processes (unpinned) process the
    video at once as separate cameras into one data directory, as the fleet
    does; throughput = media seconds of all cameras per wall second.

Models load before the clock starts. ``uptime`` load averages are recorded
with each part: ratios within one run are what to compare on a busy machine.
Writes JSON (default bench/results/capacity.json) and a PNG plot of
throughput against workers (bench/results/capacity.png).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("CITYWATCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIDEOS = (
    DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4",
    DATA / "intel-sample-videos" / "face-demographics-walking.mp4",  # used when present (SOURCES.md)
    DATA / "intel-sample-videos" / "preview" / "face-demographics-walking-and-pause.gif",
)


def make_hd(src: Path, dst: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``src`` upscaled to 1920x1080 H.264 (crf 20) at its own frame rate.

    City cameras are mostly 1080p: this measures decode and detection per 1080p frame on the same
    scene (upscaled content compresses a little better than a real 1080p sensor's, so decode is
    if anything slightly cheaper than in the field).
    """
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        rate = s_in.average_rate or 10
        s_out = out.add_stream("libx264", rate=rate)
        s_out.width, s_out.height, s_out.pix_fmt = 1920, 1080, "yuv420p"
        s_out.options = {"crf": "20", "preset": "veryfast"}
        for i, f in enumerate(inp.decode(s_in)):
            if i >= seconds * float(rate):
                break
            hd = f.reformat(width=1920, height=1080, format="yuv420p")
            hd.pts, hd.time_base = i, Fraction(1) / rate
            for pkt in s_out.encode(hd):
                out.mux(pkt)
        for pkt in s_out.encode():
            out.mux(pkt)
    return dst


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def media_seconds(video: Path) -> tuple[float, int, int, int]:
    """(duration s, decoded frames, width, height) by decoding the whole file once."""
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        n, first, last, dur = 0, None, 0.0, 0.0
        w = h = 0
        for f in c.decode(s):
            t = float(f.pts * s.time_base) if f.pts is not None else n / float(s.average_rate or 10)
            first = t if first is None else first
            last = t
            dur = float(f.duration * s.time_base) if f.duration else dur
            w, h = f.width, f.height
            n += 1
    return last - (first or 0.0) + dur, n, w, h


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _worker(
    video: str,
    camera: str,
    fps: float,
    home: str,
    pin: int | None,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """One camera worker: load models, wait for ``go``, process the file, report timings."""
    if pin is not None:
        os.sched_setaffinity(0, {pin})
    from citywatch.app import App
    from citywatch.config import CameraConfig, Config
    from citywatch.store.repo import Store

    cfg = Config(cameras=[CameraConfig(name=camera, source=video, detect_fps=fps)])
    store = Store.open("", Path(home), migrate=False, reconcile=False)
    app = App(cfg, Path(home), store, worker=True)
    store.upsert_camera(camera, source=video)
    _ = app.detector, app.embedder, app.verifier  # load outside the timed part
    ready.set()
    go.wait()
    c0, t0 = _cpu(), time.perf_counter()
    s = app.process(video, camera, actor="bench")
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    stats = s.stats
    thumbs = [t.stat().st_size for t in Path(home, "thumbnails").rglob(f"{camera}-*.jpg")]
    out.put(
        {
            "camera": camera,
            "fps": fps,
            "wall_s": wall,
            "cpu_s": cpu,
            "sampled": s.frames,
            "decoded": stats.decoded,
            "motion_skipped": stats.motion_skipped,
            "sightings": s.sightings,
            "thumbnail_bytes_mean": sum(thumbs) / len(thumbs) if thumbs else None,
            "stage_s": {k: round(v, 3) for k, v in s.stage_seconds.items()},
        }
    )
    app.close()


def prepare_home() -> Path:
    from citywatch.governance.access import add_user
    from citywatch.store.repo import Store

    home = Path(tempfile.mkdtemp(prefix="cw-capacity-"))
    with Store.open("", home) as store:  # migrate once here; workers open with migrate=False
        add_user(store, None, "bench", "admin")  # processing acts as a user; no case: no alerts
    return home


def run_workers(video: Path, fps: float, n: int, pin: bool) -> tuple[list[dict[str, Any]], float]:
    """``n`` workers on ``video`` at once; returns their reports and the wall time of the slowest."""
    ctx = mp.get_context("spawn")
    home = prepare_home()
    ready = [ctx.Event() for _ in range(n)]
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(
                str(video),
                f"cam{i}",
                fps,
                str(home),
                i % os.cpu_count() if pin else None,
                ready[i],
                go,
                out,
            ),  # type: ignore[operator]
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    for e in ready:
        e.wait()
    t0 = time.perf_counter()
    go.set()
    reports = [out.get() for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a bench worker failed (exit {p.exitcode})")
    shutil.rmtree(home, ignore_errors=True)
    return reports, wall


def decode_cpu(video: Path) -> float:
    """CPU seconds to decode every frame to RGB (the floor every camera pays, whatever the detect fps)."""
    import av

    c0 = _cpu()
    with av.open(str(video)) as c:
        for f in c.decode(video=0):
            f.to_ndarray(format="rgb24")
    return _cpu() - c0


def unit_costs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per video: decode ms per frame, and CPU = base * media_s + slope * detected frames (least squares)."""
    out = []
    for name in dict.fromkeys(r["video"] for r in rows):
        rs = [r for r in rows if r["video"] == name]
        if len(rs) < 2:
            continue
        xs = [r["sampled"] - r["motion_skipped"] for r in rs]
        ys = [r["cpu_s"] for r in rs]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
        base = my - slope * mx
        r0 = rs[0]
        out.append(
            {
                "video": name,
                "decode_ms_per_frame": 1000 * r0["decode_cpu_s"] / r0["frames"],
                "detect_ms_per_frame": 1000 * slope,
                "base_ms_per_media_s": 1000 * base / r0["media_s"],
                "sightings": [r["sightings"] for r in rs],
            }
        )
    return out


def plot(rows: list[dict[str, Any]], single: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ws = [r["workers"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(ws, [r["throughput"] for r in rows], "o-", label="measured (media s per wall s)")
    ax.plot(ws, [single * w for w in ws], "--", color="grey", label="linear from 1 worker")
    for r in rows:
        ax.annotate(
            f"{r['throughput']:.1f}",
            (r["workers"], r["throughput"]),
            textcoords="offset points",
            xytext=(6, -12),
        )
    ax.set_xlabel("worker processes")
    ax.set_ylabel("throughput (x real time)")
    ax.set_xticks(ws)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, nargs="*", default=[v for v in VIDEOS if v.is_file()])
    ap.add_argument("--fps", type=float, nargs="*", default=[2.0, 5.0, 10.0])
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--scale-fps", type=float, default=5.0, help="detect fps of the workers part")
    ap.add_argument(
        "--hd-seconds",
        type=float,
        default=60.0,
        help="also measure a 1080p copy of this many seconds (0: no)",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "capacity.json")
    args = ap.parse_args()
    if not args.videos:
        raise SystemExit(f"no video found under {DATA} (set CITYWATCH_DATA)")
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: run with OMP_NUM_THREADS=1 for a one-core figure")

    videos = list(args.videos)
    if args.hd_seconds > 0:
        hd = Path(tempfile.mkdtemp(prefix="cw-capacity-hd-")) / f"{videos[0].stem}-1080p.mp4"
        videos.append(make_hd(videos[0], hd, args.hd_seconds))
    per_core: list[dict[str, Any]] = []
    print(f"(a) one worker pinned to one core; load at start {load()}")
    print(f"{'video':<42}{'fps':>5}{'media s':>9}{'cpu s':>8}{'wall s':>8}{'x rt cpu':>10}{'x rt wall':>10}"
          f"{'motion':>8}{'sight.':>7}")  # fmt: skip
    for video in videos:
        dur, frames, w, h = media_seconds(video)
        dec = decode_cpu(video)
        for fps in args.fps:
            la = load()
            (r,), _ = run_workers(video, fps, 1, pin=True)
            passed = 1 - r["motion_skipped"] / max(1, r["sampled"])
            row = {
                "video": video.name, "width": w, "height": h, "frames": frames, "media_s": dur,
                "decode_cpu_s": dec, "load_before": la, **r,
                "rt_cpu": dur / r["cpu_s"], "rt_wall": dur / r["wall_s"], "motion_pass": passed,
            }  # fmt: skip
            per_core.append(row)
            print(f"{video.name[:41]:<42}{fps:>5g}{dur:>9.1f}{r['cpu_s']:>8.1f}{r['wall_s']:>8.1f}"
                  f"{row['rt_cpu']:>10.1f}{row['rt_wall']:>10.1f}{passed:>8.0%}{r['sightings']:>7}")  # fmt: skip

    units = unit_costs(per_core)
    print("\nunit costs (CPU): decode per decoded frame; detection per frame that passed the motion gate")
    print("(least-squares slope over the detect fps runs); base = CPU per media second at zero detections")
    for u in units:
        print(f"  {u['video'][:41]:<42}decode {u['decode_ms_per_frame']:.2f} ms/frame, "
              f"detect {u['detect_ms_per_frame']:.1f} ms/frame, base {u['base_ms_per_media_s']:.1f} ms per media s")  # fmt: skip

    video = args.videos[0]
    dur = next(r["media_s"] for r in per_core if r["video"] == video.name)
    scale: list[dict[str, Any]] = []
    print(
        f"\n(b) throughput vs workers: {video.name} at {args.scale_fps:g} fps, unpinned; cores: {os.cpu_count()}"
    )
    print(f"{'workers':>8}{'wall s':>8}{'x rt total':>12}{'per worker':>12}{'cpu s/worker':>14}  load before")
    for n in args.workers:
        la = load()
        reports, wall = run_workers(video, args.scale_fps, n, pin=False)
        thr = n * dur / wall
        row = {"workers": n, "wall_s": wall, "throughput": thr, "load_before": la, "reports": reports,
               "cpu_s_mean": sum(r["cpu_s"] for r in reports) / n}  # fmt: skip
        scale.append(row)
        print(f"{n:>8}{wall:>8.1f}{thr:>12.1f}{thr / n:>12.1f}{row['cpu_s_mean']:>14.1f}  {la}")
    single = scale[0]["throughput"] / scale[0]["workers"]
    png = args.out.with_suffix(".png")
    plot(
        scale,
        single,
        png,
        f"citywatch pipeline, {video.name}, detect {args.scale_fps:g} fps, {os.cpu_count()} cores",
    )

    result = {
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor(),
        "load_end": load(),
        "per_core": per_core,
        "unit_costs": units,
        "scaling": scale,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    if args.hd_seconds > 0:
        shutil.rmtree(videos[-1].parent, ignore_errors=True)
    print(f"wrote {args.out} and {png}; load at end {load()}")


if __name__ == "__main__":
    main()
