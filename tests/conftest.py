"""Test-wide settings: caches go to a temporary folder, never to the user's home."""

import os
import tempfile

import pytest

_CACHE = tempfile.mkdtemp(prefix="semsynth-test-cache-")
os.environ.setdefault("SEMSYNTH_CACHE", _CACHE)
os.environ.pop("SEMSYNTH_WEIGHTS", None)


@pytest.fixture(scope="session")
def cache_dir() -> str:
    return os.environ["SEMSYNTH_CACHE"]
