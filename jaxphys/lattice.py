"""Hypercubic lattice geometry: neighbour tables and checkerboard colouring.

Sites of a lattice of ``shape = (L_1, ..., L_d)`` are numbered in C order (the flat index of
``numpy.ravel_multi_index``). Neighbour ``2k`` of a site is its +1 step along axis ``k`` and
neighbour ``2k + 1`` its -1 step. With open boundaries a missing neighbour is given the index
``num_sites`` (one past the end), so gathering from a spin vector padded with one zero adds
nothing.
"""

from __future__ import annotations

import math

import numpy as np


def validate_shape(shape, *, periodic: bool) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ints, or raise ``ValueError`` saying what is wrong."""
    try:
        shape = tuple(int(n) for n in shape)
    except TypeError:
        raise TypeError(f"lattice shape must be a tuple of ints such as (16, 16), got {shape!r}") from None
    if len(shape) == 0:
        raise ValueError("lattice shape must have at least one axis, e.g. (16,) for a chain")
    if any(n < 2 for n in shape):
        raise ValueError(f"every lattice side must be >= 2, got shape {shape}")
    return shape


def num_sites(shape) -> int:
    """Number of sites ``prod(shape)``."""
    return math.prod(shape)


def neighbour_table(shape, *, periodic: bool = True) -> np.ndarray:
    """Nearest neighbours of every site.

    Args:
        shape: lattice sides ``(L_1, ..., L_d)``.
        periodic: periodic (True) or open (False) boundaries.

    Returns:
        ``int32`` array ``(num_sites, 2 d)``: column ``2k`` holds the +1 neighbour along axis
        ``k`` and column ``2k+1`` the -1 neighbour; missing neighbours (open boundaries) are
        ``num_sites``.
    """
    shape = validate_shape(shape, periodic=periodic)
    n = num_sites(shape)
    coords = np.stack(np.unravel_index(np.arange(n), shape), axis=-1)
    cols = []
    for axis, length in enumerate(shape):
        for step in (+1, -1):
            c = coords.copy()
            c[:, axis] += step
            outside = (c[:, axis] < 0) | (c[:, axis] >= length)
            c[:, axis] %= length
            idx = np.ravel_multi_index(tuple(c.T), shape)
            if not periodic:
                idx = np.where(outside, n, idx)
            cols.append(idx)
    return np.stack(cols, axis=-1).astype(np.int32)


def checkerboard_colour(shape) -> np.ndarray:
    """Colour ``(sum of coordinates) mod 2`` of every site, as an ``int8`` array of ``shape``.

    The colouring is a proper two-colouring (no bond joins equal colours) when every periodic
    side is even.
    """
    grids = np.indices(shape)
    return (grids.sum(axis=0) % 2).astype(np.int8)
