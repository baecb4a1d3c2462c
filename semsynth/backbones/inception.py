"""clean-fid's Inception feature extractors (2048-d pool3) for its three modes, loaded from our weights store.

``clean``: PIL bicubic float resize to 299 outside the network, then NVIDIA's TorchScript Inception without its
internal resize; ``legacy_tensorflow``: the same TorchScript file resizing inside (TF1 bilinear, as TTUR did);
``legacy_pytorch``: torch bilinear resize to 299 and pytorch-fid's Inception port. The resizers are clean-fid's own
(``cleanfid.resize.build_resizer``), so features equal clean-fid's on the same images. clean-fid would download
the networks into ``/tmp`` and the torch-hub cache; here the files come only from ``semsynth.weights``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import weights
from ..errors import UserError
from .base import register_features

MODES = ("clean", "legacy_tensorflow", "legacy_pytorch")


def fid_inception() -> nn.Module:
    """pytorch-fid's FID Inception v3 (torchvision Inception3 with the TF-compatible blocks), random weights."""
    from cleanfid.inception_pytorch import (FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2,
                                            _inception_v3)

    net = _inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = (FIDInceptionA(192, 32), FIDInceptionA(256, 64),
                                                FIDInceptionA(288, 64))
    net.Mixed_6b, net.Mixed_6c = FIDInceptionC(768, 128), FIDInceptionC(768, 160)
    net.Mixed_6d, net.Mixed_6e = FIDInceptionC(768, 160), FIDInceptionC(768, 192)
    net.Mixed_7b, net.Mixed_7c = FIDInceptionE_1(1280), FIDInceptionE_2(2048)
    return net


def pool3(net: nn.Module) -> nn.Sequential:
    """The layers from the input (in [-1, 1], 299x299) to the 2048-d average pool, as pytorch-fid's block 0-3."""
    return nn.Sequential(
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(3, 2),
        net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(3, 2),
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
        net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(1),
    ).eval()


def load_torchscript(file: str | Path, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """``torch.jit.load`` without its deprecation warning: the official evaluator files are TorchScript archives."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(file), map_location=device).eval()


def _torchscript_extractor(file: Path, resize_inside: bool, device: torch.device):
    base = load_torchscript(file, device)
    if resize_inside:
        return lambda x: base(x, return_features=True).reshape(x.shape[0], 2048)
    return lambda x: base.layers((x - 128) / 128).reshape(x.shape[0], 2048)


def _pytorch_fid_extractor(file: Path, device: torch.device):
    net = fid_inception()
    net.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    layers = pool3(net).to(device)
    return lambda x: layers(2 * (x / 255) - 1).reshape(x.shape[0], 2048)


def model_input(images: torch.Tensor, resize) -> torch.Tensor:
    """float32 ``[B, 3, h, w]`` in [0, 255] exactly as clean-fid's ``ResizeDataset`` feeds its network: each uint8
    image goes through ``resize`` as an HWC array; uint8 results pass through ``ToTensor() * 255``."""
    from torchvision.transforms.functional import to_tensor

    batch = []
    for image in images.cpu().numpy().transpose(0, 2, 3, 1):
        resized = resize(np.ascontiguousarray(image))
        batch.append(to_tensor(resized) * 255 if resized.dtype == np.uint8 else to_tensor(resized))
    return torch.stack(batch)


class InceptionFeatures:
    """A ``FeatureBackbone``: clean-fid's pool3 features for one mode (``clean``, ``legacy_tensorflow``,
    ``legacy_pytorch``); ``checkpoint`` overrides the catalog file."""

    dim = 2048

    def __init__(self, mode: str = "clean", device: str | torch.device = "cpu",
                 checkpoint: str | Path | None = None) -> None:
        from cleanfid.resize import build_resizer

        if mode not in MODES:
            raise UserError(f"unknown clean-fid mode '{mode}'; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.name = "inception-" + mode.replace("_", "-")
        self.device = torch.device(device)
        if mode == "legacy_pytorch":
            self.file = weights.path("inception-pytorch-fid", checkpoint)
            self.network = _pytorch_fid_extractor(self.file, self.device)
        else:
            self.file = weights.path("inception-torchscript", checkpoint)
            self.network = _torchscript_extractor(self.file, mode == "legacy_tensorflow", self.device)
        self.resize = build_resizer(mode)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` -> float64 ``[B, 2048]``."""
        return self.network(model_input(images, self.resize).to(self.device)).double().cpu()


@register_features("inception-clean")
def inception_clean(device: str | torch.device = "cpu", **options) -> InceptionFeatures:
    return InceptionFeatures("clean", device, **options)


@register_features("inception-legacy-tensorflow")
def inception_legacy_tensorflow(device: str | torch.device = "cpu", **options) -> InceptionFeatures:
    return InceptionFeatures("legacy_tensorflow", device, **options)


@register_features("inception-legacy-pytorch")
def inception_legacy_pytorch(device: str | torch.device = "cpu", **options) -> InceptionFeatures:
    return InceptionFeatures("legacy_pytorch", device, **options)
