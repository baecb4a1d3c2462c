"""GCDP training with the shared Trainer (official ``JointImagen.p_losses``): t ~ U(0, 0.999); the image noised on
the continuous log-SNR schedule, the label map by the 1000-step categorical chain; loss = eps MSE + the
categorical bound (KL of posteriors, decoder NLL at index 0, prior term), both per sample weighted by P2
(1 + SNR)^-gamma; text dropped (null text) with probability ``cond_drop``; Adam, EMA, resumable."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ... import checkpoints
from ...diffusion.categorical import CategoricalProcess, index_to_log_onehot
from ...diffusion.continuous import ContinuousGaussianProcess
from ...diffusion.losses import categorical_loss
from ...errors import UserError
from ...training import TrainConfig, Trainer, export_ema
from ...types import Example
from ..settings import check_settings
from ..sdm.train import random_crop
from .model import JointUNet
from .presets import TRAINING_TYPES, GCDPPreset, preset_for
from .text import WordEncoder, layout_caption

TRAIN_STEPS = 1000        # the categorical chain the model is trained on (official ``timesteps``)
MAX_TIME = 0.999          # official ``sample_random_times`` bound
TRAINING_OPTIONS = tuple(TRAINING_TYPES)


class JointModel(nn.Module):
    """What a GCDP file holds: the joint UNet (``net.``) and, on ``shapes``, the caption encoder (``text.``)."""

    def __init__(self, net: JointUNet, text: WordEncoder | None = None) -> None:
        super().__init__()
        self.net, self.text = net, text

    def config(self) -> dict[str, Any]:
        text = None if self.text is None else {"vocabulary": self.text.vocabulary, "dim": self.text.dim,
                                               "max_len": self.text.max_len}
        return {"net": self.net.config, "text": text}

    def forward(self, x_t: torch.Tensor, labels_t: torch.Tensor, log_snr: torch.Tensor, captions: list[str],
                keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both heads for captioned inputs (what training calls, so that DDP sees the whole model)."""
        embeds, mask = self.text.encode(captions)
        return self.net(x_t, labels_t, log_snr, embeds, mask, keep)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "JointModel":
        text = config.get("text")
        return cls(JointUNet(**config["net"]), None if text is None else WordEncoder(**text))


Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def joint_loss(denoise: Denoiser, image: ContinuousGaussianProcess, label: CategoricalProcess, x0: torch.Tensor,
               labels: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, uniform: torch.Tensor, p2_gamma: float
               ) -> dict[str, torch.Tensor]:
    """The official per-batch losses: ``image`` (P2-weighted eps MSE), ``label`` (P2-weighted categorical bound in
    bits per dimension) and their sum ``loss`` (lambda 1, 1). ``denoise(x_t, labels_t, log_snr)`` -> both heads."""
    x_t = image.add_noise(x0, t, noise)
    log_l0 = index_to_log_onehot(labels, label.num_classes)
    log_lt = label.add_noise(log_l0, t, uniform)
    log_snr = image.model_time(t)
    eps, logits = denoise(x_t, log_lt.argmax(dim=1), log_snr)
    mse = (eps - noise).square().flatten(1).mean(1)
    bound = categorical_loss(label, logits, log_l0, log_lt, t)["loss"]
    weight = (1 + log_snr.exp()) ** -p2_gamma if p2_gamma > 0 else torch.ones_like(log_snr)
    image_loss, label_loss = (mse * weight).mean(), (bound * weight).mean()
    return {"loss": image_loss + label_loss, "image": image_loss, "label": label_loss}


def make_step(preset: GCDPPreset, class_names: tuple[str, ...], cond_drop: float, p2_gamma: float,
              crop: int | None = None):
    """The Trainer step: optional random ``crop`` x ``crop`` windows (cheaper steps), captions from the classes of
    each (cropped) layout, t ~ U(0, 0.999), text dropped with probability ``cond_drop``."""
    image = ContinuousGaussianProcess(preset.schedule, channels=3, steps=TRAIN_STEPS)
    label = CategoricalProcess.from_log_snr(preset.num_classes, preset.label_schedule, TRAIN_STEPS)

    def step_fn(examples: list[Example], step: int, trainer: Trainer) -> dict[str, float]:
        model, generator, device = trainer.modules["G"], trainer.generator, trainer.device
        x0 = torch.stack([example.image for example in examples]).to(device).float() / 127.5 - 1
        labels = torch.stack([preset.model_labels(example.layout.labels) for example in examples]).to(device)
        if crop is not None:
            x0, labels = random_crop(x0, labels, crop, generator)
        captions = [layout_caption(sample, class_names) for sample in labels]
        batch = len(examples)
        t = (torch.rand(batch, generator=generator) * MAX_TIME).to(device)
        keep = (torch.rand(batch, generator=generator) >= cond_drop).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        uniform = torch.rand((batch, preset.num_classes, *x0.shape[-2:]), generator=generator).to(device)
        losses = joint_loss(lambda x_t, labels_t, log_snr: model(x_t, labels_t, log_snr, captions, keep), image,
                            label, x0, labels, t, noise, uniform, p2_gamma)
        trainer.optimize("G", losses["loss"])
        return {name: value.item() for name, value in losses.items()}

    return step_fn


def build_model(preset: GCDPPreset, class_names: tuple[str, ...], options: dict[str, Any]) -> JointModel:
    unknown = sorted(set(options) - set(inspect.signature(JointUNet).parameters))
    if unknown:
        raise UserError(f"unknown gcdp training option(s) {', '.join(unknown)}; use {', '.join(TRAINING_OPTIONS)}, "
                        f"init, seed, log_every, ckpt_every or a JointUNet argument")
    config = dict(preset.net_config(), **check_settings("gcdp network", options, {}, preset.net_config()))
    net = JointUNet(**config)
    return JointModel(net, WordEncoder.for_classes(class_names, config["text_embed_dim"], config["max_text_len"]))


def train(dataset: str, out_dir: Path, data_root: str | Path | None = None, device: str = "cpu", resume: bool = True,
          init: str | Path | None = None, seed: int = 0, log_every: int = 50, ckpt_every: int = 250,
          quiet: bool = False, amp: str | None = None, grad_clip: float | None = None, **options: Any) -> Path:
    """Train GCDP (joint UNet + caption encoder) on ``dataset``; writes the EMA weights (fp16) to
    ``out_dir/gcdp_<dataset>.safetensors``. ``options``: the training settings (``steps``, ``batch_size``, ``lr``,
    ``cond_drop``, ``ema_decay``, ``p2_gamma``, ``crop``) and JointUNet arguments; ``init`` starts from a GCDP file."""
    from ... import load_dataset
    from ...registry import DATASETS, lookup

    preset = preset_for(dataset)
    if preset.text != "words":
        raise UserError(f"gcdp training on {dataset} needs T5 text embeddings per caption, which the suite does not "
                        f"provide; train on shapes, or start from the official checkpoint")
    chosen = check_settings("gcdp training", {key: options.pop(key) for key in TRAINING_OPTIONS if key in options},
                            TRAINING_TYPES, preset.training)
    settings = {**preset.training, **chosen}
    out_dir = Path(out_dir)
    class_names = tuple(lookup(DATASETS, dataset).label_space.class_names)
    torch.manual_seed(seed)
    model = build_model(preset, class_names, options)
    if init is not None:
        model.load_state_dict(checkpoints.load(init)[0], strict=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"], betas=(0.9, 0.99), eps=1e-8)
    trainer = Trainer({"G": model}, {"G": optimizer}, TrainConfig(
        out_dir=out_dir, steps=settings["steps"], batch_size=settings["batch_size"], seed=seed, log_every=log_every,
        ckpt_every=ckpt_every, device=device, ema_decay=settings["ema_decay"], quiet=quiet, amp=amp,
        grad_clip=grad_clip, resume=resume), ema=("G",))
    data = load_dataset(dataset, root=data_root, split="train")
    trainer.write(lambda folder: (folder / "train_options.json").write_text(json.dumps(
        {"dataset": dataset, **settings, "seed": seed, "init": str(init) if init else None, "amp": amp,
         "grad_clip": grad_clip, "config": model.config()}, indent=1, default=list)))
    trainer.fit(make_step(preset, class_names, settings["cond_drop"], settings["p2_gamma"], settings["crop"]), data)
    target = out_dir / f"gcdp_{dataset}.safetensors"
    trainer.write(lambda folder: export(folder, dataset, target))
    return target


def export(out_dir: str | Path, dataset: str, target: str | Path | None = None) -> Path:
    """Write the EMA weights of ``out_dir/checkpoint.pt`` as fp16 safetensors with the stored config."""
    target = Path(target) if target is not None else Path(out_dir) / f"gcdp_{dataset}.safetensors"
    return export_ema(out_dir, target)
