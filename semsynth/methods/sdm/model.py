"""The SDM UNet (Wang et al. 2022): the generic guided-diffusion UNet with SPADE-modulated ResBlocks in the middle
and decoder, with the official module layout, so released checkpoints load strictly.

Encoder: plain time-conditioned ResBlocks on the noisy image; middle and decoder: ResBlocks whose group norms are
SPADE-modulated by the one-hot(+edge) layout ``y`` (official ``SDMResBlock``); attention at the listed downsample
factors; learned sigma.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

from ...nn.spade import SPADEGroupNorm
from ...nn.unet import UNet

_IGNORED_OFFICIAL_ARGS = ("image_size", "use_checkpoint", "use_fp16")


class SDMUNet(UNet):
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
        config = dict(in_channels=in_channels, model_channels=model_channels, out_channels=out_channels,
                      num_res_blocks=num_res_blocks, attention_resolutions=list(attention_resolutions),
                      dropout=dropout, channel_mult=list(channel_mult), conv_resample=conv_resample,
                      num_classes=num_classes, num_heads=num_heads, num_head_channels=num_head_channels,
                      num_heads_upsample=num_heads_upsample, use_scale_shift_norm=use_scale_shift_norm,
                      resblock_updown=resblock_updown, use_new_attention_order=use_new_attention_order,
                      spade_hidden=spade_hidden, norm_groups=norm_groups)
        spade = partial(SPADEGroupNorm, label_channels=num_classes, hidden=spade_hidden, groups=norm_groups)
        generic = {key: value for key, value in config.items() if key not in ("num_classes", "spade_hidden")}
        super().__init__(**generic, cond_norms={"middle_block": spade, "output_blocks": spade})
        self.config = config
        self.num_classes = num_classes

    @classmethod
    def from_official_config(cls, kwargs: dict[str, Any]) -> "SDMUNet":
        """Build from the official ``UNetModel`` constructor arguments (as the golden ``case.json`` records them)."""
        options = {k: v for k, v in kwargs.items() if k not in _IGNORED_OFFICIAL_ARGS}
        for key in ("attention_resolutions", "channel_mult"):
            if key in options:
                options[key] = tuple(options[key])
        return cls(**options)
