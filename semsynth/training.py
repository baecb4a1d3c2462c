"""The one training loop every method uses: seeded resumable data order, EMA, DDP, AMP, gradient clipping, LR
schedules, logging, atomic checkpoints, and the GAN step (D frozen for the G update, lazy R1).

A method supplies ``step_fn(examples, step, trainer) -> dict of losses`` that runs its forward passes and updates
through ``trainer.optimize`` (or ``trainer.gan_step``); ``fit`` runs it under autocast and does everything around
it. ``RUN/checkpoint.pt`` holds the modules, optimizers, LR schedulers, grad scaler, EMA copies, step and RNG states
and loads with ``torch.load(..., weights_only=True)``; ``RUN/log.jsonl`` gets one line of losses every
``log_every`` steps. Every file of the run folder is written by rank 0 alone, through ``Trainer.write``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import torch
from torch import nn

from . import distributed
from .progress import progress
from .store import save_torch_atomic
from .errors import UserError
from .outputs import check_writable_folder
from .nn.gan_losses import r1_penalty
from .types import Example

StepFn = Callable[[list[Example], int, "Trainer"], dict[str, float]]
Losses = dict[str, torch.Tensor]
T = TypeVar("T")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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
    amp: str | None = None               # "bf16" or "fp16": autocast (fp16 also scales the loss)
    grad_clip: float | None = None       # max total gradient norm per optimizer step
    resume: bool = True                  # False: refuse a folder that already holds a checkpoint (never delete it)
    lr_decay_steps: int = 0              # the last N steps decay every optimizer's LR linearly towards 0 (0: none)


class Trainer:
    """Owns modules, optimizers, LR schedulers (stepped once per training step) and EMA copies; ``fit`` runs
    ``step_fn`` from the last checkpoint to ``steps``."""

    def __init__(self, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                 config: TrainConfig, ema: Sequence[str] = (),
                 schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] | None = None) -> None:
        if config.amp not in (None, *AMP_DTYPES):
            raise UserError(f"unknown amp '{config.amp}'; use {' or '.join(AMP_DTYPES)} (or none)")
        check_writable_folder(config.out_dir)
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
        self.schedulers = dict(schedulers or {})
        self._base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in optimizers.items()}
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.amp == "fp16")
        self.ema = {name: copy.deepcopy(self._bare[name]).eval().requires_grad_(False) for name in ema}
        self.step = 0
        self.generator = torch.Generator()
        self._permutations: dict[tuple[int, int], torch.Tensor] = {}
        self.checkpoint = self.out_dir / "checkpoint.pt"
        if self.checkpoint.exists():
            if not config.resume:
                raise UserError(f"{self.out_dir} already holds a checkpoint; pass resume=True (--set resume=true) or "
                                f"another --out")
            self._resume()

    def unwrap(self, name: str) -> nn.Module:
        return self._bare[name]

    def ema_module(self, name: str) -> nn.Module:
        return self.ema[name]

    # -- run folder --------------------------------------------------------------------------------------------

    def write(self, writer: Callable[[Path], T]) -> T | None:
        """Run ``writer(out_dir)`` on rank 0 only (the one writer of the run folder) and wait for it on every rank;
        returns its result on rank 0, None elsewhere."""
        result = None
        if distributed.is_main():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            result = writer(self.out_dir)
        distributed.barrier()
        return result

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
        started = time.time()
        bar = progress(range(self.step, config.steps), desc="train", quiet=config.quiet or not distributed.is_main(),
                       total=config.steps - self.step)
        for step in bar:
            for module in self.modules.values():
                module.train()
            self.generator.manual_seed(zlib.crc32(f"{config.seed}/{step}/{distributed.rank()}".encode()))
            examples = [dataset[i] for i in self._indices(step, len(dataset))]
            if config.lr_decay_steps:
                self._decay_lr(step)
            with self.autocast():
                losses = step_fn(examples, step, self)
            self.scaler.update()
            for scheduler in self.schedulers.values():
                scheduler.step()
            self._update_ema()
            self.step = step + 1
            if self.step % config.log_every == 0 or self.step == config.steps:
                entry = {"step": self.step, "time_s": round(time.time() - started, 2),
                         **{key: float(value) for key, value in losses.items()}}
                self.write(lambda folder: _append_line(folder / "log.jsonl", json.dumps(entry)))
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix({key: f"{float(value):.4f}" for key, value in losses.items()})
            if self.step % config.ckpt_every == 0 or self.step == config.steps:
                self.save()

    # -- updates -------------------------------------------------------------------------------------------------

    def _decay_lr(self, step: int) -> None:
        """Set each optimizer's LR for ``step`` from its initial LR: constant, then over the last
        ``lr_decay_steps`` a linear decay reaching base/N at the last step. A function of the step alone, not a
        torch scheduler (whose state a checkpoint written without it would lack), so a run resumed from such a
        checkpoint (e.g. to add a decayed tail) follows it exactly."""
        remaining = self.config.steps - step
        factor = min(1.0, remaining / self.config.lr_decay_steps)
        for name, optimizer in self.optimizers.items():
            for group, base in zip(optimizer.param_groups, self._base_lrs[name]):
                group["lr"] = base * factor

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes when ``config.amp`` is set (``fit`` runs each step inside it)."""
        if self.config.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.config.amp])

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """One update of optimizer ``name``: zero its gradients, backward ``loss`` (scaled under fp16), clip the
        gradient norm to ``config.grad_clip``, step (skipped by the scaler on inf/nan gradients)."""
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=False):
            self.scaler.scale(loss).backward()
            if self.config.grad_clip is not None:
                self.scaler.unscale_(optimizer)
                parameters = [p for group in optimizer.param_groups for p in group["params"]]
                nn.utils.clip_grad_norm_(parameters, self.config.grad_clip)
            self.scaler.step(optimizer)

    @contextlib.contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """Module ``name`` without parameter gradients inside the block (and without DDP gradient sync), e.g. the
        discriminator during the generator update; gradients still flow through it to its inputs."""
        bare, module = self._bare[name], self.modules[name]
        wanted = [p for p in bare.parameters() if p.requires_grad]
        for parameter in wanted:
            parameter.requires_grad_(False)
        sync = module.no_sync() if isinstance(module, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()
        try:
            with sync:
                yield
        finally:
            for parameter in wanted:
                parameter.requires_grad_(True)

    def gan_step(self, generator_losses: Callable[[], Losses],
                 discriminator_losses: Callable[[torch.Tensor], tuple[Losses, Sequence[torch.Tensor]]],
                 real: torch.Tensor, generator: str = "G", discriminator: str = "D", r1_weight: float = 0.0,
                 r1_every: int = 16) -> dict[str, float]:
        """One generator update (``discriminator`` frozen) on the sum of ``generator_losses()``, then one
        discriminator update on the sum of ``discriminator_losses(real)`` (which returns its losses and D's logits
        on ``real``). Every ``r1_every`` steps the D loss gains ``r1_weight / 2 * R1 * r1_every`` (StyleGAN2's lazy
        R1, with ``real`` then requiring grad); returns every loss as a float."""
        with self.frozen(discriminator):
            losses = generator_losses()
        self.optimize(generator, sum(losses.values()))
        penalise = r1_weight > 0 and self.step % r1_every == 0
        if penalise:
            real = real.detach().requires_grad_(True)
        d_losses, real_logits = discriminator_losses(real)
        if penalise:
            penalty = r1_penalty(real_logits, real, self.scaler.get_scale() if self.scaler.is_enabled() else 1.0)
            d_losses = {**d_losses, "R1": r1_weight / 2 * penalty * r1_every}
        self.optimize(discriminator, sum(d_losses.values()))
        return {key: value.item() for key, value in {**losses, **d_losses}.items()}

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
        self.write(lambda folder: save_torch_atomic(self.checkpoint, self._state()))

    def _state(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "modules": {name: module.state_dict() for name, module in self._bare.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: scheduler.state_dict() for name, scheduler in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "ema": {name: module.state_dict() for name, module in self.ema.items()},
            "rng": torch.get_rng_state(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()},
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def _resume(self) -> None:
        state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        for name, module in self._bare.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for name, module in self.ema.items():
            module.load_state_dict(state["ema"][name])
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = int(state["step"])

    def weights(self, name: str, ema: bool = True) -> dict[str, torch.Tensor]:
        """The trained weights of ``name`` (its EMA copy when there is one and ``ema``)."""
        module = self.ema[name] if ema and name in self.ema else self._bare[name]
        return {key: value.detach().cpu() for key, value in module.state_dict().items()}


@torch.no_grad()
def recompute_batchnorm(module: nn.Module, batches: Iterable[Sequence[torch.Tensor]]) -> nn.Module:
    """Recompute the running statistics of ``module``'s BatchNorm layers as plain averages over ``batches`` (each
    the positional inputs of one forward pass); every other layer stays in eval mode. An EMA copy inherits the live
    network's statistics, which were measured with other weights (and, when training on crops, at another size);
    OASIS recomputes its EMA generator's before sampling or saving (``torch.optim.swa_utils.update_bn`` is the same
    idea, but puts the whole network, spectral norms included, in train mode)."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    was_training, momenta = module.training, [m.momentum for m in norms]
    module.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None          # cumulative average over the batches
        norm.train()
    for inputs in batches:
        module(*inputs)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    module.train(was_training)
    return module


def export_ema(out_dir: str | Path, target: Path, module: str = "G") -> Path:
    """Write the EMA copy of ``module`` from ``out_dir/checkpoint.pt`` to ``target`` as fp16 safetensors with the
    network config of ``out_dir/train_options.json`` (the shipped-weights format of the diffusion methods)."""
    from . import checkpoints

    out_dir = Path(out_dir)
    config = json.loads((out_dir / "train_options.json").read_text())["config"]
    state = torch.load(out_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    checkpoints.save(target, state["ema"][module], config, half=True)
    return target


def _append_line(file: Path, line: str) -> None:
    with open(file, "a") as handle:
        handle.write(line + "\n")
