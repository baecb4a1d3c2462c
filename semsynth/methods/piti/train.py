"""PITI training with the shared Trainer, stage by stage as the paper does it: ``prior`` (our stand-in for GLIDE: the
decoder alone, unconditional), ``1`` (the encoder against the frozen pretrained decoder), ``1b`` (the same with
condition dropout), ``2`` (the whole model; without a prior file the same network from scratch), ``upsample`` (the
super-resolution model with the adversarial PatchGAN/WGAN-GP and optional perceptual losses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from ... import checkpoints, weights
from ...diffusion.gaussian import GaussianProcess
from ...diffusion.losses import hybrid_loss
from ...diffusion.schedules import named_betas
from ...errors import UserError
from ...training import TrainConfig, Trainer
from ...types import Example
from ..settings import Setting, check_settings
from .adversarial import PatchDiscriminator, VGGPerceptual, gradient_penalty
from .model import PITIModel
from .palette import colour_mask, to_ref
from .presets import PITIPreset, preset_for
from .sampling import downsample

STAGES = ("prior", "1", "1b", "2", "upsample")
OPTION_TYPES = {"steps": Setting(int, low=1, high=10**9), "batch_size": Setting(int, low=1, high=65536),
                "lr": Setting(float, low=0.0, high=1.0), "uncond_p": Setting(float, low=0.0, high=1.0),
                "ema_decay": Setting(float, low=0.0, high=1.0), "perceptual": Setting(float, low=0.0, high=100.0),
                "adversarial": Setting(float, low=0.0, high=100.0), "adv_start": Setting(int, low=0, high=10**9),
                "data_fraction": Setting(float, low=0.0, high=1.0), "ndf": Setting(int, low=1, high=1024),
                "train_examples": Setting(int, low=0, high=10**9), "lr_decay_steps": Setting(int, low=0, high=10**9)}
WEIGHT_NAMES = {"prior": "piti_{}_prior", "1": "piti_{}_stage1", "1b": "piti_{}_stage1b", "2": "piti_{}_base",
                "upsample": "piti_{}_upsample"}


def batch_inputs(examples: list[Example], preset: PITIPreset, size: int | None, generator: torch.Generator,
                 uncond_p: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Target images in [-1, 1] (bicubic-resized to ``size`` when given), their full-size images and the
    colour-coded masks in [-1, 1]; each pair flipped horizontally with prob. 1/2 and its mask replaced by the null
    (all-ones) map with prob. ``uncond_p``."""
    images = torch.stack([example.image for example in examples]).float() / 127.5 - 1
    refs = torch.stack([to_ref(colour_mask(example.layout.labels, preset.num_classes)) for example in examples])
    flip = torch.rand(len(examples), generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    refs = torch.where(flip[:, None, None, None], refs.flip(-1), refs)
    drop = torch.rand(len(examples), generator=generator) < uncond_p
    refs = torch.where(drop[:, None, None, None], torch.ones_like(refs), refs)
    target = images if size is None else downsample(images, size)
    return target.to(device), images.to(device), refs.to(device)


def diffusion_losses(model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], process: GaussianProcess,
                     x_start: torch.Tensor, generator: torch.Generator, t_min: int = 0
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The hybrid loss at t uniform over [``t_min``, T) of ``model(x_t, t)`` (t as float, rescale_timesteps) and the
    clamped x0 prediction."""
    batch = len(x_start)
    t = torch.randint(t_min, process.num_steps, (batch,), generator=generator).to(x_start.device)
    noise = torch.randn(x_start.shape, generator=generator).to(x_start.device)
    x_t = process.add_noise(x_start, t, noise)
    output = model(x_t, process.model_time(t).float())
    x0 = process.x0_from_eps(x_t, t, output[:, :3]).clamp(-1, 1)
    return hybrid_loss(process, output, x_start, x_t, t, noise), x0


def null_tokens(width: int, batch: int, device: torch.device) -> torch.Tensor:
    """The prior's condition: one zero encoder token and a zero global embedding (an empty caption's stand-in)."""
    return torch.zeros(batch, width, 2, device=device)


def make_step(net: PITIModel, stage: str, preset: PITIPreset, process: GaussianProcess, settings: dict[str, Any],
              perceptual: VGGPerceptual | None = None):
    """The Trainer step of ``stage`` (``prior``, ``1``, ``1b``, ``2``: the base model; ``upsample``, whose
    perceptual and adversarial terms start at step ``adv_start``)."""
    size = None if stage == "upsample" else preset.base_size
    base = preset.base_size
    width = net.encoder.final_ln.normalized_shape[0]

    def step_fn(examples: list[Example], step: int, trainer: Trainer) -> dict[str, float]:
        generator = trainer.generator
        x_start, full, refs = batch_inputs(examples, preset, size, generator, settings["uncond_p"], trainer.device)
        low_res, offset = None, 0.0
        if stage == "upsample":
            low_res = downsample(full, base)
            low_res = (127.5 * (low_res + 1)).round() / 127.5 - 1   # 8-bit, as the base stage hands it over
            offset = net.offset(low_res, tuple(x_start.shape[-2:]))
        trained = trainer.modules["G"]   # called through forward, so that DDP synchronises its gradients
        if stage == "prior":
            tokens = null_tokens(width, len(x_start), trainer.device)

            def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return trained(x, t, global_embedding=tokens[..., -1], encoder_tokens=tokens[..., :-1])
        else:
            def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return trained(x, t, refs, low_res)
        extras = stage == "upsample" and step >= settings["adv_start"]

        def generator_losses() -> dict[str, torch.Tensor]:
            losses, x0 = diffusion_losses(model, process, x_start - offset, generator)
            x0 = (x0 + offset).clamp(-1, 1)   # the image (a residual upsampler's diffusion draws the detail only)
            fakes.append(x0.detach())
            terms.update(mse=losses["mse"].item(), vb=losses["vb"].item())
            out = {"loss": losses["loss"]}
            if extras and perceptual is not None:
                out["perceptual"] = settings["perceptual"] * perceptual(x0, x_start)
            if extras and settings["adversarial"] > 0:
                out["adv"] = -settings["adversarial"] * trainer.modules["D"](x0).mean()
            return out

        def discriminator_losses(real: torch.Tensor):
            real_scores = trainer.modules["D"](real)
            wgan = trainer.modules["D"](fakes[0]).mean() - real_scores.mean()
            penalty = 10.0 * gradient_penalty(trainer.modules["D"], real, fakes[0], generator)
            return {"D": wgan, "GP": penalty}, [real_scores]

        fakes: list[torch.Tensor] = []
        terms: dict[str, float] = {}
        if extras and settings["adversarial"] > 0:
            return {**trainer.gan_step(generator_losses, discriminator_losses, x_start), **terms}
        losses = generator_losses()
        trainer.optimize("G", sum(losses.values()))
        return {**{name: value.item() for name, value in losses.items()}, **terms}

    return step_fn


def training_subset(data: Any, examples: int = 0, fraction: float = 1.0) -> Any:
    """The first ``examples`` items of ``data`` (all for 0), then the first ``fraction`` of those (at least one):
    a fixed, finite training set whose shares are nested, for the data-size study (the paper's Table 4)."""
    if examples and examples > len(data):
        raise UserError(f"train_examples={examples} exceeds the {len(data)} examples of the training split")
    count = examples or len(data)
    count = max(1, int(count * fraction))
    return data if count == len(data) else torch.utils.data.Subset(data, range(count))


def build(preset: PITIPreset, stage: str, prior: str | Path | None, init: str | Path | None) -> PITIModel:
    """The network of ``stage`` with its starting weights: the decoder from ``prior`` (stages 1, 1b, 2; required
    by 1 and 1b), then ``init`` (an earlier stage's file: its encoder for 1b and 2, everything for 1 and upsample)."""
    net = PITIModel(**preset.configs["upsample" if stage == "upsample" else "base"])
    if stage in ("1", "1b") and prior is None:
        raise UserError(f"stage {stage} trains the encoder against a pretrained decoder: pass prior=<prior weights>")
    if prior is not None and stage != "prior":
        state = checkpoints.load(prior)[0]
        checkpoints.load_into(net.decoder, checkpoints.split(state, ["decoder"])["decoder"], prior)
    if init is not None:
        state = checkpoints.load(init)[0]
        if stage in ("1b", "2"):
            checkpoints.load_into(net.encoder, checkpoints.split(state, ["encoder", "decoder"])["encoder"], init)
        else:
            checkpoints.load_into(net, state, init)
    if stage in ("1", "1b"):
        net.decoder.requires_grad_(False)
    return net


def train(dataset: str, out_dir: Path, stage: str = "2", prior: str | Path | None = None,
          init: str | Path | None = None, data_root: str | Path | None = None, device: str = "cpu",
          resume: bool = True, seed: int = 0, log_every: int = 50, ckpt_every: int = 250, quiet: bool = False,
          amp: str | None = None, grad_clip: float | None = None, vgg: str | Path | None = None,
          **options: Any) -> Path:
    """Train one PITI stage on ``dataset``; writes the EMA weights (fp16) as ``out_dir/piti_<dataset>_<stage>``.

    ``options`` override the preset's recipe of the stage: ``steps``, ``batch_size``, ``lr``, ``lr_decay_steps``
    (the last N steps decay it linearly towards 0), ``uncond_p`` (condition dropout), ``ema_decay``, the
    upsampler's ``perceptual`` / ``adversarial`` weights and ``adv_start``, the discriminator width ``ndf``, and
    for the data-size study ``train_examples`` (a finite training set: the first N layouts of the split; 0, the
    default, is the whole split, which is virtual and unbounded on ``shapes``) and ``data_fraction`` (the first
    share of that set: ``training_subset``). The perceptual loss reads torchvision's VGG19 (catalog
    ``vgg19-torchvision``, or the file ``vgg``).
    Resumes from ``out_dir``."""
    from ... import load_dataset

    stage = str(stage)
    if stage not in STAGES:
        raise UserError(f"unknown piti stage '{stage}'; known: {', '.join(STAGES)}")
    preset = preset_for(dataset)
    recipe = preset.training.get(stage)
    if recipe is None:
        raise UserError(f"piti on {dataset} starts from the released GLIDE files, not a trained prior; "
                        f"use stage 1, 1b, 2 or upsample")
    defaults = {"perceptual": 0.0, "adversarial": 0.0, "adv_start": 0, "data_fraction": 1.0, "train_examples": 0,
                "ndf": 64, "lr_decay_steps": 0, **recipe}
    unknown = sorted(set(options) - set(OPTION_TYPES))
    if unknown:
        raise UserError(f"unknown piti training option(s) {', '.join(unknown)}; use {', '.join(OPTION_TYPES)}, "
                        f"stage, prior, init, seed, log_every or ckpt_every")
    settings = {**defaults, **check_settings("piti training", options, OPTION_TYPES, defaults)}
    perceptual = None
    if stage == "upsample" and settings["perceptual"] > 0:
        perceptual = VGGPerceptual(weights.path("vgg19-torchvision", vgg))
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    net = build(preset, stage, prior, init)
    trained = net.decoder if stage == "prior" else net
    process = GaussianProcess(named_betas(preset.schedules["upsample" if stage == "upsample" else "base"], 1000),
                              rescale_timesteps=True)
    parameters = [p for p in trained.parameters() if p.requires_grad]
    modules, optimizers = {"G": trained}, {"G": torch.optim.AdamW(parameters, lr=settings["lr"], weight_decay=0.0)}
    if stage == "upsample" and settings["adversarial"] > 0:
        modules["D"] = PatchDiscriminator(ndf=settings["ndf"])
        optimizers["D"] = torch.optim.Adam(modules["D"].parameters(), lr=settings["lr"], betas=(0.5, 0.999))
    trainer = Trainer(modules, optimizers, TrainConfig(
        out_dir=out_dir, steps=settings["steps"], batch_size=settings["batch_size"], seed=seed, log_every=log_every,
        ckpt_every=ckpt_every, device=device, ema_decay=settings["ema_decay"], quiet=quiet, amp=amp,
        grad_clip=grad_clip, resume=resume, lr_decay_steps=settings["lr_decay_steps"]), ema=("G",))
    data = training_subset(load_dataset(dataset, root=data_root, split="train"), settings["train_examples"],
                           settings["data_fraction"])
    record = {"dataset": dataset, "stage": stage, "prior": str(prior) if prior else None,
              "init": str(init) if init else None, "seed": seed, "config": net.config, "train_set_size": len(data),
              **settings}
    trainer.write(lambda folder: (folder / "train_options.json").write_text(json.dumps(record, indent=1)))
    trainer.fit(make_step(net, stage, preset, process, settings, perceptual), data)
    target = out_dir / f"{WEIGHT_NAMES[stage].format(dataset)}.safetensors"
    trainer.write(lambda folder: checkpoints.save(target, trainer.weights("G"), net.config, half=True))
    return target
