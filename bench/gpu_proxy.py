"""GPU throughput of networks the size of ours, for the sizing page (run on a machine with a GPU).

    python3 bench/gpu_proxy.py [--out bench/results/gpu_proxy.json]

Our shipped models (dlib ResNet, BlazeFace on LiteRT) have no GPU build in
this project's environment, so this measures *proxies* in PyTorch with random
weights: what matters for throughput is the network's shape and input size,
not its weights.

* embedding proxy: ResNet-34 on 150x150 RGB (dlib's face ResNet is a
  ResNet-34-like network on 150x150 chips; ArcFace R50 on 112x112 is of the
  same order);
* detection proxy: ResNet-18 on 640x640 RGB (about 15 GFLOPs, more than
  SCRFD-10G or RetinaFace-MobileNet on 640x640, so a conservative stand-in
  for a GPU face detector).

Images per second at several batch sizes, fp32 and fp16, after warm-up,
timed with CUDA events. Prints a table and writes JSON. Needs torch and
torchvision with CUDA; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any


def measure(model: Any, size: int, batch: int, dtype: Any, iters: int) -> float:
    import torch

    x = torch.randn(batch, 3, size, size, device="cuda", dtype=dtype).contiguous(
        memory_format=torch.channels_last
    )
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            model(x)
        end.record()
        torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000.0
    return batch * iters / seconds


def main() -> None:
    import torch
    import torchvision

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu_proxy.json")
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a machine with a GPU")
    torch.backends.cudnn.benchmark = True
    nets = {
        "embed_resnet34_150": (
            torchvision.models.resnet34(weights=None, num_classes=128),
            150,
            (1, 32, 256, 1024),
        ),
        "detect_resnet18_640": (torchvision.models.resnet18(weights=None), 640, (1, 8, 32, 128)),
    }
    rows = []
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    print(f"{'network':<22}{'dtype':>7}{'batch':>7}{'images/s':>12}")
    for name, (net, size, batches) in nets.items():
        for dtype in (torch.float32, torch.float16):
            model = net.to("cuda", dtype=dtype).eval().to(memory_format=torch.channels_last)
            for b in batches:
                ips = measure(model, size, b, dtype, args.iters)
                rows.append(
                    {
                        "network": name,
                        "input": size,
                        "dtype": str(dtype).split(".")[-1],
                        "batch": b,
                        "images_per_s": ips,
                    }
                )
                print(f"{name:<22}{rows[-1]['dtype']:>7}{b:>7}{ips:>12.0f}")
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "note": "random-weight proxies of our networks' shapes; see the module docstring",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
