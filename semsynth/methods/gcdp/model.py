"""GCDP's joint UNet (Park et al., ICCV 2023; imagen-pytorch's memory-efficient UNet with a label input and a label
head): the current label map is embedded (K -> 3 channels) and concatenated to the noisy image; the network
returns eps (``final_conv``) and K logits of the clean label map (``final_conv_seg``). Text tokens condition it
through a Perceiver resampler, cross-attention and a pooled 'text hidden' added to the time embedding; dropped
text is replaced by the learned ``null_text_embed`` / ``null_text_hidden``. The super-resolution variant
(``lowres_cond``) also takes the noised low-resolution image and label map and their noise level.
Official module names throughout (facts: shared/research/sdm_piti_gcdp.md section 3)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (CrossEmbedLayer, LearnedSinusoidalPosEmb, OnTokens, PerceiverResampler, PixelShuffleUpsample,
                     PixelUnshuffleDown, ResnetBlock, Residual, TransformerBlock, Attention)


class LabelEmbedding(nn.Module):
    """Class indices ``[B, H, W]`` -> learned ``channels``-d embeddings ``[B, channels, H, W]``."""

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.emb_layer = nn.Embedding(num_classes, channels)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.emb_layer(labels.long()).permute(0, 3, 1, 2)


def _time_modules(sinu_dim: int, time_cond_dim: int, cond_dim: int, num_tokens: int) -> tuple[nn.Module, ...]:
    return (nn.Sequential(LearnedSinusoidalPosEmb(sinu_dim), nn.Linear(sinu_dim + 1, time_cond_dim), nn.SiLU()),
            nn.Sequential(nn.Linear(time_cond_dim, time_cond_dim)),
            nn.Sequential(nn.Linear(time_cond_dim, cond_dim * num_tokens)))


def _per_level(value: Any, levels: int) -> tuple:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * levels
    if len(values) != levels:
        raise ValueError(f"expected {levels} per-level values, got {len(values)}")
    return values


class JointUNet(nn.Module):
    """``forward(x, labels, log_snr, text_embeds, text_mask, keep)`` -> (eps ``[B, 3, H, W]``, label logits
    ``[B, K, H, W]``). ``keep`` (bool ``[B]``) says which samples see their text; the others get the null text
    (classifier-free guidance). Arguments are the official ``JointUnet`` constructor's (memory-efficient layout,
    pixel-shuffle upsampling, final ResNet block: the configurations GCDP uses)."""

    def __init__(self, *, dim: int = 128, num_classes: int = 20, text_embed_dim: int = 1024,
                 num_resnet_blocks: int | Sequence[int] = 1, cond_dim: int | None = None, num_time_tokens: int = 2,
                 learned_sinu_pos_emb_dim: int = 16, dim_mults: Sequence[int] = (1, 2, 4, 8), channels: int = 3,
                 channels_lbl: int = 3, attn_dim_head: int = 64, attn_heads: int = 8, ff_mult: float = 2.0,
                 lowres_cond: bool = False, layer_attns: bool | Sequence[bool] = True, layer_attns_depth: int = 1,
                 attend_at_middle: bool = True, layer_cross_attns: bool | Sequence[bool] = True,
                 max_text_len: int = 256, init_dim: int | None = None, resnet_groups: int = 8,
                 init_cross_embed_kernel_sizes: Sequence[int] = (3, 7, 15), attn_pool_num_latents: int = 32,
                 use_global_context_attn: bool = True, scale_skip_connection: bool = True,
                 final_conv_kernel_size: int = 3) -> None:
        super().__init__()
        self.config = {key: (list(value) if isinstance(value, tuple) else value) for key, value in locals().items()
                       if key not in ("self", "__class__")}
        cond_dim = cond_dim or dim
        init_dim = init_dim or dim
        levels = len(dim_mults)
        self.num_classes, self.channels, self.lowres_cond = num_classes, channels, lowres_cond
        self.max_text_len, self.text_embed_dim = max_text_len, text_embed_dim
        self.num_time_tokens = num_time_tokens
        self.skip_scale = 2 ** -0.5 if scale_skip_connection else 1.0
        attn = dict(heads=attn_heads, dim_head=attn_dim_head)

        self.init_emb_seg = LabelEmbedding(num_classes, channels_lbl)
        self.init_emb_seg_lowres = LabelEmbedding(num_classes, channels_lbl) if lowres_cond else None
        self.init_conv = CrossEmbedLayer((channels + channels_lbl) * (1 + int(lowres_cond)),
                                         tuple(init_cross_embed_kernel_sizes), init_dim, stride=1)
        time_cond_dim = dim * 4 * (2 if lowres_cond else 1)
        self.to_time_hiddens, self.to_time_cond, self.to_time_tokens = _time_modules(
            learned_sinu_pos_emb_dim, time_cond_dim, cond_dim, num_time_tokens)
        if lowres_cond:
            self.to_lowres_time_hiddens, self.to_lowres_time_cond, self.to_lowres_time_tokens = _time_modules(
                learned_sinu_pos_emb_dim, time_cond_dim, cond_dim, num_time_tokens)
        self.norm_cond = nn.LayerNorm(cond_dim)
        self.text_to_cond = nn.Linear(text_embed_dim, cond_dim)
        self.attn_pool = PerceiverResampler(cond_dim, depth=2, num_latents=attn_pool_num_latents, **attn)
        self.null_text_embed = nn.Parameter(torch.randn(1, max_text_len, cond_dim))
        self.null_text_hidden = nn.Parameter(torch.randn(1, time_cond_dim))
        self.to_text_non_attn_cond = nn.Sequential(nn.LayerNorm(cond_dim), nn.Linear(cond_dim, time_cond_dim),
                                                   nn.SiLU(), nn.Linear(time_cond_dim, time_cond_dim))

        blocks = _per_level(num_resnet_blocks, levels)
        self_attns, cross_attns = _per_level(layer_attns, levels), _per_level(layer_cross_attns, levels)
        resnet = dict(time_cond_dim=time_cond_dim, groups=resnet_groups)
        self.init_resnet_block = ResnetBlock(init_dim, init_dim, use_gca=use_global_context_attn, **resnet, **attn)
        dims = [init_dim, *(dim * mult for mult in dim_mults)]
        in_out = list(zip(dims[:-1], dims[1:]))

        def transformer(width: int, on: bool) -> nn.Module:
            return TransformerBlock(width, layer_attns_depth, ff_mult=ff_mult, context_dim=cond_dim, **attn) \
                if on else nn.Identity()

        self.downs = nn.ModuleList()
        for (dim_in, dim_out), count, self_attn, cross in zip(in_out, blocks, self_attns, cross_attns):
            self.downs.append(nn.ModuleList([
                PixelUnshuffleDown(dim_in, dim_out),
                ResnetBlock(dim_out, dim_out, cond_dim=cond_dim if cross else None, **resnet, **attn),
                nn.ModuleList([ResnetBlock(dim_out, dim_out, use_gca=use_global_context_attn, **resnet)
                               for _ in range(count)]),
                transformer(dim_out, self_attn)]))
        mid = dims[-1]
        self.mid_block1 = ResnetBlock(mid, mid, cond_dim=cond_dim, **resnet)
        self.mid_attn = OnTokens(Residual(Attention(mid, **attn))) if attend_at_middle else None
        self.mid_block2 = ResnetBlock(mid, mid, cond_dim=cond_dim, **resnet)
        self.ups = nn.ModuleList()
        for (dim_in, dim_out), count, self_attn, cross in zip(reversed(in_out), reversed(blocks),
                                                              reversed(self_attns), reversed(cross_attns)):
            self.ups.append(nn.ModuleList([
                ResnetBlock(dim_out * 2, dim_out, cond_dim=cond_dim if cross else None, **resnet, **attn),
                nn.ModuleList([ResnetBlock(dim_out * 2, dim_out, use_gca=use_global_context_attn, **resnet)
                               for _ in range(count)]),
                transformer(dim_out, self_attn),
                PixelShuffleUpsample(dim_out, dim_in)]))
        self.final_res_block = ResnetBlock(dim, dim, use_gca=True, **resnet)
        final_in = dim + ((channels + channels_lbl) if lowres_cond else 0)
        padding = final_conv_kernel_size // 2
        self.final_conv = nn.Conv2d(final_in, channels, final_conv_kernel_size, padding=padding)
        self.final_conv_seg = nn.Conv2d(final_in, num_classes, final_conv_kernel_size, padding=padding)
        for conv in (self.final_conv, self.final_conv_seg):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def _time(self, log_snr: torch.Tensor, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
        hiddens = getattr(self, f"to_{prefix}time_hiddens")(log_snr)
        tokens = getattr(self, f"to_{prefix}time_tokens")(hiddens).unflatten(-1, (self.num_time_tokens, -1))
        return getattr(self, f"to_{prefix}time_cond")(hiddens), tokens

    def _text(self, text_embeds: torch.Tensor, text_mask: torch.Tensor | None, keep: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text tokens (pooled by the resampler, null where dropped) and the text hidden added to the time."""
        tokens = self.text_to_cond(text_embeds)[:, :self.max_text_len]
        remainder = self.max_text_len - tokens.shape[1]
        tokens = F.pad(tokens, (0, 0, 0, remainder))
        keep_tokens = keep[:, None, None]
        if text_mask is not None:
            keep_tokens = F.pad(text_mask[:, :self.max_text_len], (0, remainder), value=False)[..., None] & keep_tokens
        tokens = torch.where(keep_tokens, tokens, self.null_text_embed.to(tokens.dtype))
        tokens = self.attn_pool(tokens)
        hidden = self.to_text_non_attn_cond(tokens.mean(dim=-2))
        return tokens, torch.where(keep[:, None], hidden, self.null_text_hidden.to(hidden.dtype))

    def forward(self, x: torch.Tensor, labels: torch.Tensor, log_snr: torch.Tensor, text_embeds: torch.Tensor,
                text_mask: torch.Tensor | None = None, keep: torch.Tensor | None = None,
                lowres_img: torch.Tensor | None = None, lowres_labels: torch.Tensor | None = None,
                lowres_log_snr: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        keep = torch.ones(x.shape[0], dtype=torch.bool, device=x.device) if keep is None else keep.to(x.device)
        x = torch.cat([x, self.init_emb_seg(labels)], dim=1)
        lowres = None
        if self.lowres_cond:
            lowres = torch.cat([lowres_img, self.init_emb_seg_lowres(lowres_labels)], dim=1)
            x = torch.cat([x, lowres], dim=1)
        x = self.init_conv(x)
        t, time_tokens = self._time(log_snr, "")
        if self.lowres_cond:
            lowres_t, lowres_tokens = self._time(lowres_log_snr, "lowres_")
            t, time_tokens = t + lowres_t, torch.cat([time_tokens, lowres_tokens], dim=-2)
        text_tokens, text_hidden = self._text(text_embeds, text_mask, keep)
        t = t + text_hidden
        c = self.norm_cond(torch.cat([time_tokens, text_tokens], dim=-2))

        x = self.init_resnet_block(x, t)
        hiddens = []
        for down, first, resnets, transformer in self.downs:
            x = first(down(x), t, c)
            for resnet in resnets:
                x = resnet(x, t)
                hiddens.append(x)
            x = transformer(x, c) if isinstance(transformer, TransformerBlock) else x
            hiddens.append(x)
        x = self.mid_block1(x, t, c)
        if self.mid_attn is not None:
            x = self.mid_attn(x)
        x = self.mid_block2(x, t, c)
        for first, resnets, transformer, up in self.ups:
            x = first(torch.cat([x, hiddens.pop() * self.skip_scale], dim=1), t, c)
            for resnet in resnets:
                x = resnet(torch.cat([x, hiddens.pop() * self.skip_scale], dim=1), t)
            x = transformer(x, c) if isinstance(transformer, TransformerBlock) else x
            x = up(x)
        x = self.final_res_block(x, t)
        if lowres is not None:
            x = torch.cat([x, lowres], dim=1)
        return self.final_conv(x), self.final_conv_seg(x)


# The official presets (``BaseJointUnet`` / ``SRJointUnet``) with the layer options train.py/test.py pass.
BASE_JOINT_UNET = dict(dim=128, dim_mults=(1, 2, 4, 8), num_resnet_blocks=(2, 4, 8, 8),
                       layer_attns=(False, True, True, True), layer_cross_attns=(False, True, True, True),
                       attn_heads=8, ff_mult=2.0)
SR_JOINT_UNET = dict(BASE_JOINT_UNET, layer_attns=False, layer_cross_attns=(False, False, False, True),
                     lowres_cond=True)


def base_joint_unet(**overrides: Any) -> JointUNet:
    """``BaseJointUnet`` (the 128-px base model) with official defaults, ``overrides`` on top."""
    return JointUNet(**{**BASE_JOINT_UNET, **overrides})


def sr_joint_unet(**overrides: Any) -> JointUNet:
    """``SRJointUnet`` (the super-resolution stage: low-res image + label conditioning)."""
    return JointUNet(**{**SR_JOINT_UNET, **overrides})
