"""Spectrally normalised convolution that keeps the classic ``weight_orig`` / ``weight_u`` / ``weight_v`` keys.

Official SPADE-family checkpoints (SPADE, INADE) were saved with ``torch.nn.utils.spectral_norm``'s hook API. This
module stores the same three tensors under the same names and applies the same semantics: in training one power
iteration refreshes ``u`` and ``v`` before the weight is divided by ``sigma = u . (W v)``; in eval mode the stored
``u`` and ``v`` are used as they are (no power iteration), so outputs of a loaded checkpoint match the official ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _unit(vector: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return vector / vector.norm().clamp_min(eps)


class SNConv2d(nn.Module):
    """``Conv2d`` with spectral norm; parameters ``weight_orig`` and ``bias``, buffers ``weight_u`` and ``weight_v``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        self.weight_orig = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight_orig, a=5 ** 0.5)
        self.register_buffer("weight_u", _unit(torch.randn(out_channels)))
        self.register_buffer("weight_v", _unit(torch.randn(in_channels * kernel_size * kernel_size)))

    def weight(self) -> torch.Tensor:
        """The normalised weight; in training mode it first runs one power iteration on ``u`` and ``v``. Always
        in float32, also under autocast (mixed-precision training)."""
        with torch.autocast(self.weight_orig.device.type, enabled=False):
            matrix = self.weight_orig.flatten(1)
            if self.training:
                with torch.no_grad():
                    self.weight_v.copy_(_unit(matrix.t() @ self.weight_u))
                    self.weight_u.copy_(_unit(matrix @ self.weight_v))
            u, v = self.weight_u.clone(), self.weight_v.clone()
            sigma = torch.dot(u, matrix @ v)
            return self.weight_orig / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, self.stride, self.padding)


def conv2d(in_channels: int, out_channels: int, kernel_size: int, spectral: bool, stride: int = 1,
           padding: int = 0, bias: bool = True) -> nn.Module:
    """A plain or spectrally normalised convolution (the official ``norm_G`` option's 'spectral' switch)."""
    if spectral:
        return SNConv2d(in_channels, out_channels, kernel_size, stride, padding, bias)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
