"""Training DP-SIMS with the shared Trainer and GAN step (``bench train --method dpsims``).

One step: the generator makes two samples of each layout (noise z1, z2) and minimises the weighted focal loss of
the discriminator labelling its pixels with their layout's classes, plus the patch contrastive loss of the first
sample against the real image and the hinged diversity loss between the two; then the discriminator (frozen
pretrained backbone, trainable decoder) minimises the weighted focal loss on real pixels (their class) and fake
pixels ("fake"). Real and fake images go through the discriminator as one batch, so its conditioning BatchNorm
sees both. Options (``presets.PAPER_TRAINING``) select the ablations: ``frozen`` (S6), ``pretrained`` (S8),
``lambda_div`` and ``div_space`` (S9, S10), ``sampling`` (S11), ``instances`` (S12), ``weighted`` and
``focal_gamma`` (B.5). Resumable, EMA of the generator, AMP (``amp``), DDP under torchrun, as every method.

The ``shapes`` files come from ``presets.SHAPES_RECIPE``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from ... import load_dataset, weights
from ...errors import UserError
from ...nn import features
from ...nn.gan_losses import vgg19_perceptual
from ...training import TrainConfig, Trainer, recompute_batchnorm
from ...types import Example
from ..base import lookup_preset
from ..settings import check_settings
from . import losses
from .discriminator import Discriminator, DiscriminatorConfig
from .generator import Generator, GeneratorConfig
from .method import label_map, segment_ids, segment_noise, write_weights
from .presets import PAPER_TRAINING, PRESETS, DPSIMSPreset
from .sampling import SAMPLING, layout_of, training_view

VGG19_CHANNELS = (64, 128, 256, 512, 512)


def random_crop(tensors: tuple[torch.Tensor, ...], size: int, generator: torch.Generator
                ) -> tuple[torch.Tensor, ...]:
    """The same random ``size`` x ``size`` window of every tensor ``[B, ..., H, W]`` (edges computed before)."""
    height, width = tensors[0].shape[-2:]
    top = int(torch.randint(height - size + 1, (1,), generator=generator))
    left = int(torch.randint(width - size + 1, (1,), generator=generator))
    return tuple(t[..., top:top + size, left:left + size] for t in tensors)


def build_discriminator(preset: DPSIMSPreset, num_classes: int, settings: dict[str, Any]) -> Discriminator:
    """The discriminator with the preset's backbone: pretrained from the catalog unless ``pretrained`` is False."""
    config = DiscriminatorConfig.from_dict({**preset.discriminator, "num_classes": num_classes,
                                            "frozen": settings["frozen"], "conditioning": settings["conditioning"],
                                            "colour_levels": settings["colour_levels"]})
    return Discriminator(config, catalog=preset.backbone_weights if settings["pretrained"] else None)


def contrastive_loss(preset: DPSIMSPreset, discriminator: Discriminator, settings: dict[str, Any]
                     ) -> losses.PatchContrastive | None:
    """The patch contrastive loss on VGG19 (paper) or on a frozen copy of the pretrained backbone (``shapes``)."""
    if not settings["lambda_contrastive"]:
        return None
    if preset.contrastive == "vgg19":
        network = vgg19_perceptual(weights.path("vgg19-torchvision"), (1,) * 5)
        stages, channels = network.stages, VGG19_CHANNELS
    else:
        config = discriminator.config
        network = features.create(config.backbone, None, config.out_indices, True,
                                  preset.backbone_weights if settings["pretrained"] else None,
                                  **config.backbone_kwargs)
        stages, channels = network, network.channels
    loss = losses.PatchContrastive(stages, channels, settings["contrastive_dim"], settings["contrastive_patches"],
                                   settings["contrastive_tau"])
    loss.network = network    # registered, so it moves with the loss to the device
    return loss


def train(dataset: str, out_dir: Path, data_root: str | Path | None = None, steps: int = 600,
          batch_size: int | None = None, device: str = "cpu", resume: bool = True, quiet: bool = False,
          seed: int = 0, ckpt_every: int = 100, instances: bool | None = None, **options: Any) -> Path:
    """Train DP-SIMS on ``dataset``; returns ``out_dir/dpsims_<dataset>.safetensors`` (the EMA generator). Resumes
    from ``out_dir/checkpoint.pt`` (``resume`` False refuses such a folder). ``options``: ``presets.PAPER_TRAINING``
    keys and generator config keys."""
    out_dir = Path(out_dir)
    preset = lookup_preset("dpsims", PRESETS, dataset)
    settings, net_options = dict(preset.training), dict(preset.generator)
    unknown = sorted(set(options) - set(settings) - set(net_options))
    if unknown:
        raise UserError(f"unknown DP-SIMS training option(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted({*settings, *net_options}))}")
    for key, value in check_settings("dpsims training", options, {}, {**settings, **net_options}).items():
        (settings if key in preset.training else net_options)[key] = value
    if (settings["sampling"] not in SAMPLING or settings["div_space"] not in ("feature", "image")
            or settings["div_hinge"] not in losses.HINGES):
        raise UserError("sampling must be uniform or balanced, div_space feature or image, div_hinge absolute or "
                        "relative")
    batch_size = batch_size or preset.batch_size
    use_instances = preset.instances if instances is None else instances
    data = load_dataset(dataset, root=data_root, split="train")
    num_classes = data.label_space.num_classes
    torch.manual_seed(seed)
    generator = Generator(GeneratorConfig.from_dict(
        {**net_options, "label_channels": num_classes + int(use_instances), "resolution": list(data.resolution)}))
    discriminator = build_discriminator(preset, num_classes, settings)
    contrastive = contrastive_loss(preset, discriminator, settings)
    g_params = [*generator.parameters(), *(contrastive.heads.parameters() if contrastive is not None else [])]
    betas = (settings["beta1"], settings["beta2"])
    optimizers = {"G": torch.optim.Adam(g_params, lr=settings["lr"], betas=betas),
                  "D": torch.optim.Adam([p for p in discriminator.parameters() if p.requires_grad],
                                        lr=settings["lr"], betas=betas)}
    modules = {"G": generator, "D": discriminator, **({"C": contrastive} if contrastive is not None else {})}
    config = TrainConfig(out_dir=out_dir, steps=steps, batch_size=batch_size, seed=seed, log_every=10,
                         ckpt_every=ckpt_every, device=device, ema_decay=settings["ema_decay"], quiet=quiet,
                         amp=settings["amp"], grad_clip=settings["grad_clip"], resume=resume,
                         lr_decay_steps=settings["lr_decay_steps"])
    trainer = Trainer(modules, optimizers, config, ema=("G",))
    record = {"generator": generator.config.to_dict(), "discriminator": discriminator.config.to_dict(),
              "instances": use_instances, "num_classes": num_classes, "dataset": dataset,
              "backbone_weights": preset.backbone_weights if settings["pretrained"] else None}
    trainer.write(lambda folder: (folder / "options.json").write_text(json.dumps(
        {"network": record, "training": settings, "steps": steps, "batch_size": batch_size, "seed": seed},
        indent=1)))
    gamma, weighted = settings["focal_gamma"], settings["weighted"]
    cache: dict[str, torch.Tensor] = {}

    def step(examples: list[Example], _step: int, trainer: Trainer) -> dict[str, float]:
        layouts = [example.layout for example in examples]
        labels = torch.stack([layout.labels for layout in layouts]).to(trainer.device)
        inputs = label_map(layouts, num_classes, use_instances).to(trainer.device)
        real = (torch.stack([example.image for example in examples]).float() / 127.5 - 1).to(trainer.device)
        ids = torch.stack([segment_ids(layout) for layout in layouts]).to(trainer.device)
        if settings["crop"]:
            inputs, labels, real, ids = random_crop((inputs, labels, real, ids), settings["crop"], trainer.generator)
        count = len(examples)
        z = torch.randn(2 * count, generator.config.z_dim, generator=trainer.generator).to(trainer.device)
        noise_map = noise_for(torch.cat([ids, ids]), generator.config.segment_noise, trainer.generator)

        def generator_losses() -> dict[str, torch.Tensor]:
            fakes, penultimate = trainer.modules["G"](torch.cat([inputs, inputs]), z, True, noise_map)
            cache["fake"] = fakes[:count].detach()
            logits = trainer.modules["D"](torch.cat([fakes, real]))[: 2 * count]
            result = {"G_gan": settings["lambda_gan"] * losses.generator_loss(
                logits, torch.cat([labels, labels]), gamma, weighted)}
            if contrastive is not None:
                result["G_nce"] = settings["lambda_contrastive"] * trainer.modules["C"](
                    fakes[:count], real, trainer.generator)
            if settings["lambda_div"]:
                space = penultimate if settings["div_space"] == "feature" else fakes
                if settings["div_pool"] > 1:    # distances between block means: colour and layout, not grain
                    space = F.avg_pool2d(space, int(settings["div_pool"]))
                tau = (losses.diversity_threshold(space[:count], z[:count]) if settings["div_tau"] == "auto"
                       else float(settings["div_tau"]))
                result["G_div"] = settings["lambda_div"] * losses.diversity_loss(
                    space[:count], space[count:], z[:count], z[count:], tau, settings["div_hinge"])
            return result

        def discriminator_losses(real: torch.Tensor) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
            logits = trainer.modules["D"](torch.cat([cache.pop("fake"), real]))
            return ({"D": losses.discriminator_loss(logits[:count], logits[count:], labels, gamma, weighted)},
                    [logits[count:]])

        return trainer.gan_step(generator_losses, discriminator_losses, real, r1_weight=settings["r1_weight"],
                                r1_every=settings["r1_every"])

    trainer.fit(step, training_view(data, settings["sampling"], settings["pool"], seed))
    target = out_dir / f"dpsims_{dataset}.safetensors"
    trainer.write(lambda folder: export(folder, target, data_root=data_root))
    return target


def noise_for(ids: torch.Tensor, channels: int, rng: torch.Generator) -> torch.Tensor | None:
    """A training noise map of ``channels`` for the segment ids ``[B, H, W]`` (None when ``channels`` is 0)."""
    if not channels:
        return None
    vectors = torch.randn(ids.shape[0], int(ids.max()) + 1, channels, generator=rng).to(ids.device)
    return segment_noise(ids, vectors)


def recalibration_batches(dataset: Any, count: int, batch_size: int, config: GeneratorConfig, instances: bool,
                          seed: int = 0) -> Iterator[tuple[Any, ...]]:
    """``count`` generator inputs (label maps, noise) of ``batch_size`` training layouts drawn uniformly, at full
    size: what export averages the EMA generator's BatchNorm statistics over."""
    rng = torch.Generator().manual_seed(seed)
    for _ in range(count):
        indices = torch.randint(len(dataset), (batch_size,), generator=rng).tolist()
        layouts = [layout_of(dataset, index) for index in indices]
        z = torch.randn(batch_size, config.z_dim, generator=rng)
        ids = torch.stack([segment_ids(layout) for layout in layouts])
        yield (label_map(layouts, dataset.label_space.num_classes, instances), z, False,
               noise_for(ids, config.segment_noise, rng))


def export(run_dir: str | Path, out: str | Path, half: bool = True, data_root: str | Path | None = None) -> Path:
    """The EMA generator of a run's latest ``checkpoint.pt`` as a DP-SIMS weights file (fp16 unless ``half`` is
    False), so a run stopped early still yields a checkpoint. Its BatchNorm statistics are recomputed first over
    ``bn_batches`` batches of the run's training set (``data_root``), twice the training batch as in a step."""
    run_dir = Path(run_dir)
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    options = json.loads((run_dir / "options.json").read_text())
    record = options["network"]
    generator = Generator(GeneratorConfig.from_dict(record["generator"]))
    generator.load_state_dict(state["ema"]["G"], strict=True)
    count = int(options["training"].get("bn_batches", PAPER_TRAINING["bn_batches"]))
    recalibration = None
    if count:
        data = load_dataset(record["dataset"], root=data_root, split="train")
        recalibration = {"batches": count, "batch_size": 2 * int(options["batch_size"])}
        recompute_batchnorm(generator, recalibration_batches(data, count, recalibration["batch_size"],
                                                             generator.config, record["instances"]))
    write_weights(out, generator.state_dict(), {**record, "generator": generator.config.to_dict(),
                                                "bn_recalibration": recalibration}, half)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    """``python -m semsynth.methods.dpsims.train``: ``bench train --method dpsims`` plus ``--export``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ckpt-every", type=int, default=100)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a training option")
    parser.add_argument("--export", type=Path, default=None, help="only write OUT's latest checkpoint to this file")
    args = parser.parse_args(argv)
    if args.export is not None:
        print(export(args.out, args.export, data_root=args.data_root))
        return
    from ...cli import _key_values

    options = _key_values(args.set)
    print(train(args.dataset, args.out, data_root=args.data_root, steps=args.steps, batch_size=args.batch_size,
                device=args.device, ckpt_every=args.ckpt_every, **options))


if __name__ == "__main__":
    main()
