"""PITI's colour-coded mask: class ``i`` gets the PASCAL-style bit-interleaved colour of id ``i + 1`` (so class 0
is not black); ignored pixels (255) stay black (official ``preprocess_mask.labelcolormap`` / ``Colorize``)."""

from __future__ import annotations

import torch


def colormap(num_classes: int) -> torch.Tensor:
    """uint8 ``[num_classes, 3]``: row ``i`` is the colour of bit-interleaved id ``i + 1``."""
    colours = torch.zeros(num_classes, 3, dtype=torch.uint8)
    for index in range(num_classes):
        value, rgb = index + 1, [0, 0, 0]
        for shift in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - shift)
            value >>= 3
        colours[index] = torch.tensor(rgb, dtype=torch.uint8)
    return colours


def colour_mask(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """uint8 ``[3, H, W]`` colour-coded mask of int ``labels`` ``[H, W]``; ids outside 0..num_classes-1 are black."""
    table = torch.cat([colormap(num_classes), torch.zeros(1, 3, dtype=torch.uint8)])
    index = torch.where((labels >= 0) & (labels < num_classes), labels, torch.full_like(labels, num_classes))
    return table[index.long()].permute(2, 0, 1).contiguous()


def to_ref(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The network input of a uint8 colour-coded mask: ``u8 / 127.5 - 1`` (ToTensor + Normalize(0.5, 0.5))."""
    return mask.to(dtype) / 127.5 - 1
