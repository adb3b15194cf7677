"""Validation of annotator options: each check names the option, the value and what would be right."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MAX_MEDIAN",
    "MAX_WINDOW",
    "check_bool",
    "check_choice",
    "check_int",
    "check_median",
    "check_number",
    "check_odd_window",
]


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (NumPy bools included), else raise TypeError.

    >>> check_bool("fill_holes", True)
    True
    >>> check_bool("fill_holes", 1)
    Traceback (most recent call last):
    ...
    TypeError: fill_holes must be True or False, got 1 (int)
    """
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")


def check_int(name: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer in ``[minimum, maximum]``.

    Raises TypeError for a non-integer (bools and floats included) and ValueError for one out of range.

    >>> check_int("min_size", 10, minimum=0)
    10
    >>> check_int("k", 1, minimum=2)
    Traceback (most recent call last):
    ...
    ValueError: k must be an integer >= 2, got 1
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value}")
    return value


#: The largest ``median`` window side: larger windows cost more than any image here needs (and OpenCV's
#: median filter takes no larger one for 8-bit images).
MAX_MEDIAN = 255


def check_median(value: Any) -> int:
    """Validate the ``median`` option: 0 (off) or an odd kernel size from 3 to :data:`MAX_MEDIAN`.

    >>> check_median(5)
    5
    >>> check_median(4)
    Traceback (most recent call last):
    ...
    ValueError: median must be 0 (off) or an odd integer between 3 and 255 (MAX_MEDIAN), got 4
    """
    what = f"median must be 0 (off) or an odd integer between 3 and {MAX_MEDIAN} (MAX_MEDIAN)"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what}, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value != 0 and (value < 3 or value % 2 == 0 or value > MAX_MEDIAN):
        raise ValueError(f"{what}, got {value}")
    return value


#: The largest local window side (a window pads the image by its half on every side).
MAX_WINDOW = 8191


def check_odd_window(name: str, value: Any) -> int:
    """Validate a local window side: an odd integer from 3 to :data:`MAX_WINDOW`.

    >>> check_odd_window("window_size", 8)
    Traceback (most recent call last):
    ...
    ValueError: window_size must be an odd integer >= 3, got 8
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an odd integer >= 3, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < 3 or value % 2 == 0:
        raise ValueError(f"{name} must be an odd integer >= 3, got {value}")
    if value > MAX_WINDOW:
        raise ValueError(f"{name} must be at most {MAX_WINDOW} (MAX_WINDOW), got {value}")
    return value


def check_number(name: str, value: Any) -> float:
    """Return ``value`` as float if it is a finite real number (not a bool).

    >>> check_number("k", 0.2)
    0.2
    >>> check_number("k", "0.2")
    Traceback (most recent call last):
    ...
    TypeError: k must be a real number, got '0.2' (str)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``; TypeError for a non-string, else ValueError.

    >>> check_choice("polarity", "up", ("bright", "dark", "auto"))
    Traceback (most recent call last):
    ...
    ValueError: polarity must be one of 'bright', 'dark', 'auto', got 'up'
    """
    choices = tuple(choices)
    listed = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {listed}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value
