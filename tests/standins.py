"""Randomly initialised stand-in weight files with the real architectures and file formats of the evaluator
networks, for tests and benchmarks where the real weights are absent (no network). Seeded, so reproducible."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def _init(net: nn.Module, seed: int) -> nn.Module:
    """Variance-preserving random weights (He normal) so that deep features neither vanish nor explode."""
    generator = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5
            if module.bias is not None:
                module.bias.data.zero_()
    return net.eval()


class _TorchScriptInception(nn.Module):
    """The calling convention of NVIDIA's ``inception-2015-12-05.pt``: ``layers`` maps [-1, 1] 299x299 inputs to
    pool3; ``forward(x, return_features)`` takes [0, 255] inputs of any size and resizes inside (bilinear here)."""

    def __init__(self, layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.layers((x - 128) / 128).reshape(x.shape[0], 2048)


def inception_torchscript(path: str | Path, seed: int = 0) -> Path:
    """Write a TorchScript Inception stand-in for ``inception-2015-12-05.pt``."""
    import warnings

    from semsynth.backbones.inception import fid_inception, pool3

    with warnings.catch_warnings():        # TorchScript is deprecated, but it is the official file's format
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_TorchScriptInception(pool3(_init(fid_inception(), seed)))), str(path))
    return Path(path)


def inception_pytorch_fid(path: str | Path, seed: int = 0) -> Path:
    """Write a state_dict stand-in for pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``."""
    from semsynth.backbones.inception import fid_inception

    torch.save(_init(fid_inception(), seed).state_dict(), path)
    return Path(path)


def alexnet(path: str | Path, seed: int = 0) -> Path:
    """Write a stand-in for torchvision's ``alexnet-owt-7be5be79.pth`` (full state_dict)."""
    import torchvision

    torch.save(_init(torchvision.models.alexnet(weights=None), seed).state_dict(), path)
    return Path(path)


def swav_resnet50(path: str | Path, seed: int = 0) -> Path:
    """Write a stand-in for FAIR's ``swav_800ep_pretrain.pth.tar``: a DataParallel-prefixed ResNet-50 state_dict
    with the projection head and prototypes that SwAV-FID drops."""
    import torchvision

    net = _init(torchvision.models.resnet50(weights=None), seed)
    state = {f"module.{key}": value for key, value in net.state_dict().items() if not key.startswith("fc.")}
    state["module.projection_head.0.weight"] = torch.zeros(2048, 2048)
    state["module.prototypes.weight"] = torch.zeros(3000, 128)
    torch.save(state, path)
    return Path(path)


_OPENAI_NAMES = (("patch_embed.proj", "conv1"), ("pos_embed", "positional_embedding"),
                 ("blocks.", "transformer.resblocks."), ("norm_pre", "ln_pre"), ("norm1", "ln_1"),
                 ("norm2", "ln_2"), ("qkv.", "in_proj_"), ("attn.proj", "attn.out_proj"), ("mlp.fc1", "mlp.c_fc"),
                 ("mlp.fc2", "mlp.c_proj"))


def clip_vit_b32(path: str | Path, seed: int = 0) -> Path:
    """Write a stand-in for OpenAI's ``ViT-B-32.pt`` as a plain state_dict with OpenAI's ``visual.*`` key names
    and shapes (the text tower, unused by FID-C, is left out)."""
    import timm

    torch.manual_seed(seed)
    net = timm.create_model("vit_base_patch32_clip_quickgelu_224", pretrained=False, num_classes=512)
    state = {}
    for key, value in net.state_dict().items():
        if key == "head.bias":
            continue
        if key == "head.weight":
            state["visual.proj"] = value.T.contiguous()
            continue
        name = "ln_post" + key[4:] if key.startswith("norm.") else key
        for ours, theirs in _OPENAI_NAMES:
            name = name.replace(ours, theirs)
        if name == "cls_token":
            name, value = "class_embedding", value.reshape(-1)
        elif name == "positional_embedding":
            value = value[0]
        state[f"visual.{name}"] = value
    torch.save(state, path)
    return Path(path)
