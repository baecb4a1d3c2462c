"""The shared GAN losses: hinge and feature matching on multi-scale outputs, KL, and VGG19's relu_x_1 slicing."""

import pytest
import torch
from torch import nn

from semsynth.nn import gan_losses


def test_hinge_and_feature_matching_by_hand():
    fake = [[torch.tensor([1.0, 3.0]), torch.tensor([0.5, -2.0])], [torch.tensor([0.0]), torch.tensor([-0.5])]]
    real = [[torch.tensor([2.0, 3.0]), torch.tensor([1.5, 0.0])], [torch.tensor([1.0]), torch.tensor([2.0])]]
    # D: scale 1 mean(relu(1 + [0.5, -2])) + mean(relu(1 - [1.5, 0])) = 0.75 + 0.5; scale 2: 0.5 + 0
    assert float(gan_losses.hinge_discriminator(fake, real)) == pytest.approx((1.25 + 0.5) / 2)
    assert float(gan_losses.hinge_generator(fake)) == pytest.approx((0.75 + 0.5) / 2)   # -mean of fake logits
    # features: scale 1 |[1, 3] - [2, 3]| = 0.5, scale 2 |0 - 1| = 1
    assert float(gan_losses.feature_matching(fake, real)) == pytest.approx(0.75)
    assert float(gan_losses.feature_matching(fake, real, first_layer=1)) == 0


def test_kl_divergence_is_zero_at_the_prior_and_summed():
    assert float(gan_losses.kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4))) == 0
    assert float(gan_losses.kl_divergence(torch.ones(3, 4), torch.zeros(3, 4))) == pytest.approx(0.5 * 12)


def test_vgg19_stages_end_at_relu1_1_to_relu5_1(tmp_path):
    from torchvision.models import vgg19

    torch.manual_seed(0)
    file = tmp_path / "vgg19.pth"
    torch.save(vgg19().state_dict(), file)
    loss = gan_losses.vgg19_perceptual(file, (1, 1, 1, 1, 1))
    layers = list(loss.network)
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
    first_of_block = [convs[0]] + [i for i in convs if isinstance(layers[i - 1], nn.MaxPool2d)]
    assert [i + 2 for i in first_of_block] == list(gan_losses.VGG19_RELU_X_1)   # conv_x_1, relu_x_1, cut
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert [s.shape[1] for s in loss.stages(x)] == [64, 128, 256, 512, 512]
    assert float(loss(x, x)) == 0 and float(loss(x, -x)) > 0
    nn.ModuleDict({"perceptual": loss}).train()                               # a parent in training mode
    assert not loss.training and not loss.network.training
    assert not any(p.requires_grad for p in loss.parameters())
