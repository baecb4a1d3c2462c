"""The one training loop every method uses: seeded resumable data order, EMA, DDP, logging, atomic checkpoints.

A method supplies ``step_fn(examples, step, trainer) -> dict of losses`` that does its own forward, backward and
optimizer steps (GANs alternate D and G); the trainer does everything around it. ``RUN/checkpoint.pt`` holds the
modules, optimizers, EMA copies, step and RNG state and loads with ``torch.load(..., weights_only=True)``;
``RUN/log.jsonl`` gets one line of losses every ``log_every`` steps.
"""

from __future__ import annotations

import copy
import json
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from . import distributed
from .progress import progress
from .store import save_torch_atomic
from .types import Example

StepFn = Callable[[list[Example], int, "Trainer"], dict[str, float]]


@dataclass
class TrainConfig:
    out_dir: Path
    steps: int
    batch_size: int = 16
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 500
    device: str = "cpu"
    ema_decay: float | None = 0.9999
    quiet: bool = False


class Trainer:
    """Owns modules, optimizers and EMA copies; ``fit`` runs ``step_fn`` from the last checkpoint to ``steps``."""

    def __init__(self, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                 config: TrainConfig, ema: Sequence[str] = ()) -> None:
        self.config = config
        self.out_dir = Path(config.out_dir)
        self.device = distributed.init(config.device)
        self._bare = {name: module.to(self.device) for name, module in modules.items()}
        self.modules: dict[str, nn.Module] = {}
        for name, module in self._bare.items():
            trainable = any(p.requires_grad for p in module.parameters())
            if distributed.world_size() > 1 and trainable:
                ids = [self.device.index] if self.device.type == "cuda" else None
                module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
            self.modules[name] = module
        self.optimizers = optimizers
        self.ema = {name: copy.deepcopy(self._bare[name]).eval().requires_grad_(False) for name in ema}
        self.step = 0
        self.generator = torch.Generator()
        self._permutations: dict[tuple[int, int], torch.Tensor] = {}
        self.checkpoint = self.out_dir / "checkpoint.pt"
        if self.checkpoint.exists():
            self._resume()

    def unwrap(self, name: str) -> nn.Module:
        return self._bare[name]

    def ema_module(self, name: str) -> nn.Module:
        return self.ema[name]

    # -- data ------------------------------------------------------------------------------------------------

    def _indices(self, step: int, length: int) -> list[int]:
        """Dataset indices of this rank's batch at ``step``: a per-epoch permutation seeded by (seed, epoch)."""
        size, world = self.config.batch_size, distributed.world_size()
        start = (step * world + distributed.rank()) * size
        indices = []
        for position in range(start, start + size):
            key = (length, position // length)
            if key not in self._permutations:
                if len(self._permutations) > 1:   # keep the current and the next epoch only
                    self._permutations.pop(min(self._permutations))
                self._permutations[key] = torch.randperm(length, generator=torch.Generator().manual_seed(
                    zlib.crc32(f"{self.config.seed}/{key[1]}".encode())))
            indices.append(int(self._permutations[key][position % length]))
        return indices

    # -- loop ------------------------------------------------------------------------------------------------

    def fit(self, step_fn: StepFn, dataset: Any) -> None:
        config = self.config
        log = self.out_dir / "log.jsonl"
        if distributed.is_main():
            self.out_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        bar = progress(range(self.step, config.steps), desc="train", quiet=config.quiet or not distributed.is_main(),
                       total=config.steps - self.step)
        for step in bar:
            for module in self.modules.values():
                module.train()
            self.generator.manual_seed(zlib.crc32(f"{config.seed}/{step}/{distributed.rank()}".encode()))
            examples = [dataset[i] for i in self._indices(step, len(dataset))]
            losses = step_fn(examples, step, self)
            self._update_ema()
            self.step = step + 1
            if distributed.is_main() and (self.step % config.log_every == 0 or self.step == config.steps):
                entry = {"step": self.step, "time_s": round(time.time() - started, 2),
                         **{key: float(value) for key, value in losses.items()}}
                with open(log, "a") as file:
                    file.write(json.dumps(entry) + "\n")
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix({key: f"{float(value):.4f}" for key, value in losses.items()})
            if self.step % config.ckpt_every == 0 or self.step == config.steps:
                self.save()

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.ema_decay
        if decay is None:
            return
        for name, ema in self.ema.items():
            live = self._bare[name]
            for target, source in zip(ema.parameters(), live.parameters()):
                target.lerp_(source.detach(), 1 - decay)
            for target, source in zip(ema.buffers(), live.buffers()):
                target.copy_(source)

    # -- checkpoints ----------------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the resumable checkpoint atomically (rank 0)."""
        if not distributed.is_main():
            distributed.barrier()
            return
        state = {
            "step": self.step,
            "modules": {name: module.state_dict() for name, module in self._bare.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "ema": {name: module.state_dict() for name, module in self.ema.items()},
            "rng": torch.get_rng_state(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()},
        }
        save_torch_atomic(self.checkpoint, state)
        distributed.barrier()

    def _resume(self) -> None:
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        for name, module in self._bare.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, module in self.ema.items():
            module.load_state_dict(state["ema"][name])
        torch.set_rng_state(state["rng"])
        self.step = int(state["step"])

    def weights(self, name: str, ema: bool = True) -> dict[str, torch.Tensor]:
        """The trained weights of ``name`` (its EMA copy when there is one and ``ema``)."""
        module = self.ema[name] if ema and name in self.ema else self._bare[name]
        return {key: value.detach().cpu() for key, value in module.state_dict().items()}
