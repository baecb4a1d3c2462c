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
    sha256="fd095cda3fe1986b2fc5bbe2ac6b05ff93d186756a4f95683b756acedfea273e",
    note="timm convnext_atto (dims 24-48-96-192, depths 1-1-2-1) pretrained on shapes for multi-label class "
         "presence with the colour hidden (semsynth/methods/dpsims/pretrain.py), so that its features carry "
         "texture: the frozen discriminator backbone on shapes"))

register(WeightSpec(
    name="dpsims-shapes", file="dpsims_shapes.safetensors", url="shipped with semsynth-bench", licence="MIT",
    users=("dpsims",), shipped=True, sha256="dc9c76b5c14a5313e7a1a567fa5aae255da1b16998a4154fbece1a4b8ff1eaec",
    note="small DP-SIMS generator (0.74M parameters, fp16) with per-segment noise, trained on shapes for 14000 "
         "steps of batch 8 on 32-pixel crops (a decaying learning rate over steps 8000-10000, then again from full "
         "over 10000-14000) against a decoder that sees block colours, ~65 min on one CPU thread beside another "
         "job; BatchNorm statistics recomputed at export (recipe: semsynth/methods/dpsims/presets.py SHAPES_RECIPE)"))

# -- the ablation generators of the `shapes` track (reporting/tracks/shapes.json: dpsims-table-s6, -s8, -s9) --
# Not shipped. Each trains 2000 steps with one thing changed against dpsims-shapes-reference; the S6 networks keep
# its two phases (500 steps at lambda_div 10, then to 2000 at lambda_div 1); the S9 networks hold one lambda_div for
# all 2000 steps. (The shipped dpsims-shapes trains longer: methods/dpsims/presets.py SHAPES_RECIPE.) The
# last command exports the EMA generator into ~/.cache/semsynth/weights, where `bench weights path NAME` finds it
# (weights.search_dirs: $SEMSYNTH_WEIGHTS, then $SEMSYNTH_CACHE/weights or ~/.cache/semsynth/weights, then
# semsynth/assets). With a random backbone (``pretrained=false``) the contrastive loss's network, a copy of the
# backbone on shapes, is random too.
ABLATION_DIR = "runs/dpsims-ablations"
WEIGHTS_DIR = "~/.cache/semsynth/weights"
_TRAIN = "python -m semsynth.methods.dpsims.train --dataset shapes"


def _two_phases(run: str, *options: str) -> list[str]:
    """The shipped recipe's two phases with ``options`` in both."""
    extra = "".join(f" --set {option}" for option in options)
    return [f"{_TRAIN} --out {ABLATION_DIR}/{run} --steps 500{extra}",
            f"{_TRAIN} --out {ABLATION_DIR}/{run} --steps 2000{extra} --set lambda_div=1"]


def _export(run: str) -> str:
    file = f"dpsims_shapes_{run.replace('-', '_')}.safetensors"
    return f"mkdir -p {WEIGHTS_DIR} && {_TRAIN} --out {ABLATION_DIR}/{run} --export {WEIGHTS_DIR}/{file}"


ABLATION_RECIPES: dict[str, tuple[str, list[str]]] = {
    "dpsims-shapes-reference": ("the S6 networks' recipe with nothing changed: pretrained frozen backbone (the "
                                "generator shipped until 2026-12-03)", _two_phases("reference")),
    "dpsims-shapes-finetuned-backbone": ("discriminator backbone pretrained and finetuned with the decoder (S6)",
                                         _two_phases("finetuned-backbone", "frozen=false")),
    "dpsims-shapes-random-backbone": ("discriminator backbone randomly initialised and frozen (S6; the pretrained "
                                      "vs random comparison of S8)",
                                      _two_phases("random-backbone", "pretrained=false")),
    "dpsims-shapes-finetuned-random": ("discriminator backbone randomly initialised and trained (S6)",
                                       _two_phases("finetuned-random", "pretrained=false", "frozen=false")),
    **{f"dpsims-shapes-div{weight}": (f"diversity-loss weight lambda_div={weight} for all 2000 steps (S9)",
                                      [f"{_TRAIN} --out {ABLATION_DIR}/div{weight} --steps 2000 "
                                       f"--set lambda_div={weight}"]) for weight in (0, 10, 100)},
}
for _name, (_what, _commands) in ABLATION_RECIPES.items():
    _run = _name.removeprefix("dpsims-shapes-")
    _commands.append(_export(_run))
    register(WeightSpec(name=_name, file=f"dpsims_shapes_{_run.replace('-', '_')}.safetensors",
                        url=f"(not shipped: make it with `{' && '.join(_commands)}`)", licence="yours (trained by you)",
                        users=("dpsims",),
                        note=f"shapes ablation generator: {_what}; the commands end by exporting it to {WEIGHTS_DIR} "
                             f"(or put it in $SEMSYNTH_WEIGHTS)"))
