"""ILADE: INADE's instance-adaptive denormalisation layer (official class name ``ILADE``).

Each class owns per-channel scale and bias parameters ``weight``/``bias`` of shape ``[C_classes, C, 2]`` (index 0
for gamma, 1 for beta); one noise tensor ``[B, K, 2, noise_nc]`` shared by all layers is projected per layer by
``fc_noise`` and spread over each instance's pixels: ``gamma = W[cls] * fc(noise)[inst, 0] + B[cls, 0]`` and
``beta`` likewise with index 1, and the output is ``gamma * BN(x) + beta`` (no "1 +"). The batch norm has no affine
part and uses its running statistics in eval mode.

The official layer forms gamma and beta with one-hot sums at every pixel. Here the (class, instance) pairs of each
image ("segments") are found once per forward pass (``Segments``); each layer computes gamma and beta once per
segment and gathers them to the pixels through the nearest-resized segment map. This gives the official values
for one-hot inputs, an image's result never depends on the other images of the batch, and the cost per image does
not grow with the batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Segments:
    """The (class, instance) segments of each image of one-hot ``semantics`` ``[B, L(+1 edge), H, W]`` and
    ``instances`` ``[B, K, H, W]``: segment ``s`` belongs to image ``images[s]`` and has class ``classes[s]`` and
    instance ``instances[s]``; ``pixels(size)`` maps each pixel of the nearest-resized maps to its segment. Pixels
    without a class (ignored) get class ``L``, whose parameters are zero (as the official all-zero one-hot)."""

    def __init__(self, semantics: torch.Tensor, instances: torch.Tensor, label_nc: int) -> None:
        present, cls = semantics[:, :label_nc].max(dim=1)
        cls = torch.where(present > 0, cls, label_nc)
        inst = instances.argmax(dim=1)
        count, class_count = instances.shape[1], label_nc + 1
        image = torch.arange(len(cls), device=cls.device).view(-1, 1, 1)
        unique, ids = torch.unique((image * class_count + cls) * count + inst, return_inverse=True)
        self.images = unique // (class_count * count)                      # [S]: each segment's image,
        self.classes = unique // count % class_count                        # class
        self.instances = unique % count                                     # and instance
        self._ids = ids.unsqueeze(1).double()                               # [B, 1, H, W], exact ids for resizing
        self._pixels: dict[tuple[int, int], torch.Tensor] = {}

    def pixels(self, size: tuple[int, int]) -> torch.Tensor:
        """The segment of every pixel of the maps nearest-resized to ``size``: long ``[B, h*w]``."""
        size = (int(size[0]), int(size[1]))
        if size not in self._pixels:
            self._pixels[size] = F.interpolate(self._ids, size=size, mode="nearest").flatten(1).long()
        return self._pixels[size]


class ILADE(nn.Module):
    """Instance-adaptive denormalisation over ``norm_nc`` channels for ``label_nc`` classes."""

    def __init__(self, norm_nc: int, label_nc: int, noise_nc: int) -> None:
        super().__init__()
        self.label_nc = label_nc
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.weight = nn.Parameter(torch.rand(label_nc, norm_nc, 2))
        self.bias = nn.Parameter(torch.zeros(label_nc, norm_nc, 2))
        self.fc_noise = nn.Linear(noise_nc, norm_nc)

    def forward(self, x: torch.Tensor, segments: Segments, noise: torch.Tensor) -> torch.Tensor:
        """``segments`` of the layer's input maps, ``noise`` ``[B, K, 2, noise_nc]``."""
        normalized = self.param_free_norm(x)
        batch, channels, height, width = x.shape
        zero = self.weight.new_zeros(1, channels, 2)
        weight = torch.cat([self.weight, zero])[segments.classes].transpose(1, 2)     # [S, 2, C]
        bias = torch.cat([self.bias, zero])[segments.classes].transpose(1, 2)
        projected = self.fc_noise(noise)[segments.images, segments.instances]        # [S, 2, C]
        table = (weight * projected + bias).flatten(1).t()                           # [2C, S]
        pixels = segments.pixels((height, width))                                    # [B, h*w]
        modulation = torch.gather(table.expand(batch, -1, -1), 2, pixels.unsqueeze(1).expand(-1, 2 * channels, -1))
        modulation = modulation.view(batch, 2, channels, height, width)
        return modulation[:, 0] * normalized + modulation[:, 1]
