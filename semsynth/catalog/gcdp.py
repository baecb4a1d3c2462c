"""Weights-catalog entries of GCDP (torch-free): the official Cityscapes and CelebA cascades (trainer checkpoints,
file names unverified), the T5-large text encoder folder, and the shipped ``shapes`` joint model."""

from ..weights import WeightSpec, register

GCDP_LICENCE = "see github.com/pmh9960/GCDP (no licence file at f5f8049)"
RELEASE = "https://davian-lab.quickconnect.to/ (the README's Synology link, password 'GCDP')"

for _name, _file, _note in (
    ("gcdp-cityscapes-base", "cityscapes_base.pt", "Cityscapes base joint UNet 128x256, 20 classes (trainer file)"),
    ("gcdp-cityscapes-sr", "cityscapes_sr.pt", "Cityscapes super-resolution joint UNet 128x256 -> 256x512"),
    ("gcdp-celeba-base", "celeba_base.pt", "MM CelebA-HQ base joint UNet 128x128, 19 classes (trainer file)"),
    ("gcdp-celeba-sr", "celeba_sr.pt", "MM CelebA-HQ super-resolution joint UNet 128 -> 256"),
):
    register(WeightSpec(name=_name, file=_file, url=RELEASE, licence=GCDP_LICENCE, users=("gcdp",),
                        note=_note + "; official file name unverified"))

register(WeightSpec(name="t5-large", file="t5-large", url="https://huggingface.co/t5-large", licence="Apache-2.0",
                    users=("gcdp",), note="folder with the Hugging Face T5-large tokenizer and encoder weights "
                    "(GCDP's text encoder; needs the transformers package)"))

SHAPES_RECIPE = "bench train --method gcdp --dataset shapes --steps 3500 --set grad_clip=1.0 --out runs/gcdp-shapes"
register(WeightSpec(name="gcdp-shapes", file="gcdp_shapes.safetensors", url="shipped with semsynth (semsynth/assets)",
                    sha256="fbfeb62a6fd7e4d6c1e321ca5ad2124e716fd952a0c6672961ea54ec034968d5", licence="MIT",
                    users=("gcdp",), shipped=True,
                    note=f"small GCDP joint model + caption encoder (fp16) trained on `shapes`: {SHAPES_RECIPE}"))
