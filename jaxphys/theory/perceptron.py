"""Gardner's replica theory of perceptron storage: spherical and binary (Ising) weights.

A perceptron with weights ``w`` (N,) stores ``P = alpha N`` random patterns ``xi^mu`` (N,) with
i.i.d. N(0, 1) (or +-1) entries and random labels if every stability ``y^mu w . xi^mu / sqrt N``
is at least the margin ``kappa``. The typical log-volume of the solutions (the *Gardner
volume*, an entropy per weight) follows from one replica-symmetric (RS) overlap ``q`` between
two solutions, with ``u(z) = (kappa - sqrt(q) z) / sqrt(1 - q)`` and ``H`` the Gaussian tail:

Spherical weights (``|w|^2 = N``; Gardner, J. Phys. A 21, 257, 1988)::

    s(alpha) = extr_q  1/2 ln(1 - q) + q / (2 (1 - q)) + alpha E_z ln H(u(z)),
    saddle:  q / (1 - q)^2 = alpha E_z g(z)^2,   g = phi(u) / (H(u) sqrt(1 - q))

and ``q -> 1`` at the capacity ``alpha_c(kappa) = 1 / integral_{-kappa}^inf Dz (z + kappa)^2``
(= 2 at kappa = 0).

Binary weights (``w_i = +-1``; Gardner & Derrida, J. Phys. A 21, 271, 1988)::

    s(alpha) = extr_{q, qh}  -qh (1 - q) / 2 + E_z ln 2 cosh(sqrt(qh) z) + alpha E_z ln H(u(z)),
    saddle:  q = E_z tanh^2(sqrt(qh) z),   qh = alpha E_z g(z)^2.

The RS entropy vanishes at ``alpha = 0.8331`` (kappa = 0), the capacity of Krauth & Mezard
(J. Phys. France 50, 3057, 1989; their one-step RSB frozen solution has the same zero-entropy
point), well before the naive RS ``q -> 1`` limit ``4/pi``. The RS solution loses stability
(de Almeida-Thouless) where the replicon eigenvalue

    lambda_AT = 1 - alpha E_z[(d g / d omega)^2] * E_z[(1 - tanh^2(sqrt(qh) z))^2]

crosses zero, ``alpha_AT = 1.0148`` at kappa = 0 (Zhao, Qiu, Xie & Huang, arXiv:2111.13302);
for spherical weights the second factor is ``(1 - q)^2`` and RS is stable for ``kappa >= 0``.

Numerics: both saddles are parametrised explicitly (spherical: ``alpha(q)``; binary:
``alpha(qh)``), so every quantity at a given ``alpha`` is one :func:`bracket_root` whose implicit
derivative makes the results differentiable in ``alpha`` and ``kappa``; transitions (zero
entropy, AT) are one more scalar root in the same parameter, not a nested solve. Output-channel
averages use Gauss-Hermite quadrature; averages of ``tanh(sqrt(qh) z)``, which become sharp
(width ``1/sqrt(qh)``) as ``qh`` grows, use a dense trapezoid rule (:func:`jaxphys.theory.quadrature.gaussian_expectation_trapezoid`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..models.base import is_concrete
from ._params import broadcast_map
from ..status import Solution, Status, flag
from .fixed_point import bracket_root
from .quadrature import H, gaussian_expectation, gaussian_expectation_trapezoid, log_H

__all__ = ["StorageState", "gardner_capacity", "solve", "capacity", "at_eigenvalue", "at_line"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_WEIGHTS = ("spherical", "binary")
# Gauss-Hermite order for the output-channel averages (smooth in z for q < 1 - 1e-6).
_NUM_NODES = 128


# --------------------------------------------------------------------------- shared helpers
# (also imported by teacher_student.py and hopfield.py)


def _broadcast(*args) -> list[Array]:
    """Broadcast float arrays to a common shape and dtype."""
    dtype = jnp.result_type(*args, float)
    return [jnp.asarray(a, dtype) for a in jnp.broadcast_arrays(*args)]


def _vectorized(fn, *args):
    """``fn`` of scalars mapped over equally shaped arrays (the shared point-by-point grid map
    :func:`jaxphys.theory._params.broadcast_map`); leaves come back with the arguments' shape."""
    return broadcast_map(fn, *args)


def _phi_over_H(u: Array) -> Array:
    """``phi(u) / H(u)`` (the inverse Mills ratio), stable for large positive ``u`` (~ u)."""
    return jnp.exp(-0.5 * u * u - _LOG_SQRT_2PI - log_H(u))


def _check_weights(weights: str) -> str:
    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be one of {_WEIGHTS}, got {weights!r}")
    return weights


def _check_value(value, name: str, lower: float | None = None, strict: bool = True, hint: str = "") -> Array:
    """``value`` as a float array; ``ValueError`` when concrete and NaN/inf or below ``lower``.

    Traced values pass; callers flag them with :func:`_invalid` (status tier 2).
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real number or float array, got dtype {arr.dtype}")
    arr = arr.astype(jnp.result_type(arr, float))
    if is_concrete(arr):
        v = np.asarray(arr)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite, got {value!r}{hint}")
        if lower is not None:
            bad = v <= lower if strict else v < lower
            if np.any(bad):
                relation = ">" if strict else ">="
                raise ValueError(f"{name} must be {relation} {lower}, got {value!r}{hint}")
    return arr


def _invalid(value: Array, lower: float | None = None, strict: bool = True) -> Array:
    """Boolean: ``value`` is non-finite or outside its domain (for traced arguments)."""
    bad = ~jnp.isfinite(value)
    if lower is not None:
        bad = bad | ((value <= lower) if strict else (value < lower))
    return bad


def _with_status(solution: Solution, bad: Array) -> Solution:
    return solution._replace(status=flag(solution.status, Status.INVALID_PARAMETER, bad))


# --------------------------------------------------------------------------- output channel


def _channel(q, kappa):
    """``(E_z ln H(u), E_z g^2, E_z (dg/domega)^2)`` with ``u = (kappa - sqrt(q) z) / sqrt(1 - q)``.

    ``g = d ln H((kappa - omega)/sqrt V) / d omega = phi(u)/(H(u) sqrt V)`` and
    ``dg/domega = -r (r - u) / V`` with ``r = phi(u)/H(u)``, ``V = 1 - q``.
    """
    v = 1.0 - q

    def f(z):
        u = (kappa - jnp.sqrt(q) * z) / jnp.sqrt(v)
        r = _phi_over_H(u)
        return jnp.stack([log_H(u), r * r / v, (r * (r - u) / v) ** 2], axis=-1)

    out = gaussian_expectation(f, num_nodes=_NUM_NODES)
    return out[0], out[1], out[2]


def _log_2cosh(x):
    return jnp.logaddexp(x, -x)


# --------------------------------------------------------------------------- closed form


def gardner_capacity(kappa: ArrayLike = 0.0) -> Float[Array, "..."]:
    """Spherical-perceptron capacity ``alpha_c(kappa) = 1 / integral_{-kappa}^inf Dz (z + kappa)^2``.

    Closed form of the integral: ``(1 + kappa^2) H(-kappa) + kappa phi(kappa)``, so
    ``alpha_c(0) = 2`` (Cover 1965; Gardner, J. Phys. A 21, 257, 1988).

    Args:
        kappa: margin, float scalar or array (any sign); differentiable.

    Returns:
        ``alpha_c`` with the shape of ``kappa`` (default float dtype).

    Raises:
        ValueError: concrete NaN/inf ``kappa``.
    """
    kappa = _check_value(kappa, "kappa")
    phi = jnp.exp(-0.5 * kappa * kappa - _LOG_SQRT_2PI)
    return 1.0 / ((1.0 + kappa * kappa) * H(-kappa) + kappa * phi)


# --------------------------------------------------------------------------- RS saddle, parametrised


class StorageState(NamedTuple):
    """RS saddle point of the Gardner volume (all float scalars, or arrays under a grid).

    ``q``: overlap of two solutions; ``q_hat``: its conjugate (binary: the field variance
    ``alpha E g^2``; spherical: ``q / (1 - q)^2``, the same quantity at the saddle); ``entropy``:
    ``(1/N) ln`` of the solution volume (binary: of the number of solutions; spherical:
    relative to the whole sphere); ``alpha``: the load the state belongs to.
    """

    q: Float[Array, "..."]
    q_hat: Float[Array, "..."]
    entropy: Float[Array, "..."]
    alpha: Float[Array, "..."]


def _spherical_state(q, kappa) -> StorageState:
    """Saddle point at overlap ``q``: ``alpha(q) = q / ((1 - q)^2 E g^2)`` and the entropy there."""
    mean_log_h, g2, _ = _channel(q, kappa)
    alpha = q / ((1.0 - q) ** 2 * g2)
    entropy = 0.5 * jnp.log1p(-q) + 0.5 * q / (1.0 - q) + alpha * mean_log_h
    return StorageState(q, q / (1.0 - q) ** 2, entropy, alpha)


def _binary_overlap(q_hat):
    """``q = E tanh^2(sqrt(qh) z)`` and ``E ln 2 cosh(sqrt(qh) z)`` for the Ising prior."""
    a = jnp.sqrt(q_hat)
    q = gaussian_expectation_trapezoid(lambda x: jnp.tanh(x) ** 2, 0.0, a)
    log_z = gaussian_expectation_trapezoid(_log_2cosh, 0.0, a)
    return q, log_z


def _binary_state(q_hat, kappa) -> StorageState:
    """Saddle point at conjugate ``qh``: ``q = E tanh^2``, ``alpha(qh) = qh / E g^2``, entropy."""
    q, log_z = _binary_overlap(q_hat)
    mean_log_h, g2, _ = _channel(q, kappa)
    alpha = q_hat / g2
    entropy = -0.5 * q_hat * (1.0 - q) + log_z + alpha * mean_log_h
    return StorageState(q, q_hat, entropy, alpha)


def _binary_at(q_hat, kappa):
    q, _ = _binary_overlap(q_hat)
    _, g2, dg2 = _channel(q, kappa)
    alpha = q_hat / g2
    gamma_in = gaussian_expectation_trapezoid(lambda x: (1.0 - jnp.tanh(x) ** 2) ** 2, 0.0, jnp.sqrt(q_hat))
    return 1.0 - alpha * dg2 * gamma_in


def _spherical_at(q, kappa):
    _, g2, dg2 = _channel(q, kappa)
    alpha = q / ((1.0 - q) ** 2 * g2)
    return 1.0 - alpha * dg2 * (1.0 - q) ** 2


# Bracket of the binary conjugate qh: alpha(qh) rises monotonically from 0 to 4/pi as qh -> inf
# (checked on a grid for kappa = 0);
# qh = 1000 (alpha = 1.248, q = 0.975) is where the trapezoid rule is still accurate to 1e-12.
_BINARY_QH_MAX = 1000.0


def _q_upper(dtype) -> float:
    # the largest overlap whose 1 - q is resolved (64 eps) in the working dtype
    return 1.0 - 64.0 * float(jnp.finfo(dtype).eps)


def _solve_scalar(alpha, kappa, weights):
    dtype = jnp.result_type(alpha, kappa)
    if weights == "spherical":
        sol = bracket_root(lambda q, p: _spherical_state(q, p[1]).alpha - p[0], 0.0, _q_upper(dtype), (alpha, kappa))
        state = _spherical_state(sol.value, kappa)
    else:
        sol = bracket_root(lambda qh, p: _binary_state(qh, p[1]).alpha - p[0], 0.0, _BINARY_QH_MAX, (alpha, kappa))
        state = _binary_state(sol.value, kappa)
    state = state._replace(alpha=alpha + 0.0 * state.alpha)  # the requested load; NaN where no root
    return state, sol.status, sol.num_steps


def solve(alpha: ArrayLike, kappa: ArrayLike = 0.0, *, weights: str = "spherical") -> Solution:
    """RS saddle point of the Gardner volume at load ``alpha`` and margin ``kappa``.

    Equations in the module docstring. Spherical: one root in ``q in [0, 1)`` of
    ``alpha(q) = alpha``; binary: one root in ``qh in [0, 1000]`` of ``alpha(qh) = alpha``.

    Args:
        alpha: load ``P/N > 0``, float scalar or array (a grid is broadcast with ``kappa``).
        kappa: margin, float scalar or array.
        weights: ``"spherical"`` (|w|^2 = N) or ``"binary"`` (w_i = +-1).

    Returns:
        ``Solution(value=StorageState(q, q_hat, entropy, alpha), status, num_steps)``, shapes
        the broadcast of ``alpha`` and ``kappa``; differentiable in both (implicit function
        theorem). ``status`` has ``INVALID_PARAMETER`` (value NaN) beyond the RS solution's range,
        ``alpha >= alpha_c(kappa)`` (spherical) or ``alpha >~ 1.248`` (binary, kappa = 0: the RS
        ``q -> 1`` limit is 4/pi), and for traced ``alpha <= 0`` or non-finite arguments.

    Raises:
        ValueError: unknown ``weights``; concrete ``alpha <= 0`` or NaN/inf ``alpha``/``kappa``.
    """
    _check_weights(weights)
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    kappa = _check_value(kappa, "kappa")
    return _solve_grid(*_broadcast(alpha, kappa), weights)


@functools.partial(jax.jit, static_argnames="weights")
def _solve_grid(alpha, kappa, weights):
    state, status, steps = _vectorized(lambda a, k: _solve_scalar(a, k, weights), alpha, kappa)
    return _with_status(Solution(state, status, steps), _invalid(alpha, 0.0) | _invalid(kappa))


# --------------------------------------------------------------------------- transitions


def capacity(kappa: ArrayLike = 0.0, *, weights: str = "spherical") -> Solution:
    """Storage capacity ``alpha_c(kappa)``.

    Spherical: Gardner's closed form :func:`gardner_capacity` (``q -> 1``; 2 at kappa = 0).
    Binary: the zero-entropy point of the RS entropy, ``s(alpha_c) = 0`` (``alpha_c(0) = 0.8331``,
    Gardner & Derrida 1988 / Krauth & Mezard 1989; beyond it the RS entropy counts a negative
    number of solutions), found as one root in ``qh`` of ``s(qh) = 0`` in ``[1e-3, 1000]``.

    Args:
        kappa: margin, float scalar or array; differentiable.
        weights: ``"spherical"`` or ``"binary"``.

    Returns:
        ``Solution(value=alpha_c, status, num_steps)`` (``num_steps = 0`` for the closed form).

    Raises:
        ValueError: unknown ``weights``; concrete NaN/inf ``kappa``.
    """
    _check_weights(weights)
    kappa = _check_value(kappa, "kappa")
    if weights == "spherical":
        value = gardner_capacity(kappa)
        status = flag(jnp.zeros(kappa.shape, jnp.int32), Status.INVALID_PARAMETER, _invalid(kappa))
        return Solution(value, status, jnp.zeros(kappa.shape, jnp.int32))

    return _binary_capacity_grid(kappa)


def _binary_entropy(q_hat, kappa):
    return _binary_state(q_hat, kappa).entropy


@jax.jit
def _binary_capacity_grid(kappa):
    def one(k):
        sol = bracket_root(_binary_entropy, 1e-3, _BINARY_QH_MAX, k)
        return _binary_state(sol.value, k).alpha, sol.status, sol.num_steps

    value, status, steps = _vectorized(one, kappa)
    return _with_status(Solution(value, status, steps), _invalid(kappa))


def at_eigenvalue(alpha: ArrayLike, kappa: ArrayLike = 0.0, *, weights: str = "binary") -> Solution:
    """Replicon (de Almeida-Thouless) eigenvalue of the RS saddle; RS is stable where it is > 0.

    ``lambda_AT = 1 - alpha E_z[(dg/domega)^2] * gamma_in`` with ``gamma_in = E_z (1 -
    tanh^2(sqrt(qh) z))^2`` (binary) or ``(1 - q)^2`` (spherical), ``g`` the output-channel
    function of the module docstring (Gardner & Derrida 1988; it is also the stability
    condition of AMP's fixed point, Zhao, Qiu, Xie & Huang, arXiv:2111.13302).

    Args:
        alpha, kappa: as in :func:`solve`.
        weights: ``"binary"`` (default) or ``"spherical"``.

    Returns:
        ``Solution(value=lambda_AT, status, num_steps)`` of the RS solution at ``alpha``.

    Raises:
        ValueError: as :func:`solve`.
    """
    sol = solve(alpha, kappa, weights=weights)
    _, kappa = _broadcast(sol.value.q, kappa)
    return sol._replace(value=_at_grid(sol.value.q, sol.value.q_hat, kappa, weights))


@functools.partial(jax.jit, static_argnames="weights")
def _at_grid(q, q_hat, kappa, weights):
    if weights == "binary":
        return _vectorized(_binary_at, q_hat, kappa)
    return _vectorized(_spherical_at, q, kappa)


def at_line(kappa: ArrayLike = 0.0) -> Solution:
    """Load ``alpha_AT(kappa)`` where the binary perceptron's RS saddle becomes unstable.

    Root in ``qh in [1e-2, 1000]`` of the replicon eigenvalue (:func:`at_eigenvalue`), mapped to
    ``alpha(qh)``; ``alpha_AT(0) = 1.0148`` (arXiv:2111.13302), beyond the RS zero-entropy
    capacity 0.8331.

    Args:
        kappa: margin, float scalar or array; differentiable.

    Returns:
        ``Solution(value=alpha_AT, status, num_steps)``.

    Raises:
        ValueError: concrete NaN/inf ``kappa``.
    """
    kappa = _check_value(kappa, "kappa")
    return _at_line_grid(kappa)


@jax.jit
def _at_line_grid(kappa):
    def one(k):
        sol = bracket_root(_binary_at, 1e-2, _BINARY_QH_MAX, k)
        return _binary_state(sol.value, k).alpha, sol.status, sol.num_steps

    value, status, steps = _vectorized(one, kappa)
    return _with_status(Solution(value, status, steps), _invalid(kappa))
