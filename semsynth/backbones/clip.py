"""CLIP ViT-B/32 image embeddings for FID-C (PITI), following clean-fid's ``model_name="clip_vit_b_32"`` option.

clean-fid's CLIP path: PIL bicubic resize of the shorter side to 224, centre crop 224, back to uint8, /255, CLIP's
mean/std, then ``encode_image`` of OpenAI's ViT-B/32 (512-d). clean-fid needs OpenAI's ``clip`` package (GitHub
only) and downloads into ``~/.cache/clip``; here the same network is timm's ``vit_base_patch32_clip_quickgelu_224``
(OpenAI's architecture: pre-norm, QuickGELU, class token, projection as the head) with OpenAI's weights converted
by timm's own OpenAI key map, from the catalog file ``ViT-B-32.pt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import weights
from .base import register_features


MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def read_state(file: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict of an OpenAI CLIP file: a TorchScript archive (its tensors only) or a plain state_dict."""
    import zipfile

    from .inception import load_torchscript

    with zipfile.ZipFile(file) as archive:
        torchscript = any(name.endswith("constants.pkl") for name in archive.namelist())
    if torchscript:
        return {key: value.float() for key, value in load_torchscript(file).state_dict().items()}
    return torch.load(file, map_location="cpu", weights_only=True)


def build_visual(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """timm's OpenAI-architecture ViT-B/32 holding the ``visual.*`` weights of an OpenAI CLIP state_dict."""
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    net = timm.create_model("vit_base_patch32_clip_quickgelu_224", pretrained=False, num_classes=512)
    net.load_state_dict(checkpoint_filter_fn(state, net))
    return net.eval()


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` -> float ``[B, 3, 224, 224]`` as clean-fid's CLIP option feeds the network."""
    from PIL import Image
    from torchvision import transforms

    crop = transforms.Compose([transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
                               transforms.CenterCrop(224)])
    from torchvision.transforms.functional import to_tensor

    normalise = transforms.Normalize(MEAN, STD)
    batch = [to_tensor(np.asarray(crop(Image.fromarray(image))).clip(0, 255).astype(np.uint8)) * 255
             for image in images.cpu().permute(0, 2, 3, 1).numpy()]
    return normalise(torch.stack(batch) / 255)


class CLIPFeatures:
    """A ``FeatureBackbone``: CLIP ViT-B/32 image embeddings (512-d) under clean-fid's CLIP preprocessing."""

    name = "clip-vit-b32"
    dim = 512

    def __init__(self, device: str | torch.device = "cpu", checkpoint: str | Path | None = None) -> None:
        self.device = torch.device(device)
        self.file = weights.path("clip-vit-b32", checkpoint)
        self.net = build_visual(read_state(self.file)).to(self.device)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` -> float64 ``[B, 512]``."""
        return self.net(preprocess(images).to(self.device)).double().cpu()


@register_features("clip-vit-b32")
def clip_vit_b32(device: str | torch.device = "cpu", **options) -> CLIPFeatures:
    return CLIPFeatures(device, **options)
