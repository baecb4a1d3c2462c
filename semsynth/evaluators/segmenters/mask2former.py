"""Mask2Former (Swin-L) semantic segmenter: an mmseg ``EncoderDecoder`` port (``backbone.*`` / ``decode_head.*``
keys), its semantic inference, the official releases (mmseg ``.pth`` and detectron2 ``.pkl``) and the segmenter.

The model follows mmseg 1.2.2 / mmdet 3.3.0 (``SwinTransformer`` + ``Mask2FormerHead`` with the
``MSDeformAttnPixelDecoder``), checked against tests/data/golden/mask2former_swin at 1e-8 in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ... import weights
from ...datasets.labelspaces import ADE20K_LABELS, CELEBAMASK_LABELS, CITYSCAPES_LABELS, COCOSTUFF_LABELS
from ...errors import UserError
from .msdeform_attn import MultiScaleDeformableAttention
from .swin import FFN, SwinTransformer
from ...registry import SEGMENTERS
from ...types import LabelSpace
from ._common import PortedSegmenter, check_images, evaluation_space, load_strict, read_state_dict
from ._detectron2 import detectron2_to_mmseg, is_detectron2_layout, read_detectron2_pickle

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def sine_position_encoding(height: int, width: int, num_feats: int, dtype: torch.dtype, device: torch.device,
                           temperature: float = 10000.0, eps: float = 1e-6) -> torch.Tensor:
    """mmdet ``SinePositionalEncoding(normalize=True)`` of an all-valid ``height x width`` map: ``[1, 2F, h, w]``,
    channels ``[y-part, x-part]``, each interleaved sin/cos of paired frequencies. Computed in ``dtype``."""
    scale = 2 * math.pi
    y = torch.arange(1, height + 1, dtype=dtype, device=device)[:, None].expand(height, width)
    x = torch.arange(1, width + 1, dtype=dtype, device=device)[None, :].expand(height, width)
    y = y / (height + eps) * scale
    x = x / (width + eps) * scale
    dim_t = torch.arange(num_feats, dtype=dtype, device=device)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)

    def interleave(pos: torch.Tensor) -> torch.Tensor:
        pos = pos[..., None] / dim_t
        return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1).flatten(-2)

    return torch.cat((interleave(y), interleave(x)), dim=-1).permute(2, 0, 1)[None]


class ConvGN(nn.Module):
    """mmcv ``ConvModule`` with GroupNorm (keys ``conv``, ``gn``) and an optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, bias: bool, groups: int, relu: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)
        self.gn = nn.GroupNorm(groups, cout)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gn(self.conv(x))
        return F.relu(x) if self.relu else x


class DeformableEncoderLayer(nn.Module):
    """Post-norm deformable encoder layer: attention (+ residual), ``norms.0``, FFN (+ residual), ``norms.1``."""

    def __init__(self, dims: int, heads: int, levels: int, points: int, hidden: int) -> None:
        super().__init__()
        self.self_attn = MultiScaleDeformableAttention(dims, heads, levels, points)
        self.ffn = FFN(dims, hidden, nn.ReLU)
        self.norms = nn.ModuleList(nn.LayerNorm(dims) for _ in range(2))

    def forward(self, query: torch.Tensor, pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: torch.Tensor) -> torch.Tensor:
        query = self.norms[0](self.self_attn(query, pos, reference_points, spatial_shapes))
        return self.norms[1](query + self.ffn(query))


class DeformableEncoder(nn.Module):
    """The stack of deformable encoder layers (key prefix ``encoder.layers``)."""

    def __init__(self, layers: int, **layer: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DeformableEncoderLayer(**layer) for _ in range(layers))


class MSDeformAttnPixelDecoder(nn.Module):
    """mmdet ``MSDeformAttnPixelDecoder``: deformable encoder over the coarsest levels (coarse to fine), then an FPN
    down to the finest backbone level and a 1x1 ``mask_feature`` conv."""

    def __init__(self, in_channels: Sequence[int], feat_channels: int, out_channels: int, num_outs: int,
                 levels: int, encoder_layers: int, heads: int, points: int, ffn_channels: int, num_feats: int,
                 groups: int = 32) -> None:
        super().__init__()
        self.num_inputs, self.num_outs, self.num_feats, self.num_levels = len(in_channels), num_outs, num_feats, levels
        self.input_convs = nn.ModuleList(
            ConvGN(in_channels[self.num_inputs - 1 - i], feat_channels, 1, True, groups, False)
            for i in range(self.num_levels))
        self.encoder = DeformableEncoder(encoder_layers, dims=feat_channels, heads=heads, levels=self.num_levels,
                                         points=points, hidden=ffn_channels)
        self.level_encoding = nn.Embedding(self.num_levels, feat_channels)
        fpn_levels = self.num_inputs - self.num_levels
        self.lateral_convs = nn.ModuleList(ConvGN(in_channels[i], feat_channels, 1, False, groups, False)
                                           for i in range(fpn_levels))
        self.output_convs = nn.ModuleList(ConvGN(feat_channels, feat_channels, 3, False, groups, True)
                                          for _ in range(fpn_levels))
        self.mask_feature = nn.Conv2d(feat_channels, out_channels, 1)

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Backbone maps (fine to coarse) -> (mask feature at the finest level, ``num_outs`` maps coarse to fine)."""
        batch = feats[0].shape[0]
        tokens, positions, references, shapes = [], [], [], []
        for i in range(self.num_levels):
            feat = feats[self.num_inputs - 1 - i]
            height, width = feat.shape[-2:]
            projected = self.input_convs[i](feat)
            pos = sine_position_encoding(height, width, self.num_feats, feat.dtype, feat.device)
            pos = pos + self.level_encoding.weight[i].view(1, -1, 1, 1)
            ys = (torch.arange(height, dtype=feat.dtype, device=feat.device) + 0.5) / height
            xs = (torch.arange(width, dtype=feat.dtype, device=feat.device) + 0.5) / width
            grid = torch.stack((xs[None, :].expand(height, width), ys[:, None].expand(height, width)), -1)
            tokens.append(projected.flatten(2).transpose(1, 2))
            positions.append(pos.flatten(2).transpose(1, 2).expand(batch, -1, -1))
            references.append(grid.reshape(-1, 2))
            shapes.append((height, width))
        spatial_shapes = torch.tensor(shapes, dtype=torch.long, device=feats[0].device)
        query, pos = torch.cat(tokens, 1), torch.cat(positions, 1)
        reference_points = torch.cat(references, 0)[None, :, None, :].expand(batch, -1, self.num_levels, -1)
        for layer in self.encoder.layers:
            query = layer(query, pos, reference_points, spatial_shapes)
        outs = [level.transpose(1, 2).reshape(batch, -1, h, w)
                for level, (h, w) in zip(query.split([h * w for h, w in shapes], dim=1), shapes)]
        for i in range(self.num_inputs - self.num_levels - 1, -1, -1):
            lateral = self.lateral_convs[i](feats[i])
            up = F.interpolate(outs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(self.output_convs[i](lateral + up))
        return self.mask_feature(outs[-1]), outs[:self.num_outs]


class AttentionWrapper(nn.Module):
    """mmcv ``MultiheadAttention`` (batch first): ``query + attn(query + query_pos, key + key_pos, key)``."""

    def __init__(self, dims: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dims, heads)

    def forward(self, query: torch.Tensor, key: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        out = self.attn((query + query_pos).transpose(0, 1), (key + key_pos).transpose(0, 1), key.transpose(0, 1),
                        attn_mask=attn_mask, need_weights=False)[0]
        return query + out.transpose(0, 1)


class MaskedDecoderLayer(nn.Module):
    """Masked cross-attention, ``norms.0``, self-attention, ``norms.1``, FFN (+ residual), ``norms.2``."""

    def __init__(self, dims: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.self_attn = AttentionWrapper(dims, heads)
        self.cross_attn = AttentionWrapper(dims, heads)
        self.ffn = FFN(dims, hidden, nn.ReLU)
        self.norms = nn.ModuleList(nn.LayerNorm(dims) for _ in range(3))

    def forward(self, query: torch.Tensor, memory: torch.Tensor, query_pos: torch.Tensor, memory_pos: torch.Tensor,
                attn_mask: torch.Tensor) -> torch.Tensor:
        query = self.norms[0](self.cross_attn(query, memory, query_pos, memory_pos, attn_mask))
        query = self.norms[1](self.self_attn(query, query, query_pos, query_pos))
        return self.norms[2](query + self.ffn(query))


class MaskedTransformerDecoder(nn.Module):
    """The decoder layers and the ``post_norm`` shared by every prediction head."""

    def __init__(self, layers: int, dims: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(MaskedDecoderLayer(dims, heads, hidden) for _ in range(layers))
        self.post_norm = nn.LayerNorm(dims)


class Mask2FormerHead(nn.Module):
    """mmseg ``Mask2FormerHead`` forward: class and mask predictions of the initial queries and of every decoder
    layer; each layer's cross-attention is masked by the previous prediction (sigmoid < 0.5 blocked, a fully
    blocked query row unblocked) and attends to level ``i % levels`` of the pixel decoder, coarse first."""

    def __init__(self, pixel_decoder: MSDeformAttnPixelDecoder, decoder: MaskedTransformerDecoder,
                 num_classes: int, num_queries: int, feat_channels: int, out_channels: int, levels: int,
                 heads: int, num_feats: int) -> None:
        super().__init__()
        self.pixel_decoder = pixel_decoder
        self.transformer_decoder = decoder
        self.heads, self.levels, self.num_feats = heads, levels, num_feats
        self.query_embed = nn.Embedding(num_queries, feat_channels)
        self.query_feat = nn.Embedding(num_queries, feat_channels)
        self.level_embed = nn.Embedding(levels, feat_channels)
        self.cls_embed = nn.Linear(feat_channels, num_classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
                                        nn.Linear(feat_channels, feat_channels), nn.ReLU(inplace=True),
                                        nn.Linear(feat_channels, out_channels))

    def predict_masks(self, query: torch.Tensor, mask_feature: torch.Tensor,
                      mask_size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(class logits, mask logits, attention mask for the next layer at ``mask_size``)."""
        query = self.transformer_decoder.post_norm(query)
        mask = torch.einsum("bqc,bchw->bqhw", self.mask_embed(query), mask_feature)
        attn = F.interpolate(mask, tuple(mask_size), mode="bilinear", align_corners=False)
        attn = attn.flatten(2).repeat_interleave(self.heads, dim=0).sigmoid() < 0.5
        return self.cls_embed(query), mask, attn

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        mask_feature, memories = self.pixel_decoder(feats)
        batch = mask_feature.shape[0]
        keys, key_pos = [], []
        for i, memory in enumerate(memories):
            keys.append(memory.flatten(2).transpose(1, 2) + self.level_embed.weight[i].view(1, 1, -1))
            pos = sine_position_encoding(*memory.shape[-2:], self.num_feats, memory.dtype, memory.device)
            key_pos.append(pos.flatten(2).transpose(1, 2).expand(batch, -1, -1))
        query = self.query_feat.weight[None].expand(batch, -1, -1)
        query_pos = self.query_embed.weight[None].expand(batch, -1, -1)
        cls_pred, mask_pred, attn = self.predict_masks(query, mask_feature, memories[0].shape[-2:])
        cls_preds, mask_preds = [cls_pred], [mask_pred]
        for i, layer in enumerate(self.transformer_decoder.layers):
            level = i % self.levels
            attn = attn & ~attn.all(-1, keepdim=True)
            query = layer(query, keys[level], query_pos, key_pos[level], attn)
            cls_pred, mask_pred, attn = self.predict_masks(query, mask_feature,
                                                           memories[(i + 1) % self.levels].shape[-2:])
            cls_preds.append(cls_pred)
            mask_preds.append(mask_pred)
        return cls_preds, mask_preds


@dataclass(frozen=True)
class DataPreprocessor:
    """mmseg ``SegDataPreProcessor`` at test time: channel order, ``(x - mean) / std`` on 0..255, then zero padding
    (in the normalised space) at the bottom/right to a multiple of ``size_divisor`` when the config has one.
    mean and std are rounded to float32 first: mmseg holds them in float32 buffers (1e-7 at the output otherwise)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    rgb: bool = True
    size_divisor: int | None = None
    pad_val: float = 0.0

    def __call__(self, images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """uint8 RGB ``[B, 3, H, W]`` -> normalised (and padded) ``dtype`` tensor."""
        x = images.to(dtype)
        if not self.rgb:
            x = x.flip(1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).to(dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).to(dtype).view(1, -1, 1, 1)
        x = (x - mean) / std
        if self.size_divisor:
            height, width = x.shape[-2:]
            x = F.pad(x, (0, -width % self.size_divisor, 0, -height % self.size_divisor), value=self.pad_val)
        return x


def semantic_inference(cls_pred: torch.Tensor, mask_pred: torch.Tensor, mask_size: Sequence[int],
                       img_shape: Sequence[int], ori_shape: Sequence[int]) -> torch.Tensor:
    """mmseg ``Mask2FormerHead.predict`` + ``postprocess_result``: mask logits upsampled (bilinear) to ``mask_size``
    (the padded size, else the image size) before the sigmoid, ``sum_q softmax(cls)[c] * sigmoid(mask)`` without the
    no-object column, padding cropped to ``img_shape``, bilinear resize to ``ori_shape``. Summed probabilities."""
    masks = F.interpolate(mask_pred, size=tuple(mask_size), mode="bilinear", align_corners=False).sigmoid()
    seg = torch.einsum("bqc,bqhw->bchw", cls_pred.softmax(-1)[..., :-1], masks)
    seg = seg[..., :img_shape[0], :img_shape[1]]
    return F.interpolate(seg, size=tuple(ori_shape), mode="bilinear", align_corners=False)


class Mask2FormerSegmentor(nn.Module):
    """mmseg ``EncoderDecoder`` with ``SwinTransformer`` and ``Mask2FormerHead``; ``forward`` takes the normalised
    (padded) input and returns the head's per-layer (class logits, mask logits) lists, as mmseg's ``_forward``."""

    def __init__(self, backbone: SwinTransformer, decode_head: Mask2FormerHead,
                 data_preprocessor: DataPreprocessor) -> None:
        super().__init__()
        self.backbone = backbone
        self.decode_head = decode_head
        self.data_preprocessor = data_preprocessor

    @classmethod
    def from_official_config(cls, config: Mapping[str, Any]) -> "Mask2FormerSegmentor":
        """Build from an mmseg model config dict (``type='EncoderDecoder'``; ``config_variant_A`` of the golden case,
        or ``swin_l_config``). Loss and train settings hold no weights and are ignored."""
        bb, head = config["backbone"], config["decode_head"]
        prep = config.get("data_preprocessor", {})
        backbone = SwinTransformer(
            embed_dims=bb["embed_dims"], depths=bb["depths"], num_heads=bb["num_heads"],
            window_size=bb["window_size"], mlp_ratio=bb.get("mlp_ratio", 4), patch_size=bb.get("patch_size", 4),
            in_channels=bb.get("in_channels", 3), qkv_bias=bb.get("qkv_bias", True), qk_scale=bb.get("qk_scale"),
            patch_norm=bb.get("patch_norm", True), out_indices=bb.get("out_indices", (0, 1, 2, 3)))
        pix = head["pixel_decoder"]
        enc = pix["encoder"]["layer_cfg"]
        if head.get("enforce_decoder_input_project") or head["feat_channels"] != head["out_channels"]:
            raise UserError("Mask2Former configs with decoder input projections are not supported; use the released "
                            "Swin-L configuration (feat_channels == out_channels)")
        pixel_decoder = MSDeformAttnPixelDecoder(
            in_channels=head["in_channels"], feat_channels=head["feat_channels"], out_channels=head["out_channels"],
            num_outs=pix.get("num_outs", 3), levels=enc["self_attn_cfg"].get("num_levels", 3),
            encoder_layers=pix["encoder"]["num_layers"],
            heads=enc["self_attn_cfg"]["num_heads"], points=enc["self_attn_cfg"].get("num_points", 4),
            ffn_channels=enc["ffn_cfg"]["feedforward_channels"], num_feats=pix["positional_encoding"]["num_feats"],
            groups=pix.get("norm_cfg", {}).get("num_groups", 32))
        dec = head["transformer_decoder"]
        heads = dec["layer_cfg"]["cross_attn_cfg"]["num_heads"]
        decoder = MaskedTransformerDecoder(dec["num_layers"], head["feat_channels"], heads,
                                           dec["layer_cfg"]["ffn_cfg"]["feedforward_channels"])
        decode_head = Mask2FormerHead(pixel_decoder, decoder, head["num_classes"], head["num_queries"],
                                      head["feat_channels"], head["out_channels"],
                                      head.get("num_transformer_feat_level", 3), heads,
                                      head["positional_encoding"]["num_feats"])
        test_cfg = prep.get("test_cfg") or {}
        preprocessor = DataPreprocessor(tuple(prep.get("mean", IMAGENET_MEAN)), tuple(prep.get("std", IMAGENET_STD)),
                                        prep.get("bgr_to_rgb", True), test_cfg.get("size_divisor"),
                                        float(prep.get("pad_val", 0)))
        return cls(backbone, decode_head, preprocessor)

    def forward(self, inputs: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return self.decode_head(self.backbone(inputs))

    def predict(self, images: torch.Tensor, ori_shape: Sequence[int] | None = None) -> torch.Tensor:
        """uint8 RGB ``[B, 3, H, W]`` (after the test resize) -> ``seg_logits [B, classes, *ori_shape]`` (default:
        the input size), as ``EncoderDecoder.predict`` with this config's data preprocessor. The post-processing
        runs image by image: 100 full-size mask maps per image are the memory peak at 1024x2048."""
        dtype = self.decode_head.cls_embed.weight.dtype
        img_shape = tuple(images.shape[-2:])
        inputs = self.data_preprocessor(images.to(self.decode_head.cls_embed.weight.device), dtype)
        cls_preds, mask_preds = self(inputs)
        return torch.cat([semantic_inference(cls_preds[-1][i:i + 1], mask_preds[-1][i:i + 1], inputs.shape[-2:],
                                             img_shape, ori_shape or img_shape) for i in range(len(inputs))])


def swin_l_config(num_classes: int) -> dict[str, Any]:
    """The model part of mmseg's ``mask2former_swin-l-in22k-384x384-pre_8xb2-*`` configs (what
    ``from_official_config`` reads): Swin-L backbone, 256 channels, 8 heads, 100 queries, 6 + 9 layers."""
    attn = {"embed_dims": 256, "num_heads": 8}
    return {
        "type": "EncoderDecoder",
        "data_preprocessor": {"type": "SegDataPreProcessor", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                              "bgr_to_rgb": True, "pad_val": 0, "seg_pad_val": 255},
        "backbone": {"type": "SwinTransformer", "pretrain_img_size": 384, "embed_dims": 192, "depths": [2, 2, 18, 2],
                     "num_heads": [6, 12, 24, 48], "window_size": 12, "mlp_ratio": 4, "qkv_bias": True,
                     "qk_scale": None, "patch_norm": True, "out_indices": [0, 1, 2, 3]},
        "decode_head": {
            "type": "Mask2FormerHead", "in_channels": [192, 384, 768, 1536], "strides": [4, 8, 16, 32],
            "feat_channels": 256, "out_channels": 256, "num_classes": num_classes, "num_queries": 100,
            "num_transformer_feat_level": 3, "align_corners": False, "enforce_decoder_input_project": False,
            "pixel_decoder": {
                "type": "mmdet.MSDeformAttnPixelDecoder", "num_outs": 3, "norm_cfg": {"type": "GN", "num_groups": 32},
                "encoder": {"num_layers": 6, "layer_cfg": {
                    "self_attn_cfg": {**attn, "num_levels": 3, "num_points": 4},
                    "ffn_cfg": {"embed_dims": 256, "feedforward_channels": 1024}}},
                "positional_encoding": {"num_feats": 128, "normalize": True}},
            "positional_encoding": {"num_feats": 128, "normalize": True},
            "transformer_decoder": {"num_layers": 9, "layer_cfg": {
                "self_attn_cfg": attn, "cross_attn_cfg": attn,
                "ffn_cfg": {"embed_dims": 256, "feedforward_channels": 2048}}}},
        "test_cfg": {"mode": "whole"},
    }


@dataclass(frozen=True)
class Preset:
    """What the official models do on one dataset; ``num_classes`` None means no official checkpoint exists.
    ``labels`` is the dataset's label space: its evaluation space is the segmenter's output space."""

    num_classes: int | None
    labels: LabelSpace
    releases: Mapping[str, str]            # release -> weights catalog name
    size_divisor: int | None               # mmseg data_preprocessor.test_cfg
    scale: tuple[int, int] | None          # mmseg test Resize(scale=(long, short), keep_ratio=True)


PRESETS: dict[str, Preset] = {
    "ade20k": Preset(150, ADE20K_LABELS, {"mmseg": "mask2former-swin-l-ade20k",
                                       "detectron2": "mask2former-swin-l-ade20k-detectron2"}, None, (2560, 640)),
    "cityscapes": Preset(19, CITYSCAPES_LABELS, {"mmseg": "mask2former-swin-l-cityscapes",
                                                    "detectron2": "mask2former-swin-l-cityscapes-detectron2"},
                         32, (2048, 1024)),
    "cocostuff": Preset(None, COCOSTUFF_LABELS, {}, 32, None),
    "celebamask": Preset(None, CELEBAMASK_LABELS, {}, 32, None),
}
DETECTRON2_SIZE_DIVISOR = 32                # cfg.MODEL.MASK_FORMER.SIZE_DIVISIBILITY of the semantic configs


def default_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """mmcv ``rescale`` with ``keep_ratio``: the largest size with long side <= max(scale), short <= min(scale)."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def output_space(labels: LabelSpace, num_classes: int) -> LabelSpace:
    """The dataset's evaluation space when the model has that many classes, else numbered classes (a user-trained
    model with its own class list)."""
    space = evaluation_space(labels)
    if space.num_classes == num_classes:
        return space
    return LabelSpace(name=f"{labels.name}-mask2former-{num_classes}",
                      class_names=tuple(f"class {i}" for i in range(num_classes)),
                      palette=tuple(((37 * i) % 256, (91 * i) % 256, (173 * i) % 256) for i in range(num_classes)))


def read_checkpoint(file: Path) -> tuple[dict[str, torch.Tensor], str]:
    """(mmseg-named state_dict, 'mmseg' | 'detectron2') of an mmseg ``.pth`` or a detectron2 ``.pkl``/``.pth``."""
    state = read_detectron2_pickle(file) if file.suffix == ".pkl" else read_state_dict(file)
    if is_detectron2_layout(state):
        return detectron2_to_mmseg(state), "detectron2"
    return state, "mmseg"


@SEGMENTERS.register_module(name="mask2former-swin-l")
class Mask2FormerSwinL(PortedSegmenter):
    """Mask2Former Swin-L (the DP-SIMS ``mIoU_MF``): mmseg or detectron2 release, semantic inference as they do it.

    Options: ``input_size`` 'default' resizes each batch as the official test pipeline does (ADE20K short side 640,
    long side at most 2560; Cityscapes to fit 1024x2048; bilinear) and resizes the scores back to the input size;
    'native' feeds the images at their own size. ``release`` 'mmseg' | 'detectron2' picks the catalog file (a given
    ``checkpoint`` is recognised by its layout); detectron2 models pad to a multiple of 32, as mmseg's Cityscapes
    config does and its ADE20K config does not. COCO-Stuff and CelebAMask-HQ have no official checkpoint: pass
    ``checkpoint`` (either format) and ``num_classes``. ``config``: another mmseg Mask2Former config dict (e.g. a
    Swin-B release), Swin-L by default.
    """

    name = "mask2former-swin-l"
    datasets = tuple(PRESETS)
    weights = {dataset: preset.releases["mmseg"] for dataset, preset in PRESETS.items() if preset.releases}
    input_size = ("official test resize (ADE20K short side 640, long <= 2560; Cityscapes 1024x2048), or own size "
                  "with input_size='native'; cocostuff/celebamask only with your checkpoint and num_classes")

    def __init__(self, dataset: str | None = None, checkpoint: str | Path | None = None, pretrained: bool = True,
                 device: str = "cpu", input_size: str = "default", release: str = "mmseg",
                 num_classes: int | None = None, config: Mapping[str, Any] | None = None) -> None:
        dataset = dataset or self.datasets[0]
        if dataset not in PRESETS:
            raise UserError(f"segmenter '{self.name}' has no model for dataset '{dataset}'; it supports: "
                            f"{', '.join(self.datasets)}")
        if input_size not in ("default", "native"):
            raise UserError(f"input_size must be 'default' or 'native', got '{input_size}'")
        if release not in ("mmseg", "detectron2"):
            raise UserError(f"release must be 'mmseg' or 'detectron2', got '{release}'")
        preset = PRESETS[dataset]
        if preset.num_classes is None and (num_classes is None or (pretrained and checkpoint is None)):
            raise UserError(f"Mask2Former has no official semantic checkpoint for {dataset}: pass checkpoint=FILE "
                            f"(an mmseg .pth or detectron2 .pkl you trained) and num_classes=N")
        if preset.num_classes is not None and num_classes not in (None, preset.num_classes):
            raise UserError(f"the official {dataset} models have {preset.num_classes} classes, not {num_classes}; "
                            f"drop num_classes")
        classes = num_classes or preset.num_classes
        self.dataset, self.preset, self.mode = dataset, preset, input_size
        self.label_space = output_space(preset.labels, classes)
        self.device = torch.device(device)
        state, layout, file = None, release, None
        if pretrained or checkpoint is not None:
            file = weights.path(preset.releases.get(release, ""), checkpoint)
            state, layout = read_checkpoint(file)
        config = dict(config or swin_l_config(classes))
        config["decode_head"] = {**config["decode_head"], "num_classes": classes}
        divisor = DETECTRON2_SIZE_DIVISOR if layout == "detectron2" else preset.size_divisor
        config["data_preprocessor"] = {**config.get("data_preprocessor", {}),
                                       "test_cfg": {"size_divisor": divisor} if divisor else None}
        self.release = layout
        self.net = Mask2FormerSegmentor.from_official_config(config)
        if state is not None:
            load_strict(self.net, state, file)
        self.net.to(self.device).eval()

    def test_size(self, height: int, width: int) -> tuple[int, int]:
        """The size images are fed at: the official test resize ('default') or their own size ('native')."""
        if self.mode == "native" or self.preset.scale is None:
            return height, width
        return default_size(height, width, self.preset.scale)

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images at ``test_size``: bilinear with half-pixel centres like cv2 INTER_LINEAR (mmseg) and PIL
        BILINEAR upsampling (detectron2), rounded back to uint8; cv2's fixed-point weights may differ by one level."""
        size = self.test_size(*images.shape[-2:])
        if size == tuple(images.shape[-2:]):
            return images
        out = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False)
        return out.round().clamp(0, 255).to(torch.uint8)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 RGB -> the resized, normalised (and padded) network input."""
        check_images(images, self.name)
        return self.net.data_preprocessor(self.resize(images.to(self.device)), self.dtype)

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Summed class probabilities ``[B, C, H, W]`` at the input size (the official ``seg_logits``)."""
        check_images(images, self.name)
        return self.net.predict(self.resize(images.to(self.device)), ori_shape=tuple(images.shape[-2:]))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dataset": self.dataset, "release": self.release, "input_mode": self.mode}
