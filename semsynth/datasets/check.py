"""``bench datasets check``: count each split of a dataset on disk and list what is missing or malformed."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..registry import DATASETS, lookup
from .base import data_root


def check_dataset(name: str, root: str | Path | None, sample: int = 20
                  ) -> tuple[dict[str, int], list[str], dict[str, str]]:
    """Examples per split found under ``root``, the problems found, one line each (split-prefixed), after
    verifying ``sample`` files per split, and which on-disk layout each split was read from. No problems means
    usable; a split that is absent is counted as 0 and is a problem only for the benchmark split."""
    cls = DATASETS.get(name) or lookup(DATASETS, name)
    try:
        base = data_root(name, root)
    except UserError as error:
        return {}, [str(error)], {}
    if not base.is_dir():
        return {}, [f"{name}: data root {base} does not exist (wrong --data-root?)"], {}
    counts: dict[str, int] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    benchmark = getattr(cls, "benchmark_split", "val")
    for split in cls.splits:
        try:
            dataset = cls(base, split=split)
        except UserError as error:
            counts[split] = 0
            if split == benchmark:
                problems.append(f"{split}: {error}")
            continue
        counts[split] = len(dataset)
        sources[split] = getattr(dataset, "source", "")
        problems.extend(f"{split}: {line}" for line in dataset.check(sample))
    return counts, problems, sources
