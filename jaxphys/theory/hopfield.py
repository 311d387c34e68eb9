"""Replica-symmetric theory of the Hopfield network (Amit, Gutfreund & Sompolinsky).

``P = alpha N`` random patterns stored by the Hebbian rule (:class:`jaxphys.models.Hopfield`),
temperature ``T = 1/beta``, one condensed pattern with Mattis overlap ``m``. The RS saddle
(Amit, Gutfreund & Sompolinsky, Ann. Phys. 173, 30, 1987), with
``x = m + sqrt(alpha r) z``, ``z ~ N(0, 1)``:

    m = E_z tanh(beta x),   q = E_z tanh^2(beta x),   r = q / (1 - C)^2,   C = beta (1 - q),

and the free energy per spin (the ``alpha/2`` is the excluded self-coupling, as in the model's
``E = -(N/2) sum_mu m_mu^2 + P/2``)

    f = alpha/2 + m^2/2 + (alpha T / 2) ln(1 - C) - (alpha/2) q / (1 - C) + alpha r C / 2
        - T E_z ln 2 cosh(beta x).

At ``T = 0`` (``q = 1``, ``C`` finite; ``y = m / sqrt(2 alpha r)``):

    m = erf(y),   C = sqrt(2 / (pi alpha r)) exp(-y^2),   r = 1 / (1 - C)^2,
    f = -m^2/2 - (alpha/2) C (2 - C) / (1 - C)^2,

so along the retrieval branch ``sqrt(alpha) = erf(y) / (sqrt(2) y) - sqrt(2/pi) exp(-y^2)``,
whose maximum is the capacity ``alpha_c = 0.1379`` with ``m = 0.967`` (AGS 1987, sec. 4).

Phase lines: the spin-glass temperature ``T_g = 1 + sqrt(alpha)``; ``T_M(alpha)``, above which
no retrieval state exists (its spinodal; ``T_M -> 0`` at ``alpha_c``); ``T_c(alpha)``, where the
retrieval and spin-glass free energies cross (the retrieval state is the global minimum below
it; ``alpha = 0.051`` at ``T = 0``). ``alpha -> 0`` gives Curie-Weiss, ``m = tanh(beta m)``.

Numerics: at given ``(alpha, T)`` the retrieval saddle in ``(m, C, r)`` is solved by
:func:`jaxphys.theory.fixed_point.solve` (damped iteration + Newton, implicit derivatives) and
the spin-glass one (``m = 0``) as one bracketed root in ``sqrt(alpha r)`` (plain iteration
falls into the unphysical ``q = 0``, ``C = beta > 1`` solution below ``T = 1``). The
retrieval spinodal is found along the branch parametrised by ``m``: ``sqrt(alpha r)`` solves the
``m`` equation (a bracketed root), which gives ``alpha(m)``; its maximum over ``m`` is
``alpha_M(T)`` and ``T_M`` inverts it. Averages of ``tanh(beta x)`` use the dense trapezoid rule
of :mod:`.perceptron` (accurate while ``beta sqrt(alpha r) < 35``, i.e. down to ``T ~ 0.01``;
``T = 0`` exactly uses the closed ``T = 0`` equations; ``0 < T < 0.01`` may be inaccurate or
NaN with a status bit).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ..status import Solution, Status, flag
from . import fixed_point
from .fixed_point import bracket_root
from .perceptron import _broadcast, _check_value, _invalid, _vectorized, _with_status
from .quadrature import gaussian_expectation_trapezoid, trapezoid_nodes

__all__ = [
    "HopfieldState",
    "RetrievalLimit",
    "solve",
    "free_energy",
    "capacity",
    "spin_glass_temperature",
    "retrieval_temperature",
    "first_order_temperature",
]

_PHASES = ("retrieval", "spin_glass")
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class HopfieldState(NamedTuple):
    """RS state (float scalars or arrays of the grid's shape).

    ``m``: Mattis overlap with the condensed pattern; ``q``: Edwards-Anderson order parameter;
    ``r``: mean squared overlap with the uncondensed patterns (times ``1/alpha``);
    ``C = beta (1 - q)``: the local susceptibility (finite at ``T = 0``); ``free_energy``:
    ``f`` per spin.
    """

    m: Float[Array, "..."]
    q: Float[Array, "..."]
    r: Float[Array, "..."]
    C: Float[Array, "..."]
    free_energy: Float[Array, "..."]


class RetrievalLimit(NamedTuple):
    """End of the retrieval branch: ``alpha`` (= alpha_M(T), the capacity at T) and ``m`` there."""

    alpha: Float[Array, "..."]
    m: Float[Array, "..."]


# --------------------------------------------------------------------------- saddle equations


def _mean_abs(m, sigma):
    """``E|m + sigma z| = m erf(m / (sigma sqrt 2)) + sigma sqrt(2/pi) exp(-m^2 / (2 sigma^2))``."""
    y = m / (jnp.sqrt(2.0) * sigma)
    return m * jax.scipy.special.erf(y) + sigma * _SQRT_2_OVER_PI * jnp.exp(-y * y)


def _field_averages(m, sigma, T):
    """``(E tanh(beta x), E sech^2(beta x) / T, T E ln 2 cosh(beta x))``, ``x = m + sigma z``; T = 0 limits."""
    positive = T > 0
    t = jnp.where(positive, T, 1.0)
    s = jnp.where(sigma > 0, sigma, 1.0)

    def f(x):
        u = x / t
        return jnp.stack([jnp.tanh(u), 1.0 - jnp.tanh(u) ** 2, jnp.logaddexp(u, -u)], axis=-1)

    # the trapezoid rule of gaussian_expectation_trapezoid, one pass over the nodes for all three functions
    z, w = trapezoid_nodes(jnp.result_type(m, sigma, T, float))
    avg = jnp.sum(w[:, None] * f(m + sigma * z), axis=0)
    finite = (avg[0], avg[1] / t, t * avg[2])
    zero = (
        jax.scipy.special.erf(m / (jnp.sqrt(2.0) * s)),
        _SQRT_2_OVER_PI * jnp.exp(-0.5 * (m / s) ** 2) / s,
        _mean_abs(m, s),
    )
    return tuple(jnp.where(positive, a, b) for a, b in zip(finite, zero))


def _update(x, params):
    m, C, r = x
    alpha, T = params
    sigma = jnp.sqrt(alpha * jnp.maximum(r, 0.0))
    m_new, C_new, _ = _field_averages(m, sigma, T)
    q_new = 1.0 - T * C_new
    r_new = q_new / (1.0 - C_new) ** 2
    return (m_new, C_new, r_new)


def _free_energy(m, C, r, alpha, T):
    sigma = jnp.sqrt(alpha * r)
    q = 1.0 - T * C
    _, _, log_cosh = _field_averages(m, sigma, T)
    return (
        0.5 * alpha + 0.5 * m * m + 0.5 * alpha * T * jnp.log1p(-C) - 0.5 * alpha * q / (1.0 - C) + 0.5 * alpha * r * C - log_cosh
    )


def _check_phase(phase: str) -> str:
    if phase not in _PHASES:
        raise ValueError(f"phase must be one of {_PHASES}, got {phase!r}")
    return phase


def _inputs(alpha, T):
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    T = _check_value(T, "T", 0.0, strict=False, hint=" (temperature must be >= 0)")
    alpha, T = _broadcast(alpha, T)
    return alpha, T, _invalid(alpha, 0.0) | _invalid(T, 0.0, strict=False)


def _spin_glass_gap(sigma, params):
    """``sigma (1 - C) - sqrt(alpha q)`` at noise width ``sigma = sqrt(alpha r)``, ``m = 0``."""
    alpha, T = params
    _, C, _ = _field_averages(jnp.zeros_like(sigma), sigma, T)
    q = 1.0 - T * C
    return sigma * (1.0 - C) - jnp.sqrt(alpha * q)


def _spin_glass_scalar(alpha, T):
    """Spin-glass state (m = 0) as one root in ``sigma``; the paramagnet ``q = 0`` above ``T_g``.

    ``h(sigma) = sigma (1 - C) - sqrt(alpha q)`` is ``sigma (1 - beta (1 + sqrt alpha)) < 0`` for
    small ``sigma`` when ``T < T_g`` and ``>= sigma - sqrt(2/pi) - sqrt(alpha) > 0`` at
    ``sigma = sqrt(alpha) + 1`` (``C <= sqrt(2/pi) / sigma``), so the bracket holds the q > 0 root.
    At ``T = 0``, ``sigma = sqrt(alpha) + sqrt(2/pi)`` exactly.
    """
    glassy = T < 1.0 + jnp.sqrt(alpha)
    t = jnp.where(glassy, T, 0.5)
    lower = 1e-4 * jnp.minimum(1.0, t)  # h(lower) ~ lower (1 - beta (1 + sqrt alpha)) < 0
    sol = bracket_root(_spin_glass_gap, lower, jnp.sqrt(alpha) + 1.0, (alpha, t))
    sigma = jnp.where(glassy, sol.value, 0.0)
    zero = jnp.zeros_like(sigma)
    _, C, _ = _field_averages(zero, sigma, T)
    C = jnp.where(glassy, C, 1.0 / jnp.where(glassy, 1.0, T))
    r = sigma**2 / alpha
    f = _free_energy(zero, C, r, alpha, T)
    status = jnp.where(glassy, sol.status, 0).astype(jnp.int32)
    status = flag(status, Status.NAN, ~jnp.isfinite(f))
    q = jnp.where(glassy, 1.0 - T * C, 0.0)
    return HopfieldState(zero, q, r, C, f), status, jnp.where(glassy, sol.num_steps, 0)


def _solve_scalar(alpha, T, phase, tol, max_steps):
    if phase == "spin_glass":
        return _spin_glass_scalar(alpha, T)
    dtype = jnp.result_type(alpha, T)
    x0 = tuple(jnp.asarray(v, dtype) for v in (1.0, 0.0, 1.0))
    sol = fixed_point.solve(lambda x, p: _update(x, p), x0, (alpha, T), tol=tol, max_steps=max_steps)
    m, C, r = sol.value
    f = _free_energy(m, C, r, alpha, T)
    status = flag(sol.status, Status.NAN, ~jnp.isfinite(f))
    return HopfieldState(m, 1.0 - T * C, r, C, f), status, sol.num_steps


def solve(alpha: ArrayLike, T: ArrayLike, *, phase: str = "retrieval", tol: float = 1e-10, max_steps: int = 5000) -> Solution:
    """RS saddle point of the Hopfield model at load ``alpha`` and temperature ``T``.

    Iterates the AGS equations of the module docstring in ``(m, C, r)`` from ``m = 1``
    (``phase="retrieval"``: converges to the retrieval state where it exists, ``T < T_M(alpha)``,
    else to the spin-glass/paramagnetic one) or with ``m = 0`` held fixed
    (``phase="spin_glass"``: the spin-glass state below ``T_g = 1 + sqrt(alpha)``, the
    paramagnet ``q = 0`` above). ``T = 0`` uses the zero-temperature equations.

    Args:
        alpha: load ``P/N > 0``, float scalar or array.
        T: temperature ``>= 0``, float scalar or array (broadcast with ``alpha``).
        phase: ``"retrieval"`` or ``"spin_glass"``.
        tol, max_steps: passed to :func:`jaxphys.theory.fixed_point.solve` (retrieval phase;
            the spin-glass root uses :func:`bracket_root`'s defaults).

    Returns:
        ``Solution(value=HopfieldState(m, q, r, C, free_energy), status, num_steps)`` with the
        broadcast shape; differentiable in ``alpha`` and ``T`` (implicit function theorem).
        ``status``: ``NOT_CONVERGED``/``NAN`` from the solver, ``INVALID_PARAMETER`` for traced
        ``alpha <= 0``, ``T < 0`` or non-finite values.

    Raises:
        ValueError: unknown ``phase``; concrete ``alpha <= 0``, ``T < 0`` or NaN/inf.
    """
    _check_phase(phase)
    alpha, T, bad = _inputs(alpha, T)
    return _solve_grid(alpha, T, bad, phase, tol, max_steps)


@functools.partial(jax.jit, static_argnames=("phase", "tol", "max_steps"))
def _solve_grid(alpha, T, bad, phase, tol, max_steps):
    state, status, steps = _vectorized(lambda a, t: _solve_scalar(a, t, phase, tol, max_steps), alpha, T)
    return _with_status(Solution(state, status, steps), bad)


def free_energy(alpha: ArrayLike, T: ArrayLike, m: ArrayLike, q: ArrayLike, r: ArrayLike) -> Float[Array, "..."]:
    """AGS RS free energy per spin ``f(m, q, r)`` at any (not only saddle) order parameters.

    Formula in the module docstring (``T > 0``; the saddle values make it stationary). Shapes
    broadcast; differentiable in all arguments.

    Raises:
        ValueError: concrete ``alpha <= 0``, ``T <= 0`` or NaN/inf.
    """
    alpha = _check_value(alpha, "alpha", 0.0)
    T = _check_value(T, "T", 0.0, hint=" (use solve(alpha, 0.0) for the T = 0 energy)")
    m, q, r = (jnp.asarray(v, jnp.result_type(v, float)) for v in (m, q, r))
    return _free_energy(m, (1.0 - q) / T, r, alpha, T)


# --------------------------------------------------------------------------- T = 0 capacity


def _sqrt_alpha_zero_temperature(y):
    """``sqrt(alpha)`` along the T = 0 retrieval branch, parametrised by ``y = m / sqrt(2 alpha r)``."""
    return jax.scipy.special.erf(y) / (jnp.sqrt(2.0) * y) - _SQRT_2_OVER_PI * jnp.exp(-y * y)


# sqrt(alpha(y)) peaks at y = 1.51 (alpha = 0.1379); its slope changes sign inside [1, 2.5].
_Y_BRACKET = (1.0, 2.5)


def _capacity_zero_temperature(dtype):
    slope = jax.grad(_sqrt_alpha_zero_temperature)
    sol = bracket_root(lambda y, _: slope(y), *_Y_BRACKET, jnp.zeros((), dtype))
    y = sol.value
    return RetrievalLimit(_sqrt_alpha_zero_temperature(y) ** 2, jax.scipy.special.erf(y)), sol


# --------------------------------------------------------------------------- T > 0 retrieval branch


def _curie_weiss_m(beta):
    """Largest root of ``m = tanh(beta m)`` (beta > 1)."""
    return bracket_root(lambda m, b: jnp.tanh(b * m) - m, 1e-8, 1.0, beta).value


# Noise width bracket for the m equation: at sigma = 3 the average tanh is <= 0.3 m for every
# beta > 1 (Gaussian smoothing), below m, while sigma = 0 gives tanh(beta m) > m.
_SIGMA_MAX = 3.0


def _branch_alpha(m, T):
    """``alpha(m)`` along the retrieval branch at temperature ``T > 0``."""
    beta = 1.0 / T
    sigma = bracket_root(
        lambda s, p: gaussian_expectation_trapezoid(jnp.tanh, p[0] * p[1], p[0] * s) - p[1], 0.0, _SIGMA_MAX, (beta, m)
    ).value
    q = gaussian_expectation_trapezoid(lambda x: jnp.tanh(x) ** 2, beta * m, beta * sigma)
    return sigma**2 * (1.0 - beta * (1.0 - q)) ** 2 / q


def _capacity_positive_temperature(T):
    """``(alpha_M(T), m there)`` for ``0 < T < 1``: maximum of ``alpha(m)`` over ``m in (0, m_CW)``.

    The maximiser is found as a root of ``d alpha / dm`` in ``[0.3, 0.999] m_CW`` (the branch
    rises from 0 at ``m -> 0``, where it meets the marginal point ``C = 1``, and falls to 0 at
    ``m_CW``; at ``m = 0.999 m_CW`` it falls for every T, e.g. ``alpha = 0.09 < 0.138`` at
    ``T = 0``, while ``sqrt(alpha r)`` there stays away from 0 even in float32); by the envelope theorem ``d alpha_M / dT = d alpha / dT`` at fixed ``m``, so
    ``m*`` carries no derivative.
    """
    m_cw = jax.lax.stop_gradient(_curie_weiss_m(1.0 / T))
    slope = jax.grad(_branch_alpha, argnums=0)
    sol = bracket_root(lambda m, t: slope(m, t), 0.3 * m_cw, 0.999 * m_cw, jax.lax.stop_gradient(T))
    m_star = jax.lax.stop_gradient(sol.value)
    return RetrievalLimit(_branch_alpha(m_star, T), m_star), sol


def capacity(T: ArrayLike = 0.0) -> Solution:
    """Largest load ``alpha_M(T)`` with a retrieval state, and its overlap ``m`` there.

    ``T = 0``: maximum of ``alpha(y)`` of the module docstring, ``alpha_c = 0.1379``, ``m =
    0.967`` (AGS 1987). ``0 < T < 1``: maximum of ``alpha(m)`` along the retrieval branch
    (``alpha_M -> 0`` as ``T -> 1``, the Curie-Weiss critical point); ``T >= 1`` has no retrieval
    state (``INVALID_PARAMETER``, value NaN).

    Args:
        T: temperature ``>= 0``, float scalar or array; differentiable for ``T > 0``.

    Returns:
        ``Solution(value=RetrievalLimit(alpha, m), status, num_steps)`` with the shape of ``T``.

    Raises:
        ValueError: concrete ``T < 0`` or NaN/inf.
    """
    T = _check_value(T, "T", 0.0, strict=False, hint=" (temperature must be >= 0)")
    (T,) = _broadcast(T)
    return _capacity_grid(T)


@jax.jit
def _capacity_grid(T):
    zero, zero_sol = _capacity_zero_temperature(T.dtype)

    def one(t):
        ordered = (t > 0) & (t < 1)
        limit, sol = _capacity_positive_temperature(jnp.where(ordered, t, 0.5))
        alpha = jnp.where(t == 0, zero.alpha, jnp.where(ordered, limit.alpha, jnp.nan))
        m = jnp.where(t == 0, zero.m, jnp.where(ordered, limit.m, jnp.nan))
        status = jnp.where(t == 0, zero_sol.status, jnp.where(ordered, sol.status, int(Status.INVALID_PARAMETER))).astype(
            jnp.int32
        )
        return RetrievalLimit(alpha, m), status, sol.num_steps

    value, status, steps = _vectorized(one, T)
    return _with_status(Solution(value, status, steps), _invalid(T, 0.0, strict=False))


# --------------------------------------------------------------------------- phase lines


def spin_glass_temperature(alpha: ArrayLike) -> Float[Array, "..."]:
    """``T_g(alpha) = 1 + sqrt(alpha)``: below it ``q > 0`` (AGS 1987).

    From linearising ``q = E tanh^2(beta sqrt(alpha r) z)``, ``r = q / (1 - beta)^2`` at ``q -> 0``:
    ``beta^2 alpha = (1 - beta)^2``.

    Raises:
        ValueError: concrete ``alpha <= 0`` or NaN/inf.
    """
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    return jnp.where(_invalid(alpha, 0.0), jnp.nan, 1.0 + jnp.sqrt(alpha))


# T_M(alpha) is searched in [0, 0.99]: alpha_M(0.99) ~ 1e-8 (alpha_M falls like (1 - T)^4 and is
# lost to rounding in float32 closer to T = 1), so loads below ~1e-8 are refused.
_T_UPPER = 0.99


def _alpha_m(T, zero_alpha):
    limit, _ = _capacity_positive_temperature(jnp.where(T > 0, T, 0.5))
    return jnp.where(T > 0, limit.alpha, zero_alpha)


def retrieval_temperature(alpha: ArrayLike) -> Solution:
    """``T_M(alpha)``: the temperature above which no retrieval state exists (its spinodal).

    Root in ``T in [0, 0.99]`` of ``alpha_M(T) - alpha`` (:func:`capacity`); exists for
    ``0 < alpha < 0.1379`` (``T_M -> 1`` as ``alpha -> 0``; AGS 1987 fig. 2, line T_M); loads
    below ``alpha_M(0.99) ~ 1e-8`` are outside the searched bracket (``INVALID_PARAMETER``).
    The RS line is slightly reentrant: ``alpha_M(T)`` peaks at ``0.13818`` near ``T = 0.02``
    (above ``alpha_M(0) = 0.13791``), so loads in between have two ``T_M`` and are flagged too.

    Args:
        alpha: load, float scalar or array; differentiable.

    Returns:
        ``Solution(value=T_M, status, num_steps)``; ``INVALID_PARAMETER`` (NaN) for
        ``alpha >= alpha_c`` or a traced ``alpha <= 0``.

    Raises:
        ValueError: concrete ``alpha <= 0`` or NaN/inf.
    """
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    (alpha,) = _broadcast(alpha)
    return _retrieval_temperature_grid(alpha)


@jax.jit
def _retrieval_temperature_grid(alpha):
    zero, _ = _capacity_zero_temperature(alpha.dtype)

    def one(a):
        sol = bracket_root(lambda t, a: _alpha_m(t, zero.alpha) - a, 0.0, _T_UPPER, a)
        return sol.value, sol.status, sol.num_steps

    value, status, steps = _vectorized(one, alpha)
    return _with_status(Solution(value, status, steps), _invalid(alpha, 0.0))


def first_order_temperature(alpha: ArrayLike) -> Solution:
    """``T_c(alpha)``: retrieval and spin-glass free energies are equal (first-order line).

    Root in ``T in [0, (1 - 1e-3) T_M(alpha)]`` of ``f_retrieval - f_spin_glass`` (both from
    :func:`solve`); exists for ``0 < alpha < 0.051`` (AGS 1987 fig. 2, line T_c); below it the
    retrieval state is the global minimum.

    Args:
        alpha: load, float scalar or array; differentiable.

    Returns:
        ``Solution(value=T_c, status, num_steps)``; ``INVALID_PARAMETER`` (NaN) where the free
        energies do not cross.

    Raises:
        ValueError: concrete ``alpha <= 0`` or NaN/inf.
    """
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    (alpha,) = _broadcast(alpha)
    return _first_order_grid(alpha)


@jax.jit
def _first_order_grid(alpha):
    t_m = jax.lax.stop_gradient(_retrieval_temperature_grid(alpha))

    def gap(t, a):
        retrieval, _, _ = _solve_scalar(a, t, "retrieval", 1e-10, 5000)
        glass, _, _ = _solve_scalar(a, t, "spin_glass", 1e-10, 5000)
        return retrieval.free_energy - glass.free_energy

    def one(a, t_max):
        upper = jnp.where(jnp.isfinite(t_max), (1.0 - 1e-3) * t_max, 0.0)
        sol = bracket_root(gap, 0.0, upper, a)
        return sol.value, sol.status, sol.num_steps

    value, status, steps = _vectorized(one, alpha, t_m.value)
    return _with_status(Solution(value, status | t_m.status, steps), _invalid(alpha, 0.0))
