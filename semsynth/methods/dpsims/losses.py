"""DP-SIMS training losses: the weighted pixel-wise focal GAN loss (N classes + "fake"), the patch-level
contrastive loss between generated and real images, and the hinged diversity loss (supplement B.3, eq. 7).

Choices the paper leaves open are arguments (their values are in ``presets.TRAINING``): focal ``gamma``, the
class weighting (OASIS's inverse-frequency weights over the batch), the contrastive temperature, and which pairs
eq. 7 averages over (distinct samples of the batch).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .generator import sn

Stages = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """OASIS's per-pixel weights ``[B, H, W]``: class c weighs ``pixels / (classes present * pixels of c)`` over
    the batch, so every present class contributes equally; ignored pixels (>= num_classes) weigh 0."""
    valid = labels < num_classes
    counts = torch.bincount(labels[valid], minlength=num_classes).float()
    present = (counts > 0).sum().clamp_min(1)
    per_class = torch.where(counts > 0, valid.sum() / (present * counts.clamp_min(1)), torch.zeros_like(counts))
    return torch.where(valid, per_class[labels.clamp(max=num_classes - 1)], torch.zeros_like(labels, dtype=torch.float))


def focal_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None, gamma: float
               ) -> torch.Tensor:
    """Mean of ``weights * (1 - p_t)**gamma * CE`` per pixel (gamma 0 and no weights: plain cross-entropy)."""
    ce = F.cross_entropy(logits.float(), target, reduction="none")
    loss = (1 - torch.exp(-ce)).pow(gamma) * ce if gamma else ce
    return (loss * weights).mean() if weights is not None else loss.mean()


def pixel_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Real pixels' targets: their class; ignored pixels go to class 0 (their weight is 0)."""
    return torch.where(labels < num_classes, labels, torch.zeros_like(labels))


def discriminator_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor, labels: torch.Tensor,
                       gamma: float, weighted: bool) -> torch.Tensor:
    """Real pixels -> their class (class-weighted when ``weighted``), fake pixels -> "fake" (index N)."""
    num_classes = real_logits.shape[1] - 1
    weights = class_weights(labels, num_classes) if weighted else (labels < num_classes).float()
    real = focal_loss(real_logits, pixel_targets(labels, num_classes), weights, gamma)
    fake_target = torch.full_like(labels, num_classes)
    return real + focal_loss(fake_logits, fake_target, None, gamma)


def generator_loss(fake_logits: torch.Tensor, labels: torch.Tensor, gamma: float, weighted: bool) -> torch.Tensor:
    """Fake pixels -> the class of their layout (class-weighted when ``weighted``)."""
    num_classes = fake_logits.shape[1] - 1
    weights = class_weights(labels, num_classes) if weighted else (labels < num_classes).float()
    return focal_loss(fake_logits, pixel_targets(labels, num_classes), weights, gamma)


class PatchContrastive(nn.Module):
    """PatchNCE between generated and real images: at ``patches`` random positions per stage of a frozen
    ``stages`` network, the fake patch's embedding must pick the real patch at the same position among the real
    patches at the other positions (InfoNCE, temperature ``tau``). Each stage has a projection head of two
    linear layers to ``dim``."""

    def __init__(self, stages: Stages, channels: Sequence[int], dim: int = 256, patches: int = 128,
                 tau: float = 0.07) -> None:
        super().__init__()
        self.stages, self.patches, self.tau = stages, patches, tau
        self.heads = nn.ModuleList(nn.Sequential(sn(nn.Linear(c, dim)), nn.ReLU(), sn(nn.Linear(dim, dim)))
                                   for c in channels)

    def forward(self, fake: torch.Tensor, real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            real_stages = self.stages(real)
        total = fake.new_zeros(())
        for head, f, r in zip(self.heads, self.stages(fake), real_stages):
            positions = f.shape[-2] * f.shape[-1]
            chosen = torch.randperm(positions, generator=generator)[: self.patches].to(f.device)
            query = F.normalize(head(f.flatten(2)[:, :, chosen].transpose(1, 2).float()), dim=-1)
            key = F.normalize(head(r.flatten(2)[:, :, chosen].transpose(1, 2).float()), dim=-1).detach()
            logits = query @ key.transpose(1, 2) / self.tau          # [B, P, P]: the diagonal is the positive
            target = torch.arange(len(chosen), device=f.device).expand(f.shape[0], -1)
            total = total + F.cross_entropy(logits.flatten(0, 1), target.flatten())
        return total / len(self.heads)


def pair_distance(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """Per-sample ``mean|a - b| / mean|za - zb|`` (eq. 7's ratio, with means instead of sums on both sides)."""
    return (a - b).abs().flatten(1).mean(1) / (za - zb).abs().mean(1).clamp_min(1e-8)


def diversity_threshold(features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Eq. 7: the mean ratio over all pairs i != j of the batch (different layouts, different noise), detached."""
    count = features.shape[0]
    rows, cols = torch.triu_indices(count, count, 1)
    return pair_distance(features[rows], features[cols], z[rows], z[cols]).mean().detach()


HINGES = ("absolute", "relative")


def diversity_loss(features_1: torch.Tensor, features_2: torch.Tensor, z_1: torch.Tensor, z_2: torch.Tensor,
                   tau: torch.Tensor | float, hinge: str = "absolute") -> torch.Tensor:
    """The hinge on two samples of the same layouts, averaged over the batch: ``max(0, tau - d)`` (``absolute``,
    the paper's) or ``max(0, 1 - d / tau)`` (``relative``: independent of the feature scale)."""
    distance = pair_distance(features_1, features_2, z_1, z_2)
    if hinge == "relative":
        return F.relu(1 - distance / tau).mean()
    return F.relu(tau - distance).mean()
