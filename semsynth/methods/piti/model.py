"""PITI's networks (official ``Text2ImModel`` / ``SuperResText2ImModel``): the mask encoder and the GLIDE-style
decoder, which is the generic UNet with the global-embedding (``transformer_proj``) and encoder-token
(``encoder_kv``) hooks, plus the low-resolution input for the upsampler. Keys ``encoder.*`` and ``decoder.*`` as
in the released ``base_mask.pt`` / ``upsample_mask.pt``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...nn.unet import UNet
from .encoder import MaskEncoder

# Official ``Text2ImModel`` arguments that do not shape the mask-to-image networks (GLIDE's text transformer is
# replaced by the fixed-size mask encoder; ``image_size`` and ``use_fp16`` are run-time choices).
_IGNORED_OFFICIAL = ("text_ctx", "xf_layers", "xf_heads", "xf_final_ln", "use_fp16", "image_size", "n_class",
                     "xf_width", "cache_text_emb", "xf_padding", "tokenizer", "use_checkpoint")
OFFICIAL_ENCODER = dict(cnn_channels=[32, 64, 128, 256, 512], width=512, layers=8, heads=8, tokens=256)


class PITIModel(nn.Module):
    """``forward(x_t, timesteps, ref, low_res=None)`` -> ``[B, out_channels, H, W]`` (eps, then the variance
    value). ``decoder``: UNet arguments; ``encoder``: ``MaskEncoder`` arguments (its width sets the decoder's hook
    widths); ``upsample``: the decoder also takes ``low_res`` (3 channels, upsampled bilinearly and concatenated
    after ``x_t``). ``config`` is what rebuilds the model (stored with our weights files)."""

    def __init__(self, decoder: dict[str, Any], encoder: dict[str, Any], upsample: bool = False) -> None:
        super().__init__()
        self.config = {"decoder": dict(decoder), "encoder": dict(encoder), "upsample": upsample}
        self.encoder = MaskEncoder(**encoder)
        width = self.encoder.final_ln.normalized_shape[0]
        self.decoder = UNet(**decoder, low_res_channels=3 if upsample else 0, global_channels=width,
                            encoder_channels=width)
        self.upsample = upsample

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

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, ref: torch.Tensor,
                low_res: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(x, timesteps, self.encode(ref), low_res)

    def decode(self, x: torch.Tensor, timesteps: torch.Tensor, tokens: torch.Tensor,
               low_res: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder given an encoded sequence (samplers encode each mask once, not at every step)."""
        return self.decoder(x, timesteps, low_res=low_res, global_embedding=tokens[..., -1],
                            encoder_tokens=tokens[..., :-1])
