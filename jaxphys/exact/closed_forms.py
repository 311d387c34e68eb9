"""Closed-form exact results for Ising models, in ``jax.numpy`` (jit-, vmap- and grad-friendly).

* Onsager: the infinite square lattice at ``h = 0``. Critical point, free energy (L. Onsager,
  Phys. Rev. 65, 117 (1944)), internal energy (the elliptic-integral form, e.g. K. Huang,
  *Statistical Mechanics*, 2nd ed., ch. 15) and spontaneous magnetization (C. N. Yang, Phys.
  Rev. 85, 808 (1952)).
* Kaufman: the finite periodic ``m x n`` square lattice at ``h = 0`` (B. Kaufman, Phys. Rev. 76,
  1232 (1949)), in the notation of A. E. Ferdinand and M. E. Fisher, Phys. Rev. 185, 832 (1969),
  evaluated in log space so that it stays exact for ``L = 16 .. 128`` and beyond.
* The periodic 1D chain in a field (transfer matrix, finite ``N`` and ``N -> infinity``).
* Curie-Weiss: exact finite-``N`` sums over the magnetization and the mean-field solution.

Conventions: ``E = -J sum_<ij> s_i s_j - h sum_i s_i`` (each bond once), ``K = beta J``, and
quantities "per spin" are divided by ``N``. Precision is that of the default float dtype: run
under ``jax.enable_x64(True)`` (or ``jax_enable_x64``) for reference values; the tests check
~1e-10 relative agreement there. Arguments ``beta``, ``J``, ``h`` are array leaves (traceable,
differentiable); sizes (``L``, ``N``) are static Python ints. A concrete ``beta`` that is
negative, NaN or infinite raises ``ValueError``; a traced one yields NaN (a value, not an
exception, as jit requires).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy
from jaxtyping import Array, Float

from ..models.base import as_parameter, is_concrete
from ..mc.base import check_beta as _beta
from ..typing import Scalar

# ---------------------------------------------------------------------------------------------
# shared argument checks (beta: the same check as the samplers)


def _nan_unless_valid(value: Array, beta: Array) -> Array:
    """NaN where a traced ``beta`` is negative or not finite (tier-2 errors: a value, not a raise)."""
    return jnp.where(jnp.isfinite(beta) & (beta >= 0), value, jnp.nan)


def _size(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int (a static size), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _sides(L) -> tuple[int, int]:
    if isinstance(L, (tuple, list)):
        if len(L) != 2:
            raise ValueError(f"L must be an int (L x L lattice) or a pair (rows, cols), got {L!r}")
        return _size(L[0], "rows", 2), _size(L[1], "cols", 2)
    side = _size(L, "L", 2)
    return side, side


# ---------------------------------------------------------------------------------------------
# Onsager: infinite square lattice, h = 0

# ln(1 + sqrt 2) = asinh(1): sinh(2 K_c) = 1 at the self-dual point.
_LN_1_PLUS_SQRT2 = math.asinh(1.0)


def onsager_critical_beta(J=1.0) -> Scalar:
    """Critical inverse temperature ``beta_c = ln(1 + sqrt 2) / (2 |J|) = 0.4406867935... / |J|``.

    Kramers-Wannier self-duality point ``sinh(2 beta_c J) = 1`` of the square-lattice Ising model.
    For ``J < 0`` (antiferromagnet) it is the Neel point, at the same ``|J|``. Raises
    ``ValueError`` for a concrete NaN/inf ``J``.
    """
    J = as_parameter(J, "J")
    return _LN_1_PLUS_SQRT2 / (2.0 * jnp.abs(J))


def onsager_critical_temperature(J=1.0) -> Scalar:
    """Critical temperature ``T_c = 2 |J| / ln(1 + sqrt 2) = 2.269185314... |J|`` (``k_B = 1``)."""
    J = as_parameter(J, "J")
    return 2.0 * jnp.abs(J) / _LN_1_PLUS_SQRT2


def _composite_gauss_legendre(num_panels: int = 48, nodes_per_panel: int = 12):
    """Nodes and weights on ``[0, pi/2]``, panels halving in width towards ``x = 0``.

    Near ``T_c`` the integrand of the free energy, ``ln[(1 + sqrt(k'^2 + k^2 sin^2 x)) / 2]``,
    has branch points at ``x ~ +-i k'`` (``k' -> 0`` at ``T_c``). A panel ``[a, 2a]`` sees them at
    a distance ``>= a``, so 12 Gauss nodes per panel reach float64 rounding for any ``k'``
    down to ``2^-48``; the last panel ``[0, (pi/2) 2^-48]`` contributes below rounding anyway.
    """
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    edges = (math.pi / 2) * 2.0 ** -np.arange(num_panels + 1, dtype=np.float64)
    edges = np.append(edges, 0.0)
    lo, hi = edges[1:], edges[:-1]
    nodes = (0.5 * (hi - lo))[:, None] * x[None, :] + (0.5 * (hi + lo))[:, None]
    weights = (0.5 * (hi - lo))[:, None] * w[None, :]
    return nodes.reshape(-1), weights.reshape(-1)


_QUAD_NODES, _QUAD_WEIGHTS = _composite_gauss_legendre()


def _onsager_moduli(K: Array):
    """``kappa = 2 sinh 2K / cosh^2 2K`` and the signed ``q = 2 tanh^2(2K) - 1``, overflow-free.

    With ``t = tanh 2K`` and ``c = 1 / cosh 2K``: ``kappa = 2 t c``, ``q = t^2 - c^2``, and
    ``kappa^2 + q^2 = (t^2 + c^2)^2 = 1``, so ``|q| = kappa' = sqrt(1 - kappa^2)`` without forming
    ``1 - kappa^2``. ``q`` changes sign at ``T_c`` (``q < 0`` above).
    """
    t = jnp.tanh(2.0 * K)
    c = 1.0 / jnp.cosh(2.0 * K)
    return 2.0 * t * c, t * t - c * c


def onsager_free_energy(beta, J=1.0) -> Float[Array, "..."]:
    """Free energy per spin ``f`` of the infinite square lattice at ``h = 0`` (Onsager 1944).

        -beta f = ln(2 cosh 2K) + (1/pi) int_0^(pi/2) ln[(1 + sqrt(1 - kappa^2 sin^2 theta)) / 2] dtheta,

    ``K = beta J``, ``kappa = 2 sinh 2K / cosh^2 2K``; at ``beta_c``, ``-beta f = ln(2)/2 + 2G/pi =
    0.9296953983...`` (``G`` Catalan's constant). The integral uses 576-node graded composite
    Gauss-Legendre quadrature (float64 rounding for every ``beta``, also next to ``beta_c``).
    Returns ``f`` itself, not ``-beta f``; ``f -> -inf`` as ``beta -> 0`` (``-inf`` at 0).
    Differentiable: ``d(beta f)/dbeta = u`` (:func:`onsager_energy`).

    Args:
        beta: inverse temperature ``>= 0``, scalar or array (elementwise).
        J: coupling; even in ``J`` (an antiferromagnet has the same ``f`` at ``h = 0``).

    Returns:
        ``f`` per spin, shape of ``beta``, default float dtype.

    Raises:
        ValueError: concrete negative/NaN/inf ``beta``, NaN/inf ``J``.
    """
    return _onsager_free_energy(_beta(beta), as_parameter(J, "J"))


@jax.jit
def _onsager_free_energy(beta: Array, J: Array) -> Array:
    K = beta * J
    kappa, q = _onsager_moduli(K)
    x = jnp.asarray(_QUAD_NODES, beta.dtype)
    w = jnp.asarray(_QUAD_WEIGHTS, beta.dtype)
    # 1 - kappa^2 sin^2(pi/2 - x) = kappa'^2 + kappa^2 sin^2 x: no cancellation near x = 0.
    root = jnp.sqrt(q[..., None] ** 2 + (kappa[..., None] * jnp.sin(x)) ** 2)
    integral = jnp.sum(w * jnp.log1p(root) - w * math.log(2.0), axis=-1) / math.pi
    abs_2k = jnp.abs(2.0 * K)
    log_2cosh_2k = abs_2k + jnp.log1p(jnp.exp(-2.0 * abs_2k))
    minus_beta_f = log_2cosh_2k + integral
    return _nan_unless_valid(-minus_beta_f / beta, beta)


def _agm(a: Array, b: Array, iterations: int = 24) -> Array:
    """Arithmetic-geometric mean; quadratic convergence, 24 steps suffice for ``b >= 1e-300``."""

    def body(_, ab):
        a, b = ab
        return 0.5 * (a + b), jnp.sqrt(a * b)

    a, _ = jax.lax.fori_loop(0, iterations, body, (a, b))
    return a


def onsager_energy(beta, J=1.0) -> Float[Array, "..."]:
    """Internal energy per spin ``u`` of the infinite square lattice at ``h = 0``.

        u = -J coth(2K) [1 + (2/pi) (2 tanh^2(2K) - 1) K_1(kappa)],   K_1(k) = pi / (2 AGM(1, sqrt(1 - k^2))),

    ``K_1`` the complete elliptic integral of the first kind (by the arithmetic-geometric mean).
    Since ``2 tanh^2(2K) - 1 = +-sqrt(1 - kappa^2)`` the bracket is evaluated as
    ``1 + q / AGM(1, |q|)`` with ``q = 2 tanh^2(2K) - 1``, finite at ``T_c`` where
    ``u(beta_c) = -sqrt(2) J``. At high temperature (``beta J < 0.01``) relative precision
    degrades like ``eps / (beta J)^2``. ``u(0) = 0``.

    Args:
        beta: inverse temperature ``>= 0``, scalar or array. J: coupling.

    Returns:
        ``u`` per spin, shape of ``beta``.

    Raises:
        ValueError: concrete negative/NaN/inf ``beta``, NaN/inf ``J``.
    """
    return _onsager_energy(_beta(beta), as_parameter(J, "J"))


@jax.jit
def _onsager_energy(beta: Array, J: Array) -> Array:
    K = beta * J
    _, q = _onsager_moduli(K)
    at_tc = q == 0
    # q / AGM(1, |q|) -> 0 as q -> 0 (AGM ~ pi / (2 ln(4/|q|))); the double where keeps grads finite.
    abs_q = jnp.where(at_tc, 1.0, jnp.abs(q))
    ratio = jnp.where(at_tc, 0.0, q / _agm(jnp.ones_like(abs_q), abs_q))
    zero_k = K == 0
    coth_2k = 1.0 / jnp.tanh(2.0 * jnp.where(zero_k, 1.0, K))
    u = jnp.where(zero_k, 0.0, -J * coth_2k * (1.0 + ratio))
    return _nan_unless_valid(u, beta)


def onsager_magnetization(beta, J=1.0) -> Float[Array, "..."]:
    """Spontaneous magnetization per spin (Yang 1952): ``(1 - sinh^-4(2K))^(1/8)`` for ``T < T_c``, else 0.

    ``m -> 1`` as ``T -> 0`` and ``m ~ (1 - T/T_c)^(1/8)`` near ``T_c``. For ``J < 0`` this is the
    staggered magnetization of the antiferromagnet (the uniform one vanishes).

    Args:
        beta: inverse temperature ``>= 0``, scalar or array. J: coupling.

    Returns:
        ``m`` in ``[0, 1]``, shape of ``beta``.

    Raises:
        ValueError: concrete negative/NaN/inf ``beta``, NaN/inf ``J``.
    """
    return _onsager_magnetization(_beta(beta), as_parameter(J, "J"))


@jax.jit
def _onsager_magnetization(beta: Array, J: Array) -> Array:
    s = jnp.sinh(2.0 * jnp.abs(beta * J))
    ordered = s > 1.0
    s_safe = jnp.where(ordered, s, 2.0)
    m = jnp.where(ordered, (1.0 - s_safe**-4) ** 0.125, 0.0)
    return _nan_unless_valid(m, beta)


# ---------------------------------------------------------------------------------------------
# Kaufman: finite periodic m x n lattice, h = 0


def _log_2cosh(y: Array) -> Array:
    """``ln(2 cosh y)`` for ``y >= 0`` without overflow."""
    return y + jnp.log1p(jnp.exp(-2.0 * y))


def _log_tanh(y: Array) -> Array:
    """``ln tanh y`` for ``y > 0``, accurate also where ``tanh y`` rounds to 1."""
    e = jnp.exp(-2.0 * y)
    return jnp.log1p(-e) - jnp.log1p(e)


def _kaufman_log_z(rows: int, cols: int, K: Array) -> Array:
    """``ln Z`` of the periodic ``rows x cols`` lattice at coupling ``K > 0`` (Kaufman 1949; Ferdinand & Fisher 1969).

        Z = 1/2 (2 sinh 2K)^(mn/2) (Z_1 + Z_2 + Z_3 + Z_4),     m = rows, n = cols,
        Z_1 = prod_(r<n) 2 cosh(m gamma_(2r+1)/2),   Z_2 = prod_(r<n) 2 sinh(m gamma_(2r+1)/2),
        Z_3 = prod_(r<n) 2 cosh(m gamma_(2r)/2),     Z_4 = prod_(r<n) 2 sinh(m gamma_(2r)/2),
        cosh gamma_l = cosh 2K coth 2K - cos(pi l / n),     gamma_0 = 2K + ln tanh K  (signed!).

    ``gamma_0 < 0`` above ``T_c``, so ``Z_4 < 0`` there; taking ``|gamma_0|`` (as ``arccosh``
    would) is the classic error. Everything is kept in logs: ``Z_2 = Z_1 prod tanh`` and
    ``Z_3 + Z_4 = C [(1 + P) e^x + (1 - P) e^-x]`` with ``x = m gamma_0 / 2``,
    ``C = prod_(r>=1) 2 cosh(m gamma_2r / 2)``, ``P = prod_(r>=1) tanh(m gamma_2r / 2)``: no
    cancellation, no ``|x|``, so every derivative is right also at ``x = 0`` (``T = T_c``).
    """
    dtype = K.dtype
    m, n = rows, cols
    # gamma_l / 2 = asinh(sqrt(sinh^2(gamma_0 / 2) + sin^2(pi l / 2n))) is the accurate form of
    # the arccosh above (cosh g - 1 = 2 sinh^2(g/2)), exact also for small gamma near T_c.
    k_dual = jnp.arctanh(jnp.exp(-2.0 * K))  # tanh K* = e^-2K, gamma_0 = 2 (K - K*)
    half_gamma_0 = K - k_dual
    sinh2_half_gamma_0 = jnp.sinh(half_gamma_0) ** 2
    ell = np.arange(1, 2 * n)
    sin2 = jnp.asarray(np.sin(np.pi * ell / (2 * n)) ** 2, dtype)
    half_gamma = jnp.arcsinh(jnp.sqrt(sinh2_half_gamma_0 + sin2))  # gamma_l / 2, l = 1 .. 2n-1
    y = m * half_gamma  # m gamma_l / 2
    y_odd = y[0::2]  # l = 1, 3, ..., 2n-1
    y_even = y[1::2]  # l = 2, 4, ..., 2n-2 (l = 0 handled separately)

    log_z1 = jnp.sum(_log_2cosh(y_odd))
    log_z2 = log_z1 + jnp.sum(_log_tanh(y_odd))
    log_c = jnp.sum(_log_2cosh(y_even))
    log_p = jnp.sum(_log_tanh(y_even))
    # ln(1 - P): P -> 1 only where e^-x is negligible; the floor keeps log and its grad finite.
    tiny = jnp.finfo(dtype).tiny
    log_one_minus_p = jnp.log(-jnp.expm1(jnp.minimum(log_p, -tiny)))
    x = m * half_gamma_0
    terms = jnp.stack([log_z1, log_z2, log_c + jnp.log1p(jnp.exp(log_p)) + x, log_c + log_one_minus_p - x])
    log_2sinh_2k = 2.0 * K + jnp.log(-jnp.expm1(-4.0 * K))
    return -math.log(2.0) + 0.5 * m * n * log_2sinh_2k + jax.nn.logsumexp(terms)


def _kaufman_setup(L, beta, J):
    rows, cols = _sides(L)
    beta = _beta(beta)
    J = as_parameter(J, "J")
    bipartite = rows % 2 == 0 and cols % 2 == 0
    if not bipartite and is_concrete(J) and bool(jnp.any(J < 0)):
        raise ValueError(
            f"J < 0 on a {rows} x {cols} lattice with an odd side is a frustrated antiferromagnet, "
            "which Kaufman's formula does not cover; use even sides or J >= 0"
        )
    return rows, cols, beta, J, bipartite


def _kaufman_log_z_of_k(rows: int, cols: int, bipartite: bool, K: Array) -> Array:
    """``ln Z(K)`` for any real ``K`` (``K = 0``: ``N ln 2``; ``K < 0`` via the sublattice flip)."""
    num_spins = rows * cols
    # On even x even lattices flipping one sublattice maps K to -K, so Z is even in K.
    k_abs = jnp.abs(K) if bipartite else K
    positive = k_abs > 0
    k_safe = jnp.where(positive, k_abs, 1.0)
    value = jnp.where(positive, _kaufman_log_z(rows, cols, k_safe), num_spins * math.log(2.0))
    return jnp.where(k_abs >= 0, value, jnp.nan)


def kaufman_log_partition_function(L: int | tuple[int, int], beta, J=1.0) -> Float[Array, "..."]:
    """Exact ``ln Z`` of the periodic ``L x L`` (or ``rows x cols``) Ising model at ``h = 0`` (Kaufman 1949).

    See :func:`_kaufman_log_z` for the formula (Ferdinand & Fisher 1969, with the signed
    ``gamma_0``). Exact for any size: the sums are in log space, so ``L = 16, 32, 64, 128`` work
    without overflow; cost ``O(L)``. Matches the transfer matrix and enumeration to ~1e-14
    relative in float64. A side of 2 counts its bond twice (the ``jaxphys.models.Ising`` convention).

    Args:
        L: side (int >= 2) or ``(rows, cols)``.
        beta: inverse temperature ``>= 0``, scalar or array (elementwise).
        J: coupling. ``J < 0`` is allowed when both sides are even (``Z`` is even in ``J`` there).

    Returns:
        ``ln Z`` (extensive), shape of ``beta``, default float dtype.

    Raises:
        ValueError: a side < 2, concrete negative/NaN/inf ``beta``, NaN ``J``, ``J < 0`` with an odd side.
        TypeError: non-int sides.
    """
    return _kaufman("log_z", *_kaufman_setup(L, beta, J))


def kaufman_energy(L: int | tuple[int, int], beta, J=1.0) -> Float[Array, "..."]:
    """Exact energy per spin ``<e> = -(1/N) d ln Z / dbeta`` of the periodic lattice at ``h = 0``.

    The derivative of :func:`kaufman_log_partition_function` by automatic differentiation (exact
    to rounding, no finite differences). Same arguments, shapes and errors.
    """
    return _kaufman("energy", *_kaufman_setup(L, beta, J))


def kaufman_specific_heat(L: int | tuple[int, int], beta, J=1.0) -> Float[Array, "..."]:
    """Exact specific heat per spin ``C = (beta^2 / N) d^2 ln Z / dbeta^2 = (K^2/N) d^2 ln Z / dK^2``, ``h = 0``.

    Second derivative of :func:`kaufman_log_partition_function` by automatic differentiation;
    equals ``beta^2 N (<e^2> - <e>^2)``. Same arguments, shapes and errors. At low temperature
    ``C`` is exponentially small next to the terms it is computed from, so float32 keeps only
    ~3e-4 of it at ``beta J = 1`` (``L = 16``); float64 keeps ~1e-11.
    """
    return _kaufman("specific_heat", *_kaufman_setup(L, beta, J))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 5))
def _kaufman(quantity: str, rows: int, cols: int, beta: Array, J: Array, bipartite: bool) -> Array:
    num_spins = rows * cols

    def log_z(k):
        return _kaufman_log_z_of_k(rows, cols, bipartite, k)

    def one(b, j):
        k = b * j
        if quantity == "log_z":
            return log_z(k)
        if quantity == "energy":  # -(1/N) d ln Z / dbeta = -(J/N) d ln Z / dK
            return -j * jax.grad(log_z)(k) / num_spins
        return k * k * jax.grad(jax.grad(log_z))(k) / num_spins  # (beta^2/N) d^2 ln Z / dbeta^2

    return _nan_unless_valid(jnp.vectorize(one)(beta, J), beta)


# ---------------------------------------------------------------------------------------------
# 1D chain: periodic, in a field


def _chain_log_z(N: int | None, K: Array, H: Array) -> Array:
    """``ln Z`` (finite ``N``) or ``ln Z / N`` (``N = None``) of the periodic chain, ``K = beta J``, ``H = beta h``.

    ``lambda_+- = e^K [cosh H +- R]``, ``R = sqrt(sinh^2 H + e^-4K)``, and
    ``lambda_- / lambda_+ = (1 - e^-4K) / (cosh H + R)^2`` (no cancellation at large K).
    """
    root = jnp.sqrt(jnp.sinh(H) ** 2 + jnp.exp(-4.0 * K))
    big = jnp.cosh(H) + root
    log_lambda_plus = K + jnp.log(big)
    if N is None:
        return log_lambda_plus
    ratio = -jnp.expm1(-4.0 * K) / big**2  # in (-1, 1); negative for K < 0
    return N * log_lambda_plus + jnp.log1p(ratio**N)


def _chain_size(N) -> int | None:
    return None if N is None else _size(N, "N", 2)


def ising_1d_log_partition_function(N: int, beta, J=1.0, h=0.0) -> Float[Array, "..."]:
    """Exact ``ln Z = ln(lambda_+^N + lambda_-^N)`` of the periodic chain of ``N`` spins (Ising 1925).

    ``E = -J sum_i s_i s_(i+1) - h sum_i s_i`` with ``s_(N+1) = s_1``; transfer-matrix eigenvalues
    ``lambda_+- = e^K cosh H +- sqrt(e^2K sinh^2 H + e^-2K)``, ``K = beta J``, ``H = beta h``.
    ``N = 2`` counts the bond twice (the ``jaxphys.models.Ising((2,))`` convention).

    Args:
        N: number of spins, int >= 2.
        beta: inverse temperature ``>= 0``; J, h: coupling and field (any sign). Scalars or
            broadcastable arrays (elementwise).

    Returns:
        ``ln Z``, broadcast shape of the arguments.

    Raises:
        ValueError: ``N < 2``, concrete negative/NaN/inf ``beta``, NaN/inf ``J`` or ``h``.
    """
    return _chain("log_z", _size(N, "N", 2), _beta(beta), as_parameter(J, "J"), as_parameter(h, "h"))


def ising_1d_free_energy(N: int | None, beta, J=1.0, h=0.0) -> Float[Array, "..."]:
    """Free energy per spin ``f = -ln Z / (beta N)`` of the periodic chain; ``N = None``: ``-ln(lambda_+) / beta``.

    Same arguments as :func:`ising_1d_log_partition_function`, plus ``N = None`` for the
    thermodynamic limit. ``-inf`` at ``beta = 0``.
    """
    return _chain("free_energy", _chain_size(N), _beta(beta), as_parameter(J, "J"), as_parameter(h, "h"))


def ising_1d_energy(N: int | None, beta, J=1.0, h=0.0) -> Float[Array, "..."]:
    """Exact energy per spin ``<e> = -(1/N) d ln Z / dbeta = -(J d_K + h d_H) ln Z / N`` of the periodic chain.

    ``N = None``: the ``N -> infinity`` limit ``-(J d_K + h d_H) ln lambda_+`` (at ``h = 0``,
    ``-J tanh K``). Derivatives by automatic differentiation of the closed form. Arguments and
    errors as :func:`ising_1d_log_partition_function`.
    """
    return _chain("energy", _chain_size(N), _beta(beta), as_parameter(J, "J"), as_parameter(h, "h"))


def ising_1d_magnetization(N: int | None, beta, J=1.0, h=0.0) -> Float[Array, "..."]:
    """Exact magnetization per spin ``<m> = (1/N) d ln Z / dH`` (``H = beta h``) of the periodic chain.

    ``N = None``: ``sinh H / sqrt(sinh^2 H + e^-4K)`` (the ``N -> infinity`` limit). Arguments and
    errors as :func:`ising_1d_log_partition_function`.
    """
    return _chain("magnetization", _chain_size(N), _beta(beta), as_parameter(J, "J"), as_parameter(h, "h"))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _chain(quantity: str, N: int | None, beta: Array, J: Array, h: Array) -> Array:
    def per_spin(K, H):
        return _chain_log_z(N, K, H) / (1 if N is None else N)

    def one(b, j, field):
        if quantity == "log_z":
            return _chain_log_z(N, b * j, b * field)
        if quantity == "free_energy":
            return -per_spin(b * j, b * field) / b
        d_k, d_h = jax.grad(per_spin, argnums=(0, 1))(b * j, b * field)
        # d/dbeta at fixed (J, h) is J d_K + h d_H; the field derivative is d_H.
        return -(j * d_k + field * d_h) if quantity == "energy" else d_h

    return _nan_unless_valid(jnp.vectorize(one)(beta, J, h), beta)


# ---------------------------------------------------------------------------------------------
# Curie-Weiss: all-to-all couplings J / N


class CurieWeissResult(NamedTuple):
    """Exact finite-``N`` Curie-Weiss averages (per spin; ``e = E/N``, ``m = M/N``).

    Fields: ``log_partition_function`` (``ln Z``), ``free_energy`` (``-ln Z / (beta N)``),
    ``energy`` ``<e>``, ``energy2`` ``<e^2>``, ``magnetization`` ``<m>``, ``abs_magnetization``
    ``<|m|>``, ``m2`` ``<m^2>``, ``m4`` ``<m^4>``.
    """

    log_partition_function: Array
    free_energy: Array
    energy: Array
    energy2: Array
    magnetization: Array
    abs_magnetization: Array
    m2: Array
    m4: Array


def _log_binomials(N: int) -> tuple[np.ndarray, float]:
    """``ln C(N, k) - c`` for ``k = 0..N`` in float64 on the host, and the shift ``c = max_k ln C(N, k)``."""
    log_binomial = np.array([math.lgamma(N + 1) - math.lgamma(k + 1) - math.lgamma(N - k + 1) for k in range(N + 1)])
    shift = float(np.max(log_binomial))
    return log_binomial - shift, shift


def curie_weiss(N: int, beta, *, J=1.0, h=0.0) -> CurieWeissResult:
    """Exact finite-``N`` Curie-Weiss thermodynamics by summing over the magnetization.

        E(M) = -(J / (2N)) (M^2 - N) - h M,    Z = sum_(k=0..N) C(N, k) exp(-beta E(N - 2k)),

    which is ``PairwiseIsing(J_ij = J/N for i != j, J_ii = 0, h)``: ``-1/2 sum_(i != j) (J/N) s_i s_j
    = -(J/2N)(M^2 - N)`` (the ``-N`` removes the diagonal). Cost ``O(N)``; ``N = 10^5`` is fast.

    Precision: ``ln Z`` and the Boltzmann exponents are ``O(N)``, so float32 loses about
    ``N * 1e-7`` in them; use float64 (``jax.enable_x64``) for ``N`` beyond ~``10^3``.

    Args:
        N: number of spins (static int >= 1).
        beta: inverse temperature ``>= 0`` (scalar). J: coupling (any sign). h: uniform field.

    Returns:
        :class:`CurieWeissResult` of scalars.

    Raises:
        ValueError: ``N < 1``, concrete negative/NaN/inf ``beta``, NaN/inf ``J``, ``h``.
    """
    N = _size(N, "N", 1)
    beta = _beta(beta)
    J, h = as_parameter(J, "J"), as_parameter(h, "h")
    if beta.ndim or J.ndim or h.ndim:
        raise ValueError("curie_weiss takes scalar beta, J and h; use jax.vmap for many values")
    return _curie_weiss(N, beta, J, h)


@functools.partial(jax.jit, static_argnums=0)
def _curie_weiss(N: int, beta: Array, J: Array, h: Array) -> CurieWeissResult:
    dtype = beta.dtype
    log_binomial, shift = _log_binomials(N)
    magnet = jnp.asarray(np.arange(N, -N - 1, -2) / N, dtype)  # m = M/N for k = 0..N
    # e = E/N = -(J/2)(m^2 - 1/N) - h m
    energy = -0.5 * J * (magnet**2 - 1.0 / N) - h * magnet
    log_weight = jnp.asarray(log_binomial, dtype) - beta * N * energy
    log_z = jax.nn.logsumexp(log_weight) + shift
    p = jax.nn.softmax(log_weight)
    result = CurieWeissResult(
        log_partition_function=log_z,
        free_energy=-log_z / (beta * N),
        energy=p @ energy,
        energy2=p @ energy**2,
        magnetization=p @ magnet,
        abs_magnetization=p @ jnp.abs(magnet),
        m2=p @ magnet**2,
        m4=p @ magnet**4,
    )
    return CurieWeissResult(*(_nan_unless_valid(v, beta) for v in result))


class CurieWeissMeanField(NamedTuple):
    """``N -> infinity`` Curie-Weiss solution: ``magnetization`` m, ``free_energy`` f, ``energy`` e per spin."""

    magnetization: Array
    free_energy: Array
    energy: Array


def _binary_entropy(m: Array) -> Array:
    """``s(m) = -((1+m)/2) ln((1+m)/2) - ((1-m)/2) ln((1-m)/2)`` (0 at ``|m| = 1``)."""
    up, down = 0.5 * (1.0 + m), 0.5 * (1.0 - m)
    return -xlogy(up, up) - xlogy(down, down)


def curie_weiss_mean_field(beta, *, J=1.0, h=0.0, num_bisections: int = 64) -> CurieWeissMeanField:
    """Stable solution of the Curie-Weiss mean-field equation ``m = tanh(beta (J m + h))`` and its free energy.

    The ``N -> infinity`` limit of :func:`curie_weiss`:

        -beta f = max_m [beta J m^2 / 2 + beta h m + s(m)],     e = -J m^2 / 2 - h m,

    with ``s`` the binary entropy; the maximiser solves ``m = tanh(beta (J m + h))``. Branch:
    for ``J >= 0`` the largest root on the side of ``h`` (the global maximum, hence stable);
    at ``h = 0`` below ``T_c = J`` the positive root ``+m*`` (the limit of ``<|m|>``; ``-m*`` is
    equally stable). For ``J < 0`` the root is unique. Found by bisection (``num_bisections``
    halvings of ``[0, 1]`` or ``[-1, 1]``: converges for every input, no status needed), then
    one Newton step, which leaves the value unchanged and makes ``jax.grad`` give the
    implicit-function derivative ``dm/dtheta = -(dg/dtheta) / (dg/dm)``, ``g = m - tanh(...)``.
    At the critical point ``beta J = 1, h = 0`` the root is only determined to ~``sqrt(eps)``
    (``g ~ m^3 / 3``: the problem's own conditioning) and its derivative is infinite.

    Args:
        beta: inverse temperature ``>= 0`` (scalar or array, elementwise). J, h: scalars or arrays.

    Returns:
        :class:`CurieWeissMeanField` (arrays of the broadcast shape).

    Raises:
        ValueError: concrete negative/NaN/inf ``beta``, NaN/inf ``J`` or ``h``.
    """
    return _mean_field(num_bisections, _beta(beta), as_parameter(J, "J"), as_parameter(h, "h"))


@functools.partial(jax.jit, static_argnums=0)
def _mean_field(num_bisections: int, beta: Array, J: Array, h: Array) -> CurieWeissMeanField:
    beta, J, h = jnp.broadcast_arrays(beta, J, h)
    ferro = J >= 0
    # For J >= 0 solve with |h| on [0, 1] and flip: there g(m) = m - tanh(beta (J m + |h|)) is convex
    # with g(0) <= 0 < g(1), so "g(mid) > 0 -> hi = mid" converges to its largest root.
    flip = ferro & (h < 0)
    h_solve = jnp.where(flip, -h, h)

    def g(m):
        return m - jnp.tanh(beta * (J * m + h_solve))

    lo = jnp.where(ferro, 0.0, -1.0).astype(beta.dtype)
    hi = jnp.ones_like(lo)

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = g(mid) > 0
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, num_bisections, bisect, (jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)))
    root = jax.lax.stop_gradient(jnp.where(ferro & (lo == 0), lo, 0.5 * (lo + hi)))
    slope = 1.0 - beta * J / jnp.cosh(beta * (J * root + h_solve)) ** 2
    critical = slope == 0  # beta J = 1, h = 0: root 0, no Newton step (its derivative is infinite)
    m = root - jnp.where(critical, 0.0, g(root) / jnp.where(critical, 1.0, slope))
    m = jnp.where(flip, -m, m)
    minus_beta_f = 0.5 * beta * J * m**2 + beta * h * m + _binary_entropy(m)
    return CurieWeissMeanField(
        magnetization=_nan_unless_valid(m, beta),
        free_energy=_nan_unless_valid(-minus_beta_f / beta, beta),
        energy=_nan_unless_valid(-0.5 * J * m**2 - h * m, beta),
    )
