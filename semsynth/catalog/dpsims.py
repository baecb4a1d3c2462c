"""DP-SIMS weights-catalog entries (torch-free): the paper's discriminator backbone, and the shipped ``shapes``
backbone and generator. No official DP-SIMS checkpoint exists; real-dataset generators are trained here."""

from ..weights import WeightSpec, register

_NO_OFFICIAL = ("(none: DP-SIMS released no checkpoint; train it with `bench train --method dpsims --dataset "
                "{dataset} --out runs/dpsims-{dataset}`, which writes "
                "runs/dpsims-{dataset}/dpsims_{dataset}.safetensors and needs the convnext-large-in22k and "
                "vgg19-torchvision files)")

for _dataset in ("ade20k", "cityscapes", "cocostuff"):
    register(WeightSpec(name=f"dpsims-{_dataset}", file=f"dpsims_{_dataset}.safetensors",
                        url=_NO_OFFICIAL.format(dataset=_dataset), licence="yours (trained by you)",
                        users=("dpsims",), note="a DP-SIMS generator trained with this suite (safetensors + config)"))

register(WeightSpec(
    name="convnext-large-in22k", file="convnext_large.fb_in22k_ft_in1k.safetensors",
    url="https://huggingface.co/timm/convnext_large.fb_in22k_ft_in1k (model.safetensors, renamed)", licence="MIT",
    users=("dpsims",), note="timm ConvNeXt-L, ImageNet-21k pretrained: the frozen DP-SIMS discriminator backbone"))

register(WeightSpec(
    name="dpsims-shapes-backbone", file="dpsims_shapes_backbone.safetensors", url="shipped with semsynth-bench",
    licence="MIT", users=("dpsims",), shipped=True,
    sha256="e519c032ed9297f86aa79b3fc9383cc4493429dc908973ec3abdd1f1f8452e2f",
    note="timm convnext_atto (dims 24-48-96-192, depths 1-1-2-1) pretrained on shapes for multi-label class "
         "presence (semsynth/methods/dpsims/pretrain.py): the frozen discriminator backbone on shapes"))

register(WeightSpec(
    name="dpsims-shapes", file="dpsims_shapes.safetensors", url="shipped with semsynth-bench", licence="MIT",
    users=("dpsims",), shipped=True, sha256="95f17b2a8bd3d0c3c4c75b67d4296113a6e7e4f086df56b8a630a05374262a51",
    note="small DP-SIMS generator (0.71M parameters, fp16) trained on shapes for 2000 steps of batch 8 on one "
         "loaded CPU thread, ~60 min (recipe: semsynth/methods/dpsims/presets.py SHAPES_RECIPE)"))
