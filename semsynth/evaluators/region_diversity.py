"""Class- and instance-level diversity (GroupDNet's mCSD/mOCD, INADE's mISD/mOID) for methods with a control API.

For every layout and every region (a class present in it, or an instance), the method re-draws only that
region's randomness ``samples`` times from one base sample (``method.resample(layout, seed, base_seed, region)``,
seeds ``base_seed + 1 ..``). Over all unordered pairs of these images a perceptual distance is measured **inside**
the region (-> mCSD / mISD, higher = the region varies) and **outside** it (-> mOCD / mOID, lower = the rest stays).
The metric only plans these images (``extra_samples``): the runner generates, stores, resumes and shards them with
their layout like every other sample, and hands them back in ``EvalBatch.extras``.

Masking choice: the images are not masked; the distance network sees both whole images, and each layer's
per-pixel distance map (channel-normalised features, squared difference summed over channels; LPIPS-style) is
averaged over the region's pixels, with the region mask area-resized to that layer's resolution (so a mask of all
ones gives the ordinary LPIPS-style distance), then summed over layers. Regions that cover the whole image have no
outside and count only for the inside score. Scores are means over (layout, region) pairs, pairs averaged first.
The cost is ``samples`` generations per region, so ``max_layouts`` (the first layouts of the plan) and
``max_regions`` bound it.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, ClassVar, Sequence

import torch
import torch.nn.functional as F

from ..errors import MissingWeightsError, UserError
from ..registry import METRICS
from ..types import Example, Layout
from .base import EvalBatch, EvalContext, ExtraSample, Metric, State

Stages = Callable[[torch.Tensor], Sequence[torch.Tensor]]


class RegionDistance:
    """A per-layer LPIPS-style distance with region masks, built on any feature network's ``stages`` (a function
    from uint8 images ``[B, 3, H, W]`` to feature maps); swap the network by passing other stages."""

    def __init__(self, stages: Stages, name: str) -> None:
        self.stages, self.name = stages, name

    def layer_maps(self, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
        """Per-layer distance maps ``[B, h, w]`` (float64) between two uint8 image batches."""
        maps = []
        with torch.no_grad():
            for fa, fb in zip(self.stages(a), self.stages(b)):
                fa = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
                fb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
                maps.append((fa - fb).pow(2).sum(1).double().cpu())
        return maps

    def masked(self, maps: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """``[B]``: the maps averaged over a float mask ``[B, H, W]`` (area-resized per layer), summed over layers."""
        total = torch.zeros(mask.shape[0], dtype=torch.float64)
        for layer in maps:
            weight = F.interpolate(mask[:, None].double(), size=layer.shape[-2:], mode="area")[:, 0]
            total += (layer * weight).sum((1, 2)) / weight.sum((1, 2)).clamp_min(1e-12)
        return total


def region_distance(backbone: str, device: torch.device | str = "cpu") -> RegionDistance:
    """The region distance of ``backbone``: ``shapes-segnet`` (the shipped shapes network's four stages, the same
    features as the ``lpips`` metric on shapes) or ``lpips-alex`` (the lpips package's AlexNet layers, whose
    linear heads are not used so that the per-layer maps stay comparable)."""
    if backbone == "shapes-segnet":
        from ..backbones.shapes_net import ShapesDistance

        evaluator = ShapesDistance(device=device)
        return RegionDistance(lambda images: evaluator.net.stages(evaluator.preprocess(images)), backbone)
    if backbone == "lpips-alex":
        import lpips

        try:
            net = lpips.pretrained_networks.alexnet(requires_grad=False, pretrained=True).to(device).eval()
        except Exception as error:  # torchvision fetches AlexNet into the torch hub cache; offline this fails
            raise MissingWeightsError(f"lpips-alex needs torchvision's alexnet-owt-7be5be79.pth in the torch hub "
                                      f"cache ({error})") from error
        scale = torch.tensor([-0.030, -0.088, -0.188], device=device).view(1, 3, 1, 1)
        spread = torch.tensor([0.458, 0.448, 0.450], device=device).view(1, 3, 1, 1)

        def stages(images: torch.Tensor) -> Sequence[torch.Tensor]:
            x = (images.to(device).float() / 127.5 - 1 - scale) / spread
            return tuple(net(x))

        return RegionDistance(stages, backbone)
    raise UserError(f"unknown region-distance backbone '{backbone}'; known: shapes-segnet, lpips-alex")


class RegionDiversity(Metric):
    """Inside/outside diversity of resampled regions (see the module docstring); ``level`` is the region kind."""

    level: ClassVar[str] = "class"
    inside_name: ClassVar[str] = ""
    outside_name: ClassVar[str] = ""

    requires_method = ("resample",)

    def __init__(self, backbone: str = "shapes-segnet", samples: int = 3, base_seed: int = 0,
                 max_regions: int | None = None, max_layouts: int | None = None) -> None:
        if samples < 2:
            raise UserError("region diversity needs samples >= 2 (pairs of resampled images)")
        self.backbone, self.samples, self.base_seed = backbone, samples, base_seed
        self.max_regions, self.max_layouts = max_regions, max_layouts
        self.distance: RegionDistance | None = None
        # one row per scored region (inside) / region with an outside, in plan order; counts are exact integers
        self.add_state("inside", torch.zeros(0, dtype=torch.float64), reduce="cat")
        self.add_state("outside", torch.zeros(0, dtype=torch.float64), reduce="cat")
        self.add_state("layouts", torch.zeros((), dtype=torch.int64), reduce="sum")

    def prepare(self, context: EvalContext) -> None:
        self.distance = region_distance(self.backbone, context.device)

    def regions(self, layout: Layout) -> list[dict[str, int]]:
        """The regions of a layout at this metric's level, in ascending id order."""
        if self.level == "class":
            found = [{"class": int(c)} for c in torch.unique(layout.labels) if c != layout.label_space.ignore_index]
        elif layout.instances is None:
            raise UserError(f"metric '{self.name}' needs instance maps; use the class-level metric instead")
        else:
            found = [{"instance": int(i)} for i in torch.unique(layout.instances)]
        return found[: self.max_regions] if self.max_regions else found

    def _scored(self, position: int) -> bool:
        return self.max_layouts is None or position < self.max_layouts

    def _seeds(self) -> range:
        return range(self.base_seed + 1, self.base_seed + 1 + self.samples)

    def _key(self, example_id: str, region: dict[str, int], seed: int) -> str:
        (kind, identifier), = region.items()
        return f"{example_id}_r{kind[0]}{identifier}_b{self.base_seed}_s{seed}"

    def extra_samples(self, position: int, example: Example) -> list[ExtraSample]:
        """``samples`` resamplings of every region of the first ``max_layouts`` layouts of the plan."""
        if not self._scored(position):
            return []
        return [ExtraSample(self._key(example.id, region, seed), "resample",
                            {"seed": seed, "base_seed": self.base_seed, "region": region})
                for region in self.regions(example.layout) for seed in self._seeds()]

    def update(self, state: State, batch: EvalBatch) -> None:
        pairs = list(itertools.combinations(range(self.samples), 2))
        for example, position, extras in zip(batch.examples, batch.positions, batch.extras):
            if not self._scored(position):
                continue
            state["layouts"] += 1
            for region in self.regions(example.layout):
                images = torch.stack([extras[self._key(example.id, region, seed)] for seed in self._seeds()])
                maps = self.distance.layer_maps(images[[i for i, _ in pairs]], images[[j for _, j in pairs]])
                mask = example.layout.region_mask(region).double()
                inside = self.distance.masked(maps, mask.expand(len(pairs), -1, -1)).mean()
                state["inside"] = torch.cat([state["inside"], inside[None]])
                if bool((mask < 1).any()):
                    outside = self.distance.masked(maps, (1 - mask).expand(len(pairs), -1, -1)).mean()
                    state["outside"] = torch.cat([state["outside"], outside[None]])

    def compute(self, state: State) -> dict[str, Any]:
        def mean(key: str) -> float | None:   # None (JSON null) when nothing was measured
            total = 0.0
            for value in state[key].tolist():   # summed in plan order, whatever the batches and ranks
                total += value
            return total / len(state[key]) if len(state[key]) else None

        return {"value": mean("inside"), self.inside_name: mean("inside"), self.outside_name: mean("outside"),
                "backbone": self.backbone, "samples": self.samples, "n_regions": len(state["inside"]),
                "n_layouts": int(state["layouts"].item()),
                "masking": "per-layer distance maps averaged over the area-resized region / its complement"}


@METRICS.register_module(name="mcsd")
class ClassDiversity(RegionDiversity):
    """mCSD (value; diversity inside a resampled class) with mOCD (the other classes' change)."""

    name = "mcsd"
    level = "class"
    inside_name, outside_name = "mCSD", "mOCD"


@METRICS.register_module(name="misd")
class InstanceDiversity(RegionDiversity):
    """mISD (value; diversity inside a resampled instance) with mOID (the other instances' change)."""

    name = "misd"
    level = "instance"
    inside_name, outside_name = "mISD", "mOID"
