"""Catalog entries of SDM: the official releases and the shipped ``shapes`` network."""

from ..weights import WeightSpec, register

SDM_LICENCE = "see github.com/WeilunWang/semantic-diffusion-model (no licence file at 7171f37)"
SHAPES_RECIPE = ("bench train --method sdm --dataset shapes --steps 7200 --set norm_groups=32 --set lr=3e-4 "
                 "--set ema_decay=0.995 --out runs/sdm-shapes-1, then bench train --method sdm --dataset shapes "
                 "--set init=runs/sdm-shapes-1/sdm_shapes.safetensors --out runs/sdm-shapes-2")

_DRIVE = "https://drive.google.com/file/d/"
for _name, _file, _url, _note in (
    ("sdm-ade20k", "ade20k.pt", _DRIVE + "1O8Avsvfc8rP9LIt5tkJxowMTpi1nYiik", "ADE20K 151-channel EMA state_dict"),
    ("sdm-celebamask", "celeba.pt", _DRIVE + "1iwpruJ5HMHdAA1tuNR8dHkcjGtxzSFV_", "CelebAMask-HQ 20-channel"),
    ("sdm-cocostuff", "coco.pt", _DRIVE + "17XhegAk8V5W3YiFpHMBUn0LED-n7B44Y", "COCO-Stuff 184-channel (unverified)"),
    ("sdm-cityscapes", "cityscapes.pt", "https://github.com/WeilunWang/semantic-diffusion-model/issues/2",
     "not released by the authors; train with `bench train --method sdm --dataset cityscapes`"),
):
    register(WeightSpec(name=_name, file=_file, url=_url, licence=SDM_LICENCE, users=("sdm",),
                        note=_note + "; official file name of the Drive download unverified"))

register(WeightSpec(name="sdm-shapes", file="sdm_shapes.safetensors", url="shipped with semsynth (semsynth/assets)",
                    sha256="5c78cf2531555a4e4f3720873763867c2b8ecf843959c48d3f25fe826f19b6ad", licence="MIT",
                    users=("sdm",), shipped=True,
                    note=f"small SDM (fp16) trained on `shapes` on a 2-core CPU in about 55 min: {SHAPES_RECIPE}"))
