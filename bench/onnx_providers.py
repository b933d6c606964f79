"""Which ONNX Runtime execution provider the ONNX plugins end up on, and what one call costs there.

    .venv/bin/python bench/onnx_providers.py [--providers CUDAExecutionProvider,CPUExecutionProvider]

Builds the small test graphs of tests/unit (no weights needed), loads the
SCRFD detector and the SFace embedder with the requested providers and
prints: the providers this onnxruntime build offers, the providers each
session actually runs on (a request this build cannot serve falls back to CPU
with a warning), and the mean time of a call (640x640 detection, a batch of
32 faces). The graphs are tiny, so the timings show call overhead, not model
speed: this checks the plumbing on a GPU machine, real throughput needs the
real weights. Writes bench/results/onnx_providers.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "unit" / "detect"), str(REPO / "tests" / "unit" / "embed")]

from test_detect_onnx import scrfd_model  # noqa: E402
from test_embed_onnx import face, mean_colour_model  # noqa: E402

from citywatch.config import ScrfdConfig, SFaceConfig  # noqa: E402
from citywatch.detect.scrfd import ScrfdDetector  # noqa: E402
from citywatch.embed.onnx_embedders import SFaceEmbedder  # noqa: E402
from citywatch.onnx_session import available_providers  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--providers", default="CUDAExecutionProvider,CPUExecutionProvider")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "onnx_providers.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import onnxruntime as ort

    providers = tuple(p for p in args.providers.split(",") if p)
    result: dict[str, object] = {"onnxruntime": ort.__version__, "available": available_providers()}
    print(f"onnxruntime {ort.__version__}; available providers: {result['available']}")
    with tempfile.TemporaryDirectory() as tmp:
        det = ScrfdDetector(
            ScrfdConfig(model_path=str(scrfd_model(Path(tmp) / "scrfd.onnx")), providers=providers)
        )
        det.load()
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[200:208, 320:328] = (255, 0, 0)
        found = det.detect(frame)
        t0 = time.perf_counter()
        for _ in range(50):
            det.detect(frame)
        det_ms = 1000 * (time.perf_counter() - t0) / 50
        emb = SFaceEmbedder(
            SFaceConfig(
                model_path=str(mean_colour_model(Path(tmp) / "emb.onnx")), providers=providers, batch_size=32
            )
        )
        faces = [face((10 * i % 255, 100, 200)) for i in range(32)]
        emb.embed(faces)
        t0 = time.perf_counter()
        for _ in range(20):
            emb.embed(faces)
        emb_ms = 1000 * (time.perf_counter() - t0) / 20
        result |= {
            "requested": list(providers),
            "scrfd_session": det.active_providers,
            "scrfd_faces_found": len(found),
            "scrfd_ms_per_640x480_frame": round(det_ms, 3),
            "sface_session": emb.active_providers,
            "sface_ms_per_batch_of_32": round(emb_ms, 3),
        }
    for k, v in result.items():
        print(f"{k}: {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
