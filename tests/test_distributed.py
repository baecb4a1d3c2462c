"""Metric-state reduction across ranks with a real two-process gloo group."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from semsynth import distributed


def _worker(rank: int, init_file: str, results) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        rows = torch.full((rank + 1, 3), float(rank), dtype=torch.float64)   # ranks hold different row counts
        gathered = distributed.all_gather_rows(rows)
        summed = distributed.all_reduce_state({"n": torch.tensor(rank + 1.0, dtype=torch.float64),
                                               "confusion": torch.eye(2, dtype=torch.int64) * (rank + 1)})
        shard = distributed.shard(list(range(7)))
        results[rank] = (gathered.tolist(), summed["n"].item(), summed["confusion"].tolist(), shard)
    finally:
        dist.destroy_process_group()


def test_gather_rows_and_sum_states_over_two_ranks(tmp_path):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(str(tmp_path / "init"), results), nprocs=2, join=True)
        results = dict(results)
    for rank in (0, 1):
        gathered, n, confusion, shard = results[rank]
        assert gathered == [[0.0] * 3, [1.0] * 3, [1.0] * 3]
        assert n == 3.0 and confusion == [[3, 0], [0, 3]]
        assert shard == list(range(rank, 7, 2))
