"""INADE's perceptual networks: VGG19 with INADE's layer weights on real datasets, and on ``shapes`` the shipped
shapes segmentation network's stages (the GAN losses themselves are ``semsynth.nn.gan_losses``)."""

from __future__ import annotations

from ... import weights
from ...nn.gan_losses import Perceptual, vgg19_perceptual

# INADE's perceptual weights on relu1_1 .. relu5_1 (SPADE uses 1/32, 1/16, 1/8, 1/4, 1)
INADE_VGG_WEIGHTS = (0.0, 0.0, 0.0, 0.25, 1.0)
# on ``shapes`` the same emphasis on the two deepest of the segmentation network's four stages
SHAPES_STAGE_WEIGHTS = (0.0, 0.0, 0.25, 1.0)


def inade_vgg19(checkpoint: str | None = None) -> Perceptual:
    """INADE's VGG loss: torchvision VGG19 (catalog ``vgg19-torchvision``) with ``INADE_VGG_WEIGHTS``."""
    return vgg19_perceptual(weights.path("vgg19-torchvision", checkpoint), INADE_VGG_WEIGHTS)


def shapes_perceptual(checkpoint: str | None = None) -> Perceptual:
    """The ``shapes`` stand-in for VGG: the shipped shapes segmentation network's four stages."""
    from ...backbones.shapes_net import load_net

    net, _identity = load_net(checkpoint)
    return Perceptual(net.stages, SHAPES_STAGE_WEIGHTS, net)
