"""Sherrington-Kirkpatrick model, replica-symmetric (RS) solution.

``E = -sum_{i<j} J_ij s_i s_j - h sum_i s_i`` with ``J_ij ~ N(J0 / N, J^2 / N)``
(Sherrington & Kirkpatrick, PRL 35, 1792 (1975)). With ``beta = 1/T``, ``z ~ N(0, 1)`` and the
effective field ``H(z) = J0 m + h + J sqrt(q) z``, the RS saddle point is

    m = E tanh(beta H),        q = E tanh^2(beta H),

    -beta f = beta^2 J^2 (1 - q)^2 / 4 - beta J0 m^2 / 2 + E ln 2 cosh(beta H),
    u = -beta J^2 (1 - q^2) / 2 - J0 m^2 / 2 - h m,
    s = beta (u - f) = -beta^2 J^2 (1 - q)^2 / 4 + E [ln 2 cosh(beta H) - beta H tanh(beta H)],

(the last form has no cancellation at low T). Replicon (de Almeida-Thouless, J. Phys. A 11,
983 (1978)) stability: ``lambda_AT = 1 - beta^2 J^2 E sech^4(beta H) > 0``; the AT line
``h_AT(T)`` solves ``lambda_AT = 0`` (``h_AT^2 ~ (4/3) (1 - T)^3`` near ``T = J = 1``).

Phase diagram (``h = 0``): para/spin-glass at ``T = J`` (``J0 < J``), para/ferro at ``T = J0``
(``J0 > J``), ferro/spin-glass where RS ``m`` appears continuously, ``beta J0 (1 - q_SG) = 1``,
i.e. ``J0 = T / (1 - q_SG(T))`` (``-> sqrt(pi/2) J`` as ``T -> 0``). Below ``T = J`` the RS
solution is unstable (``lambda_AT < 0``) and wrong: e.g. ``s(T=0) = -1/(2 pi) < 0`` and
``u(0) = -sqrt(2/pi) = -0.798`` vs Parisi's ``-0.7633``.

Gaussian averages use :func:`jaxphys.theory.quadrature.gaussian_expectation_focused`, centred on
the zero of ``H`` with width ``T / (J sqrt q)``, so the sharp ``tanh`` of low temperatures is
resolved. Everything is vmappable and differentiable (implicit function theorem); arguments
may be broadcastable arrays; concrete ``T <= 0`` raises, a traced one sets
``Status.INVALID_PARAMETER`` and gives NaN.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple


import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._validate import as_count
from ..status import Solution, Status, flag
from . import fixed_point
from ._params import invalid_temperature, jit_broadcast, parameter, temperature
from .quadrature import gaussian_expectation_focused

__all__ = [
    "solve",
    "thermodynamics",
    "free_energy",
    "energy",
    "entropy",
    "at_eigenvalue",
    "at_line",
    "ferromagnetic_boundary",
    "critical_temperature",
    "RSThermodynamics",
]

_DEFAULT_NODES = 256


class RSThermodynamics(NamedTuple):
    """RS results per spin (arrays of the broadcast shape); ``status`` from the solver."""

    m: Array
    q: Array
    free_energy: Array
    energy: Array
    entropy: Array
    at_eigenvalue: Array
    status: Array


def _sqrt0(q: Array) -> Array:
    """``sqrt(max(q, 0))`` with derivative 0 (not NaN) at ``q = 0``, where the paramagnet sits."""
    positive = q > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, q, 1.0)), 0.0)


def _log_2cosh(y: Array) -> Array:
    y = jnp.abs(y)
    return y + jnp.log1p(jnp.exp(-2.0 * y))


def _sech(y: Array) -> Array:
    e = jnp.exp(-jnp.abs(y))
    return 2.0 * e / (1.0 + e * e)


def _average(f, m, q, T, h, J0, J, num_nodes):
    """``E_z f(beta H(z))`` with ``H = J0 m + h + J sqrt(q) z``; ``f`` maps ``y -> array (..., k)``."""
    beta = 1.0 / T
    sqrt_q = _sqrt0(q)
    center = J0 * m + h
    scale = jnp.maximum(J * sqrt_q, 1e-12)  # node placement only (no derivative flows through it)
    return gaussian_expectation_focused(
        lambda z: f(beta * (center + J * sqrt_q * z)), focus=-center / scale, width=T / scale, num_nodes=num_nodes
    )


def _update(x, p, num_nodes):
    T, h, J0, J = p
    mq = _average(lambda y: jnp.stack([jnp.tanh(y), jnp.tanh(y) ** 2], -1), x["m"], x["q"], T, h, J0, J, num_nodes)
    return {"m": mq[0], "q": mq[1]}


class _Update:
    """Hashable update (so fixed_point's jit cache is hit across calls with the same node count)."""

    def __init__(self, num_nodes: int):
        self.num_nodes = num_nodes

    def __call__(self, x, p):
        return _update(x, p, self.num_nodes)

    def __hash__(self):
        return hash((_Update, self.num_nodes))

    def __eq__(self, other):
        return isinstance(other, _Update) and other.num_nodes == self.num_nodes


def _solve_one(T, h, J0, J, m0, q0, num_nodes, tol, max_steps):
    if m0 is None:
        # The RS map is increasing in (m, q) for J0 >= 0, h >= 0: iterating from the top
        # (m, q) = (1, 1) descends to the largest fixed point, the thermodynamic branch.
        m0 = jnp.where(h < 0, -1.0, 1.0).astype(T.dtype)
    x0 = {"m": jnp.asarray(m0, T.dtype), "q": jnp.asarray(q0, T.dtype)}
    sol = fixed_point.solve(_Update(num_nodes), x0, (T, h, J0, J), tol=tol, max_steps=max_steps)
    status = flag(sol.status, Status.INVALID_PARAMETER, invalid_temperature(T))
    return Solution(sol.value, status, sol.num_steps)


def _check_options(m0, q0, num_nodes):
    num_nodes = as_count(num_nodes, "num_nodes", minimum=2)
    if m0 is not None:
        m0 = parameter(m0, "m0")
    return m0, parameter(q0, "q0"), num_nodes


def solve(
    T: ArrayLike,
    h: ArrayLike = 0.0,
    J0: ArrayLike = 0.0,
    J: ArrayLike = 1.0,
    *,
    m0: ArrayLike | None = None,
    q0: ArrayLike = 1.0,
    num_nodes: int = _DEFAULT_NODES,
    tol: float = 1e-10,
    max_steps: int = 5000,
) -> Solution:
    """RS order parameters ``m = E tanh(beta H)``, ``q = E tanh^2(beta H)``, ``H = J0 m + h + J sqrt(q) z``.

    Args:
        T: temperature ``> 0``; h: uniform field; J0: mean coupling times N; J: coupling
            standard deviation times sqrt(N). Floats or broadcastable arrays.
        m0, q0: initial guess (default ``m0 = sign(h)`` or ``+1`` at ``h = 0``, ``q0 = 1``: the
            positive ferromagnetic branch when there is one).
        num_nodes: quadrature nodes (Python int ``>= 2``). tol, max_steps: see
            :func:`jaxphys.theory.fixed_point.solve`.

    Returns:
        ``Solution(value={"m": m, "q": q}, status, num_steps)`` (broadcast shape).

    Raises:
        ValueError: concrete ``T <= 0`` or NaN, non-finite ``h``, ``J0``, ``J``; bad options.
    """
    T, h, J0, J = temperature(T), parameter(h, "h"), parameter(J0, "J0"), parameter(J, "J")
    m0, q0, num_nodes = _check_options(m0, q0, num_nodes)
    return jit_broadcast(_solve_one, (T, h, J0, J), (m0, q0), (num_nodes, tol, max_steps))


def _observables(m, q, T, h, J0, J, num_nodes):
    beta = 1.0 / T

    def integrand(y):
        t = jnp.tanh(y)
        l2c = _log_2cosh(y)
        return jnp.stack([l2c, l2c - y * t, _sech(y) ** 4], -1)

    log_2cosh, single_entropy, sech4 = _average(integrand, m, q, T, h, J0, J, num_nodes)
    f = -beta * J**2 * (1.0 - q) ** 2 / 4.0 + J0 * m**2 / 2.0 - T * log_2cosh
    u = -beta * J**2 * (1.0 - q**2) / 2.0 - J0 * m**2 / 2.0 - h * m
    s = -(beta**2) * J**2 * (1.0 - q) ** 2 / 4.0 + single_entropy
    lam = 1.0 - beta**2 * J**2 * sech4
    return f, u, s, lam


def _thermo_one(T, h, J0, J, m0, q0, num_nodes, tol, max_steps):
    sol = _solve_one(T, h, J0, J, m0, q0, num_nodes, tol, max_steps)
    m, q = sol.value["m"], sol.value["q"]
    f, u, s, lam = _observables(m, q, T, h, J0, J, num_nodes)
    bad = invalid_temperature(T)
    out = [jnp.where(bad, jnp.nan, v) for v in (m, q, f, u, s, lam)]
    return RSThermodynamics(*out, sol.status)


def thermodynamics(
    T: ArrayLike,
    h: ArrayLike = 0.0,
    J0: ArrayLike = 0.0,
    J: ArrayLike = 1.0,
    *,
    m0: ArrayLike | None = None,
    q0: ArrayLike = 1.0,
    num_nodes: int = _DEFAULT_NODES,
    tol: float = 1e-10,
    max_steps: int = 5000,
) -> RSThermodynamics:
    """RS ``m``, ``q``, free energy ``f``, energy ``u``, entropy ``s`` per spin and ``lambda_AT``.

    Formulas in the module docstring. Args and Raises as :func:`solve`.

    Returns:
        :class:`RSThermodynamics` of arrays of the broadcast shape.
    """
    T, h, J0, J = temperature(T), parameter(h, "h"), parameter(J0, "J0"), parameter(J, "J")
    m0, q0, num_nodes = _check_options(m0, q0, num_nodes)
    return jit_broadcast(_thermo_one, (T, h, J0, J), (m0, q0), (num_nodes, tol, max_steps))


def free_energy(T: ArrayLike, h: ArrayLike = 0.0, J0: ArrayLike = 0.0, J: ArrayLike = 1.0, **options: Any) -> Array:
    """RS free energy per spin ``f`` (module docstring); options as :func:`solve`."""
    return thermodynamics(T, h, J0, J, **options).free_energy


def energy(T: ArrayLike, h: ArrayLike = 0.0, J0: ArrayLike = 0.0, J: ArrayLike = 1.0, **options: Any) -> Array:
    """RS energy per spin ``u = -beta J^2 (1 - q^2)/2 - J0 m^2/2 - h m`` (``-beta J^2 / 2`` above ``T = J``)."""
    return thermodynamics(T, h, J0, J, **options).energy


def entropy(T: ArrayLike, h: ArrayLike = 0.0, J0: ArrayLike = 0.0, J: ArrayLike = 1.0, **options: Any) -> Array:
    """RS entropy per spin ``s = -beta^2 J^2 (1-q)^2/4 + E[ln 2cosh(beta H) - beta H tanh(beta H)]``."""
    return thermodynamics(T, h, J0, J, **options).entropy


def at_eigenvalue(T: ArrayLike, h: ArrayLike = 0.0, J0: ArrayLike = 0.0, J: ArrayLike = 1.0, **options: Any) -> Array:
    """Replicon eigenvalue ``lambda_AT = 1 - beta^2 J^2 E sech^4(beta H)``; RS is stable where it is > 0."""
    return thermodynamics(T, h, J0, J, **options).at_eigenvalue


def _at_residual(h, p, num_nodes, tol, max_steps):
    T, J0, J = p
    sol = _solve_one(T, h, J0, J, None, 1.0, num_nodes, tol, max_steps)
    return _observables(sol.value["m"], sol.value["q"], T, h, J0, J, num_nodes)[3]


def at_line(
    T: ArrayLike,
    J0: ArrayLike = 0.0,
    J: ArrayLike = 1.0,
    *,
    h_max: float = 10.0,
    num_nodes: int = _DEFAULT_NODES,
    tol: float = 1e-10,
    max_steps: int = 5000,
) -> Solution:
    """de Almeida-Thouless field ``h_AT(T)``: the ``h > 0`` where ``lambda_AT(T, h) = 0``.

    Found by :func:`jaxphys.theory.fixed_point.bracket_root` on ``[0, h_max]`` (RS is unstable
    below the line, ``lambda_AT < 0`` at ``h = 0`` for ``T < J``); ``dh_AT/dT`` by the implicit
    function theorem through both the root and the RS order parameters. Near ``T = J = 1``,
    ``h_AT^2 ~ (4/3)(1 - T)^3``.

    Args:
        T: temperature ``> 0`` (float or array); J0, J: couplings (broadcastable).
        h_max: upper end of the search bracket (Python float ``> 0``).
        num_nodes, tol, max_steps: quadrature and inner-solver options (see :func:`solve`).

    Returns:
        ``Solution(value=h_AT, status, num_steps)``; ``Status.INVALID_PARAMETER`` and NaN where
        there is no AT line in ``[0, h_max]`` (e.g. ``T >= J``, where RS is stable at every ``h``).

    Raises:
        ValueError: concrete ``T <= 0``, non-finite couplings, ``h_max <= 0``.
    """
    T, J0, J = temperature(T), parameter(J0, "J0"), parameter(J, "J")
    num_nodes = as_count(num_nodes, "num_nodes", minimum=2)
    if not (isinstance(h_max, (int, float)) and h_max > 0 and math.isfinite(h_max)):
        raise ValueError(f"h_max must be a finite Python float > 0, got {h_max!r}")

    return jit_broadcast(_at_line_one, (T, J0, J), static=(float(h_max), num_nodes, tol, max_steps))


def _at_line_one(T, J0, J, h_max, num_nodes, tol, max_steps):
    residual = _ATResidual(num_nodes, tol, max_steps)
    sol = fixed_point.bracket_root(residual, 0.0, h_max, (T, J0, J), tol=tol, max_steps=200)
    status = flag(sol.status, Status.INVALID_PARAMETER, invalid_temperature(T))
    return Solution(sol.value, status, sol.num_steps)


class _ATResidual:
    def __init__(self, num_nodes, tol, max_steps):
        self.options = (num_nodes, tol, max_steps)

    def __call__(self, h, p):
        return _at_residual(h, p, *self.options)

    def __hash__(self):
        return hash((_ATResidual, self.options))

    def __eq__(self, other):
        return isinstance(other, _ATResidual) and other.options == self.options


def ferromagnetic_boundary(T: ArrayLike, J: ArrayLike = 1.0, *, num_nodes: int = _DEFAULT_NODES) -> Array:
    """RS line ``J0_c(T)`` above which ``m != 0`` at ``h = 0``: ``J0_c = T / (1 - q_SG(T))``.

    Linearising ``m = E tanh(beta (J0 m + J sqrt(q) z))`` at ``m = 0`` gives
    ``m = beta J0 (1 - q) m`` (``E sech^2 = 1 - q`` at ``m = h = 0``). For ``T >= J``, ``q_SG = 0``
    and this is the para/ferro line ``J0 = T``; for ``T < J`` it is the RS ferro/spin-glass line,
    ending at ``J0_c(0) = sqrt(pi/2) J`` (``beta (1 - q) -> sqrt(2/pi) / J``).

    Args:
        T: temperature ``> 0``; J: coupling spread (broadcastable). num_nodes: quadrature nodes.

    Returns:
        ``J0_c``, array of the broadcast shape (NaN where a traced ``T`` is invalid).

    Raises:
        ValueError: concrete ``T <= 0`` or non-finite ``J``.
    """
    th = thermodynamics(T, 0.0, 0.0, J, num_nodes=num_nodes)
    T = jnp.asarray(T, th.q.dtype)
    return jnp.where(th.status == 0, T / (1.0 - th.q), jnp.nan)


def critical_temperature(J0: ArrayLike = 0.0, J: ArrayLike = 1.0) -> Array:
    """Highest ordering temperature at ``h = 0``: ``T_c = max(J, J0)`` (spin glass if ``J0 < J``, else ferro)."""
    return jnp.maximum(parameter(J, "J"), parameter(J0, "J0"))
