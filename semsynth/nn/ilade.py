"""ILADE: INADE's instance-adaptive denormalisation layer (official class name ``ILADE``).

Each class owns per-channel scale and bias parameters ``weight``/``bias`` of shape ``[C_classes, C, 2]`` (index 0
for gamma, 1 for beta); one noise tensor ``[B, K, 2, noise_nc]`` shared by all layers is projected per layer by
``fc_noise`` and spread over each instance's pixels: ``gamma = W[cls] * fc(noise)[inst, 0] + B[cls, 0]`` and
``beta`` likewise with index 1, and the output is ``gamma * BN(x) + beta`` (no "1 +"). The batch norm has no affine
part and uses its running statistics in eval mode.

The official layer forms gamma and beta with one-hot sums at every pixel. Here the (class, instance) pairs present
in the batch ("segments") are found once per forward pass (``Segments``); each layer computes the modulation per
segment and spreads it with one matrix product over the nearest-resized segment map, which gives the same values
for one-hot inputs at a fraction of the cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Segments:
    """The (class, instance) segments of one-hot ``semantics`` ``[B, L(+1 edge), H, W]`` and ``instances``
    ``[B, K, H, W]``; ``members(size)`` is the float one-hot ``[B, S, h*w]`` of the nearest-resized segment map.
    Pixels without a class (ignored) get class ``L``, whose parameters are zero (as the official all-zero one-hot)."""

    def __init__(self, semantics: torch.Tensor, instances: torch.Tensor, label_nc: int) -> None:
        classes = semantics[:, :label_nc]
        labelled = classes.amax(dim=1) > 0
        cls = torch.where(labelled, classes.argmax(dim=1), label_nc)
        inst = instances.argmax(dim=1)
        count = instances.shape[1]
        unique, ids = torch.unique(cls * count + inst, return_inverse=True)
        self.classes, self.instances = unique // count, unique % count      # [S]
        self.ids = ids.unsqueeze(1).to(semantics.dtype)                       # [B, 1, H, W] float for resizing
        self.dtype = semantics.dtype
        self._members: dict[tuple[int, int], torch.Tensor] = {}

    def members(self, size: tuple[int, int]) -> torch.Tensor:
        size = (int(size[0]), int(size[1]))
        if size not in self._members:
            ids = F.interpolate(self.ids, size=size, mode="nearest").flatten(1).long()     # [B, h*w]
            self._members[size] = F.one_hot(ids, len(self.classes)).transpose(1, 2).to(self.dtype)
        return self._members[size]


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
        weight = torch.cat([self.weight, zero])[segments.classes]                 # [S, C, 2]
        bias = torch.cat([self.bias, zero])[segments.classes]
        projected = self.fc_noise(noise)[:, segments.instances]                  # [B, S, 2, C]
        per_segment = weight.transpose(1, 2) * projected + bias.transpose(1, 2)  # [B, S, 2, C]
        modulation = per_segment.flatten(2).transpose(1, 2) @ segments.members((height, width))   # [B, 2C, hw]
        modulation = modulation.view(batch, 2, channels, height, width)
        return modulation[:, 0] * normalized + modulation[:, 1]
