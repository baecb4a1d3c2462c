"""Training INADE with the shared Trainer (``bench train --method inade``).

Each step is one generator update then one discriminator update, as the official code does: the encoder remaps
the N(0, 1) per-instance noise with the real image's statistics (``use_vae``, always on in training); the
generator and encoder minimise hinge GAN + 10 * feature matching + 10 * perceptual + 0.05 * KL / 2; the
multi-scale discriminator minimises the hinge loss. Adam(beta1=0, beta2=0.9) with TTUR (G lr/2, D lr*2). The
perceptual network is VGG19 on real datasets and, on ``shapes``, the shipped shapes segmentation network when its
file exists (otherwise no perceptual loss; the run's ``options.json`` records which). Beyond the official recipe,
the options ``r1_weight``/``r1_every`` add a lazy R1 penalty, ``amp`` mixed precision and ``grad_clip`` a gradient
bound (all off by default).

The ``shapes`` checkpoint was made on the shared 2-core CPU with a 12-minute wall-clock cap (one thread: OpenMP
spin-waiting makes two threads ~100x slower on an oversubscribed machine), then exported::

    OMP_NUM_THREADS=1 timeout 720 python -m semsynth.methods.inade.train --dataset shapes --out runs/inade-shapes \
        --steps 20000 --batch-size 8 --lr 4e-4 --ckpt-every 100
    python -m semsynth.methods.inade.train --out runs/inade-shapes --export semsynth/assets/inade_shapes.safetensors

(``bench train --method inade --dataset shapes --out runs/inade-shapes --steps N --set lr=4e-4`` runs the same
training without the time cap.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ... import load_dataset, weights
from ...errors import UserError
from ...nn.gan_losses import Perceptual, feature_matching, hinge_discriminator, hinge_generator, kl_divergence
from ...types import Example
from . import presets
from .discriminator import MultiscaleDiscriminator
from ..inputs import instance_onehot, semantics
from ..settings import check_settings
from .losses import inade_vgg19, shapes_perceptual
from .method import layout_instances, write_weights
from .model import INADEEncoder, INADEGenerator, class_channels, remap_noise

DEFAULTS: dict[str, Any] = {"lr": 2e-4, "beta1": 0.0, "beta2": 0.9, "lambda_feat": 10.0, "lambda_vgg": 10.0,
                            "lambda_kld": 0.05, "ndf": 64, "n_layers_D": 4, "num_D": 2, "perceptual": "auto",
                            "r1_weight": 0.0, "r1_every": 16, "amp": None, "grad_clip": None}
SHAPES_DEFAULTS: dict[str, Any] = {"ndf": 16, "n_layers_D": 3}


def perceptual_loss(dataset: str, choice: str) -> tuple[Perceptual | None, str]:
    """The perceptual network for ``dataset`` ('auto': VGG19, or on shapes the shapes network if present)."""
    if choice == "none":
        return None, "none"
    if dataset == "shapes" and choice in ("auto", "shapes-segnet"):
        if choice == "auto" and weights.find("shapes-segnet") is None:
            return None, "none (shapes-segnet weights absent)"
        return shapes_perceptual(), "shapes-segnet"
    return inade_vgg19(), "vgg19"


def batch_inputs(examples: list[Example], label_nc: int, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Semantic map (+ edge), instance one-hot and real images in [-1, 1] of a batch."""
    layouts = [example.layout for example in examples]
    ids = torch.stack([layout_instances(layout) for layout in layouts])
    segmap = semantics(torch.stack([layout.labels for layout in layouts]), ids, label_nc,
                       layouts[0].label_space.ignore_index)
    images = torch.stack([example.image for example in examples]).float() / 127.5 - 1
    return segmap.to(device), instance_onehot(ids).to(device), images.to(device)


def train(dataset: str, out_dir: Path, data_root: str | Path | None = None, steps: int = 600, batch_size: int = 8,
          device: str = "cpu", resume: bool = True, quiet: bool = False, seed: int = 0, ckpt_every: int = 50,
          **options: Any) -> Path:
    """Train INADE on ``dataset``; returns the weights file ``out_dir/inade_<dataset>.safetensors``. A run resumes
    from ``out_dir/checkpoint.pt`` (``resume`` False refuses such a folder). ``options``: network options (official
    names, e.g. ``ngf``) and training options (``DEFAULTS``)."""
    from ...training import TrainConfig, Trainer

    out_dir = Path(out_dir)
    settings = {**DEFAULTS, **(SHAPES_DEFAULTS if dataset == "shapes" else {})}
    net_options = presets.options_for(dataset)
    unknown = sorted(set(options) - set(DEFAULTS) - set(net_options))
    if unknown:
        raise UserError(f"unknown INADE training option(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted({*DEFAULTS, *net_options}))}")
    for key, value in check_settings("inade training", options, {}, {**settings, **net_options}).items():
        (settings if key in DEFAULTS else net_options)[key] = value
    torch.manual_seed(seed)
    generator = INADEGenerator.from_official_config(net_options)
    encoder = INADEEncoder.from_official_config(net_options)
    discriminator = MultiscaleDiscriminator(class_channels(net_options) + 1 + 3, settings["ndf"],
                                            settings["n_layers_D"], settings["num_D"])
    betas = (settings["beta1"], settings["beta2"])
    optimizers = {"G": torch.optim.Adam([*generator.parameters(), *encoder.parameters()], lr=settings["lr"] / 2,
                                        betas=betas),
                  "D": torch.optim.Adam(discriminator.parameters(), lr=settings["lr"] * 2, betas=betas)}
    config = TrainConfig(out_dir=out_dir, steps=steps, batch_size=batch_size, seed=seed, log_every=10,
                         ckpt_every=ckpt_every, device=device, ema_decay=None, quiet=quiet, amp=settings["amp"],
                         grad_clip=settings["grad_clip"], resume=resume)
    trainer = Trainer({"G": generator, "E": encoder, "D": discriminator}, optimizers, config)
    perceptual, perceptual_name = perceptual_loss(dataset, settings["perceptual"])
    if perceptual is not None:
        perceptual.to(trainer.device)
    first_feature = settings["n_layers_D"] - 1   # the last intermediate layer (official: j >= 3 of 4 layers)
    trainer.write(lambda folder: (folder / "options.json").write_text(json.dumps(
        {"network": net_options, "training": settings, "perceptual": perceptual_name, "steps": steps,
         "batch_size": batch_size, "seed": seed}, indent=1)))

    def fake_images(segmap: torch.Tensor, onehot: torch.Tensor, images: torch.Tensor, rng: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        scale_mu, scale_logvar, bias_mu, bias_logvar = trainer.modules["E"](images, onehot)
        noise = torch.randn(*onehot.shape[:2], 2, generator.noise_nc, generator=rng).to(trainer.device)
        noise = remap_noise(noise, scale_mu, torch.exp(0.5 * scale_logvar), bias_mu, torch.exp(0.5 * bias_logvar))
        vector = torch.randn(onehot.shape[0], generator.z_dim, generator=rng).to(trainer.device)
        kld = (kl_divergence(scale_mu, scale_logvar) + kl_divergence(bias_mu, bias_logvar)) / 2
        return trainer.modules["G"](segmap, onehot, noise, vector), kld

    def discriminate(segmap: torch.Tensor, fake: torch.Tensor, real: torch.Tensor):
        outputs = trainer.modules["D"](torch.cat([torch.cat([segmap, fake], 1), torch.cat([segmap, real], 1)]))
        half = fake.shape[0]
        return ([[t[:half] for t in scale] for scale in outputs], [[t[half:] for t in scale] for scale in outputs])

    def step(examples: list[Example], _step: int, trainer: Trainer) -> dict[str, float]:
        segmap, onehot, real = batch_inputs(examples, generator.label_nc, trainer.device)

        def generator_losses() -> dict[str, torch.Tensor]:
            fake, kld = fake_images(segmap, onehot, real, trainer.generator)
            pred_fake, pred_real = discriminate(segmap, fake, real)
            losses = {"G_gan": hinge_generator(pred_fake),
                      "G_feat": settings["lambda_feat"] * feature_matching(pred_fake, pred_real, first_feature),
                      "KLD": settings["lambda_kld"] * kld}
            if perceptual is not None:
                losses["G_vgg"] = settings["lambda_vgg"] * perceptual(fake, real)
            return losses

        def discriminator_losses(real: torch.Tensor) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
            with torch.no_grad():
                fake, _ = fake_images(segmap, onehot, real, trainer.generator)
            pred_fake, pred_real = discriminate(segmap, fake.detach(), real)
            return {"D": hinge_discriminator(pred_fake, pred_real)}, [scale[-1] for scale in pred_real]

        return trainer.gan_step(generator_losses, discriminator_losses, real, r1_weight=settings["r1_weight"],
                                r1_every=settings["r1_every"])

    trainer.fit(step, load_dataset(dataset, root=data_root, split="train"))
    target = out_dir / f"inade_{dataset}.safetensors"
    trainer.write(lambda folder: export(folder, target))
    return target


def export(run_dir: str | Path, out: str | Path) -> Path:
    """Write the generator and encoder of a run's latest ``checkpoint.pt`` as an INADE weights file (so a run
    stopped early still yields a checkpoint)."""
    run_dir = Path(run_dir)
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    net_options = json.loads((run_dir / "options.json").read_text())["network"]
    generator = INADEGenerator.from_official_config(net_options)
    encoder = INADEEncoder.from_official_config(net_options)
    generator.load_state_dict(state["modules"]["G"], strict=True)
    encoder.load_state_dict(state["modules"]["E"], strict=True)
    write_weights(out, generator, encoder, net_options)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    """``python -m semsynth.methods.inade.train``: the same as ``bench train --method inade``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--perceptual", default="auto", choices=["auto", "vgg19", "shapes-segnet", "none"])
    parser.add_argument("--ckpt-every", type=int, default=50)
    parser.add_argument("--export", type=Path, default=None, help="only write OUT's latest checkpoint to this file")
    args = parser.parse_args(argv)
    if args.export is not None:
        print(export(args.out, args.export))
        return
    print(train(args.dataset, args.out, args.data_root, args.steps, args.batch_size, args.device,
                ckpt_every=args.ckpt_every, lr=args.lr, perceptual=args.perceptual))


if __name__ == "__main__":
    main()
