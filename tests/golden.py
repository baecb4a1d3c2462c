"""Golden cases from the official implementations (tests/data/golden) and the ``name_rule_v1`` weight rule.

See tests/data/golden/README.md: weights are regenerated from each key's name and shape, so any port that uses
the official key names can be checked against the official outputs without trained checkpoints.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import torch
from safetensors.torch import load_file

GOLDEN = Path(__file__).parent / "data" / "golden"

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "int64": torch.int64,
           "int32": torch.int32, "uint8": torch.uint8, "bool": torch.bool, "long": torch.int64}


@dataclass
class GoldenCase:
    name: str
    case: dict
    tensors: dict[str, torch.Tensor]

    def keys(self, file: str = "keys.json") -> list[list]:
        return json.loads((GOLDEN / self.name / file).read_text())["keys"]

    def extra(self, file: str) -> dict[str, torch.Tensor]:
        return load_file(str(GOLDEN / self.name / file))

    def shipped_weights(self) -> dict[str, torch.Tensor]:
        return load_file(str(GOLDEN / self.name / "weights.safetensors"))


def load_case(name: str) -> GoldenCase:
    folder = GOLDEN / name
    return GoldenCase(name, json.loads((folder / "case.json").read_text()),
                      load_file(str(folder / "tensors.safetensors")))


def _dtype(name: str) -> torch.dtype:
    return _DTYPES[name.replace("torch.", "")]


def _draw(key: str, shape: list[int]) -> torch.Tensor:
    generator = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def name_rule_v1(rows: Iterable[list], keep: dict[str, torch.Tensor] | None = None) -> "OrderedDict[str, torch.Tensor]":
    """The golden weight rule: float64 weights from (key, shape) alone; ``keep`` holds official constructed values
    (buffers the rule leaves alone, e.g. Swin's relative_position_index)."""
    rows = [list(row) for row in rows]
    shapes = {row[0]: list(row[1]) for row in rows}
    state: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key, shape, dtype, *_ in rows:
        leaf = key.rsplit(".", 1)[-1]
        if keep and key in keep:
            state[key] = keep[key]
        elif not _dtype(dtype).is_floating_point:
            state[key] = torch.zeros(shape, dtype=_dtype(dtype))
        elif key.endswith(".weight_u") or key.endswith(".weight_v"):
            state[key] = None  # filled below, after every weight_orig exists
        elif leaf == "running_mean":
            state[key] = 0.1 * _draw(key, shape)
        elif leaf == "running_var":
            state[key] = 1 + 0.1 * _draw(key, shape).abs()
        elif len(shape) >= 2:
            state[key] = _draw(key, shape) / math.sqrt(math.prod(shape[1:]))
        elif len(shape) == 1 and leaf == "weight":
            state[key] = 1 + 0.1 * _draw(key, shape)
        elif len(shape) == 1 and leaf == "bias":
            weight = shapes.get(key[:-4] + "weight")
            state[key] = (0.1 if weight is not None and len(weight) == 1 else 0.01) * _draw(key, shape)
        else:
            state[key] = _draw(key, shape)
    for key in [k for k in state if k.endswith(".weight_u")]:
        base = key[: -len("weight_u")]
        weight = state[base + "weight_orig"]
        matrix = weight.reshape(weight.shape[0], -1)
        u0 = _draw(key, [matrix.shape[0]])
        u0 = u0 / u0.norm()
        v = matrix.t() @ u0
        v = v / v.norm()
        u = matrix @ v
        state[key] = u / u.norm()
        state[base + "weight_v"] = v
    return state


def check_rule_sums(rows: Iterable[list], state: dict[str, torch.Tensor]) -> None:
    """The rule's per-key sums match the ones recorded in keys.json (checks the rule before the model)."""
    for key, _shape, _dtype, rule_sum, rule_abs in rows:
        value = state[key].double()
        assert math.isclose(value.sum().item(), rule_sum, rel_tol=1e-7, abs_tol=1e-7), key
        assert math.isclose(value.abs().sum().item(), rule_abs, rel_tol=1e-7, abs_tol=1e-7), key


def assert_golden(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-8) -> None:
    """The README's tolerance: rtol, and atol = rtol * max(1, max |expected|)."""
    expected = expected.to(actual.device)
    atol = rtol * max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual.to(expected.dtype), expected, rtol=rtol, atol=atol)


def shape_only_state(rows: Iterable[list]) -> dict[str, torch.Tensor]:
    """Meta tensors of the listed shapes: checks that a full-size key list loads strictly, without memory."""
    return {row[0]: torch.empty(row[1], dtype=_dtype(row[2]), device="meta") for row in rows}
