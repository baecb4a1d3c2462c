"""INADE's (SPADE's) multi-scale PatchGAN discriminator: ``num_D`` N-layer discriminators on the image and its
x0.5, x0.25... average-pooled copies, each returning its intermediate features (for feature matching) and its
patch logits last. Convolutions after the first are spectral-normed and instance-normed ('spectralinstance')."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.spectral_norm import SNConv2d


class NLayerDiscriminator(nn.Module):
    """4x4 convolutions: stride 2 except the last hidden one, widths ndf, 2ndf, ... (at most 512), then 1 logit."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4) -> None:
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2))]
        width = ndf
        for index in range(1, n_layers):
            previous, width = width, min(width * 2, 512)
            stride = 1 if index == n_layers - 1 else 2
            layers.append(nn.Sequential(SNConv2d(previous, width, 4, stride=stride, padding=2, bias=False),
                                        nn.InstanceNorm2d(width), nn.LeakyReLU(0.2)))
        layers.append(nn.Sequential(nn.Conv2d(width, 1, 4, stride=1, padding=2)))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for layer in self.layers:
            x = layer(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` discriminators, the k-th on the input average-pooled k times (3x3, stride 2)."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers) for _ in range(num_D))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        for index, discriminator in enumerate(self.discriminators):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            results.append(discriminator(x))
        return results
