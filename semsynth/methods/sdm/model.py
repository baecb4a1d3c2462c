"""The SDM UNet (Wang et al. 2022) with the official module layout, so released checkpoints load strictly.

Encoder: plain time-conditioned ResBlocks on the noisy image; middle and decoder: SDMResBlocks whose group norms
are SPADE-modulated by the one-hot(+edge) layout ``y``; attention at the listed downsample factors; learned sigma.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from ...nn.attention import AttentionBlock
from ...nn.unet_blocks import EmbedSequential, ResBlock, Resample, SDMResBlock, compute_dtype, normalization, \
    timestep_embedding

_IGNORED_OFFICIAL_ARGS = ("image_size", "use_checkpoint", "use_fp16")


class SDMUNet(nn.Module):
    """``forward(x_t, timesteps, y)`` -> ``[B, out_channels, H, W]`` (eps, then the variance value v when
    ``out_channels == 6``). ``num_classes`` is the number of layout channels (label classes + edge channel);
    ``attention_resolutions`` are downsample factors; ``spade_hidden`` is SPADE's hidden width (official 128).
    ``norm_groups`` is the GroupNorm group count, 32 in every official model; tiny configs use fewer, because with
    32 channels 32 groups normalise each channel alone and erase the image's mean colour at every block."""

    def __init__(self, in_channels: int = 3, model_channels: int = 256, out_channels: int = 6,
                 num_res_blocks: int = 2, attention_resolutions: Sequence[int] = (8, 16, 32), dropout: float = 0.0,
                 channel_mult: Sequence[int] = (1, 1, 2, 2, 4, 4), conv_resample: bool = True, num_classes: int = 151,
                 num_heads: int = 1, num_head_channels: int = 64, num_heads_upsample: int = -1,
                 use_scale_shift_norm: bool = True, resblock_updown: bool = True, use_new_attention_order: bool = False,
                 spade_hidden: int = 128, norm_groups: int = 32) -> None:
        super().__init__()
        self.config = dict(in_channels=in_channels, model_channels=model_channels, out_channels=out_channels,
                           num_res_blocks=num_res_blocks, attention_resolutions=list(attention_resolutions),
                           dropout=dropout, channel_mult=list(channel_mult), conv_resample=conv_resample,
                           num_classes=num_classes, num_heads=num_heads, num_head_channels=num_head_channels,
                           num_heads_upsample=num_heads_upsample, use_scale_shift_norm=use_scale_shift_norm,
                           resblock_updown=resblock_updown, use_new_attention_order=use_new_attention_order,
                           spade_hidden=spade_hidden, norm_groups=norm_groups)
        num_heads_upsample = num_heads if num_heads_upsample == -1 else num_heads_upsample
        self.model_channels, self.num_classes, self.out_channels = model_channels, num_classes, out_channels
        emb_dim = model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def attention(channels: int, heads: int) -> AttentionBlock:
            return AttentionBlock(channels, heads, num_head_channels, legacy_order=not use_new_attention_order,
                                  groups=norm_groups)

        block = dict(emb_channels=emb_dim, dropout=dropout, use_scale_shift_norm=use_scale_shift_norm,
                     groups=norm_groups)
        spade = dict(block, cond_channels=num_classes, spade_hidden=spade_hidden)
        ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        skip_channels, ds = [ch], 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, out_channels=int(mult * model_channels), **block)]
                ch = int(mult * model_channels)
                if ds in attention_resolutions:
                    layers.append(attention(ch, num_heads))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(channel_mult) - 1:
                down = ResBlock(ch, out_channels=ch, down=True, **block) if resblock_updown \
                    else Resample(ch, up=False, use_conv=conv_resample)
                self.input_blocks.append(EmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = EmbedSequential(SDMResBlock(ch, **spade), attention(ch, num_heads),
                                            SDMResBlock(ch, **spade))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [SDMResBlock(ch + skip_channels.pop(), out_channels=int(model_channels * mult), **spade)]
                ch = int(model_channels * mult)
                if ds in attention_resolutions:
                    layers.append(attention(ch, num_heads_upsample))
                if level and i == num_res_blocks:
                    layers.append(SDMResBlock(ch, out_channels=ch, up=True, **spade) if resblock_updown
                                  else Resample(ch, up=True, use_conv=conv_resample))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))
        self.out = nn.Sequential(normalization(ch, norm_groups), nn.SiLU(),
                                 nn.Conv2d(int(channel_mult[0] * model_channels), out_channels, 3, padding=1))
        for conv in self._zero_init_convs():
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def _zero_init_convs(self) -> list[nn.Conv2d | nn.Conv1d]:
        """The convs the official code zero-initialises (residual outputs, attention projections, output head)."""
        convs: list[nn.Module] = [self.out[2]]
        for module in self.modules():
            if isinstance(module, (ResBlock, SDMResBlock)):
                convs.append(module.out_layers[-1])
            elif isinstance(module, AttentionBlock):
                convs.append(module.proj_out)
        return convs

    @classmethod
    def from_official_config(cls, kwargs: dict[str, Any]) -> "SDMUNet":
        """Build from the official ``UNetModel`` constructor arguments (as the golden ``case.json`` records them)."""
        options = {k: v for k, v in kwargs.items() if k not in _IGNORED_OFFICIAL_ARGS}
        for key in ("attention_resolutions", "channel_mult"):
            if key in options:
                options[key] = tuple(options[key])
        return cls(**options)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dtype = next(self.parameters()).dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels, dtype=compute_dtype(dtype)).to(dtype))
        h, y = x.to(dtype), y.to(dtype)
        skips = []
        for module in self.input_blocks:
            h = module(h, emb, y)
            skips.append(h)
        h = self.middle_block(h, emb, y)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, y)
        return self.out(h).to(x.dtype)
