"""A complete third-party method plugin (the README shows this file): paints every class with its palette colour
plus seed-dependent noise. ``delay`` slows it down for the kill-and-resume test; ``ignore_layout`` and
``ignore_seed`` turn it into the degenerate generators the ``shapes`` discrimination tests need."""

import time

import torch

from semsynth.methods.base import Method, Setting
from semsynth.registry import METHODS


@METHODS.register_module(name="palette")
class Palette(Method):
    """Class palette colours plus Gaussian noise drawn from the seed."""

    defaults = {"noise": 24.0, "delay": 0.0, "ignore_layout": False, "ignore_seed": False}
    setting_types = {"noise": Setting(float, low=0.0, high=255.0), "delay": Setting(float, low=0.0, high=60.0)}

    def generate(self, layout, seed):
        time.sleep(self.settings["delay"])
        generator = torch.Generator().manual_seed(0 if self.settings["ignore_seed"] else seed)
        labels = torch.zeros_like(layout.labels) if self.settings["ignore_layout"] else layout.labels
        colours = torch.tensor(self.label_space.palette, dtype=torch.float32)
        image = colours[labels.clamp(max=self.label_space.num_classes - 1)].permute(2, 0, 1)
        image = image + self.settings["noise"] * torch.randn(image.shape, generator=generator)
        return image.round().clamp(0, 255).to(torch.uint8)
