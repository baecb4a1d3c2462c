"""Progress bars for every long step (tqdm on stderr); ``quiet`` turns them off for logs.

Besides the bars over batches (``progress``), ``step_progress`` shows the model calls of each diffusion sampling
call inside its block on a second bar that restarts per call (the samplers report every step), so a batch of 16
that takes minutes shows its steps. Both stay silent when stderr is not a terminal (logs, tests) or with ``quiet``.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
_STEP_BAR: ContextVar[tqdm | None] = ContextVar("semsynth_step_bar", default=None)


def progress(items: Iterable[T], desc: str, quiet: bool = False, total: int | None = None) -> Iterable[T]:
    return tqdm(items, desc=desc, disable=quiet, total=total, leave=False, dynamic_ncols=True)


@contextmanager
def step_progress(desc: str, quiet: bool = False, file: IO[str] | None = None) -> Iterator[None]:
    """Within the block, every sampling call's steps advance one bar (``desc``) written to ``file`` (stderr); the
    bar is off when ``quiet`` or when ``file`` is not a terminal."""
    file = file or sys.stderr
    enabled = not quiet and file.isatty()
    bar = tqdm(desc=desc, unit="step", leave=False, dynamic_ncols=True, file=file, position=1) if enabled else None
    token = _STEP_BAR.set(bar)
    try:
        yield
    finally:
        _STEP_BAR.reset(token)
        if bar is not None:
            bar.close()


def sampling_started(steps: int) -> None:
    """A sampler starts a call of ``steps`` model evaluations: the step bar (if shown) starts again from 0."""
    bar = _STEP_BAR.get()
    if bar is not None:
        bar.reset(total=steps)


def sampling_step() -> None:
    """A sampler finished one step (the last one of a call is always drawn, whatever tqdm's refresh interval)."""
    bar = _STEP_BAR.get()
    if bar is not None:
        bar.update()
        if bar.n == bar.total:
            bar.refresh()
