"""Declared method settings: each setting's type and range, checked before a method runs, so that a value a method
cannot use (NaN guidance, 2.7 steps, 10**11 steps, 'abc') is a one-line ``UserError`` and records hold only valid,
canonical values (strict JSON: no NaN or infinity)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import UserError

_BOOL_WORDS = {"true": True, "false": False}


@dataclass(frozen=True)
class Setting:
    """The type of one setting (``bool``, ``int``, ``float`` or ``str``) with its inclusive range ``low``..``high``
    (numbers) or its allowed ``choices``; ``None`` bounds are open. Floats must be finite."""

    type: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def check(self, name: str, value: Any) -> Any:
        """``value`` in this setting's canonical form (ints as int, floats as float), or a ``UserError`` that
        names the setting, the value and what it accepts."""
        value = self._typed(name, value)
        if self.choices is not None and value not in self.choices:
            raise UserError(f"setting {name}={value!r} is not allowed; choose one of "
                            f"{', '.join(map(str, self.choices))}")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise UserError(f"setting {name}={value!r} is out of range; allowed: {self._range()}")
        return value

    def _typed(self, name: str, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, str) and value.lower() in _BOOL_WORDS:
                return _BOOL_WORDS[value.lower()]
            if isinstance(value, bool):
                return value
            raise UserError(f"setting {name}={value!r} must be true or false")
        if self.type is int:
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise UserError(f"setting {name}={value!r} must be a whole number ({self._range()})")
        if self.type is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise UserError(f"setting {name}={value!r} must be a finite number ({self._range()})")
                return float(value)
            raise UserError(f"setting {name}={value!r} must be a number ({self._range()})")
        if isinstance(value, self.type):
            return value
        raise UserError(f"setting {name}={value!r} must be a {self.type.__name__}")

    def _range(self) -> str:
        if self.choices is not None:
            return ", ".join(map(str, self.choices))
        if self.low is None and self.high is None:
            return f"any {self.type.__name__}"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{low}..{high}"


def inferred(default: Any) -> Setting | None:
    """The setting a plugin gets for a key it does not declare: the type of its default value (any range); None
    for defaults that are not a bool, int, float or str (lists, None), which take any finite value."""
    return Setting(type(default)) if type(default) in (bool, int, float, str) else None


def check_settings(method: str, values: Mapping[str, Any], declared: Mapping[str, Setting],
                   defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (settings given by the user) checked against ``declared`` (else the default's type), canonical.
    None passes unchanged (it means 'none' or 'the default'); no value may be NaN or infinity."""
    checked = {}
    for name, value in values.items():
        setting = declared.get(name) or inferred(defaults.get(name))
        try:
            if value is None:
                checked[name] = value
            elif setting is not None:
                checked[name] = setting.check(name, value)
            elif isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"setting {name}={value!r} must be a finite number")
            else:
                checked[name] = value
        except UserError as error:
            raise UserError(f"{method}: {error}") from None
    return checked
