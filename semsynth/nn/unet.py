"""The guided-diffusion UNet (official layout and key names: ``time_embed``, ``input_blocks``, ``middle_block``,
``output_blocks``, ``out``) with the hooks SDM, PITI/GLIDE and their upsamplers need: a conditional norm per part,
low-resolution input channels, a global embedding added to the time embedding, and attention to encoder tokens."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attention import AttentionBlock
from .unet_blocks import CondNorm, ResBlock, Resample, TimestepBlock, compute_dtype, normalization, \
    timestep_embedding

PARTS = ("input_blocks", "middle_block", "output_blocks")


class EmbedSequential(nn.Sequential):
    """Sequential container handing each block what it takes: ``(x, emb, cond)`` to time-conditioned blocks,
    ``(x, encoder_tokens)`` to attention blocks, ``x`` alone to the others (official ``TimestepEmbedSequential``)."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor, cond: torch.Tensor | None = None,
                encoder_tokens: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, TimestepBlock):
                x = layer(x, emb, cond)
            elif isinstance(layer, AttentionBlock):
                x = layer(x, encoder_tokens)
            else:
                x = layer(x)
        return x


class UNet(nn.Module):
    """``forward(x, timesteps, cond=None, *, low_res=None, global_embedding=None, encoder_tokens=None)`` ->
    ``[B, out_channels, H, W]``. The first arguments are guided-diffusion's ``UNetModel``'s (``attention_resolutions``
    are downsample factors; ``norm_groups`` is the GroupNorm group count, 32 in the official models). Hooks:

    * ``cond_norms``: part name (``input_blocks``, ``middle_block``, ``output_blocks``) -> conditional norm of that
      part's ResBlocks, called on ``cond`` (SDM: SPADE on the layout in the middle and decoder); other parts plain.
    * ``low_res_channels``: ``low_res`` is upsampled bilinearly to ``x``'s size and concatenated after ``x``.
    * ``global_channels``: ``transformer_proj(global_embedding)`` ``[B, global_channels]`` is added to the time
      embedding (GLIDE/PITI key name).
    * ``encoder_channels``: every attention block also attends to ``encoder_tokens`` ``[B, encoder_channels, S]``
      through its ``encoder_kv`` projection (GLIDE/PITI); ``token_locality`` sets their ``AttentionBlock``'s
      positional prior (None: GLIDE/PITI's plain attention)."""

    def __init__(self, in_channels: int = 3, model_channels: int = 128, out_channels: int = 3,
                 num_res_blocks: int = 2, attention_resolutions: Sequence[int] = (), dropout: float = 0.0,
                 channel_mult: Sequence[int] = (1, 2, 4, 8), conv_resample: bool = True, num_heads: int = 1,
                 num_head_channels: int = -1, num_heads_upsample: int = -1, use_scale_shift_norm: bool = False,
                 resblock_updown: bool = False, use_new_attention_order: bool = False, norm_groups: int = 32,
                 cond_norms: Mapping[str, CondNorm] | None = None, low_res_channels: int = 0,
                 global_channels: int | None = None, encoder_channels: int | None = None,
                 token_locality: float | None = None) -> None:
        super().__init__()
        cond_norms = dict(cond_norms or {})
        if set(cond_norms) - set(PARTS):
            raise ValueError(f"cond_norms names unknown parts {sorted(set(cond_norms) - set(PARTS))}; parts: {PARTS}")
        num_heads_upsample = num_heads if num_heads_upsample == -1 else num_heads_upsample
        self.model_channels, self.out_channels, self.low_res_channels = model_channels, out_channels, low_res_channels
        self.encoder_channels = encoder_channels
        emb_dim = model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def res_block(part: str, channels: int, out: int, **updown: bool) -> ResBlock:
            return ResBlock(channels, emb_dim, dropout, out, use_scale_shift_norm=use_scale_shift_norm,
                            groups=norm_groups, cond_norm=cond_norms.get(part), **updown)

        def attention(channels: int, heads: int) -> AttentionBlock:
            return AttentionBlock(channels, heads, num_head_channels, legacy_order=not use_new_attention_order,
                                  groups=norm_groups, encoder_channels=encoder_channels,
                                  token_locality=token_locality)

        ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(in_channels + low_res_channels, ch, 3,
                                                                     padding=1))])
        skip_channels, ds = [ch], 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res_block("input_blocks", ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attention_resolutions:
                    layers.append(attention(ch, num_heads))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(channel_mult) - 1:
                down = res_block("input_blocks", ch, ch, down=True) if resblock_updown \
                    else Resample(ch, up=False, use_conv=conv_resample)
                self.input_blocks.append(EmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = EmbedSequential(res_block("middle_block", ch, ch), attention(ch, num_heads),
                                            res_block("middle_block", ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [res_block("output_blocks", ch + skip_channels.pop(), int(model_channels * mult))]
                ch = int(model_channels * mult)
                if ds in attention_resolutions:
                    layers.append(attention(ch, num_heads_upsample))
                if level and i == num_res_blocks:
                    layers.append(res_block("output_blocks", ch, ch, up=True) if resblock_updown
                                  else Resample(ch, up=True, use_conv=conv_resample))
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))
        self.out = nn.Sequential(normalization(ch, norm_groups), nn.SiLU(),
                                 nn.Conv2d(int(channel_mult[0] * model_channels), out_channels, 3, padding=1))
        self.transformer_proj = None if global_channels is None else nn.Linear(global_channels, emb_dim)
        for conv in self._zero_init_convs():
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def _zero_init_convs(self) -> list[nn.Conv2d | nn.Conv1d]:
        """The convs the official code zero-initialises (residual outputs, attention projections, output head)."""
        convs: list[nn.Module] = [self.out[2]]
        for module in self.modules():
            if isinstance(module, ResBlock):
                convs.append(module.out_layers[-1])
            elif isinstance(module, AttentionBlock):
                convs.append(module.proj_out)
        return convs

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor | None = None, *,
                low_res: torch.Tensor | None = None, global_embedding: torch.Tensor | None = None,
                encoder_tokens: torch.Tensor | None = None) -> torch.Tensor:
        self._check_hook_inputs(low_res=low_res, global_embedding=global_embedding, encoder_tokens=encoder_tokens)
        dtype = next(self.parameters()).dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels, dtype=compute_dtype(dtype)).to(dtype))
        if global_embedding is not None:
            emb = emb + self.transformer_proj(global_embedding.to(dtype))
        h = x.to(dtype)
        if low_res is not None:
            upsampled = F.interpolate(low_res.to(dtype), size=x.shape[-2:], mode="bilinear", align_corners=False)
            h = torch.cat([h, upsampled], dim=1)
        cond = None if cond is None else cond.to(dtype)
        skips = []
        for module in self.input_blocks:
            h = module(h, emb, cond, encoder_tokens)
            skips.append(h)
        h = self.middle_block(h, emb, cond, encoder_tokens)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, cond, encoder_tokens)
        return self.out(h).to(x.dtype)

    def _check_hook_inputs(self, **given: torch.Tensor | None) -> None:
        """Each hook input is given exactly when the network was built with that hook."""
        built = dict(low_res=self.low_res_channels > 0, global_embedding=self.transformer_proj is not None,
                     encoder_tokens=self.encoder_channels is not None)
        for name, value in given.items():
            if built[name] and value is None:
                raise ValueError(f"this UNet was built to take {name}; pass it to forward")
            if not built[name] and value is not None:
                raise ValueError(f"this UNet takes no {name}; build it with the matching hook")
