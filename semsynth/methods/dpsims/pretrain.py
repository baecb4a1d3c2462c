"""Pretraining the ``shapes`` discriminator backbone on another task: multi-label "which classes are present".

DP-SIMS's point is a discriminator whose encoder was trained for something else (ImageNet classification in the
paper). ``shapes`` has no ImageNet, so a small timm ConvNeXt learns to name the classes present in an image
(binary cross-entropy over the 10 classes), through the shared Trainer (resumable, seeded). Every ``shapes`` class
has its own colour, so the colour is hidden in training (``colour_augment``): the classifier must read class
presence from stripes and shapes, and its features carry the texture the discriminator has to judge. The result
is saved in timm's own format (the classifier's full ``state_dict`` as safetensors), so ``timm.create_model(name,
pretrained_cfg_overlay=dict(file=...))`` loads it like any timm checkpoint::

    python -m semsynth.methods.dpsims.pretrain --out runs/dpsims-backbone --steps 8000 \
        --export semsynth/assets/dpsims_shapes_backbone.safetensors

(8000 steps of batch 32, AdamW lr 2e-3 one-cycle, seed 0: 16 minutes on one CPU thread beside another job. On 256
val images it names classes with 82.6% per-class accuracy in colour and 82.7% with the colour hidden; the first
shipped backbone, trained without the augmentation, 85.4% and 60.5%; with the colour hidden in half the images,
``--augment half``, 93.1% and 81.8%, and a discriminator on it asks for colour but no longer for stripes: README.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ... import load_dataset
from ...types import Example

# The shapes backbone: timm's convnext_atto narrowed and shortened (0.6M parameters, 1.2 MB in fp16).
SHAPES_BACKBONE: dict[str, Any] = {"name": "convnext_atto", "kwargs": {"dims": [24, 48, 96, 192],
                                                                        "depths": [1, 1, 2, 1]}}


# ``augment``: the share of images whose colour cue is hidden (``colour_augment``); "none" hides nothing.
AUGMENT_P = {"colour": 1.0, "half": 0.5}


def present_classes(examples: list[Example], num_classes: int) -> torch.Tensor:
    """Multi-hot targets ``[B, num_classes]``: 1 where the class covers at least one pixel of the layout."""
    targets = torch.zeros(len(examples), num_classes)
    for row, example in enumerate(examples):
        labels = example.layout.labels
        targets[row, labels[labels < num_classes].unique()] = 1
    return targets


def classifier(num_classes: int, backbone: dict[str, Any] = SHAPES_BACKBONE) -> torch.nn.Module:
    """The timm classifier being pretrained (random init)."""
    import timm

    return timm.create_model(backbone["name"], num_classes=num_classes, **backbone["kwargs"])


def normalise(images: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
    """uint8 images -> the network's input normalisation (as ``nn.features.Features`` applies it)."""
    config = net.pretrained_cfg
    mean = torch.tensor(config["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(config["std"]).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std


def colour_augment(images: torch.Tensor, generator: torch.Generator, p: float = 1.0) -> torch.Tensor:
    """Hide the colour cue of each of the uint8 ``images`` ``[B, 3, H, W]`` with probability ``p``: the image becomes
    grey (p = 0.5) or has its channels permuted, then its brightness scaled by U(0.6, 1.4). On ``shapes`` every class
    has its own colour, so without this the classifier names classes by colour alone and its features never see
    texture; with it, class presence must be read from stripe frequency, orientation and shape, as ImageNet features
    carry texture. With ``p`` < 1 the features must also serve the images whose colour is shown."""
    out = []
    for image in images.float():
        if p < 1 and torch.rand((), generator=generator) >= p:   # p = 1 draws what the shipped backbone drew
            out.append(image)
            continue
        if torch.rand((), generator=generator) < 0.5:
            image = (image * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True).expand(3, -1, -1)
        else:
            image = image[torch.randperm(3, generator=generator)]
        out.append(image * (0.6 + 0.8 * torch.rand((), generator=generator)))
    return torch.stack(out).clamp(0, 255)


def pretrain(out_dir: Path, steps: int = 1500, batch_size: int = 32, lr: float = 2e-3, seed: int = 0,
             quiet: bool = False, dataset: str = "shapes", augment: str = "colour") -> Path:
    """Train the backbone classifier (``augment``: "colour" hides the colour cue, "half" in half the images, see
    ``colour_augment``; "none");
    returns ``out_dir/backbone.safetensors`` (timm format, fp32)."""
    from ...training import TrainConfig, Trainer

    data = load_dataset(dataset, split="train")
    num_classes = data.label_space.num_classes
    torch.manual_seed(seed)
    net = classifier(num_classes)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    config = TrainConfig(out_dir=out_dir, steps=steps, batch_size=batch_size, seed=seed, log_every=25,
                         ckpt_every=100, ema_decay=None, quiet=quiet)
    trainer = Trainer({"net": net}, {"net": optimizer}, config, schedulers={"net": schedule})
    trainer.write(lambda folder: (folder / "options.json").write_text(json.dumps(
        {"backbone": SHAPES_BACKBONE, "task": "multi-label class presence", "steps": steps, "batch_size": batch_size,
         "lr": lr, "seed": seed, "augment": augment}, indent=1)))

    def step(examples: list[Example], step: int, trainer: Trainer) -> dict[str, float]:
        images = torch.stack([example.image for example in examples])
        if augment in AUGMENT_P:  # seeded by the step, so a resumed run draws what an unbroken one would
            images = colour_augment(images, torch.Generator().manual_seed(seed * 1_000_003 + step), AUGMENT_P[augment])
        images = normalise(images, net)
        targets = present_classes(examples, num_classes)
        logits = trainer.modules["net"](images)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        trainer.optimize("net", loss)
        accuracy = ((logits > 0).float() == targets).all(1).float().mean()
        return {"bce": loss.item(), "exact": accuracy.item()}

    trainer.fit(step, data)
    target = out_dir / "backbone.safetensors"
    trainer.write(lambda folder: export(folder, target))
    return target


def export(run_dir: str | Path, out: str | Path) -> Path:
    """The classifier of a run's latest ``checkpoint.pt`` as a timm-format safetensors file (fp16: timm loads it
    into the fp32 model)."""
    from safetensors.torch import save_file

    state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=True)["modules"]["net"]
    save_file({key: value.half().contiguous() for key, value in state.items()}, str(out))
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", choices=(*AUGMENT_P, "none"), default="colour",
                        help="colour: hide the colour cue so that the features must carry texture (default); "
                             "half: hide it in half the images, so that they carry colour too")
    parser.add_argument("--export", type=Path, default=None,
                        help="then write OUT's latest checkpoint to this file (--steps 0: only that)")
    args = parser.parse_args(argv)
    if args.steps:
        print(pretrain(args.out, args.steps, args.batch_size, args.lr, args.seed, augment=args.augment))
    if args.export is not None:
        print(export(args.out, args.export))

if __name__ == "__main__":
    main()
