"""Option checks that name the option, the bad value and what would be right."""

from __future__ import annotations

import math
import numbers
from typing import Any


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """``value`` as an int if it is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_float(name: str, value: Any, *, minimum: float, maximum: float = math.inf, open_low: bool = False) -> float:
    """``value`` as a float if it is a finite real number in ``[minimum, maximum]`` (or ``(minimum, ...]``)."""
    bounds = f"{'>' if open_low else '>='} {minimum:g}" + (f" and <= {maximum:g}" if maximum < math.inf else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number {bounds}, got {value!r} ({type(value).__name__})")
    value = float(value)
    too_low = value <= minimum if open_low else value < minimum
    if not math.isfinite(value) or too_low or value > maximum:
        raise ValueError(f"{name} must be a number {bounds}, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        error = ValueError if isinstance(value, str) else TypeError
        raise error(f"{name} must be one of {listed}, got {value!r}")
    return value
