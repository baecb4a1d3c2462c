"""Catalog entries of INADE: the official generator/encoder releases, the shipped ``shapes`` networks and the VGG19
of its perceptual loss."""

from ..weights import WeightSpec, register

_SOURCE = ("https://github.com/tzt101/INADE (README 'Generating Images Using Pretrained Model': OneDrive folder "
           "checkpoints/inade_<dataset>/)")
_LICENCE = "no licence file in tzt101/INADE; the code derives from NVlabs/SPADE (CC BY-NC-SA 4.0)"

for _dataset, _folder in (("ade20k", "inade_ade20k"), ("cityscapes", "inade_cityscapes"), ("celeba", "inade_celeba")):
    register(WeightSpec(name=f"inade-{_dataset}-G", file=f"{_folder}/best_net_G.pth", url=_SOURCE, licence=_LICENCE,
                        users=("inade",), note="official INADE generator"))
    register(WeightSpec(name=f"inade-{_dataset}-E", file=f"{_folder}/best_net_E.pth", url=_SOURCE, licence=_LICENCE,
                        users=("inade",), aliases=(f"{_folder}/best_net_IE.pth",),
                        note="official INADE remapping encoder (README: rename best_net_IE.pth)"))

register(WeightSpec(
    name="inade-shapes", file="inade_shapes.safetensors", url="shipped with semsynth-bench", licence="MIT",
    users=("inade",), shipped=True, sha256="ec82b2250bf91d392445c52996b398cfdb3154fb8b13e7304fef5a2260f6d83d",
    note="small INADE (generator + encoder, ngf 6) trained on shapes with semsynth/methods/inade/train.py: 2700 "
         "steps of batch 8, lr 4e-4, shapes-segnet perceptual loss, one CPU thread, 12 min (command in train.py)"))

VGG19 = register(WeightSpec(
    name="vgg19-torchvision", file="vgg19-dcbc6f2e.pth", url="https://download.pytorch.org/models/vgg19-dcbc6f2e.pth",
    licence="BSD-3-Clause (torchvision); VGG weights CC BY 4.0", users=("inade/train perceptual loss",),
    note="torchvision VGG19 IMAGENET1K_V1, the perceptual network of INADE training on real datasets"))
