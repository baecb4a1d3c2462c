"""PITI's networks (official ``Text2ImModel`` / ``SuperResText2ImModel``): the mask encoder and the GLIDE-style
decoder, which is the generic UNet with the global-embedding (``transformer_proj``) and encoder-token
(``encoder_kv``) hooks, plus the low-resolution input for the upsampler. Keys ``encoder.*`` and ``decoder.*`` as
in the released ``base_mask.pt`` / ``upsample_mask.pt``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.unet import UNet
from .encoder import MaskEncoder

# Official ``Text2ImModel`` arguments that do not shape the mask-to-image networks (GLIDE's text transformer is
# replaced by the fixed-size mask encoder; ``image_size`` and ``use_fp16`` are run-time choices).
_IGNORED_OFFICIAL = ("text_ctx", "xf_layers", "xf_heads", "xf_final_ln", "use_fp16", "image_size", "n_class",
                     "xf_width", "cache_text_emb", "xf_padding", "tokenizer", "use_checkpoint")
OFFICIAL_ENCODER = dict(cnn_channels=[32, 64, 128, 256, 512], width=512, layers=8, heads=8, tokens=256)


def upsample_bilinear(low_res: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``low_res`` resized bilinearly to ``size`` (half-pixel centres), as the decoder's low-res hook resizes it."""
    return F.interpolate(low_res, size=size, mode="bilinear", align_corners=False)


class PITIModel(nn.Module):
    """``forward(x_t, timesteps, ref, low_res=None)`` -> ``[B, out_channels, H, W]`` (eps, then the variance
    value). ``decoder``: UNet arguments; ``encoder``: ``MaskEncoder`` arguments (its width sets the decoder's hook
    widths); ``upsample``: the decoder also takes ``low_res`` (3 channels, upsampled bilinearly and concatenated
    after ``x_t``). Two upsampler options that PITI does not have (the ``shapes`` upsampler uses both):
    ``residual``, the diffusion runs on the image minus ``offset`` (``low_res`` upsampled bilinearly), so the network
    draws only the detail; ``layout_input``, the colour-coded mask is concatenated beside ``low_res`` at full
    resolution (``hook_input``), so object boundaries come from the mask itself rather than from its tokens.
    ``config`` is what rebuilds the model (stored with our weights files)."""

    def __init__(self, decoder: dict[str, Any], encoder: dict[str, Any], upsample: bool = False,
                 residual: bool = False, layout_input: bool = False) -> None:
        super().__init__()
        if (residual or layout_input) and not upsample:
            raise ValueError("residual and layout_input apply to the upsampler only (upsample=True)")
        self.config = {"decoder": dict(decoder), "encoder": dict(encoder), "upsample": upsample}
        # stored only when set, so that every earlier weights file keeps the config it has
        self.config.update({name: True for name, value in (("residual", residual), ("layout_input", layout_input))
                            if value})
        self.encoder = MaskEncoder(**encoder)
        width = self.encoder.final_ln.normalized_shape[0]
        self.decoder = UNet(**decoder, low_res_channels=(6 if layout_input else 3) if upsample else 0,
                            global_channels=width, encoder_channels=width)
        self.upsample, self.residual, self.layout_input = upsample, residual, layout_input

    @classmethod
    def from_official_config(cls, kwargs: dict[str, Any], upsample: bool = False) -> "PITIModel":
        """Build from the official ``Text2ImModel`` / ``SuperResText2ImModel`` constructor arguments (as the golden
        ``case.json`` records them); the encoder is the official fixed-size one with ``n_class`` input channels."""
        decoder = {key: value for key, value in kwargs.items() if key not in _IGNORED_OFFICIAL}
        for key in ("attention_resolutions", "channel_mult"):
            if key in decoder:
                decoder[key] = list(decoder[key])
        encoder = dict(OFFICIAL_ENCODER, in_channels=kwargs.get("n_class", 3))
        return cls(decoder, encoder, upsample=upsample)

    def encode(self, ref: torch.Tensor) -> torch.Tensor:
        """The encoder's output sequence of colour-coded masks ``ref`` in [-1, 1], channel-first
        ``[B, width, tokens + 1]``: the spatial tokens (official ``xf_out``), then the cls token (``xf_proj``)."""
        xf_proj, xf_out = self.encoder(ref)
        return torch.cat([xf_out, xf_proj[..., None]], dim=-1)

    def offset(self, low_res: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | float:
        """What the diffusion's image is relative to: for a ``residual`` upsampler ``low_res`` upsampled bilinearly
        to ``size`` (training subtracts it from the target, sampling adds it to the sample), else 0."""
        return upsample_bilinear(low_res, size) if self.residual else 0.0

    def hook_input(self, low_res: torch.Tensor | None, ref: torch.Tensor) -> torch.Tensor | None:
        """What the decoder's low-resolution input receives: ``low_res``, or with ``layout_input`` ``low_res``
        upsampled bilinearly to the mask's size with the mask ``ref`` beside it."""
        if not self.layout_input or low_res is None:
            return low_res
        return torch.cat([upsample_bilinear(low_res, tuple(ref.shape[-2:])), ref], dim=1)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, ref: torch.Tensor,
                low_res: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(x, timesteps, self.encode(ref), self.hook_input(low_res, ref))

    def decode(self, x: torch.Tensor, timesteps: torch.Tensor, tokens: torch.Tensor,
               low_res: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder given an encoded sequence (samplers encode each mask once, not at every step) and the
        low-resolution input as ``hook_input`` makes it."""
        return self.decoder(x, timesteps, low_res=low_res, global_embedding=tokens[..., -1],
                            encoder_tokens=tokens[..., :-1])
