"""The PITI upsampler's adversarial loss: a PatchGAN discriminator (pix2pix ``NLayerDiscriminator``: 4x4 convs,
``ndf`` 64, 3 strided layers, InstanceNorm without affine, LeakyReLU 0.2) trained as a WGAN with gradient penalty."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """``forward(images [B, 3, H, W] in [-1, 1])`` -> patch scores ``[B, 1, h, w]``."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for index in range(1, n_layers + 1):
            out = ndf * min(2 ** index, 8)
            stride = 2 if index < n_layers else 1
            layers += [nn.Conv2d(width, out, 4, stride, 1), nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP: ``mean((|grad D(mix)| - 1)^2)`` on random per-sample mixes of ``real`` and ``fake``."""
    alpha = torch.rand(len(real), 1, 1, 1, generator=generator).to(real)
    mix = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    grad, = torch.autograd.grad(discriminator(mix).sum(), mix, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()
