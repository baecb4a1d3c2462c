"""Killing a real `bench` process at a chosen moment, for the SIGKILL-then-resume tests."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Callable


def sigkill_when(process: subprocess.Popen, ready: Callable[[], Path | None], timeout: float) -> Path | None:
    """Poll ``ready`` until it returns a path (or the process exits, or ``timeout`` seconds pass), then SIGKILL
    the process and return what ``ready`` returned (None: the moment never came)."""
    deadline, found = time.time() + timeout, None
    while time.time() < deadline and process.poll() is None:
        found = ready()
        if found is not None:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return found


def manifest_with(folder: Path, lines: Callable[[list[str]], bool]) -> Callable[[], Path | None]:
    """A ``ready`` test: the first ``*/manifest.rank0.jsonl`` under ``folder`` whose lines satisfy ``lines``."""
    def ready() -> Path | None:
        found = list(folder.glob("*/manifest.rank0.jsonl"))
        return found[0] if found and lines(found[0].read_text().splitlines()) else None
    return ready
