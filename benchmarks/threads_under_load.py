"""A `bench run` next to busy neighbours, under each thread policy: OpenMP threads that spin while they wait
compete with the neighbours for the cores; ``OMP_WAIT_POLICY=PASSIVE`` (what `bench` sets unless the user set it)
lets them sleep. Prints the generation time from the run record and the wall time of each policy, and the ratio.

The neighbours are ``python -c "while True: pass"`` loops, each bounded by ``timeout`` and killed at the end.
Run: ``python benchmarks/threads_under_load.py [--neighbours 2] [--limit 4] [--samples-per-layout 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# policy -> environment of the run; None: `bench` with its thread policy switched off (the behaviour before it)
POLICIES: dict[str, dict[str, str] | None] = {
    "spinning (no policy)": None,
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "one thread": {"OMP_NUM_THREADS": "1"},
}
BENCH = "import sys; from semsynth import cli; {switch}; sys.exit(cli.main(sys.argv[1:]))"


def start_neighbours(count: int, bound_s: int) -> list[subprocess.Popen]:
    """``count`` busy-looping processes that end by themselves after ``bound_s`` seconds at the latest."""
    return [subprocess.Popen(["timeout", str(bound_s), sys.executable, "-c", "while True: pass"])
            for _ in range(count)]


def timed_run(args: argparse.Namespace, changes: dict[str, str] | None, out: Path) -> tuple[float, float]:
    """(generation seconds from the record, wall seconds) of one `bench run` with ``changes`` in its environment."""
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(changes or {})
    switch = "cli.THREAD_POLICY.clear()" if changes is None else "pass"
    command = [sys.executable, "-c", BENCH.format(switch=switch), "run", "--method", args.method, "--dataset", "shapes",
               "--limit", str(args.limit), "--samples-per-layout", str(args.samples_per_layout),
               "--metrics", args.metrics, "--out", str(out), "--quiet"]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    record = [line.split("record: ", 1)[1] for line in result.stdout.splitlines() if line.startswith("record: ")][0]
    return json.loads(Path(record).read_text())["timing"]["generate_s"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neighbours", type=int, default=2)
    parser.add_argument("--method", default="sdm")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--samples-per-layout", type=int, default=2)
    parser.add_argument("--metrics", default="miou", help="evaluation kept short: the policy matters in generation")
    parser.add_argument("--bound-s", type=int, default=900, help="the neighbours stop by themselves after this")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.neighbours} busy neighbours; torch's default thread count is the CPU count")
    neighbours = start_neighbours(args.neighbours, args.bound_s)
    times = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, changes in POLICIES.items():
                times[name] = timed_run(args, changes, Path(tmp) / name.split()[0])
                print(f"{name:26s} generate {times[name][0]:7.1f} s   wall {times[name][1]:7.1f} s", flush=True)
    finally:
        for process in neighbours:
            process.kill()
            process.wait()
    spinning, passive = times["spinning (no policy)"][0], times["OMP_WAIT_POLICY=PASSIVE"][0]
    print(f"spinning / PASSIVE generation time: {spinning / passive:.2f}x")


if __name__ == "__main__":
    main()
