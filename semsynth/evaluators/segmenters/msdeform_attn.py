"""Multi-scale deformable attention (Deformable DETR) in pure PyTorch, with mmcv's state_dict names.

No compiled op: sampling is ``grid_sample`` (bilinear, zero padding, align_corners=False), which is what mmcv's
``multi_scale_deformable_attn_pytorch`` does on the CPU, so sampling location 0 and 1 are the outer pixel edges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def multi_scale_deformable_attn(value: torch.Tensor, spatial_shapes: torch.Tensor | list[tuple[int, int]],
                                sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum of bilinear samples of every level.

    value ``[B, keys, heads, d]`` (levels flattened coarse-to-fine, row-major), spatial_shapes ``[levels, 2]`` as
    (h, w), sampling_locations ``[B, queries, heads, levels, points, 2]`` as (x, y) in [0, 1], attention_weights
    ``[B, queries, heads, levels, points]``; returns ``[B, queries, heads * d]`` (heads concatenated head-major).
    """
    batch, _, heads, dim = value.shape
    queries, levels, points = sampling_locations.shape[1], sampling_locations.shape[3], sampling_locations.shape[4]
    shapes = [(int(h), int(w)) for h, w in spatial_shapes]
    grids = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)       # [B*heads, queries, levels, points, 2]
    samples = []
    for level, (value_l, (height, width)) in enumerate(zip(value.split([h * w for h, w in shapes], dim=1), shapes)):
        image = value_l.permute(0, 2, 3, 1).reshape(batch * heads, dim, height, width)
        samples.append(F.grid_sample(image, grids[:, :, level], mode="bilinear", padding_mode="zeros",
                                     align_corners=False))                    # [B*heads, d, queries, points]
    sampled = torch.stack(samples, dim=3)                                     # [B*heads, d, queries, levels, points]
    weights = attention_weights.transpose(1, 2).reshape(batch * heads, 1, queries, levels, points)
    out = (sampled * weights).sum((3, 4))                                     # [B*heads, d, queries]
    return out.view(batch, heads * dim, queries).transpose(1, 2).contiguous()


class MultiScaleDeformableAttention(nn.Module):
    """mmcv ``MultiScaleDeformableAttention`` (batch first): offsets and weights from query + pos, values from the
    query without pos, offsets laid out (heads, levels, points, xy) and divided by each level's (w, h), one softmax
    per head over levels x points; returns ``output_proj(...) + query`` (the residual, no dropout in eval)."""

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, num_levels: int = 4, num_points: int = 4) -> None:
        super().__init__()
        self.num_heads, self.num_levels, self.num_points = num_heads, num_levels, num_points
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, query: torch.Tensor, query_pos: torch.Tensor, reference_points: torch.Tensor,
                spatial_shapes: torch.Tensor) -> torch.Tensor:
        """query/query_pos ``[B, N, C]`` (the query is also the value), reference_points ``[B, N, levels, 2]``."""
        batch, num_query, _ = query.shape
        value = self.value_proj(query).view(batch, num_query, self.num_heads, -1)
        q = query + query_pos
        offsets = self.sampling_offsets(q).view(batch, num_query, self.num_heads, self.num_levels, self.num_points, 2)
        weights = self.attention_weights(q).view(batch, num_query, self.num_heads, self.num_levels * self.num_points)
        weights = weights.softmax(-1).view(batch, num_query, self.num_heads, self.num_levels, self.num_points)
        normalizer = spatial_shapes.flip(-1).to(q.dtype)                    # (w, h) per level
        locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        out = multi_scale_deformable_attn(value, spatial_shapes, locations, weights)
        return self.output_proj(out) + query
