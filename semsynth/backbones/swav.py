"""SwAV ResNet-50 features for SwAV-FID (Morozov, Voynov and Babenko, ICLR 2021).

Their protocol: FAIR's 800-epoch SwAV ResNet-50, 2048-d global-average-pooled layer-4 features (no projection
head, no L2 normalisation); each image resized with PIL bilinear so that its shorter side is 224, keeping the
aspect ratio and without cropping (Cityscapes 256x512 -> 224x448), ImageNet mean/std normalisation. FAIR's
SwAV ResNet pads once with zeros and then convolves with padding 2, which equals torchvision's padding 3, so
torchvision's ResNet-50 holds the same weights under the same names (less the ``module.`` prefix).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import weights
from ..errors import UserError
from .base import register_features


MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def load_resnet50(file: str | Path) -> torch.nn.Module:
    """torchvision ResNet-50 without its classifier, from a SwAV checkpoint (``module.`` prefixes, projection head
    and prototypes dropped); every backbone weight must be present."""
    import torchvision

    net = torchvision.models.resnet50(weights=None)
    net.fc = torch.nn.Identity()
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    wanted = net.state_dict().keys()
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise UserError(f"{file} is not a SwAV ResNet-50 checkpoint: {len(missing)} weights missing "
                        f"(first: {missing[0]}); download {weights.spec('swav-r50-800ep').url}")
    net.load_state_dict({key: state[key] for key in wanted})
    return net.eval()


def preprocess(images: torch.Tensor, shorter_side: int = 224) -> torch.Tensor:
    """uint8 ``[B, 3, H, W]`` -> normalised float ``[B, 3, h, w]`` with min(h, w) = 224 (PIL bilinear)."""
    from torchvision import transforms

    pipeline = transforms.Compose([transforms.ToPILImage(), transforms.Resize(shorter_side),
                                   transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    return torch.stack([pipeline(image) for image in images.cpu()])


class SwAVFeatures:
    """A ``FeatureBackbone``: SwAV ResNet-50 avg-pool features under Morozov et al.'s preprocessing."""

    name = "swav-r50"
    dim = 2048

    def __init__(self, device: str | torch.device = "cpu", checkpoint: str | Path | None = None) -> None:
        self.device = torch.device(device)
        self.file = weights.path("swav-r50-800ep", checkpoint)
        self.net = load_resnet50(self.file).to(self.device)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` -> float64 ``[B, 2048]``."""
        return self.net(preprocess(images).to(self.device)).double().cpu()


@register_features("swav-r50")
def swav_r50(device: str | torch.device = "cpu", **options) -> SwAVFeatures:
    return SwAVFeatures(device, **options)
