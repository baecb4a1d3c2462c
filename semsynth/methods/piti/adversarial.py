"""The PITI upsampler's extra losses: a PatchGAN discriminator (pix2pix ``NLayerDiscriminator``: 4x4 convs,
``ndf`` 64, 3 strided layers, InstanceNorm without affine, LeakyReLU 0.2) trained as a WGAN with gradient penalty,
and the VGG19 relu2_2 perceptual loss."""

from __future__ import annotations

from pathlib import Path

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


class VGGPerceptual(nn.Module):
    """PITI's perceptual loss: MSE between VGG19 ``features[:8]`` (up to relu2_2) of two images in [-1, 1], taken to
    [0, 1] and ImageNet-normalised (official ``MeanShift``); the network is frozen."""

    MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

    def __init__(self, file: str | Path) -> None:
        super().__init__()
        from torchvision.models import vgg19

        net = vgg19()
        net.load_state_dict(torch.load(file, map_location="cpu", weights_only=True), strict=True)
        self.features = net.features[:8].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.MEAN).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD).reshape(1, 3, 1, 1))

    def train(self, mode: bool = True) -> "VGGPerceptual":
        return super().train(False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        def features(x: torch.Tensor) -> torch.Tensor:
            return self.features(((x + 1) / 2 - self.mean) / self.std)

        with torch.no_grad():
            target = features(real)
        return torch.nn.functional.mse_loss(features(fake), target)
