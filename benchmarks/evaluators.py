"""Evaluator backbones: features (or LPIPS pairs) per second and peak memory while streaming N images.

Runs every backbone on randomly initialised stand-in weights of the real architectures (speed and memory do not
depend on the weight values), each in a fresh process so that its peak memory is its own. As in the metrics, images
pass one at a time (batch-size independent values): FID/KID-style backbones stream their features into FID
statistics; LPIPS scores consecutive pairs. Besides wall-clock
throughput it prints throughput per CPU-second (all threads), which stays meaningful on a shared, busy machine.

    PYTHONPATH=. python benchmarks/evaluators.py --images 2000 --batch-size 50 --device cpu
    python benchmarks/evaluators.py --images 200 --backbones inception-clean,lpips-alex   # a quick look
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import torch

STANDINS = {  # backbone -> (stand-in writer, catalog file)
    "inception-clean": ("inception_torchscript", "inception-2015-12-05.pt"),
    "inception-legacy-tensorflow": ("inception_torchscript", "inception-2015-12-05.pt"),
    "inception-legacy-pytorch": ("inception_pytorch_fid", "pt_inception-2015-12-05-6726825d.pth"),
    "swav-r50": ("swav_resnet50", "swav_800ep_pretrain.pth.tar"),
    "clip-vit-b32": ("clip_vit_b32", "ViT-B-32.pt"),
    "lpips-alex": ("alexnet", "alexnet-owt-7be5be79.pth"),
}


def measure(name: str, folder: str, images: int, batch_size: int, size: tuple[int, int], device: str) -> dict:
    """Load backbone ``name`` from ``folder`` and stream ``images`` random uint8 images through it."""
    from tests import standins
    from semsynth.backbones.base import load_distance, load_features, per_image
    from semsynth.evaluators.fid import new_stats, update_stats

    writer, file = STANDINS[name]
    path = Path(folder) / file
    if not path.exists():
        getattr(standins, writer)(path)
    pair = name == "lpips-alex"
    backbone = (load_distance if pair else load_features)(name, device=device, checkpoint=path)
    stats = None if pair else new_stats(backbone.dim)
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, (batch_size * (2 if pair else 1), 3, *size), dtype=torch.uint8,
                          generator=generator).to(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    done, started, cpu_started = 0, None, None
    while done < images:
        if pair:
            per_image(backbone.distance, batch[:batch_size], batch[batch_size:])
        else:
            update_stats(stats, per_image(backbone.features, batch))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if started is None:         # the first batch warms up (allocations, cuDNN autotuning)
            started, cpu_started = time.perf_counter(), time.process_time()
        else:
            done += batch_size
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"backbone": name, "per_s": done / seconds, "per_cpu_s": done / cpu_seconds, "peak_mib": peak,
            "images": done}


def _child(queue, *args) -> None:
    queue.put(measure(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--size", default="256x256", help="HxW of the input images (Cityscapes: 256x512)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backbones", default=",".join(STANDINS))
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    context = multiprocessing.get_context("spawn")
    print(f"device {args.device}, {args.images} images of {args.size}, batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'backbone':<30}{'images/s':>12}{'per CPU-s':>12}{'peak MiB':>12}   (lpips-alex: pairs)")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.backbones.split(","):
            queue = context.Queue()
            process = context.Process(target=_child, args=(queue, name, folder, args.images, args.batch_size, size,
                                                           args.device))
            process.start()
            result = queue.get()
            process.join()
            memory = "peak GPU" if args.device.startswith("cuda") else "peak RSS"
            print(f"{name:<30}{result['per_s']:>12.2f}{result['per_cpu_s']:>12.2f}{result['peak_mib']:>12.0f}"
                  f"   ({memory})", flush=True)


if __name__ == "__main__":
    main()
