"""SDM training with the shared Trainer: L_simple + lambda * L_vlb, AdamW, EMA, uniform timesteps; the
classifier-free stage drops the whole layout input (one-hot and edge) with probability ``drop_rate``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch

from ... import checkpoints
from ...diffusion.gaussian import GaussianProcess
from ...diffusion.losses import hybrid_loss
from ...diffusion.schedules import linear_betas
from ...errors import UserError
from ...training import TrainConfig, Trainer, export_ema
from ...types import Example
from .model import SDMUNet
from ..settings import check_settings
from .presets import TRAINING_TYPES, SDMPreset, preset_for


def batch_inputs(examples: list[Example], preset: SDMPreset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [-1, 1] and the SDM layout tensors of a list of examples."""
    images = torch.stack([example.image for example in examples]).to(device).float() / 127.5 - 1
    cond = torch.stack([preset.channels(example.layout) for example in examples]).to(device)
    return images, cond


def random_crop(x: torch.Tensor, cond: torch.Tensor, size: int, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random ``size`` x ``size`` window of each image and its layout (cheaper steps for the fully
    convolutional UNet; the edge channel is computed before cropping, so it stays exact)."""
    height, width = x.shape[-2:]
    top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
    window = (..., slice(top, top + size), slice(left, left + size))
    return x[window], cond[window]


def make_step(diffusion: GaussianProcess, preset: SDMPreset, drop_rate: float, crop: int | None = None):
    """The Trainer step: uniform t, add_noise, hybrid loss, AdamW step; layouts zeroed with prob. ``drop_rate``;
    optional random crops of ``crop`` pixels."""
    def step_fn(examples: list[Example], step: int, trainer: Trainer) -> dict[str, float]:
        net, generator = trainer.modules["G"], trainer.generator
        x_start, cond = batch_inputs(examples, preset, trainer.device)
        if crop is not None:
            x_start, cond = random_crop(x_start, cond, crop, generator)
        batch = x_start.shape[0]
        keep = (torch.rand(batch, generator=generator) >= drop_rate).float().to(cond.device)
        cond = cond * keep[:, None, None, None]
        t = torch.randint(0, diffusion.num_steps, (batch,), generator=generator).to(x_start.device)
        noise = torch.randn(x_start.shape, generator=generator).to(x_start.device)
        x_t = diffusion.add_noise(x_start, t, noise)
        losses = hybrid_loss(diffusion, net(x_t, t, cond), x_start, x_t, t, noise)
        trainer.optimize("G", losses["loss"])
        return {name: value.item() for name, value in losses.items()}

    return step_fn


TRAINING_OPTIONS = ("steps", "batch_size", "lr", "drop_rate", "ema_decay", "crop")


def train(dataset: str, out_dir: Path, data_root: str | Path | None = None, device: str = "cpu", resume: bool = True,
          init: str | Path | None = None, seed: int = 0, log_every: int = 50, ckpt_every: int = 250,
          quiet: bool = False, amp: str | None = None, grad_clip: float | None = None, **options: Any) -> Path:
    """Train SDM on ``dataset`` and write the EMA weights to ``out_dir/sdm_<dataset>.safetensors`` (fp16).

    ``options`` override the preset: the training settings ``steps``, ``batch_size``, ``lr``, ``drop_rate``,
    ``ema_decay`` and ``crop`` (random square crops; None trains on whole images), and any network argument of
    ``SDMUNet``. Paper recipe: stage 1 lr 1e-4, ``drop_rate=0``, EMA 0.9999; the classifier-free stage
    ``init=<stage-1 weights>``, ``drop_rate=0.2``, lr 2e-5. Resumes from ``out_dir``; ``export`` writes the weights
    of an interrupted run. ``amp`` ("bf16"/"fp16") and ``grad_clip`` are the Trainer's mixed precision and
    gradient-norm bound."""
    from ... import load_dataset

    preset = preset_for(dataset)
    chosen = check_settings("sdm training", {key: options.pop(key) for key in TRAINING_OPTIONS if key in options},
                            TRAINING_TYPES, preset.training)
    settings = {**preset.training, **chosen}
    steps, batch_size, lr, drop_rate, ema_decay, crop = (settings[key] for key in TRAINING_OPTIONS)
    unknown = sorted(set(options) - set(inspect.signature(SDMUNet).parameters))
    if unknown:
        raise UserError(f"unknown sdm training option(s) {', '.join(unknown)}; use {', '.join(TRAINING_OPTIONS)}, "
                        f"init, seed, log_every, ckpt_every or an SDMUNet argument")
    out_dir = Path(out_dir)
    net_config = dict(preset.net_config(), **check_settings("sdm network", options, {}, preset.net_config()))
    torch.manual_seed(seed)   # the initial weights
    net = SDMUNet(**net_config)
    if init is not None:
        net.load_state_dict(checkpoints.load(init)[0], strict=True)
    diffusion = GaussianProcess(linear_betas(1000))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    trainer = Trainer({"G": net}, {"G": optimizer}, TrainConfig(
        out_dir=out_dir, steps=steps, batch_size=batch_size, seed=seed, log_every=log_every, ckpt_every=ckpt_every,
        device=device, ema_decay=ema_decay, quiet=quiet, amp=amp, grad_clip=grad_clip, resume=resume), ema=("G",))
    data = load_dataset(dataset, root=data_root, split="train")
    trainer.write(lambda folder: (folder / "train_options.json").write_text(json.dumps(
        {"dataset": dataset, "steps": steps, "batch_size": batch_size, "lr": lr, "drop_rate": drop_rate,
         "ema_decay": ema_decay, "seed": seed, "crop": crop, "init": str(init) if init else None,
         "amp": amp, "grad_clip": grad_clip, "config": net_config}, indent=1, default=list)))
    trainer.fit(make_step(diffusion, preset, drop_rate, crop), data)
    target = out_dir / f"sdm_{dataset}.safetensors"
    trainer.write(lambda folder: export(folder, dataset, target))
    return target


def export(out_dir: str | Path, dataset: str, target: str | Path | None = None) -> Path:
    """Write the EMA weights of ``out_dir/checkpoint.pt`` as fp16 safetensors (default
    ``out_dir/sdm_<dataset>.safetensors``) with the network config of ``train_options.json``."""
    target = Path(target) if target is not None else Path(out_dir) / f"sdm_{dataset}.safetensors"
    return export_ema(out_dir, target)
