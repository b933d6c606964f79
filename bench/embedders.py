"""Per-face embedding cost: dlib's ResNet as shipped (dlib-bin) against other dlib builds, same chips.

    OMP_NUM_THREADS=1 .venv/bin/python bench/embedders.py [--faces 48] [--python /tmp/dlibblas/bin/python ...]

Aligned 150x150 chips are cut once (BlazeFace + dlib's 5-point alignment, as
the pipeline does) from the shared photos, then the network alone is timed on
them, one face per call and 16 per call, single-threaded, after a warm-up.
Every ``--python`` interpreter (e.g. a throwaway venv with dlib built from
source against OpenBLAS) times the same chips with its own dlib and the same
weights file; its vectors are compared with this build's (max abs difference
of the normalised 128-d vectors). Writes bench/results/embedders.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from citywatch.app import App
from citywatch.config import Config
from citywatch.embed.dlib_resnet import DlibResnetEmbedder
from citywatch.images import load_image
from citywatch.store import Store

DATA = Path(os.environ.get("CITYWATCH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# runs inside any interpreter that has dlib and numpy: times the chips, writes vectors
TIMER = textwrap.dedent(
    """
    import json, sys, time
    import dlib, numpy as np
    chips = np.load(sys.argv[1]); weights = sys.argv[2]; out = sys.argv[3]
    net = dlib.face_recognition_model_v1(weights)
    faces = [np.ascontiguousarray(c) for c in chips]
    net.compute_face_descriptor(faces[:2])
    res = {"dlib": dlib.__version__, "cuda": bool(dlib.DLIB_USE_CUDA),
           "blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)), "lapack": bool(getattr(dlib, "DLIB_USE_LAPACK", False))}
    for batch in (1, 16):
        t0 = time.perf_counter(); vecs = []
        for i in range(0, len(faces), batch):
            vecs.extend(np.asarray(v) for v in net.compute_face_descriptor(faces[i:i + batch]))
        res[f"ms_per_face_batch{batch}"] = 1000 * (time.perf_counter() - t0) / len(faces)
    v = np.asarray(vecs, np.float32); v /= np.linalg.norm(v, axis=1, keepdims=True)
    np.save(out, v); print(json.dumps(res))
    """
)


def cut_chips(n: int) -> np.ndarray:
    photos = sorted((DATA / "deepface" / "unit" / "dataset").glob("img*.jpg"))
    with tempfile.TemporaryDirectory() as home:
        app = App(Config(), Path(home), Store.open("", Path(home)))
        try:
            emb = app.embedder
            assert isinstance(emb, DlibResnetEmbedder)
            chips = []
            for p in photos:
                face = app.photo_face(load_image(p), str(p), "centre")
                if face is not None:
                    chips.extend(emb.align([face]))
                if len(chips) >= n:
                    break
        finally:
            app.close()
    return np.stack(chips[:n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=48)
    ap.add_argument("--python", action="append", default=[], help="another interpreter with its own dlib")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "embedders.json")
    args = ap.parse_args()
    import face_recognition_models as frm

    weights = frm.face_recognition_model_location()
    chips = cut_chips(args.faces)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "chips.npy", chips)
        vectors: dict[str, np.ndarray] = {}
        for py in [sys.executable, *args.python]:
            vec_path = Path(tmp) / f"v{len(rows)}.npy"
            proc = subprocess.run(
                [py, "-c", TIMER, str(Path(tmp) / "chips.npy"), weights, str(vec_path)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
            )
            if proc.returncode != 0:
                print(f"{py}: failed: {proc.stderr.strip()[-500:]}")
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1]) | {"python": py}
            vectors[py] = np.load(vec_path)
            rows.append(row)
    base = vectors.get(sys.executable)
    for row in rows:
        if base is not None and row["python"] in vectors:
            row["max_abs_diff_vs_first"] = float(np.abs(vectors[row["python"]] - base).max())
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{len(chips)} chips, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; {load}")
    print(
        f"{'interpreter':<40} {'dlib':>8} {'BLAS':>5} {'CUDA':>5} {'ms/face b1':>11} {'ms/face b16':>12} {'max diff':>9}"
    )
    for r in rows:
        print(
            f"{r['python']:<40} {r['dlib']:>8} {r['blas']!s:>5} {r['cuda']!s:>5} "
            f"{r['ms_per_face_batch1']:>11.1f} {r['ms_per_face_batch16']:>12.1f} "
            f"{r.get('max_abs_diff_vs_first', 0.0):>9.2e}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"faces": len(chips), "load": load, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
