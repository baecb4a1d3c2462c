"""UperNet-101 of CSAILVision/semantic-segmentation-pytorch (ADE20K, 150 classes): clean-room port and Segmenter.

The release is two files, ``encoder_epoch_50.pth`` (deep-stem ResNet-101) and ``decoder_epoch_50.pth`` (UPerNet
head), in the folder ``ade20k-resnet101-upernet``. ``net`` mirrors the official ``SegmentationModule``: its
``encoder`` and ``decoder`` children take the two files' official key names unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ... import weights
from ...datasets.labelspaces import ADE20K_LABELS
from ...errors import UserError
from ...catalog.segmenters import CSAIL_UPERNET_FILES
from ...registry import SEGMENTERS
from ._blocks import Bottleneck, conv_bn, imagenet_normalize, residual_stage
from ._common import PortedSegmenter, check_images, evaluation_space, load_strict, read_state_dict

ENCODER_FILE, DECODER_FILE = CSAIL_UPERNET_FILES
# SynchronizedBatchNorm2d's multi-GPU training buffers: in both files, never used in eval; the official builder
# loads with strict=False and so ignores them. We drop them by name and load the rest strictly.
SYNC_BN_BUFFERS = ("_tmp_running_mean", "_tmp_running_var", "_running_iter")
# OASIS / SDM evaluation config (OASIS issue #17): one scale, short side 256, long side <= 1000, multiple of 32.
OASIS_IMG_SIZES = (256,)
IMG_MAX_SIZE = 1000
PADDING_CONSTANT = 32


class ResNetDeepStem(nn.Module):
    """CSAIL's ResNet encoder: three 3x3 stem convs (64, 64, 128), max-pool, Bottleneck stages; returns the four
    stage outputs (the official ``Resnet`` wrapper with ``return_feature_maps=True``)."""

    def __init__(self, layers: Sequence[int] = (3, 4, 23, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(64, 64, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(64, 128, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(128)
        self.relu3 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = residual_stage(Bottleneck, 128, 64, layers[0])
        self.layer2 = residual_stage(Bottleneck, 256, 128, layers[1], 2)
        self.layer3 = residual_stage(Bottleneck, 512, 256, layers[2], 2)
        self.layer4 = residual_stage(Bottleneck, 1024, 512, layers[3], 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.maxpool(self.relu3(self.bn3(self.conv3(x))))
        features = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class UPerNet(nn.Module):
    """CSAIL's UPerNet head: pyramid pooling on the last stage, FPN top-down path, fusion of all levels at 1/4."""

    def __init__(self, num_class: int = 150, fc_dim: int = 2048, use_softmax: bool = True,
                 pool_scales: Sequence[int] = (1, 2, 3, 6), fpn_inplanes: Sequence[int] = (256, 512, 1024, 2048),
                 fpn_dim: int = 256) -> None:
        super().__init__()
        self.use_softmax = use_softmax
        self.ppm_pooling = nn.ModuleList(nn.AdaptiveAvgPool2d(scale) for scale in pool_scales)
        self.ppm_conv = nn.ModuleList(conv_bn(fc_dim, 512, 1) for _ in pool_scales)
        self.ppm_last_conv = conv_bn(fc_dim + len(pool_scales) * 512, fpn_dim, 3)
        self.fpn_in = nn.ModuleList(conv_bn(channels, fpn_dim, 1) for channels in fpn_inplanes[:-1])
        self.fpn_out = nn.ModuleList(nn.Sequential(conv_bn(fpn_dim, fpn_dim, 3)) for _ in fpn_inplanes[:-1])
        self.conv_last = nn.Sequential(conv_bn(len(fpn_inplanes) * fpn_dim, fpn_dim, 3),
                                       nn.Conv2d(fpn_dim, num_class, 1))

    def logits(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class logits at the stride-4 size (``conv_last`` output, before the official resize and softmax)."""
        top = features[-1]
        pyramid = [top] + [conv(_resize(pool(top), top.shape[-2:]))
                           for pool, conv in zip(self.ppm_pooling, self.ppm_conv)]
        f = self.ppm_last_conv(torch.cat(pyramid, 1))
        levels = [f]
        for i in reversed(range(len(features) - 1)):
            lateral = self.fpn_in[i](features[i])
            f = lateral + _resize(f, lateral.shape[-2:])
            levels.append(self.fpn_out[i](f))
        levels.reverse()
        size = levels[0].shape[-2:]
        return self.conv_last(torch.cat([levels[0]] + [_resize(level, size) for level in levels[1:]], 1))

    def forward(self, features: Sequence[torch.Tensor], seg_size: Sequence[int]) -> torch.Tensor:
        """The official eval output: logits resized to ``seg_size`` then softmax (log-softmax at stride 4 when
        ``use_softmax`` is False, the training path)."""
        x = self.logits(features)
        if not self.use_softmax:
            return F.log_softmax(x, dim=1)
        return F.softmax(_resize(x, seg_size), dim=1)


class UperNetCSAIL(nn.Module):
    """``SegmentationModule`` at eval: ``decoder(encoder(x), seg_size)``; key prefixes ``encoder.``/``decoder.``."""

    def __init__(self, encoder: ResNetDeepStem, decoder: UPerNet) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    @classmethod
    def from_official_config(cls, config: Mapping[str, Any]) -> "UperNetCSAIL":
        """Build from the golden ``case.json`` constructor (``{"encoder": "...resnet101...", "decoder": {...}}``)."""
        encoder = str(config.get("encoder", "resnet101"))
        if "resnet101" not in encoder:
            raise UserError(f"only the ResNet-101 encoder of the CSAIL release is ported, got '{encoder}'")
        return cls(ResNetDeepStem(), UPerNet(**config["decoder"]))

    def forward(self, x: torch.Tensor, seg_size: Sequence[int] | None = None) -> torch.Tensor:
        return self.decoder(self.encoder(x), seg_size if seg_size is not None else x.shape[-2:])


RELEASED_CONFIG = {"encoder": "resnet101", "decoder": {
    "num_class": 150, "fc_dim": 2048, "use_softmax": True, "pool_scales": (1, 2, 3, 6),
    "fpn_inplanes": (256, 512, 1024, 2048), "fpn_dim": 512}}   # ModelBuilder passes fpn_dim=512 for 'upernet'


def without_sync_bn_buffers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state_dict without SynchronizedBatchNorm2d's training-only buffers (``SYNC_BN_BUFFERS``)."""
    return {key: value for key, value in state.items() if key.rsplit(".", 1)[-1] not in SYNC_BN_BUFFERS}


def release_files(checkpoint: str | Path | None) -> tuple[Path, Path]:
    """The encoder and decoder files: ``checkpoint`` is the release folder holding both official files, or the
    encoder file with its decoder beside it (same name with 'encoder' -> 'decoder'); None searches the catalog."""
    if checkpoint is None:
        return weights.path("upernet-r101-ade20k-encoder"), weights.path("upernet-r101-ade20k-decoder")
    checkpoint = Path(checkpoint).expanduser()
    if checkpoint.is_dir():
        encoder, decoder = checkpoint / ENCODER_FILE, checkpoint / DECODER_FILE
    else:
        if "encoder" not in checkpoint.name:
            raise UserError(f"upernet-r101 checkpoint {checkpoint}: pass the release folder or the encoder file "
                            f"({ENCODER_FILE}) with {DECODER_FILE} beside it")
        encoder, decoder = checkpoint, checkpoint.with_name(checkpoint.name.replace("encoder", "decoder"))
    return (weights.path("upernet-r101-ade20k-encoder", encoder),
            weights.path("upernet-r101-ade20k-decoder", decoder))


@SEGMENTERS.register_module(name="upernet-r101")
class UperNetR101(PortedSegmenter):
    """CSAIL UperNet-101 on ADE20K as OASIS/SDM evaluate it: ImageNet-normalised RGB, short side 256 (long side
    <= 1000) rounded up to a multiple of 32, softmax at the input size; output i is ADE class i + 1.

    Options: ``img_sizes`` (short sides whose softmax scores are averaged; the CSAIL default multi-scale test is
    (300, 375, 450, 525, 600)). ``checkpoint``: see ``release_files``.
    """

    name = "upernet-r101"
    datasets = ("ade20k",)
    weights = {"ade20k": "upernet-r101-ade20k-encoder"}     # + "upernet-r101-ade20k-decoder"
    input_size = "short side 256 (long <= 1000), rounded up to x32"
    label_spaces = {"ade20k": evaluation_space(ADE20K_LABELS)}

    def __init__(self, dataset: str | None = None, checkpoint: str | Path | None = None, pretrained: bool = True,
                 device: str = "cpu", img_sizes: Sequence[int] = OASIS_IMG_SIZES, **options: Any) -> None:
        super().__init__(dataset, None, False, device, **options)
        self.img_sizes = tuple(img_sizes)
        if pretrained or checkpoint is not None:
            for part, file in zip((self.net.encoder, self.net.decoder), release_files(checkpoint)):
                load_strict(part, without_sync_bn_buffers(read_state_dict(file)), file)

    def build_net(self, **options: Any) -> nn.Module:
        if options:
            raise UserError(f"upernet-r101 has no option(s) {', '.join(sorted(options))}; it takes img_sizes")
        return UperNetCSAIL.from_official_config(RELEASED_CONFIG)

    def input_shape(self, height: int, width: int, short_side: int) -> tuple[int, int]:
        """The official eval resize target: short side ``short_side``, long side capped, both rounded up to x32."""
        scale = min(short_side / min(height, width), IMG_MAX_SIZE / max(height, width))
        return tuple(-(-int(side * scale) // PADDING_CONSTANT) * PADDING_CONSTANT for side in (height, width))

    def preprocess(self, images: torch.Tensor, short_side: int | None = None) -> torch.Tensor:
        """uint8 RGB -> resized (bilinear, antialiased like PIL, rounded to uint8) ImageNet-normalised input."""
        from ...datasets.base import resize_image

        check_images(images, self.name)
        size = self.input_shape(*images.shape[-2:], short_side or self.img_sizes[0])
        images = torch.stack([resize_image(image, size, mode="bilinear") for image in images.cpu()])
        return imagenet_normalize(images.to(self.device, self.dtype) / 255)

    @torch.no_grad()
    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities at the input size, averaged over ``img_sizes``."""
        size = images.shape[-2:]
        return sum(self.net(self.preprocess(images, side), size) for side in self.img_sizes) / len(self.img_sizes)
