"""Argument checks shared across modules (trace-time, tier 1 of DESIGN.md's errors)."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np


def as_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as a static Python int >= ``minimum``; ``TypeError``/``ValueError`` saying what is wrong.

    Sizes and loop counts must be known at trace time, so bools, floats and arrays are refused.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got the bool {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a Python int (a static size), got {type(value).__name__}") from None
    if count < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {count}")
    return count
