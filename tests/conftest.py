"""Test-wide settings: caches go to a temporary folder, never to the user's home."""

import os
import tempfile

import pytest

# One thread per process: the suite is small-tensor work, and OpenMP's busy-waiting threads make it many times
# slower on a shared or oversubscribed machine. Subprocesses (`bench` runs, torchrun ranks) inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")

_CACHE = tempfile.mkdtemp(prefix="semsynth-test-cache-")
os.environ.setdefault("SEMSYNTH_CACHE", _CACHE)
os.environ.pop("SEMSYNTH_WEIGHTS", None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core, at most four (the suite is mostly subprocess start-up, and more workers
    than that only add memory)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@pytest.fixture(scope="session")
def cache_dir() -> str:
    return os.environ["SEMSYNTH_CACHE"]
