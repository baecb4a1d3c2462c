"""Start-up cost of the everyday `bench` commands: wall seconds (best of ``--repeats``) and peak memory of
`bench --help`, `bench run --help` and each `bench list KIND`. Listing and help import neither torch nor mmengine;
`bench list weights` reads the catalog data (``semsynth/catalog``) and hashes the files present.

Run: ``python benchmarks/cli_startup.py [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

COMMANDS = (["--help"], ["run", "--help"], *(["list", kind] for kind in
                                              ("methods", "datasets", "metrics", "segmenters", "protocols", "weights")))


def measure(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one `python -m semsynth ARGS`."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "semsynth", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench {' '.join(args)} exited {process.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    for args in COMMANDS:
        walls, peaks = zip(*(measure(args) for _ in range(repeats)))
        print(f"bench {' '.join(args):24s} {min(walls):6.2f} s  {max(peaks):7.0f} MiB")


if __name__ == "__main__":
    main()
