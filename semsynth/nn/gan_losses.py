"""GAN training losses shared by the GAN methods: hinge (D and G), discriminator feature matching, the VAE KL
term, the R1 gradient penalty and a perceptual loss (weighted L1 over the stages of a frozen network, with the
VGG19 relu1_1 .. relu5_1 slicing of pix2pixHD/SPADE).

Discriminator outputs are lists over scales of lists of tensors: a scale's intermediate features, then its logits
last (SPADE's multi-scale PatchGAN); a single-scale discriminator is ``[[logits]]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Outputs = Sequence[Sequence[torch.Tensor]]

# torchvision VGG19 ``features`` indices ending after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
VGG19_RELU_X_1 = (2, 7, 12, 21, 30)


def hinge_discriminator(fake: Outputs, real: Outputs) -> torch.Tensor:
    """Hinge loss of the discriminators on fake and real logits (the last output of each scale), averaged."""
    losses = [F.relu(1 + f[-1]).mean() + F.relu(1 - r[-1]).mean() for f, r in zip(fake, real)]
    return torch.stack(losses).mean()


def hinge_generator(fake: Outputs) -> torch.Tensor:
    """The generator's hinge loss: minus the mean fake logit, averaged over scales."""
    return torch.stack([-f[-1].mean() for f in fake]).mean()


def feature_matching(fake: Outputs, real: Outputs, first_layer: int = 0) -> torch.Tensor:
    """L1 between fake and (detached) real intermediate discriminator features from ``first_layer`` on, summed over
    layers and averaged over scales (pix2pixHD/SPADE use every layer; INADE layers j >= 3 of 4)."""
    total = fake[0][-1].new_zeros(())
    for f, r in zip(fake, real):
        for j in range(first_layer, len(f) - 1):
            total = total + F.l1_loss(f[j], r[j].detach())
    return total / len(fake)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """SPADE's ``KLDLoss``: -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) (summed, not averaged)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def r1_penalty(real_logits: Sequence[torch.Tensor], real: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Mescheder et al.'s R1: the batch mean of ||d sum(D(real)) / d real||^2, where ``real`` required grad before
    D saw it. ``scale`` is a grad-scaler factor applied to the summed logits and divided back out (AMP fp16)."""
    total = sum(logits.float().sum() for logits in real_logits) * scale
    (gradient,) = torch.autograd.grad(total, real, create_graph=True)
    return (gradient.float() / scale).pow(2).flatten(1).sum(1).mean()


class Perceptual(nn.Module):
    """Weighted L1 between feature maps of a frozen network: ``sum_i w_i * |f_i(fake) - f_i(real)|``; the network
    stays in eval mode with no parameter gradients, whatever its parent's ``.train()`` says."""

    def __init__(self, stages: Callable[[torch.Tensor], list[torch.Tensor]], layer_weights: Sequence[float],
                 network: nn.Module) -> None:
        super().__init__()
        self.stages, self.layer_weights = stages, tuple(layer_weights)
        self.network = network.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> Perceptual:
        return super().train(False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``fake`` and ``real`` in [-1, 1]."""
        with torch.no_grad():
            targets = self.stages(real)
        total = fake.new_zeros(())
        for weight, f, r in zip(self.layer_weights, self.stages(fake), targets):
            if weight:
                total = total + weight * F.l1_loss(f, r)
        return total


def vgg19_perceptual(file: str | Path, layer_weights: Sequence[float]) -> Perceptual:
    """Perceptual loss on torchvision VGG19 (the ``vgg19-dcbc6f2e.pth`` file) sliced after relu1_1 .. relu5_1 and
    fed [-1, 1] images without ImageNet normalisation, as pix2pixHD and SPADE do."""
    from torchvision.models import vgg19

    net = vgg19()
    net.load_state_dict(torch.load(file, map_location="cpu", weights_only=True), strict=True)
    features = net.features[:VGG19_RELU_X_1[-1]]

    def stages(x: torch.Tensor) -> list[torch.Tensor]:
        outputs, start = [], 0
        for end in VGG19_RELU_X_1:
            x = features[start:end](x)
            outputs.append(x)
            start = end
        return outputs

    return Perceptual(stages, layer_weights, features)
