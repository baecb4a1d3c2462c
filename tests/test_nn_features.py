"""The timm ``features_only`` wrapper: local weights through timm's overlay, frozen behaviour, stage metadata."""

import pytest
import timm
import torch
from torch import nn

from semsynth.errors import UserError
from semsynth.nn import features


@pytest.fixture(scope="module")
def source_file(tmp_path_factory):
    """A random ``resnet10t`` saved like a training checkpoint (``module.`` prefixes, extra head weights)."""
    torch.manual_seed(0)
    source = timm.create_model("resnet10t", pretrained=False).eval()
    state = {f"module.{key}": value for key, value in source.state_dict().items()}
    state["module.projection_head.weight"] = torch.zeros(4, 4)
    file = tmp_path_factory.mktemp("weights") / "resnet10t.pth"
    torch.save({"state_dict": state}, file)
    return source, file


def test_features_equal_the_source_model(source_file):
    source, file = source_file
    net = features.create("resnet10t", file, out_indices=(1, 2, 3, 4))
    images = torch.rand(2, 3, 64, 64) * 2 - 1                       # [-1, 1] in, ImageNet statistics inside
    assert net.mean.flatten().tolist() == pytest.approx(timm.data.IMAGENET_DEFAULT_MEAN)
    expected = source.forward_intermediates(((images + 1) / 2 - net.mean) / net.std,
                                            indices=[1, 2, 3, 4], intermediates_only=True)
    for mine, theirs in zip(net(images), expected):
        assert torch.equal(mine, theirs)
    random = features.create("resnet10t", out_indices=(4,))       # no file: random weights, no download
    assert not torch.equal(random(images)[0], expected[-1])


def test_feature_info_is_exposed(source_file):
    net = features.create("resnet10t", source_file[1], out_indices=(1, 2, 3, 4))
    assert net.channels == [64, 128, 256, 512] and net.reductions == [4, 8, 16, 32]
    assert [f.shape[1] for f in net(torch.zeros(1, 3, 64, 64))] == net.channels


def test_frozen_stays_frozen_under_a_parent_train(source_file):
    net = features.create("resnet10t", source_file[1], out_indices=(2,))
    parent = nn.ModuleDict({"encoder": net, "head": nn.Conv2d(128, 1, 1)}).train()
    assert parent["head"].training and not net.training and not any(m.training for m in net.modules())
    assert not any(p.requires_grad for p in net.parameters())
    images = torch.zeros(1, 3, 32, 32, requires_grad=True)
    parent["head"](net(images)[0]).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0      # gradients reach the input
    assert all(p.grad is None for p in net.parameters())
    trainable = features.create("resnet10t", out_indices=(2,), frozen=False).train()
    assert trainable.training and all(p.requires_grad for p in trainable.parameters())


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        features.create("resnet10t", tmp_path / "absent.pth")


def test_a_swav_style_resnet50_file_loads_into_timm(tmp_path):
    """FAIR's SwAV checkpoints hold a torchvision-named ResNet-50 under ``module.`` with a projection head and
    prototypes; timm's ``resnet50`` takes the same names, so the wrapper gives torchvision's layer-4 features."""
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None).eval()
    state = {f"module.{key}": value for key, value in reference.state_dict().items() if not key.startswith("fc.")}
    state.update({"module.projection_head.0.weight": torch.zeros(8, 2048),
                  "module.prototypes.weight": torch.zeros(3, 8)})
    torch.save(state, tmp_path / "swav_800ep_pretrain.pth.tar")
    net = features.create("resnet50", tmp_path / "swav_800ep_pretrain.pth.tar", out_indices=(4,))
    x = torch.randn(1, 3, 64, 64)
    trunk = nn.Sequential(*list(reference.children())[:-2])            # torchvision up to layer4
    assert torch.allclose(net.net(x)[0], trunk(x), atol=1e-5)
