"""End-to-end frames/s against frame size and detect fps (the default pipeline, one core).

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python bench/pipeline_grid.py [--fps 2,5,10] [--widths 640,768,1280,1920]

The Intel "one-by-one" clip (768x432, 10 fps, 1,394 frames) is re-encoded
once per width (H.264, libx264 ``veryfast``, same frames, 16:9; sizes above
the original are upscaled, so they cost what such a camera costs to decode
and scan, while holding no more detail). Each size is decoded alone (the
floor) and run through ``App.process`` at each detect fps. Frames/s are video
frames covered per second of wall time. Writes bench/results/pipeline_grid.json
and pipeline_grid.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from citywatch.app import App
from citywatch.config import CameraConfig, Config, IngestConfig, MotionConfig
from citywatch.governance.access import add_user
from citywatch.store import Store

DATA = Path(os.environ.get("CITYWATCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
VIDEO = DATA / "intel-sample-videos" / "one-by-one-person-detection.mp4"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def transcode(src: Path, dest: Path, width: int) -> None:
    height = round(width * 9 / 16 / 2) * 2
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        ist = inp.streams.video[0]
        rate = ist.average_rate or Fraction(10)
        ost = out.add_stream("libx264", rate=rate)
        ost.width, ost.height, ost.pix_fmt = width, height, "yuv420p"
        ost.options = {"preset": "veryfast", "crf": "23"}
        for i, frame in enumerate(inp.decode(ist)):
            img = frame.reformat(width=width, height=height, format="yuv420p")
            img.pts, img.time_base = i, 1 / Fraction(rate)  # one tick per frame: the sampler reads these
            for pkt in ost.encode(img):
                out.mux(pkt)
        for pkt in ost.encode():
            out.mux(pkt)


def decode_only(video: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        for frame in c.decode(video=0):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n, time.perf_counter() - t0


def run(video: Path, fps: float, focus: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        cfg = Config(
            cameras=[CameraConfig(name="grid", detect_fps=fps, source=str(video))],
            ingest=IngestConfig(motion=MotionConfig(focus=focus)),
        )
        app = App(cfg, Path(home), Store.open("", Path(home)))
        try:
            app.detector, app.embedder, app.verifier  # noqa: B018 - load models outside the timed part
            add_user(app.store, None, "bench", "admin")
            s = app.process(str(video), "grid", actor="bench")
        finally:
            app.close()
    return {"seconds": s.seconds, "stage_seconds": {k: round(v, 3) for k, v in s.stage_seconds.items()}}


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for width in sorted({r["width"] for r in rows}):
        mine = sorted((r for r in rows if r["width"] == width and r["focus"]), key=lambda r: r["detect_fps"])
        line = ax.plot(
            [r["detect_fps"] for r in mine], [r["fps"] for r in mine], marker="o", label=f"{width} px"
        )
        ax.axhline(mine[0]["decode_fps"], color=line[0].get_color(), linestyle=":", linewidth=0.8)
    ax.set_xlabel("detect fps (of a 10 fps camera)")
    ax.set_ylabel("video frames per second, one core")
    ax.set_yscale("log")
    ax.set_title("end to end (dotted: decode alone)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fps", default="2,5,10")
    ap.add_argument("--widths", default="640,768,1280,1920")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pipeline_grid.json")
    args = ap.parse_args()
    if not VIDEO.is_file():
        raise SystemExit(f"video not found: {VIDEO} (set CITYWATCH_DATA)")
    rows: list[dict[str, Any]] = []
    load_before = uptime()
    with tempfile.TemporaryDirectory() as tmp:
        widths = [int(w) for w in args.widths.split(",")]
        for width in widths:
            video = VIDEO
            if width != 768:
                video = Path(tmp) / f"clip-{width}.mp4"
                transcode(VIDEO, video, width)
            frames, t_dec = decode_only(video)
            # the focused look (default) against full passes, at the largest size
            for fps, focus in [
                (float(f), focus)
                for f in args.fps.split(",")
                for focus in (True, False)
                if focus or width == max(widths)
            ]:
                r = run(video, fps, focus)
                rows.append(
                    {
                        "focus": focus,
                        "width": width,
                        "detect_fps": fps,
                        "frames": frames,
                        "seconds": round(r["seconds"], 2),
                        "fps": round(frames / r["seconds"], 1),
                        "decode_fps": round(frames / t_dec, 1),
                        "stage_seconds": r["stage_seconds"],
                    }
                )
                print(
                    f"{width:>5} px  detect {fps:>4g} fps focus {'on ' if focus else 'off'}: {rows[-1]['fps']:>7.1f} frames/s "
                    f"(decode alone {rows[-1]['decode_fps']:.0f})  {r['stage_seconds']}",
                    flush=True,
                )
    print(f"load before: {load_before}\nload after:  {uptime()}")
    fpss = sorted({r["detect_fps"] for r in rows})
    print(f"{'width':>10} {'decode':>8}" + "".join(f"{f'@{f:g} fps':>10}" for f in fpss))
    for width in sorted({r["width"] for r in rows}):
        for focus in (True, False):
            mine = {r["detect_fps"]: r for r in rows if r["width"] == width and r["focus"] == focus}
            if not mine:
                continue
            first = next(iter(mine.values()))
            label = f"{width}{'' if focus else ' full'}"
            print(
                f"{label:>10} {first['decode_fps']:>8.0f}" + "".join(f"{mine[f]['fps']:>10.1f}" for f in fpss)
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load_before": load_before, "rows": rows}, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
