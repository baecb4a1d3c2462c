"""The method contract (``tests/method_contract.py``) for every registered method on ``shapes``, with its shipped
weights: timm's forward test over ``list_models()``, for methods. The test plugins are registered first, so that a
third-party method is held to the same contract."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import semsynth
from semsynth.errors import UserError
from tests.method_contract import run_contract

sys.path.insert(0, str(Path(__file__).parent / "plugins" / "palette_plugin"))
import palette_plugin  # noqa: E402,F401  (registers "palette")
import tests.plugins.class_colours  # noqa: E402,F401  (registers "class-colours")

# Few sampler steps keep the suite fast on 2 cores; batch invariance does not depend on the step count. PITI's
# upsampler takes 4: with its default DDIM eta 1, two steps from t = 999 land on its conditional mean, so seeds agree.
FAST = {"sdm": {"steps": 2}, "piti": {"steps": 2, "up_steps": 4}, "gcdp": {"steps": 2, "resample": 1}}


@pytest.mark.parametrize("name", semsynth.list_methods())
def test_method_contract(name: str) -> None:
    method = semsynth.load_method(name, dataset="shapes", **FAST.get(name, {}))
    if name == "real":   # the reference row returns the dataset's images: it needs examples, not layouts
        from semsynth.datasets.shapes import Shapes

        with pytest.raises(UserError, match="generate_examples"):
            method.generate(Shapes(split="val").layout(0), seed=0)
        pytest.skip("'real' returns the dataset's own images (generate_examples), not samples of a layout")
    run_contract(method)


def test_every_builtin_method_is_covered() -> None:
    assert {"sdm", "inade", "shapes-oracle", "real", "palette", "class-colours"} <= set(semsynth.list_methods())
