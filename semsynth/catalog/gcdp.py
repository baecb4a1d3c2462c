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

# GCDP's text encoder (train.py: text_encoder_name='t5-large'): a Hugging Face folder, not one file, so it is found
# as a directory and never hashed. The suite reads config.json and the weights through transformers' T5EncoderModel
# and spiece.model through sentencepiece (methods/gcdp/text.py); GCDP(t5_folder=...) takes a folder elsewhere.
T5_LARGE_HOW = ("a folder with config.json, model.safetensors and spiece.model of Hugging Face t5-large: on a machine "
                "with network `hf download google-t5/t5-large config.json model.safetensors spiece.model --local-dir "
                "t5-large`, then put the folder t5-large into $SEMSYNTH_WEIGHTS or ~/.cache/semsynth/weights; needs "
                "pip install 'semsynth-bench[gcdp-t5]'")
register(WeightSpec(name="t5-large", file="t5-large", url="https://huggingface.co/google-t5/t5-large",
                    licence="Apache-2.0", users=("gcdp",), folder=True, note=T5_LARGE_HOW))

SHAPES_RECIPE = ("bench train --method gcdp --dataset shapes --steps 3500 --set grad_clip=1.0 "
                 "--out runs/gcdp-shapes-1; bench train --method gcdp --dataset shapes --steps 6000 "
                 "--set grad_clip=1.0 --set init=runs/gcdp-shapes-1/gcdp_shapes.safetensors --out runs/gcdp-shapes-2; "
                 "bench train --method gcdp --dataset shapes --steps 1200 --set grad_clip=1.0 --set crop=64 "
                 "--set lr=2e-4 --set seed=3 --set init=runs/gcdp-shapes-2/gcdp_shapes.safetensors "
                 "--out runs/gcdp-shapes (the last phase trains on whole 64x64 images, so that jointly generated "
                 "layouts are whole scenes)")
register(WeightSpec(name="gcdp-shapes", file="gcdp_shapes.safetensors", url="shipped with semsynth (semsynth/assets)",
                    sha256="2048d86563acb59528fffb29edef8977798cbf45cf0c4fb4fb3c9e873ab72595", licence="MIT",
                    users=("gcdp",), shipped=True,
                    note=f"small GCDP joint model + caption encoder (fp16) trained on `shapes`: {SHAPES_RECIPE}"))
