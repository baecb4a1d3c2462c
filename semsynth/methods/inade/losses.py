"""INADE's training losses: hinge GAN, discriminator feature matching, KL of the remapping statistics and the
perceptual loss (VGG19 on real datasets with INADE's layer weights, the shipped ``shapes`` segmentation network's
stages on ``shapes``)."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ... import weights
from .presets import VGG19

# INADE's perceptual weights on relu1_1 .. relu5_1 (SPADE uses 1/32, 1/16, 1/8, 1/4, 1)
INADE_VGG_WEIGHTS = (0.0, 0.0, 0.0, 0.25, 1.0)
# on ``shapes`` the same emphasis on the two deepest of the segmentation network's four stages
SHAPES_STAGE_WEIGHTS = (0.0, 0.0, 0.25, 1.0)


def hinge_discriminator(fake: Sequence[Sequence[torch.Tensor]], real: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """Hinge loss of the discriminators on fake and real logits (the last output of each scale), averaged."""
    losses = [F.relu(1 + f[-1]).mean() + F.relu(1 - r[-1]).mean() for f, r in zip(fake, real)]
    return torch.stack(losses).mean()


def hinge_generator(fake: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """The generator's hinge loss: minus the mean fake logit, averaged over scales."""
    return torch.stack([-f[-1].mean() for f in fake]).mean()


def feature_matching(fake: Sequence[Sequence[torch.Tensor]], real: Sequence[Sequence[torch.Tensor]],
                     first_layer: int) -> torch.Tensor:
    """L1 between fake and (detached) real intermediate discriminator features from ``first_layer`` on, summed over
    layers and averaged over scales (INADE uses layers j >= 3 of SPADE's 4-layer discriminators)."""
    total = fake[0][-1].new_zeros(())
    for f, r in zip(fake, real):
        for j in range(first_layer, len(f) - 1):
            total = total + F.l1_loss(f[j], r[j].detach())
    return total / len(fake)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """SPADE's ``KLDLoss``: -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) (summed, not averaged)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


class Perceptual(nn.Module):
    """Weighted L1 between feature maps of a frozen network: ``sum_i w_i * |f_i(fake) - f_i(real)|``."""

    def __init__(self, stages: Callable[[torch.Tensor], list[torch.Tensor]], layer_weights: Sequence[float],
                 modules: nn.Module) -> None:
        super().__init__()
        self.stages, self.layer_weights = stages, tuple(layer_weights)
        self.network = modules.eval().requires_grad_(False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``fake`` and ``real`` in [-1, 1]."""
        with torch.no_grad():
            targets = self.stages(real)
        total = fake.new_zeros(())
        for weight, f, r in zip(self.layer_weights, self.stages(fake), targets):
            if weight:
                total = total + weight * F.l1_loss(f, r)
        return total


def vgg19_perceptual(checkpoint: str | None = None) -> Perceptual:
    """INADE's VGG loss: torchvision VGG19 (catalog ``vgg19-torchvision``) slices up to relu1_1 .. relu5_1 fed
    [-1, 1] images as SPADE does, weights ``INADE_VGG_WEIGHTS``."""
    from torchvision.models import vgg19

    net = vgg19()
    state = torch.load(weights.path(VGG19.name, checkpoint), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    features = net.features[:30]
    bounds = (2, 7, 12, 21, 30)

    def stages(x: torch.Tensor) -> list[torch.Tensor]:
        outputs, start = [], 0
        for end in bounds:
            x = features[start:end](x)
            outputs.append(x)
            start = end
        return outputs

    return Perceptual(stages, INADE_VGG_WEIGHTS, features)


def shapes_perceptual(checkpoint: str | None = None) -> Perceptual:
    """The ``shapes`` stand-in for VGG: the shipped shapes segmentation network's four stages."""
    from ...evaluators.segmenters.shapes_segnet import load_net

    net, _identity = load_net(checkpoint)
    return Perceptual(net.stages, SHAPES_STAGE_WEIGHTS, net)
