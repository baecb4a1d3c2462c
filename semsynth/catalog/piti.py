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
                        "--set init=runs/piti-1b/piti_shapes_stage1b.safetensors --steps 56000 --out runs/piti-2",
    "piti-shapes-upsample": "bench train --method piti --dataset shapes --set stage=upsample --out runs/piti-upsample",
}
SHAPES_FILES = {"piti-shapes-prior": ("piti_shapes_prior.safetensors",
                                      "unconditional decoder trained on shapes images (GLIDE base.pt's stand-in)"),
                "piti-shapes-base": ("piti_shapes_base.safetensors",
                                     "32x32 base model finetuned from the prior in two stages"),
                "piti-shapes-upsample": ("piti_shapes_upsample.safetensors",
                                         "32->64 residual upsampler that also reads the mask at 64x64, trained "
                                         "with the PatchGAN/WGAN-GP loss")}
SHAPES_SHA256 = {
    "piti-shapes-prior": "5ec7b7f0d402852a779575c618421602437cd89ec4321c94a6fc1f499cab3032",
    "piti-shapes-base": "513637e96dcd5307ec618007ba951c29b1806adabcf52766835fbaab92435d43",
    "piti-shapes-upsample": "c0a535e751b862b6937bd58634a27d496f59715592028225b8f0e923f14903ba",
}
for _name, (_file, _note) in SHAPES_FILES.items():
    register(WeightSpec(name=_name, file=_file, url="shipped with semsynth (semsynth/assets)",
                        sha256=SHAPES_SHA256[_name], licence="MIT", users=("piti",), shipped=True,
                        note=f"{_note}; 2-core CPU: {SHAPES_RECIPE[_name]}"))

# -- the ablation networks of the `shapes` track (reporting/tracks/shapes.json: piti-table3a, -table3b, -table4) --
# Not shipped: each is made by its commands below (run from the repository root), whose last step copies the file
# into ~/.cache/semsynth/weights, where `bench weights path NAME` finds it (weights.search_dirs: $SEMSYNTH_WEIGHTS,
# then $SEMSYNTH_CACHE/weights or ~/.cache/semsynth/weights, then semsynth/assets; put it in $SEMSYNTH_WEIGHTS
# instead where that is set). Every base network trains on the same finite set, the first ABLATION_EXAMPLES train
# layouts (why that size: methods/piti/presets.py SHAPES_TRAIN_EXAMPLES), with the stage recipes of SHAPES_TRAINING
# and these step counts: finetune and from-scratch rows share the network and the 800 stage-2 steps; the Table 3a
# rows share the total of 1000 steps (one-stage: 1000 joint steps; fixed decoder: 1000 encoder-only steps).
ABLATION_EXAMPLES = 2000
ABLATION_STEPS = {"1": 150, "1b": 50, "2": 800}
ABLATION_EMA_DECAY = 0.99
ABLATION_DIR = "runs/piti-ablations"
WEIGHTS_DIR = "~/.cache/semsynth/weights"
_PRIOR = "--set prior=$(bench weights path piti-shapes-prior)"


def _train(stage: str, steps: int | None, out: str, *options: str) -> str:
    """One `bench train` command of a PITI stage on shapes (the recipe's steps when ``steps`` is None)."""
    parts = ["bench train --method piti --dataset shapes", f"--steps {steps}" if steps else "", f"--set stage={stage}",
             *options, f"--out {ABLATION_DIR}/{out}"]
    return " ".join(part for part in parts if part)


def _install(source: str, file: str) -> str:
    return f"mkdir -p {WEIGHTS_DIR} && cp {ABLATION_DIR}/{source} {WEIGHTS_DIR}/{file}"


def _data(fraction: float) -> tuple[str, ...]:
    """The finite training set (and its share), the short EMA and the constant learning rate of every ablation base
    run: the Trainer's EMA has no warm-up, so the recipe's 0.999 would keep 45% of the starting weights after 800
    steps (random ones for the from-scratch rows), and the stage-2 recipe's decayed tail of 14000 steps belongs to the
    shipped base's long run (over 800 steps it would start the rate at a seventeenth)."""
    share = () if fraction == 1 else (f"--set data_fraction={fraction}",)
    return (f"--set train_examples={ABLATION_EXAMPLES}", *share, f"--set ema_decay={ABLATION_EMA_DECAY}",
            "--set lr_decay_steps=0")


def _finetune(percent: int) -> list[str]:
    """Stage 1 (encoder against the frozen prior), 1b (with condition dropout), 2 (everything) on ``percent``%."""
    data, run = _data(percent / 100), f"finetune-{percent}"
    return [_train("1", ABLATION_STEPS["1"], f"{run}-1", _PRIOR, *data),
            _train("1b", ABLATION_STEPS["1b"], f"{run}-1b", _PRIOR,
                   f"--set init={ABLATION_DIR}/{run}-1/piti_shapes_stage1.safetensors", *data),
            _train("2", ABLATION_STEPS["2"], f"{run}-2", _PRIOR,
                   f"--set init={ABLATION_DIR}/{run}-1b/piti_shapes_stage1b.safetensors", *data),
            _install(f"{run}-2/piti_shapes_base.safetensors", f"piti_shapes_finetune_{percent}.safetensors")]


ABLATION_RECIPES: dict[str, tuple[str, list[str]]] = {
    **{f"piti-shapes-finetune-{percent}": (
        f"base network finetuned from the prior in two stages on {percent}% of the {ABLATION_EXAMPLES} ablation "
        f"layouts (Table 4 'Ours'{'; Table 3a two-stage finetune' if percent == 100 else ''})",
        _finetune(percent)) for percent in (25, 50, 100)},
    **{f"piti-shapes-scratch-{percent}": (
        f"the same base network trained from random weights (no prior) on {percent}% of the {ABLATION_EXAMPLES} "
        f"ablation layouts for the same {ABLATION_STEPS['2']} stage-2 steps (Table 4 'Ours (From Scratch)')",
        [_train("2", ABLATION_STEPS["2"], f"scratch-{percent}", *_data(percent / 100)),
         _install(f"scratch-{percent}/piti_shapes_base.safetensors", f"piti_shapes_scratch_{percent}.safetensors")])
       for percent in (25, 50, 100)},
    "piti-shapes-onestage": (
        "encoder and prior decoder finetuned jointly from the start, no encoder-only stage (Table 3a one-stage "
        "finetune), for the two-stage rows' total of 1000 steps",
        [_train("2", sum(ABLATION_STEPS.values()), "onestage", _PRIOR, *_data(1)),
         _install("onestage/piti_shapes_base.safetensors", "piti_shapes_onestage.safetensors")]),
    "piti-shapes-fixed-decoder": (
        "only the encoder trained, the prior decoder frozen throughout (Table 3a fixed decoder): stage 1 of "
        "piti-shapes-finetune-100 (make that first), then stage 1b (condition dropout, so that guidance works) for "
        "the rest of the 1000 steps",
        [_train("1b", ABLATION_STEPS["1b"] + ABLATION_STEPS["2"], "fixed-decoder", _PRIOR,
                f"--set init={ABLATION_DIR}/finetune-100-1/piti_shapes_stage1.safetensors", *_data(1)),
         _install("fixed-decoder/piti_shapes_stage1b.safetensors", "piti_shapes_fixed_decoder.safetensors")]),
    "piti-shapes-upsample-plain": (
        "32->64 upsampler trained with the diffusion loss only, no adversarial term (Table 3b without "
        "adversarial loss), on the shipped upsampler's recipe otherwise (unbounded train stream, its steps)",
        [_train("upsample", None, "upsample-plain", "--set adversarial=0"),
         _install("upsample-plain/piti_shapes_upsample.safetensors", "piti_shapes_upsample_plain.safetensors")]),
}
for _name, (_what, _commands) in ABLATION_RECIPES.items():
    _file = _name.replace("-", "_") + ".safetensors"
    register(WeightSpec(name=_name, file=_file, licence="yours (trained by you)", users=("piti",),
                        url=f"(not shipped: make it with `{' && '.join(_commands)}`)",
                        note=f"shapes ablation: {_what}; the commands end by copying it to {WEIGHTS_DIR}/{_file} "
                             f"(or put it in $SEMSYNTH_WEIGHTS)"))
