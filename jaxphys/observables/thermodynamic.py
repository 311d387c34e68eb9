"""Thermodynamic observables of spin models.

Per-configuration observables are pure functions ``(model, spins) -> scalar`` (the Observable
protocol); ``STANDARD`` is the set ``mc.run`` and ``exact.averages`` measure by default, all
per spin: e = E/N, m = M/N with M = sum_i s_i, |m|, m^2, m^4 and e^2.

Derived quantities are functions of averages (finite-size conventions of Binder and of
Landau & Binder, "A Guide to Monte Carlo Simulations in Statistical Physics", ch. 4):

    U_4 = 1 - <m^4> / (3 <m^2>^2)                     Binder cumulant
    chi = beta N (<m^2> - <|m|>^2)                    susceptibility (finite lattice, h = 0)
    C   = beta^2 N (<e^2> - <e>^2)                    specific heat per spin
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..typing import Spins


def energy(model, spins: Spins) -> Float[Array, ""]:
    """Energy per spin ``E(s) / N``."""
    return model.energy(spins) / model.num_spins


def energy2(model, spins: Spins) -> Float[Array, ""]:
    """Squared energy per spin ``(E / N)^2`` (for the specific heat)."""
    return energy(model, spins) ** 2


def magnetization(model, spins: Spins) -> Float[Array, ""]:
    """Magnetization per spin ``m = sum_i s_i / N``."""
    return jnp.sum(spins, dtype=jnp.int32).astype(jnp.result_type(float)) / model.num_spins


def abs_magnetization(model, spins: Spins) -> Float[Array, ""]:
    """``|m|``."""
    return jnp.abs(magnetization(model, spins))


def m2(model, spins: Spins) -> Float[Array, ""]:
    """``m^2``."""
    return magnetization(model, spins) ** 2


def m4(model, spins: Spins) -> Float[Array, ""]:
    """``m^4``."""
    return magnetization(model, spins) ** 4


STANDARD: dict[str, Callable] = {
    "energy": energy,
    "magnetization": magnetization,
    "abs_magnetization": abs_magnetization,
    "m2": m2,
    "m4": m4,
    "energy2": energy2,
}
"""Default observables: name -> ``(model, spins) -> scalar``."""


def binder_cumulant(m2_mean, m4_mean):
    """``U_4 = 1 - <m^4> / (3 <m^2>^2)``: 2/3 in the ordered phase, 0 for Gaussian disorder."""
    return 1.0 - m4_mean / (3.0 * m2_mean**2)


def susceptibility(beta, num_spins: int, m2_mean, abs_m_mean):
    """``chi = beta N (<m^2> - <|m|>^2)`` (finite-lattice estimator, zero field)."""
    return beta * num_spins * (m2_mean - abs_m_mean**2)


def specific_heat(beta, num_spins: int, e_mean, e2_mean):
    """``C = beta^2 N (<e^2> - <e>^2)`` per spin, from per-spin energy moments."""
    return beta**2 * num_spins * (e2_mean - e_mean**2)
