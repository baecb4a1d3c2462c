"""Mask2Former's detectron2 releases (``model_final_*.pkl``): a restricted reader and the key map to mmseg names.

The ``.pkl`` is a pickle of ``{"model": {name: numpy array}, "__author__": ...}``. It is read with an unpickler
that resolves only numpy's array reconstruction, ``collections.OrderedDict`` and ``_codecs.encode`` (protocol-2
bytes): no other global can run.

Key map (detectron2 ``MaskFormer`` with ``D2SwinTransformer``, ``MSDeformAttnPixelDecoder`` and
``MultiScaleMaskedTransformerDecoder`` -> mmseg ``EncoderDecoder``), one prefix rule per row of ``KEY_MAP``
(``{}`` stands for an index and is carried over). Besides renaming, the patch-merging ``reduction.weight`` (input
axis) and ``norm`` (4C axis) are reordered from the original Swin concat order to mmseg's Unfold order, as mmseg's
own ``swin_converter`` does. ``criterion.empty_weight`` (a training-loss buffer) is dropped.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from ...errors import UserError
from .swin import unfold_order

_B = "backbone."
_PD = "sem_seg_head.pixel_decoder."
_PR = "sem_seg_head.predictor."
_H = "decode_head."

# (detectron2 prefix, mmseg prefix); the first matching row wins, so specific rows come first.
KEY_MAP: tuple[tuple[str, str], ...] = (
    (_B + "patch_embed.proj.", _B + "patch_embed.projection."),
    (_B + "patch_embed.norm.", _B + "patch_embed.norm."),
    (_B + "layers.{}.blocks.{}.attn.", _B + "stages.{}.blocks.{}.attn.w_msa."),
    (_B + "layers.{}.blocks.{}.mlp.fc1.", _B + "stages.{}.blocks.{}.ffn.layers.0.0."),
    (_B + "layers.{}.blocks.{}.mlp.fc2.", _B + "stages.{}.blocks.{}.ffn.layers.1."),
    (_B + "layers.{}.", _B + "stages.{}."),
    (_B + "norm{}.", _B + "norm{}."),
    (_PD + "input_proj.{}.0.", _H + "pixel_decoder.input_convs.{}.conv."),
    (_PD + "input_proj.{}.1.", _H + "pixel_decoder.input_convs.{}.gn."),
    (_PD + "transformer.level_embed", _H + "pixel_decoder.level_encoding.weight"),
    (_PD + "transformer.encoder.layers.{}.self_attn.", _H + "pixel_decoder.encoder.layers.{}.self_attn."),
    (_PD + "transformer.encoder.layers.{}.norm1.", _H + "pixel_decoder.encoder.layers.{}.norms.0."),
    (_PD + "transformer.encoder.layers.{}.norm2.", _H + "pixel_decoder.encoder.layers.{}.norms.1."),
    (_PD + "transformer.encoder.layers.{}.linear1.", _H + "pixel_decoder.encoder.layers.{}.ffn.layers.0.0."),
    (_PD + "transformer.encoder.layers.{}.linear2.", _H + "pixel_decoder.encoder.layers.{}.ffn.layers.1."),
    # one FPN level (stride 8 -> 4): detectron2 adapter_1/layer_1 are mmdet lateral_convs.0/output_convs.0
    (_PD + "adapter_1.norm.", _H + "pixel_decoder.lateral_convs.0.gn."),
    (_PD + "adapter_1.", _H + "pixel_decoder.lateral_convs.0.conv."),
    (_PD + "layer_1.norm.", _H + "pixel_decoder.output_convs.0.gn."),
    (_PD + "layer_1.", _H + "pixel_decoder.output_convs.0.conv."),
    (_PD + "mask_features.", _H + "pixel_decoder.mask_feature."),
    (_PR + "transformer_cross_attention_layers.{}.multihead_attn.",
     _H + "transformer_decoder.layers.{}.cross_attn.attn."),
    (_PR + "transformer_cross_attention_layers.{}.norm.", _H + "transformer_decoder.layers.{}.norms.0."),
    (_PR + "transformer_self_attention_layers.{}.self_attn.", _H + "transformer_decoder.layers.{}.self_attn.attn."),
    (_PR + "transformer_self_attention_layers.{}.norm.", _H + "transformer_decoder.layers.{}.norms.1."),
    (_PR + "transformer_ffn_layers.{}.linear1.", _H + "transformer_decoder.layers.{}.ffn.layers.0.0."),
    (_PR + "transformer_ffn_layers.{}.linear2.", _H + "transformer_decoder.layers.{}.ffn.layers.1."),
    (_PR + "transformer_ffn_layers.{}.norm.", _H + "transformer_decoder.layers.{}.norms.2."),
    (_PR + "decoder_norm.", _H + "transformer_decoder.post_norm."),
    (_PR + "query_feat.", _H + "query_feat."),
    (_PR + "query_embed.", _H + "query_embed."),
    (_PR + "level_embed.", _H + "level_embed."),
    (_PR + "class_embed.", _H + "cls_embed."),
    (_PR + "mask_embed.layers.0.", _H + "mask_embed.0."),
    (_PR + "mask_embed.layers.1.", _H + "mask_embed.2."),
    (_PR + "mask_embed.layers.2.", _H + "mask_embed.4."),
)
DROPPED = ("criterion.empty_weight",)
_MERGING = re.compile(r"^backbone\.stages\.\d+\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)$")
_ALLOWED_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
                    ("_codecs", "encode")}     # how protocol-2 pickles spell bytes


def _pattern(template: str) -> re.Pattern:
    return re.compile("^" + re.escape(template).replace(r"\{\}", r"(\d+)"))


_RULES = [(_pattern(d2), d2, mm, _pattern(mm)) for d2, mm in KEY_MAP]


def _rename(key: str, to_mmseg: bool) -> str | None:
    for d2_re, d2, mm, mm_re in _RULES:
        source, target = (d2_re, mm) if to_mmseg else (mm_re, d2)
        match = source.match(key)
        if match:
            return target.format(*match.groups()) + key[match.end():]
    return None


def detectron2_to_mmseg(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detectron2 Mask2Former state_dict renamed (and patch merging reordered) to the mmseg names."""
    out, unknown = {}, []
    for key, value in state.items():
        if key in DROPPED:
            continue
        new = _rename(key, to_mmseg=True)
        if new is None:
            unknown.append(key)
            continue
        out[new] = unfold_order(value, -1) if _MERGING.match(new) else value
    if unknown:
        raise UserError(f"{len(unknown)} detectron2 keys have no mmseg name (first: {unknown[:3]}); pass an official "
                        f"Mask2Former Swin semantic-segmentation checkpoint")
    return out


def mmseg_to_detectron2(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of ``detectron2_to_mmseg`` (the criterion buffer excepted): mmseg names to detectron2 layout."""
    out = {}
    for key, value in state.items():
        new = _rename(key, to_mmseg=False)
        if new is None:
            raise UserError(f"mmseg key {key} has no detectron2 name")
        out[new] = unfold_order(value, -1, inverse=True) if _MERGING.match(key) else value
    return out


def is_detectron2_layout(state: Mapping[str, object]) -> bool:
    """True for detectron2 key names (``sem_seg_head.*`` or ``backbone.layers.*``)."""
    return any(key.startswith(("sem_seg_head.", _B + "layers.")) for key in state)


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_ALLOWED_GLOBALS``; any other global is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a weights file")
        return super().find_class(module, name)


def read_detectron2_pickle(file: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict of a detectron2 ``.pkl`` (``{"model": {...}}`` or a bare dict) as torch tensors."""
    try:
        with open(file, "rb") as handle:
            data = _ArrayUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise UserError(f"cannot read detectron2 checkpoint {file}: {error}; "
                        "pass the official model_final_*.pkl") from error
    if isinstance(data, Mapping) and isinstance(data.get("model"), Mapping):
        data = data["model"]
    if not isinstance(data, Mapping):
        raise UserError(f"detectron2 checkpoint {file} holds a {type(data).__name__}, not a dict of arrays")
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in data.items()}
