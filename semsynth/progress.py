"""Progress bars for every long step (tqdm on stderr); ``quiet`` turns them off for logs."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, quiet: bool = False, total: int | None = None) -> Iterable[T]:
    return tqdm(items, desc=desc, disable=quiet, total=total, leave=False, dynamic_ncols=True)
