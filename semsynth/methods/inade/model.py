"""INADE networks with the official state_dict key names (tzt101/INADE): the generator and the remapping encoder.

``INADEGenerator`` is the official ``SPADEGenerator`` with ``norm_mode='inade'`` (ILADE norms, spectral-normed
residual blocks, a Linear ``fc`` on the 256-d input vector); ``INADEEncoder`` is ``instanceAdaptiveEncoder``
(instance-aware convolutions, instance average pooling). Both build from the official options with
``from_official_config``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.ilade import ILADE, Segments
from ...nn.spectral_norm import conv2d

UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


def class_channels(options: Mapping[str, Any]) -> int:
    """ILADE class channels: ``label_nc`` plus one for the don't-care label where the dataset has it."""
    return int(options["label_nc"]) + (1 if options.get("contain_dontcare_label", False) else 0)


class INADEResBlock(nn.Module):
    """The official ``SPADEResnetBlock`` (inade branch): ILADE -> lrelu -> conv twice, learned 1x1 shortcut
    ``conv_s(norm_s(x))`` without activation when the width changes."""

    def __init__(self, fin: int, fout: int, label_nc: int, noise_nc: int, spectral: bool) -> None:
        super().__init__()
        fmiddle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = conv2d(fin, fmiddle, 3, spectral, padding=1)
        self.conv_1 = conv2d(fmiddle, fout, 3, spectral, padding=1)
        self.norm_0 = ILADE(fin, label_nc, noise_nc)
        self.norm_1 = ILADE(fmiddle, label_nc, noise_nc)
        if self.learned_shortcut:
            self.conv_s = conv2d(fin, fout, 1, spectral, bias=False)
            self.norm_s = ILADE(fin, label_nc, noise_nc)

    def forward(self, x: torch.Tensor, segments: Segments, noise: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, segments, noise)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, segments, noise), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, segments, noise), 0.2))
        return shortcut + dx


class INADEGenerator(nn.Module):
    """INADE generator: ``fc(noise_ins)`` reshaped channel-major to ``[B, 16*ngf, sh, sw]``, then ILADE residual
    blocks with nearest x2 upsampling, ``tanh(conv_img(lrelu(x)))``."""

    def __init__(self, label_nc: int, ngf: int = 64, z_dim: int = 256, noise_nc: int = 64, crop_size: int = 256,
                 aspect_ratio: float = 1.0, num_upsampling_layers: str = "normal", spectral: bool = True) -> None:
        super().__init__()
        self.num_upsampling_layers = num_upsampling_layers
        self.z_dim, self.noise_nc, self.label_nc = z_dim, noise_nc, label_nc
        self.sw = crop_size // 2 ** UPSAMPLINGS[num_upsampling_layers]
        self.sh = round(self.sw / aspect_ratio)
        nf = ngf

        def block(fin: int, fout: int) -> INADEResBlock:
            return INADEResBlock(fin, fout, label_nc, noise_nc, spectral)

        self.fc = nn.Linear(z_dim, 16 * nf * self.sw * self.sh)
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    @classmethod
    def from_official_config(cls, options: Mapping[str, Any]) -> "INADEGenerator":
        """Build from the official options (``ngf``, ``z_dim``, ``noise_nc``, ``label_nc``,
        ``contain_dontcare_label``, ``norm_G``, ``crop_size``, ``aspect_ratio``, ``num_upsampling_layers``)."""
        return cls(label_nc=class_channels(options), ngf=int(options.get("ngf", 64)),
                   z_dim=int(options.get("z_dim", 256)), noise_nc=int(options.get("noise_nc", 64)),
                   crop_size=int(options.get("crop_size", 256)), aspect_ratio=float(options.get("aspect_ratio", 1.0)),
                   num_upsampling_layers=options.get("num_upsampling_layers", "normal"),
                   spectral="spectral" in options.get("norm_G", "spectralspadesyncbatch3x3"))

    @property
    def output_size(self) -> tuple[int, int]:
        scale = 2 ** UPSAMPLINGS[self.num_upsampling_layers]
        return self.sh * scale, self.sw * scale

    def blocks(self) -> list[tuple[str, INADEResBlock]]:
        """The residual blocks in forward order, each preceded (in ``forward``) by a x2 upsampling except head_0
        and, without 'more'/'most', G_middle_1."""
        names = ["head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3"]
        if self.num_upsampling_layers == "most":
            names.append("up_4")
        return [(name, getattr(self, name)) for name in names]

    def forward(self, semantics: torch.Tensor, instances: torch.Tensor, noise: torch.Tensor,
                noise_ins: torch.Tensor, trace: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``semantics`` one-hot + edge ``[B, label_nc + 1, H, W]``, ``instances`` one-hot ``[B, K, H, W]``,
        ``noise`` ``[B, K, 2, noise_nc]``, ``noise_ins`` ``[B, z_dim]`` -> image in [-1, 1]. ``trace`` (optional)
        collects each block's output. Both maps must be one-hot, as the official preprocessing builds them."""
        segments = Segments(semantics, instances, self.label_nc)
        x = self.fc(noise_ins).view(noise_ins.shape[0], -1, self.sh, self.sw)
        for name, block in self.blocks():
            if name != "head_0" and (name != "G_middle_1" or self.num_upsampling_layers != "normal"):
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, segments, noise)
            if trace is not None:
                trace[name] = x
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


def remap_noise(noise: torch.Tensor, scale_mu: torch.Tensor, scale_std: torch.Tensor, bias_mu: torch.Tensor,
                bias_std: torch.Tensor) -> torch.Tensor:
    """Prior noise remapping: ``noise[:, :, 0] * scale_std + scale_mu`` and ``noise[:, :, 1] * bias_std + bias_mu``
    (all statistics ``[B, K, noise_nc]``)."""
    scale = noise[:, :, 0] * scale_std + scale_mu
    bias = noise[:, :, 1] * bias_std + bias_mu
    return torch.stack([scale, bias], dim=2)


class InstanceAwareConv2d(nn.Module):
    """INADE's instance-aware convolution: every kernel tap whose instance id differs from the centre pixel's id
    is zeroed before a plain convolution (no renormalisation); zero padding counts as id 0."""

    def __init__(self, fin: int, fout: int, kernel_size: int = 3, stride: int = 1, padding: int = 1) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.weight = nn.Parameter(torch.empty(fout, fin, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(fout))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(fin * kernel_size * kernel_size)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, H, W]``, ``ids`` float instance-id map ``[B, 1, H0, W0]`` (resized here with nearest)."""
        batch, channels, height, width = x.shape
        taps = self.kernel_size * self.kernel_size
        ids = F.interpolate(ids, size=(height, width), mode="nearest")
        id_patches = F.unfold(ids, self.kernel_size, padding=self.padding, stride=self.stride)    # [B, k*k, L]
        same = 1.0 - (id_patches - id_patches[:, taps // 2 : taps // 2 + 1]).abs().clamp(0, 1)
        patches = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        patches = (patches.view(batch, channels, taps, -1) * same.unsqueeze(1)).view(batch, channels * taps, -1)
        out = torch.einsum("om,bml->bol", self.weight.flatten(1), patches) + self.bias.view(1, -1, 1)
        return out.view(batch, -1, height // self.stride, width // self.stride)


def instance_average(features: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """Mean of ``features`` ``[B, C, H, W]`` over each instance of the one-hot ``instances`` ``[B, K, H, W]`` ->
    ``[B, K, C]``; absent instances give 0 (the pixel count is clamped to 1)."""
    counts = instances.sum(dim=(2, 3)).clamp_min(1)
    return torch.einsum("bchw,bkhw->bkc", features, instances) / counts.unsqueeze(-1)


class INADEEncoder(nn.Module):
    """The prior-noise-remapping encoder (official ``instanceAdaptiveEncoder``): a U-shaped instance-aware conv
    net whose four heads are averaged per instance into ``(scale_mu, scale_logvar, bias_mu, bias_logvar)``."""

    def __init__(self, ngf: int = 64, noise_nc: int = 64) -> None:
        super().__init__()
        nf = ngf
        self.layer1 = InstanceAwareConv2d(3, nf, stride=2)
        self.layer2 = InstanceAwareConv2d(nf, 2 * nf, stride=2)
        self.layer3 = InstanceAwareConv2d(2 * nf, 4 * nf, stride=2)
        self.layer4 = InstanceAwareConv2d(4 * nf, 8 * nf, stride=2)
        self.middle = InstanceAwareConv2d(8 * nf, 4 * nf)
        self.up1 = InstanceAwareConv2d(8 * nf, 2 * nf)
        self.up2 = InstanceAwareConv2d(4 * nf, nf)
        self.up3 = InstanceAwareConv2d(2 * nf, nf)
        self.scale_conv_mu = InstanceAwareConv2d(nf, noise_nc)
        self.scale_conv_var = InstanceAwareConv2d(nf, noise_nc)
        self.bias_conv_mu = InstanceAwareConv2d(nf, noise_nc)
        self.bias_conv_var = InstanceAwareConv2d(nf, noise_nc)

    @classmethod
    def from_official_config(cls, options: Mapping[str, Any]) -> "INADEEncoder":
        """Build from the official options (``ngf``, ``noise_nc``)."""
        return cls(ngf=int(options.get("ngf", 64)), noise_nc=int(options.get("noise_nc", 64)))

    def forward(self, image: torch.Tensor, instances: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``image`` in [-1, 1] ``[B, 3, H, W]`` (H, W multiples of 16), one-hot ``instances`` ``[B, K, H, W]`` ->
        ``scale_mu, scale_logvar, bias_mu, bias_logvar``, each ``[B, K, noise_nc]``."""
        ids = instances.argmax(dim=1, keepdim=True).to(image.dtype)

        def step(layer: InstanceAwareConv2d, x: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(F.instance_norm(layer(x, ids)), 0.2)

        def up(x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

        x1 = step(self.layer1, image)
        x2 = step(self.layer2, x1)
        x3 = step(self.layer3, x2)
        x4 = step(self.layer4, x3)
        y = up(step(self.middle, x4))
        y = up(step(self.up1, torch.cat([y, x3], 1)))
        y = up(step(self.up2, torch.cat([y, x2], 1)))
        y = up(step(self.up3, torch.cat([y, x1], 1)))
        heads = (self.scale_conv_mu, self.scale_conv_var, self.bias_conv_mu, self.bias_conv_var)
        return tuple(instance_average(head(y, ids), instances) for head in heads)
