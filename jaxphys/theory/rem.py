"""Random energy model (Derrida, PRL 45, 79 (1980); PRB 24, 2613 (1981)).

``2^N`` independent energies ``E ~ N(0, N J^2 / 2)``. The microcanonical entropy per spin is
``s(e) = ln 2 - e^2 / J^2`` for ``|e| <= e_0 = J sqrt(ln 2)``; the free energy per spin is

    f = -T ln 2 - J^2 / (4 T)          for T >= T_c = J / (2 sqrt(ln 2)),
    f = -J sqrt(ln 2)                  for T <= T_c (frozen: s = 0, u = -e_0),

with ``u = -J^2 / (2 T)`` and ``s = ln 2 - J^2 / (4 T^2)`` above ``T_c``. The transition is
continuous in ``f`` and ``u`` (a "random first-order" freezing: ``s`` vanishes linearly).

All functions are elementwise ``jax.numpy`` (vmap/grad/jit), with ``jnp.where`` branches whose
unused side cannot produce NaN gradients. Concrete ``T <= 0`` raises; a traced one gives NaN.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._params import invalid_temperature, parameter, temperature

__all__ = ["critical_temperature", "free_energy", "energy", "entropy", "ground_state_energy"]

_LN2 = math.log(2.0)


def critical_temperature(J: ArrayLike = 1.0) -> Array:
    """Freezing temperature ``T_c = J / (2 sqrt(ln 2)) = 0.6006 J``.

    Raises: ValueError for a concrete non-finite ``J``.
    """
    return parameter(J, "J") / (2.0 * math.sqrt(_LN2))


def ground_state_energy(J: ArrayLike = 1.0) -> Array:
    """Ground-state energy per spin ``e_0 = -J sqrt(ln 2)`` (the frozen free energy)."""
    return -parameter(J, "J") * math.sqrt(_LN2)


def _prepare(T, J):
    T, J = temperature(T), parameter(J, "J")
    T, J = jnp.broadcast_arrays(T, J)
    bad = invalid_temperature(T)
    high = (T > critical_temperature(J)) & ~bad
    T_high = jnp.where(high, T, 1.0)  # keeps the unused branch finite (and its gradient)
    return T, J, bad, high, T_high


def free_energy(T: ArrayLike, J: ArrayLike = 1.0) -> Array:
    """``f(T) = -T ln 2 - J^2/(4T)`` above ``T_c``, ``-J sqrt(ln 2)`` below (per spin, elementwise).

    Args: T temperature ``> 0``; J energy scale (broadcastable floats/arrays).
    Raises: ValueError for concrete ``T <= 0``/NaN or non-finite ``J``.
    """
    T, J, bad, high, T_high = _prepare(T, J)
    f = jnp.where(high, -T_high * _LN2 - J**2 / (4.0 * T_high), -J * math.sqrt(_LN2))
    return jnp.where(bad, jnp.nan, f)


def energy(T: ArrayLike, J: ArrayLike = 1.0) -> Array:
    """``u(T) = -J^2/(2T)`` above ``T_c``, ``-J sqrt(ln 2)`` below (per spin). Raises as :func:`free_energy`."""
    T, J, bad, high, T_high = _prepare(T, J)
    u = jnp.where(high, -(J**2) / (2.0 * T_high), -J * math.sqrt(_LN2))
    return jnp.where(bad, jnp.nan, u)


def entropy(T: ArrayLike, J: ArrayLike = 1.0) -> Array:
    """``s(T) = ln 2 - J^2/(4T^2)`` above ``T_c``, 0 below (per spin). Raises as :func:`free_energy`."""
    T, J, bad, high, T_high = _prepare(T, J)
    s = jnp.where(high, _LN2 - J**2 / (4.0 * T_high**2), 0.0)
    return jnp.where(bad, jnp.nan, s)
