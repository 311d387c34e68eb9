"""Curie-Weiss (infinite-range ferromagnet) mean-field theory.

``E = -(J / 2N) sum_{i != j} s_i s_j - h sum_i s_i``. As ``N -> infinity`` the magnetization per
spin solves ``m = tanh(beta (J m + h))`` and the free energy per spin is

    f = J m^2 / 2 - T ln 2 cosh(beta (J m + h)),        beta = 1 / T,

at the stable (largest on the side of ``h``) root; ``u = -J m^2 / 2 - h m``, ``s = (u - f) / T``,
``chi = dm/dh = beta sech^2 / (1 - beta J sech^2)``, critical temperature ``T_c = J``
(e.g. Nishimori, Statistical Physics of Spin Glasses and Information Processing, ch. 1).

Solved with :func:`jaxphys.theory.fixed_point.solve`, so every result is vmappable and
differentiable in ``T``, ``h``, ``J`` (implicit function theorem). Scalar or broadcastable
array arguments; concrete ``T <= 0`` raises, a traced one sets ``Status.INVALID_PARAMETER``
(and the thermodynamic functions give NaN there).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ..status import Solution, Status, flag
from . import fixed_point
from ._params import invalid_temperature, jit_broadcast, parameter, temperature

__all__ = ["solve", "thermodynamics", "free_energy", "energy", "entropy", "susceptibility", "critical_temperature"]


class CurieWeissThermodynamics(NamedTuple):
    """Per-spin results at the stable mean-field solution (arrays of the broadcast shape)."""

    magnetization: Array
    free_energy: Array
    energy: Array
    entropy: Array
    susceptibility: Array
    status: Array


def _log_2cosh(y: Array) -> Array:
    y = jnp.abs(y)
    return y + jnp.log1p(jnp.exp(-2.0 * y))


def _update(x, p):
    T, h, J = p
    return {"m": jnp.tanh((J * x["m"] + h) / T)}


def _solve_one(T, h, J, tol, max_steps):
    # Start from the saturated magnetization on the side of h: the map m -> tanh(beta (J m + h))
    # is increasing for J >= 0, so iteration from +1 descends to the largest root (the stable one).
    m0 = jnp.where(h < 0, -1.0, 1.0).astype(T.dtype)
    sol = fixed_point.solve(_update, {"m": m0}, (T, h, J), tol=tol, max_steps=max_steps)
    status = flag(sol.status, Status.INVALID_PARAMETER, invalid_temperature(T))
    return Solution(sol.value, status, sol.num_steps)


def solve(T: ArrayLike, h: ArrayLike = 0.0, J: ArrayLike = 1.0, *, tol: float = 1e-10, max_steps: int = 5000) -> Solution:
    """Stable root of ``m = tanh((J m + h) / T)``.

    Branch: for ``J >= 0`` the largest root on the side of ``h`` (``+m`` at ``h = 0``, the
    limit of ``<|m|>``); unique for ``J < 0``. At ``T = J, h = 0`` convergence is algebraic and
    the derivative is infinite.

    Args:
        T: temperature ``> 0``; h: field; J: coupling. Floats or broadcastable arrays.
        tol, max_steps: passed to :func:`jaxphys.theory.fixed_point.solve`.

    Returns:
        ``Solution(value={"m": m}, status, num_steps)``, arrays of the broadcast shape.

    Raises:
        ValueError: concrete ``T <= 0`` or NaN, non-finite ``h`` or ``J``.
    """
    T, h, J = temperature(T), parameter(h, "h"), parameter(J, "J")
    return jit_broadcast(_solve_one, (T, h, J), static=(tol, max_steps))


def _thermo_one(T, h, J, tol, max_steps):
    sol = _solve_one(T, h, J, tol, max_steps)
    m = sol.value["m"]
    beta = 1.0 / T
    y = beta * (J * m + h)
    f = 0.5 * J * m**2 - T * _log_2cosh(y)
    u = -0.5 * J * m**2 - h * m
    sech2 = 1.0 - jnp.tanh(y) ** 2
    chi = beta * sech2 / (1.0 - beta * J * sech2)
    bad = invalid_temperature(T)
    out = [jnp.where(bad, jnp.nan, v) for v in (m, f, u, (u - f) / T, chi)]
    return CurieWeissThermodynamics(*out, sol.status)


def thermodynamics(
    T: ArrayLike, h: ArrayLike = 0.0, J: ArrayLike = 1.0, *, tol: float = 1e-10, max_steps: int = 5000
) -> CurieWeissThermodynamics:
    """Magnetization, free energy, energy, entropy and susceptibility per spin (formulas in the module doc).

    Args and Raises: as :func:`solve`. Returns: :class:`CurieWeissThermodynamics`.
    """
    T, h, J = temperature(T), parameter(h, "h"), parameter(J, "J")
    return jit_broadcast(_thermo_one, (T, h, J), static=(tol, max_steps))


def free_energy(T: ArrayLike, h: ArrayLike = 0.0, J: ArrayLike = 1.0) -> Array:
    """``f = J m^2 / 2 - T ln 2 cosh((J m + h) / T)`` per spin (see :func:`thermodynamics`)."""
    return thermodynamics(T, h, J).free_energy


def energy(T: ArrayLike, h: ArrayLike = 0.0, J: ArrayLike = 1.0) -> Array:
    """``u = -J m^2 / 2 - h m`` per spin (see :func:`thermodynamics`)."""
    return thermodynamics(T, h, J).energy


def entropy(T: ArrayLike, h: ArrayLike = 0.0, J: ArrayLike = 1.0) -> Array:
    """``s = (u - f) / T`` per spin (see :func:`thermodynamics`)."""
    return thermodynamics(T, h, J).entropy


def susceptibility(T: ArrayLike, h: ArrayLike = 0.0, J: ArrayLike = 1.0) -> Array:
    """``chi = dm/dh = beta sech^2(y) / (1 - beta J sech^2(y))``, ``y = beta (J m + h)``."""
    return thermodynamics(T, h, J).susceptibility


def critical_temperature(J: Any = 1.0) -> Array:
    """``T_c = J`` (where ``beta J = 1`` makes ``m = 0`` unstable at ``h = 0``)."""
    return parameter(J, "J")
