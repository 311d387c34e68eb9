"""Argument checks shared across modules (trace-time, tier 1 of DESIGN.md's errors)."""

from __future__ import annotations

import math
import operator
from typing import Any

import jax
import jax.numpy as jnp
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


def real_scalar(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    dtype=None,
):
    """``value`` as a 0-d float array of ``dtype`` (default: float32, float64 under x64), checked when concrete.

    The value may be traced (so it can be vmapped or differentiated over); a concrete one must lie in
    the interval from ``low`` to ``high`` (each end closed unless ``low_open``/``high_open``; NaN never
    does). Bools, complex or non-numeric dtypes and arrays that are not scalars raise ``TypeError``/
    ``ValueError`` saying what to pass instead. Examples: a rate ``> 0`` and finite is
    ``low=0, low_open=True, high_open=True``; a probability is ``low=0, high=1``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real number, got dtype {arr.dtype}")
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}; vmap over an array of values instead")
    if dtype is None:
        dtype = jnp.result_type(float)
    elif not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    arr = arr.astype(dtype)
    if not isinstance(arr, jax.core.Tracer):
        v = float(arr)
        above = v > low if low_open else v >= low
        below = v < high if high_open else v <= high
        if not (above and below):
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            finite = " and be finite" if not math.isfinite(v) else ""  # NaN, or an infinity outside the interval
            raise ValueError(f"{name} must lie in {interval}{finite}, got {v}")
    return arr
