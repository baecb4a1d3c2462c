"""Run time and peak memory of `bench run` on `shapes` for growing numbers of images.

Memory must not grow with the number of images (metrics keep fixed-size states), so the peak RSS of a 2000-image
evaluation should be close to that of a 200-image one. Each size runs in a fresh process so peaks don't mix.

    python benchmarks/evaluation.py [--sizes 200,2000] [--method shapes-oracle] [--samples-per-layout 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile


def one(method: str, n: int, k: int) -> dict:
    from semsynth.runner import RunConfig, run

    with tempfile.TemporaryDirectory() as out:
        _, record = run(RunConfig(method=method, dataset="shapes", split="train", limit=n, samples_per_layout=k,
                                  out=out, quiet=True, batch_size=32))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "layouts": n, "K": k, "images": n * k, **record["timing"],
            "peak_rss_mib": round(peak_mib, 1), **{name: m["value"] for name, m in record["metrics"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--method", default="shapes-oracle")
    parser.add_argument("--samples-per-layout", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.method, args.one, args.samples_per_layout)))
        return
    for size in [int(s) for s in args.sizes.split(",")]:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--method", args.method,
                              "--samples-per-layout", str(args.samples_per_layout)],
                             capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
