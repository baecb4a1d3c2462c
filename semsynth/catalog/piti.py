"""Weights catalog entries of PITI (torch-free): the released COCO-Stuff mask-to-image base and upsampler, the GLIDE
files the finetune starts from, and the small `shapes` networks shipped in semsynth/assets."""

from ..weights import WeightSpec, register

PITI_LICENCE = "see github.com/PITI-Synthesis/PITI (no licence file at d9f7481)"
PITI_SOURCE = "the HKUST OneDrive link of github.com/PITI-Synthesis/PITI's README (Mask-to-Image)"
GLIDE_SOURCE = "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"

register(WeightSpec(name="piti-base-mask", file="base_mask.pt", url=PITI_SOURCE, licence=PITI_LICENCE,
                    users=("piti",), note="COCO-Stuff mask-to-image base 64x64 (Text2ImModel: encoder.* + decoder.*, "
                                          "raw state_dict, loaded strictly); sha256 unpublished"))
register(WeightSpec(name="piti-upsample-mask", file="upsample_mask.pt", url=PITI_SOURCE, licence=PITI_LICENCE,
                    users=("piti",), note="COCO-Stuff mask-to-image upsampler 64->256 (SuperResText2ImModel); "
                                          "sha256 unpublished"))
register(WeightSpec(name="glide-base", file="base.pt", url=GLIDE_SOURCE + "base.pt",
                    licence="MIT (openai/glide-text2im)", users=("piti",),
                    note="GLIDE base 64x64: PITI's decoder initialisation (text transformer keys dropped, loaded "
                         "strictly into decoder.*)"))
register(WeightSpec(name="glide-upsample", file="upsample.pt", url=GLIDE_SOURCE + "upsample.pt",
                    licence="MIT (openai/glide-text2im)", users=("piti",),
                    note="GLIDE upsampler 64->256: the PITI upsampler's decoder initialisation"))

SHAPES_RECIPE = {
    "piti-shapes-prior": "bench train --method piti --dataset shapes --set stage=prior --out runs/piti-prior",
    "piti-shapes-base": "bench train --method piti --dataset shapes --set stage=1 "
                        "--set prior=runs/piti-prior/piti_shapes_prior.safetensors --out runs/piti-1; "
                        "the same with --set stage=1b --set init=runs/piti-1/piti_shapes_stage1.safetensors "
                        "--out runs/piti-1b; the same with --set stage=2 "
                        "--set init=runs/piti-1b/piti_shapes_stage1b.safetensors --out runs/piti-2",
    "piti-shapes-upsample": "bench train --method piti --dataset shapes --set stage=upsample --out runs/piti-upsample",
}
SHAPES_FILES = {"piti-shapes-prior": ("piti_shapes_prior.safetensors",
                                      "unconditional decoder trained on shapes images (GLIDE base.pt's stand-in)"),
                "piti-shapes-base": ("piti_shapes_base.safetensors",
                                     "32x32 base model finetuned from the prior in two stages"),
                "piti-shapes-upsample": ("piti_shapes_upsample.safetensors",
                                         "32->64 upsampler trained with the PatchGAN/WGAN-GP loss")}
SHAPES_SHA256 = {
    "piti-shapes-prior": "da31e1795fc660d10a9870e198d880fc8c5b8977520d698e38a7141aa87bd5d6",
    "piti-shapes-base": "e2c233af7242464b21952a7c7b2cd1fbb8fd9ef996f58d469efb035c47d89cff",
    "piti-shapes-upsample": "aaa09a0b010e753319efe577b5ce4da7d5cfa3c5f9496e6e13c8e0a333d84745",
}
for _name, (_file, _note) in SHAPES_FILES.items():
    register(WeightSpec(name=_name, file=_file, url="shipped with semsynth (semsynth/assets)",
                        sha256=SHAPES_SHA256[_name], licence="MIT", users=("piti",), shipped=True,
                        note=f"{_note}; 2-core CPU: {SHAPES_RECIPE[_name]}"))
