"""Nearest-neighbour Ising model on a hypercubic lattice of any dimension.

    E(s) = -J sum_<ij> s_i s_j - sum_i h_i s_i,

the first sum over nearest-neighbour bonds, each once: ``sum_i sum_k s_i s_{i + e_k}``. With
periodic boundaries and a side of length 2 the +e_k and -e_k neighbours coincide and that bond
is counted twice (the usual convention, consistent with the local field below).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ..lattice import validate_shape
from ..typing import Spins
from .base import SpinModel, as_parameter


class Ising(SpinModel):
    """Ising model on a ``shape = (L_1, ..., L_d)`` lattice (1D, 2D, 3D, ...).

    Args:
        shape: lattice sides; every side >= 2.
        J: ferromagnetic coupling (scalar; J < 0 is antiferromagnetic).
        h: external field, a scalar or an array of ``shape`` (site-dependent field).
        periodic: periodic (default) or open boundaries.

    Spins are int8 arrays of ``shape`` with values +-1. ``J`` and ``h`` are array leaves, so
    they can be vmapped over, swept and differentiated.

    Raises:
        ValueError: a side < 2, ``h`` of the wrong shape, NaN/inf couplings.
    """

    J: Float[Array, ""]
    h: Float[Array, "..."]
    shape: tuple[int, ...] = eqx.field(static=True)
    periodic: bool = eqx.field(static=True)

    def __init__(self, shape, J=1.0, h=0.0, periodic: bool = True):
        self.shape = validate_shape(shape, periodic=periodic)
        self.periodic = bool(periodic)
        self.J = as_parameter(J, "J")
        if self.J.ndim != 0:
            raise ValueError(f"J must be a scalar, got shape {self.J.shape}")
        self.h = as_parameter(h, "h", self.shape)

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def ndim(self) -> int:
        """Lattice dimension ``d``."""
        return len(self.shape)

    def _bond_sum(self, s: Float[Array, "..."]) -> Float[Array, ""]:
        total = jnp.zeros((), s.dtype)
        for axis in range(self.ndim):
            if self.periodic:
                total = total + jnp.sum(s * jnp.roll(s, -1, axis=axis))
            else:
                lo = jnp.take(s, jnp.arange(s.shape[axis] - 1), axis=axis)
                hi = jnp.take(s, jnp.arange(1, s.shape[axis]), axis=axis)
                total = total + jnp.sum(lo * hi)
        return total

    def neighbour_sum(self, spins: Spins) -> Array:
        """``sum_{j nn i} s_j`` for every site, in ``spins``' dtype widened to int32 (shape ``shape``)."""
        s = spins.astype(jnp.int32)
        total = jnp.zeros_like(s)
        for axis in range(self.ndim):
            if self.periodic:
                total = total + jnp.roll(s, 1, axis=axis) + jnp.roll(s, -1, axis=axis)
            else:
                pad = [(0, 0)] * self.ndim
                pad[axis] = (1, 1)
                p = jnp.pad(s, pad)
                n = s.shape[axis]
                total = total + jnp.take(p, jnp.arange(0, n), axis=axis) + jnp.take(p, jnp.arange(2, n + 2), axis=axis)
        return total

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E(s) = -J sum_<ij> s_i s_j - sum_i h_i s_i`` (scalar, default float dtype)."""
        s = spins.astype(self.J.dtype)
        return -self.J * self._bond_sum(s) - jnp.sum(self.h * s)

    def local_field(self, spins: Spins) -> Float[Array, "..."]:
        """``f_i = J sum_{j nn i} s_j + h_i`` for all sites, shape ``shape``."""
        return self.J * self.neighbour_sum(spins).astype(self.J.dtype) + self.h

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """Local field of one site (flat C-order ``index``) in O(d) work."""
        coords = jnp.unravel_index(index, self.shape)
        flat = spins.reshape(-1)
        total = jnp.zeros((), jnp.int32)
        for axis, length in enumerate(self.shape):
            for step in (1, -1):
                c = list(coords)
                moved = c[axis] + step
                inside = (moved >= 0) & (moved < length)
                c[axis] = moved % length
                neighbour = flat[jnp.ravel_multi_index(tuple(c), self.shape, mode="wrap")].astype(jnp.int32)
                if not self.periodic:
                    neighbour = jnp.where(inside, neighbour, 0)
                total = total + neighbour
        h = jnp.broadcast_to(self.h, self.shape).reshape(-1)[index]
        return self.J * total.astype(self.J.dtype) + h
