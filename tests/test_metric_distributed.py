"""Declared metric states and reference data across two real gloo ranks: "sum" states are all-reduced, "cat"
states gathered in rank order, and reference data is computed by rank 0 only, then read by every rank."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from semsynth.evaluators.base import Metric
from semsynth.evaluators.reference import computed_once


class Declared(Metric):
    """One state of each reduction: a count and one row per image."""

    name = "declared"

    def __init__(self) -> None:
        self.add_state("count", torch.zeros((), dtype=torch.int64), reduce="sum")
        self.add_state("rows", torch.zeros(0, 2, dtype=torch.float64), reduce="cat")

    def update(self, state, batch) -> None:
        state["count"] += batch.shape[0]
        state["rows"] = torch.cat([state["rows"], batch])

    def compute(self, state):
        return {"value": state["rows"].sum().item() / state["count"].item()}


def _worker(rank: int, folder: str, results) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/init", rank=rank, world_size=2)
    try:
        metric = Declared()
        state = metric.new_state()
        metric.update(state, torch.full((rank + 1, 2), float(rank), dtype=torch.float64))
        reduced = metric.reduce(state)

        def compute():
            (Path(folder) / f"computed-by-{rank}").touch()
            return {"mean": torch.arange(3, dtype=torch.float64) / 7}

        reference = computed_once(Path(folder) / "ref.safetensors", "key", compute)
        results[rank] = (reduced["count"].item(), reduced["rows"].tolist(), reference["mean"].tolist())
    finally:
        dist.destroy_process_group()


def test_declared_states_reduce_and_reference_is_computed_once(tmp_path):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(str(tmp_path), results), nprocs=2, join=True)
        results = dict(results)
    assert sorted(path.name for path in tmp_path.glob("computed-by-*")) == ["computed-by-0"]
    for rank in (0, 1):
        count, rows, reference = results[rank]
        assert count == 3.0
        assert rows == [[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]          # rank 0's rows first
        assert reference == (torch.arange(3, dtype=torch.float64) / 7).tolist()
