"""Soft committee machines with weight decay in equilibrium: the high-temperature Gibbs student.

A student with ``K`` hidden units ``w_i`` (N,) and a teacher with ``K`` orthonormal units ``B_n``
(``B_n . B_m = N delta_nm``) compute ``sigma(x) = sum_i g(w_i . x / sqrt N)`` and
``zeta(x) = sum_n g(B_n . x / sqrt N)`` with ``g(u) = erf(u / sqrt 2)`` and Gaussian inputs.
The student is drawn from the Gibbs measure of the training energy at temperature ``T`` on
``P = alpha N`` examples ``E(W) = sum_mu (sigma(x^mu) - zeta(x^mu))^2 / 2`` with a weight-decay
prior ``exp(-(gamma / 2) sum_i |w_i|^2)`` (a Gaussian prior; in the paper's notation ``gamma`` is
the weight-decay strength times ``beta``, which must stay finite as ``T -> infinity`` for the
weight decay to matter). In the high-temperature limit ``T -> infinity`` with
``alpha_tilde = alpha / T`` fixed (Seung, Sompolinsky & Tishby, PRA 45, 6056, 1992) the
training error may be replaced by its average, ``beta E -> N alpha_tilde eps_g``, and the
measure over the weights ``W`` (K, N) is

    P(W) ~ exp(-N [alpha_tilde eps_g(Q(W), R(W)) + (gamma / 2) sum_i Q_ii(W)]),
    Q_ik = w_i . w_k / N,   R_in = w_i . B_n / N,

with ``eps_g`` the closed-form generalisation error of :func:`jaxphys.theory.online.eps_g`
(Saad & Solla 1995). Ahr, Biehl & Schloesser (J. Phys. A 32, 5003, 1999; cond-mat/9901179)
solve this model; this module follows their setting with our own normalisation.

Free energy. The volume of students with given overlaps is ``exp(N s(Q, R))`` with

    s(Q, R) = (1/2) ln det(Q - R R^T) + (K/2)(1 + ln 2 pi)

(per ``N``, up to ``O(ln N / N)``): write ``w_i = sum_n R_in B_n + w_i^perp``; the
perpendicular parts live in ``N - K`` dimensions with Gram matrix ``N (Q - R R^T)``, and ``K``
vectors in ``n`` dimensions with Gram matrix ``G`` fill the volume
``det(G)^((n - K - 1)/2) pi^(K n / 2 - K(K-1)/4) / prod_j Gamma((n - j + 1)/2)`` per unit of
``G`` (the Wishart normalisation); Stirling gives the constant. The constant makes ``f`` the
exact ``-ln Z / N``: at ``alpha_tilde = 0`` the minimum is ``Q = 1/gamma``, ``R = 0`` with
``f = -(K/2) ln(2 pi / gamma)``, the Gaussian prior's normalisation. The free energy per ``N``
is minimised over the order parameters:

    beta f / N = alpha_tilde eps_g(Q, R) + (gamma / 2) tr Q - s(Q, R).

Without weight decay (``gamma = 0``) ``eps_g`` stays bounded while ``s -> infinity`` as
``Q -> infinity``: the student vectors become infinitely long (no minimum).

Site-symmetric ansatz: ``Q_ii = Q``, ``Q_ik = C``, ``R_ii = R``, ``R_in = S`` (i != n). Then
``Q - R R^T = a I + b 1 1^T`` with ``a = Q - C - (R - S)^2``, ``b = C - 2 (R - S) S - K S^2``,
eigenvalues ``a`` (K - 1 times) and ``lambda_1 = a + K b``, so
``s = ((K - 1) ln a + ln lambda_1) / 2 + const``, and

    eps_g = (K / pi) [arcsin(Q / (1 + Q)) + (K - 1) arcsin(C / (1 + Q)) + pi / 6
                      - 2 arcsin(R / sqrt(2 (1 + Q))) - 2 (K - 1) arcsin(S / sqrt(2 (1 + Q)))].

``R = S`` is the unspecialised subspace (every student unit overlaps all teacher units
equally); it is stationary for the specialisation mode ``d = R - S`` by the permutation
symmetry of the teacher units, and the Hessian there is block diagonal in ``d``, so the
unspecialised state loses stability where ``d^2 f / d d^2`` crosses zero. ``R > S``:
specialised (each student unit has its own teacher unit); ``R < S`` with ``K >= 3``:
anti-specialised (for ``K = 2`` relabelling the students maps ``R < S`` onto ``R > S``).
Phases (Ahr et al.): with weight decay there are long-vector states (``Q ~ 1 / gamma``, the
students behave like committees of sign functions) and short-vector states (``Q = O(1)``,
``Q -> 1``, ``R -> 1``, ``S, C -> 0`` as ``alpha_tilde -> infinity``), separated by a first-order
transition in ``alpha_tilde``; each has unspecialised and specialised phases.

Numerics. Minimisation runs in unconstrained coordinates ``u = (ln a, ln lambda_1, m, d)`` with
``m = (R + (K - 1) S) / K`` the mean teacher overlap and ``d = R - S`` (every ``u`` is a
physical state: ``Q - R R^T`` is positive definite), by Newton's method with the Hessian's
eigenvalues replaced by their absolute values (saddle-free Newton) and a backtracking line
search, so the iteration descends to a local minimum (from a saddle, e.g. a start exactly on
``R = S``, it steps along the direction of negative curvature); derivatives of the minimum in
``alpha_tilde`` and ``gamma`` follow the implicit function theorem (the rule of
:mod:`jaxphys.theory.fixed_point`), traced only when asked for. A critical point is a local minimum when the Hessian (in any
coordinates: Sylvester's law of inertia) is positive definite. Spinodals (folds, where a branch
of minima ends) solve ``grad f = 0``, ``H v = 0``, ``|v| = 1`` for ``(u, v, alpha_tilde)`` with
:func:`root`; the coexistence point of two branches is the zero of their free-energy difference
(:func:`jaxphys.theory.fixed_point.bracket_root`).

Simulation. :func:`sample` draws from ``P(W)`` by the Metropolis-adjusted Langevin algorithm
(Roberts & Tweedie 1996) for a teacher ``B_n = sqrt(N) e_n`` (the measure is rotation
invariant, so the first ``K`` coordinate axes are as good as any orthonormal teacher): the
independent check of the theory, whose finite-``N`` averages approach the minimum at
``O(1/N)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._validate import as_count
from ..mc.hmc import mala
from ..models.base import is_concrete
from ..status import Solution, Status, flag
from ._params import jit_broadcast
from .fixed_point import _implicit, root
from .online import _eps_g, _i2

__all__ = [
    "OrderParameters",
    "Minimum",
    "Coexistence",
    "Spinodal",
    "Chain",
    "entropy",
    "generalisation_error",
    "free_energy",
    "minimize",
    "follow",
    "spinodal",
    "specialisation_instability",
    "coexistence",
    "student",
    "overlaps",
    "sample",
]

_ENTROPY_CONSTANT = 0.5 * (1.0 + math.log(2.0 * math.pi))  # per hidden unit


class OrderParameters(NamedTuple):
    """Site-symmetric overlaps: ``Q = w_i.w_i/N``, ``C = w_i.w_k/N`` (i != k), ``R = w_i.B_i/N``,
    ``S = w_i.B_n/N`` (i != n). Float scalars or arrays of one shape. For ``K = 1`` only ``Q`` and
    ``R`` mean anything."""

    Q: Float[Array, "..."]
    C: Float[Array, "..."]
    R: Float[Array, "..."]
    S: Float[Array, "..."]


class Minimum(NamedTuple):
    """A local minimum (or, where ``lowest_eigenvalue < 0``, a saddle) of the free energy.

    ``order_parameters``: :class:`OrderParameters`; ``free_energy``: ``beta f / N``; ``eps_g``:
    generalisation error; ``lowest_eigenvalue``: the smallest eigenvalue of the Hessian of ``f``
    in the coordinates ``u`` (module docstring) over all site-symmetric directions, ``> 0`` at a
    local minimum (its size depends on the coordinates, its sign does not);
    ``specialisation_curvature``: ``d^2 f / d d^2`` at fixed ``(a, lambda_1, m)``.
    """

    order_parameters: OrderParameters
    free_energy: Float[Array, "..."]
    eps_g: Float[Array, "..."]
    lowest_eigenvalue: Float[Array, "..."]
    specialisation_curvature: Float[Array, "..."]


# --------------------------------------------------------------------------- checks


def _check_K(K: Any) -> int:
    return as_count(K, "K (the number of hidden units)", minimum=1)


def _check_scalar(value: Any, name: str, hint: str) -> Array:
    """Float array ``>= 0``; concrete negative, NaN or infinite values raise."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real number, got dtype {arr.dtype}")
    if is_concrete(arr):
        v = np.asarray(arr)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"{name} must be >= 0 and finite ({hint}), got {value!r}")
    return arr.astype(jnp.result_type(arr, float))


def _check_order_parameters(order_parameters: Any) -> OrderParameters:
    if not isinstance(order_parameters, tuple) or len(order_parameters) != 4:
        raise TypeError("order_parameters must be an OrderParameters(Q, C, R, S) (or a 4-tuple of floats/arrays)")
    arrays = []
    for name, value in zip("QCRS", order_parameters):
        arr = jnp.asarray(value)
        if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
            raise TypeError(f"order parameter {name} must be real, got dtype {arr.dtype}")
        if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
            raise ValueError(f"order parameter {name} must be finite, got {value!r}")
        arrays.append(arr)
    dtype = jnp.result_type(*arrays, float)
    return OrderParameters(*(a.astype(dtype) for a in arrays))


# --------------------------------------------------------------------------- the free energy


def _matrices(Q, C, R, S, K):
    eye = jnp.eye(K, dtype=Q.dtype)
    return C + (Q - C) * eye, S + (R - S) * eye


def _eps_g_symmetric(Q, C, R, S, K):
    """``(1/2) sum_ab s_a s_b I2(u_a, u_b)`` (:mod:`jaxphys.theory.online`) summed over the site-symmetric blocks."""
    one, zero = jnp.ones_like(Q), jnp.zeros_like(Q)
    students = _i2(Q, Q, Q) + (K - 1) * _i2(Q, C, Q)
    teachers = _i2(one, one, one) + (K - 1) * _i2(one, zero, one)
    cross = _i2(Q, R, one) + (K - 1) * _i2(Q, S, one)
    return 0.5 * K * (students + teachers - 2.0 * cross)


def _eigenvalues(Q, C, R, S, K):
    """``a`` and ``lambda_1``, the eigenvalues of ``Q - R R^T`` (module docstring)."""
    d = R - S
    a = Q - C - d**2
    b = C - 2.0 * d * S - K * S**2
    return a, a + K * b


def _from_coordinates(u, K):
    """Order parameters from ``u = (ln a, ln lambda_1, m, d)``."""
    a, lam = jnp.exp(u[0]), jnp.exp(u[1])
    m, d = u[2], u[3]
    R = m + (K - 1) * d / K
    S = m - d / K
    C = (lam - a) / K + 2.0 * d * S + K * S**2
    Q = a + C + d**2
    return Q, C, R, S


def _to_coordinates(Q, C, R, S, K):
    a, lam = _eigenvalues(Q, C, R, S, K)
    if K == 1:
        a = lam  # no centred direction: a is a dummy coordinate
    return jnp.stack([jnp.log(a), jnp.log(lam), (R + (K - 1) * S) / K, R - S])


def _free_energy_u(u, alpha_tilde, gamma, K):
    Q, C, R, S = _from_coordinates(u, K)
    entropy = 0.5 * ((K - 1) * u[0] + u[1]) + K * _ENTROPY_CONSTANT
    return alpha_tilde * _eps_g_symmetric(Q, C, R, S, K) + 0.5 * gamma * K * Q - entropy


def entropy(Q: ArrayLike, R: ArrayLike) -> Float[Array, "..."]:
    """Entropy per ``N`` of ``K`` student vectors with overlaps ``Q`` (K, K) and teacher overlaps ``R`` (K, K).

    ``s = (1/2) ln det(Q - R R^T) + (K/2)(1 + ln 2 pi)``: ``(1/N) ln`` of the volume of weights
    ``W`` (K, N) with ``W W^T / N = Q`` and ``W B^T / N = R`` per unit of the order parameters, for
    orthonormal teacher units (``B B^T = N I``), to leading order in ``N`` (module docstring).
    ``-inf`` where ``Q - R R^T`` is not positive definite (no such weights).

    Args:
        Q: student overlaps, float ``(..., K, K)``, symmetric.
        R: teacher overlaps, float ``(..., K, K)`` (rows: students, columns: teacher units).

    Returns:
        float array of the leading shape.

    Raises:
        ValueError/TypeError: shapes that are not ``(..., K, K)`` for both.
    """
    Q, R = jnp.asarray(Q), jnp.asarray(R)
    if Q.ndim < 2 or Q.shape[-1] != Q.shape[-2] or R.shape[-2:] != Q.shape[-2:] or Q.shape[-1] == 0:
        raise ValueError(f"Q and R must both have shape (..., K, K) with K >= 1, got {Q.shape} and {R.shape}")
    dtype = jnp.result_type(Q, R, float)
    Q, R = Q.astype(dtype), R.astype(dtype)
    M = Q - R @ jnp.swapaxes(R, -1, -2)
    eigenvalues = jnp.linalg.eigvalsh(0.5 * (M + jnp.swapaxes(M, -1, -2)))
    positive = jnp.all(eigenvalues > 0, axis=-1)
    logdet = jnp.sum(jnp.log(jnp.where(positive[..., None], eigenvalues, 1.0)), axis=-1)
    K = Q.shape[-1]
    return jnp.where(positive, 0.5 * logdet + K * _ENTROPY_CONSTANT, -jnp.inf)


def generalisation_error(order_parameters: OrderParameters, K: int) -> Float[Array, "..."]:
    """``eps_g = <(sigma - zeta)^2> / 2`` of a site-symmetric student (module docstring formula).

    Args:
        order_parameters: :class:`OrderParameters` of float scalars or arrays (broadcast).
        K: number of hidden units (student and teacher), Python int ``>= 1``.

    Returns:
        float array of the broadcast shape.
    """
    K = _check_K(K)
    Q, C, R, S = jnp.broadcast_arrays(*_check_order_parameters(order_parameters))
    fn = functools.partial(_eps_g_symmetric, K=K)
    for _ in range(Q.ndim):
        fn = jax.vmap(fn)
    return fn(Q, C, R, S)


def free_energy(order_parameters: OrderParameters, alpha_tilde: ArrayLike, gamma: ArrayLike, K: int) -> Float[Array, "..."]:
    """High-temperature free energy ``beta f / N = alpha_tilde eps_g + (gamma/2) K Q - s`` (module docstring).

    Args:
        order_parameters: :class:`OrderParameters` ``(Q, C, R, S)``, float scalars or arrays.
        alpha_tilde: ``alpha / T >= 0``; gamma: weight decay ``>= 0`` (float scalars or arrays).
        K: number of hidden units, Python int ``>= 1``.

    Returns:
        float array of the broadcast shape; ``+inf`` where ``Q - R R^T`` is not positive definite
        (no weights have these overlaps).

    Raises:
        ValueError/TypeError: ``K < 1``; concrete ``alpha_tilde < 0``, ``gamma < 0``, NaN.
    """
    K = _check_K(K)
    order_parameters = _check_order_parameters(order_parameters)
    alpha_tilde = _check_scalar(alpha_tilde, "alpha_tilde", "alpha / T, a load")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    Q, C, R, S, alpha_tilde, gamma = jnp.broadcast_arrays(*order_parameters, alpha_tilde, gamma)
    a, lam = _eigenvalues(Q, C, R, S, K)
    if K == 1:
        a = lam
    physical = (a > 0) & (lam > 0)

    def one(Q, C, R, S, alpha_tilde, gamma):
        return alpha_tilde * _eps_g_symmetric(Q, C, R, S, K) + 0.5 * gamma * K * Q

    fn = one
    for _ in range(Q.ndim):
        fn = jax.vmap(fn)
    s = 0.5 * ((K - 1) * jnp.log(jnp.where(physical, a, 1.0)) + jnp.log(jnp.where(physical, lam, 1.0))) + K * _ENTROPY_CONSTANT
    return jnp.where(physical, fn(Q, C, R, S, alpha_tilde, gamma) - s, jnp.inf)


# --------------------------------------------------------------------------- minimisation


def _mask(K, unspecialised, dtype):
    """Active coordinates of ``u``: ``ln a`` and ``d`` are frozen for ``K = 1``, ``d`` for ``R = S``."""
    return jnp.asarray([K > 1, True, True, (K > 1) and not unspecialised], dtype)


# A Newton step may not change a coordinate by more than this: lengths by a factor e^2 per step,
# overlaps by 2 (in units where the teacher has length 1).
_MAX_STEP = 2.0
_ARMIJO = 1e-4
_MAX_HALVINGS = 40
_BLIND = 100.0  # machine epsilons of f
_SADDLE_STEP = 0.5  # length of an escape step from a saddle, in the coordinates u


def _newton_minimize(u0, alpha_tilde, gamma, mask, K, max_steps, tol):
    """Saddle-free Newton with backtracking on ``f`` over the active coordinates of ``u``."""

    # frozen coordinates never move (their steps are masked), and f does not depend on them when K = 1
    def f(u):
        return _free_energy_u(u, alpha_tilde, gamma, K)

    outer = mask[:, None] * mask[None, :]

    def cond(carry):
        _, _, step, done = carry
        return (step < max_steps) & ~done

    def body(carry):
        u, fu, step, _ = carry
        g = jax.grad(f)(u) * mask
        H = jax.hessian(f)(u) * outer + jnp.diag(1.0 - mask)
        w, V = jnp.linalg.eigh(H)
        floor = 1e-12 * jnp.maximum(jnp.max(jnp.abs(w)), 1.0)
        du = -V @ ((V.T @ g) / jnp.maximum(jnp.abs(w), floor)) * mask
        # At a saddle (e.g. started exactly on the symmetric subspace R = S, where the gradient has no
        # component along d) step along the direction of negative curvature, oriented downhill and,
        # where that is undecided, towards R > S.
        lowest = V[:, 0] * mask
        orient = jnp.where(g @ lowest != 0, -jnp.sign(g @ lowest), jnp.where(lowest[3] < 0, -1.0, 1.0))
        du = du + jnp.where(w[0] < 0, _SADDLE_STEP * orient, 0.0) * lowest
        du = du * jnp.minimum(1.0, _MAX_STEP / jnp.maximum(jnp.max(jnp.abs(du)), 1e-300))
        slope = g @ du

        def ls_cond(ls):
            t, f_t, k = ls
            return ~(f_t <= fu + _ARMIJO * t * slope) & (k < _MAX_HALVINGS)

        def ls_body(ls):
            t, _, k = ls
            return 0.5 * t, f(u + 0.5 * t * du), k + 1

        t, f_t, k = jax.lax.while_loop(ls_cond, ls_body, (jnp.ones_like(fu), f(u + du), jnp.int32(0)))
        # Within rounding of the minimum the predicted decrease is below the resolution of f and the
        # line search is blind: take the full Newton step (quadratic convergence does the rest).
        blind = -slope <= _BLIND * jnp.finfo(u.dtype).eps * (1.0 + jnp.abs(fu))
        t = jnp.where(blind, 1.0, t)
        accepted = (f_t <= fu + _ARMIJO * t * slope) | blind
        u_new = jnp.where(accepted, u + t * du, u)
        f_new = jnp.where(accepted, f(u_new), fu)
        small = jnp.all(jnp.abs(du) <= tol * (1.0 + jnp.abs(u)))
        done = (small & jnp.all(w > 0)) | ~accepted
        return u_new, f_new, step + 1, done

    u, fu, steps, _ = jax.lax.while_loop(cond, body, (u0, f(u0), jnp.int32(0), jnp.asarray(False)))
    return u, steps


def _gradient_residual(u, params, consts):
    """The stationarity condition in the active coordinates, ``u - u_frozen`` elsewhere (for the implicit rule)."""
    alpha_tilde, gamma, mask, u_frozen, ones_K = params
    return _gradient(u, alpha_tilde, gamma, mask, u_frozen, ones_K.shape[0])


def _gradient(u, alpha_tilde, gamma, mask, u_frozen, K):
    """Stationarity in the active coordinates; the frozen ones are pinned to ``u_frozen``."""
    g = jax.grad(_free_energy_u)(u, alpha_tilde, gamma, K)
    return mask * g + (1.0 - mask) * (u - u_frozen)


def _hessian(u, alpha_tilde, gamma, K):
    return jax.hessian(lambda v: _free_energy_u(v, alpha_tilde, gamma, K))(u)


def _describe(u, alpha_tilde, gamma, K, H=None):
    Q, C, R, S = _from_coordinates(u, K)
    if H is None:
        H = _hessian(u, alpha_tilde, gamma, K)
    active = _mask(K, False, u.dtype)
    # frozen coordinates (K = 1) get a large dummy eigenvalue so they never count as the lowest
    big = jnp.finfo(u.dtype).max ** 0.5
    lowest = jnp.linalg.eigvalsh(H * active[:, None] * active[None, :] + jnp.diag((1.0 - active) * big))[0]
    value = _free_energy_u(u, alpha_tilde, gamma, K)
    curvature = H[3, 3] if K > 1 else jnp.asarray(jnp.nan, u.dtype)
    if K == 1:
        C, S = Q, R  # no second unit: the only consistent meaning
    eps = _eps_g_symmetric(Q, C, R, S, K)
    return Minimum(OrderParameters(Q, C, R, S), value, eps, lowest, curvature)


def _minimize_one(alpha_tilde, gamma, Q, C, R, S, K, unspecialised, max_steps, tol):
    dtype = Q.dtype
    mask = _mask(K, unspecialised, dtype)
    u0 = _to_coordinates(Q, C, R, S, K)
    if unspecialised:
        u0 = u0.at[3].set(0.0)
    if K == 1:
        u0 = u0.at[0].set(u0[1]).at[3].set(0.0)
    bad_start = ~jnp.all(jnp.isfinite(u0))
    u0 = jax.lax.stop_gradient(jnp.where(bad_start, jnp.zeros_like(u0), u0))
    u, steps = _newton_minimize(u0, jax.lax.stop_gradient(alpha_tilde), jax.lax.stop_gradient(gamma), mask, K, max_steps, tol)
    # derivatives in alpha_tilde and gamma by the implicit function theorem (traced only when asked for)
    u = _implicit(_gradient_residual, jax.lax.stop_gradient(u), (alpha_tilde, gamma, mask, u0, jnp.ones((K,), dtype)), ())
    H = _hessian(u, alpha_tilde, gamma, K)
    value = _describe(u, alpha_tilde, gamma, K, H)
    inside = jnp.linalg.eigvalsh(H * mask[:, None] * mask[None, :] + jnp.diag(1.0 - mask))
    converged = (steps < max_steps) & jnp.all(inside > 0)
    status = flag(jnp.zeros((), jnp.int32), Status.NOT_CONVERGED, ~converged)
    status = flag(status, Status.INVALID_PARAMETER, bad_start | ~(alpha_tilde >= 0) | ~(gamma >= 0))
    status = flag(status, Status.NAN, ~jnp.all(jnp.isfinite(u)) | ~jnp.isfinite(value.free_energy))
    return value, status, steps


def minimize(
    start: OrderParameters,
    alpha_tilde: ArrayLike,
    gamma: ArrayLike,
    K: int,
    *,
    unspecialised: bool = False,
    max_steps: int = 200,
    tol: float = 1e-10,
) -> Solution:
    """Local minimum of the free energy reached from ``start`` (saddle-free Newton, module docstring).

    Runs elementwise over the broadcast of ``alpha_tilde``, ``gamma`` and the fields of ``start``
    (e.g. a grid of loads, or several starts to find all minima at one load); ``jit``/``vmap``
    friendly; differentiable in ``alpha_tilde`` and ``gamma`` by the implicit function theorem.

    Args:
        start: :class:`OrderParameters` with ``Q - R R^T`` positive definite (a physical state).
        alpha_tilde: load ``alpha / T >= 0``; gamma: weight decay ``>= 0`` (with ``gamma = 0``
            there is no minimum: ``Q`` runs off and the status says ``NOT_CONVERGED``).
        K: hidden units, Python int ``>= 1``.
        unspecialised: minimise inside ``R = S`` (the unspecialised branch, also where it is
            unstable to specialisation; ``lowest_eigenvalue`` and ``specialisation_curvature``
            still refer to all site-symmetric directions).
        max_steps: most Newton steps, Python int; tol: step tolerance (floored at 64 eps).

    Returns:
        ``Solution(value=Minimum(...), status, num_steps)`` of the broadcast shape.
        ``Status.NOT_CONVERGED``: no minimum reached (or not a minimum inside the searched
        subspace); ``Status.INVALID_PARAMETER``: unphysical start or traced negative parameters;
        ``Status.NAN``: overflow.

    Raises:
        ValueError/TypeError: ``K < 1``; concrete negative or NaN ``alpha_tilde``/``gamma``; bad start.
    """
    K = _check_K(K)
    start = _check_order_parameters(start)
    alpha_tilde = _check_scalar(alpha_tilde, "alpha_tilde", "alpha / T, a load")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    max_steps = as_count(max_steps, "max_steps")
    dtype = jnp.result_type(*start, alpha_tilde, gamma)
    args = tuple(jnp.asarray(x, dtype) for x in (alpha_tilde, gamma, *start))
    value, status, steps = jit_broadcast(_minimize_one, args, static=(K, bool(unspecialised), max_steps, float(tol)))
    return Solution(value, status, steps)


def follow(
    start: OrderParameters,
    alpha_tildes: ArrayLike,
    gamma: ArrayLike,
    K: int,
    *,
    unspecialised: bool = False,
    max_steps: int = 200,
    tol: float = 1e-10,
) -> Solution:
    """A branch of minima along a grid of loads, by continuation (each minimum starts the next).

    From ``start`` at ``alpha_tildes[0]``, :func:`minimize` at each load in turn starts from the
    previous minimum, so the branch is followed through its metastable range; past a spinodal
    it jumps to another branch (the jump shows in the order parameters and ``free_energy``).
    Scanning the grid upwards and downwards shows the hysteresis of a first-order transition.
    A host loop over :func:`minimize` on scalars (one compilation for all grids); not traceable.

    Args:
        start: :class:`OrderParameters` of scalars, physical (``Q - R R^T`` positive definite).
        alpha_tildes: loads ``>= 0``, float ``(n,)``, in the order to be followed.
        gamma: weight decay ``>= 0``, float scalar; K: hidden units, Python int ``>= 1``.
        unspecialised, max_steps, tol: as in :func:`minimize`.

    Returns:
        ``Solution(value=Minimum(...), status, num_steps)`` with arrays ``(n,)``.

    Raises:
        ValueError/TypeError: as :func:`minimize`; ``alpha_tildes`` not 1-D and non-empty.
    """
    K = _check_K(K)
    start = _check_order_parameters(start)
    alpha_tildes = _check_scalar(alpha_tildes, "alpha_tildes", "alpha / T, loads")
    if alpha_tildes.ndim != 1 or alpha_tildes.shape[0] == 0:
        raise ValueError(f"alpha_tildes must be a non-empty 1-D grid of loads, got shape {alpha_tildes.shape}")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    if gamma.ndim != 0 or any(x.ndim != 0 for x in start):
        raise ValueError("gamma and the fields of start must be scalars (vmap over follow for many)")
    max_steps = as_count(max_steps, "max_steps")
    dtype = jnp.result_type(*start, alpha_tildes, gamma)
    previous = OrderParameters(*(x.astype(dtype) for x in start))
    points = []
    # A host loop over the compiled scalar minimisation (shared with minimize, so no new compilation).
    for alpha_tilde in alpha_tildes.astype(dtype):
        point = minimize(previous, alpha_tilde, gamma.astype(dtype), K, unspecialised=unspecialised, max_steps=max_steps, tol=tol)
        if int(point.status) == 0:  # a failed point does not poison the continuation
            previous = point.value.order_parameters
        points.append(point)
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *points)


# --------------------------------------------------------------------------- transitions


class Coexistence(NamedTuple):
    """Two branches at equal free energy: the load ``alpha_tilde`` and the minima ``first``, ``second`` there."""

    alpha_tilde: Float[Array, "..."]
    first: Minimum
    second: Minimum


class Spinodal(NamedTuple):
    """The end of a branch: the load ``alpha_tilde`` and the (marginal) state there."""

    alpha_tilde: Float[Array, "..."]
    state: Minimum


def _branch_start(start, dtype):
    start = _check_order_parameters(start)
    if any(x.ndim != 0 for x in start):
        raise ValueError("the order parameters must be scalars (vmap for many)")
    return OrderParameters(*(x.astype(dtype) for x in start))


def _coordinates_of(p, K):
    u = _to_coordinates(p.Q, p.C, p.R, p.S, K)
    return u.at[0].set(u[1]).at[3].set(0.0) if K == 1 else u


def _coexistence_residual(z, params):
    """``(grad f(u_1), grad f(u_2), f(u_1) - f(u_2))`` for ``z = (u_1, u_2, alpha_tilde)``."""
    gamma, mask, u_frozen, ones_K = params
    K = ones_K.shape[0]
    alpha_tilde = z[8]
    # both states in one vmapped evaluation: half the graph, much faster to compile
    f, g = jax.vmap(jax.value_and_grad(_free_energy_u), (0, None, None, None))(z[:8].reshape(2, 4), alpha_tilde, gamma, K)
    g = mask * g + (1.0 - mask) * (z[:8].reshape(2, 4) - u_frozen)
    return jnp.concatenate([g.ravel(), (f[0] - f[1])[None]])


def coexistence(first: OrderParameters, second: OrderParameters, alpha_tilde: ArrayLike, gamma: ArrayLike, K: int) -> Solution:
    """The load where two branches of minima have equal free energy (a first-order transition).

    Solves ``grad f(u_1) = 0``, ``grad f(u_2) = 0``, ``f(u_1) = f(u_2)`` for ``(u_1, u_2,
    alpha_tilde)`` by Newton's method (:func:`jaxphys.theory.fixed_point.root`; implicit
    derivatives in ``gamma``) from two minima ``first``, ``second`` on the two branches at a
    nearby load ``alpha_tilde`` (e.g. where :func:`follow` up and down show both; the free
    energy difference is nearly linear in the load, so a guess within the metastable range
    usually suffices).

    Args:
        first, second: :class:`OrderParameters` of scalars, minima on the two branches.
        alpha_tilde: the load of those minima (the initial guess), scalar ``>= 0``.
        gamma: weight decay ``>= 0``; K: hidden units, Python int ``>= 1``.

    Returns:
        ``Solution(value=Coexistence(alpha_tilde, first, second), status, num_steps)``.
        ``Status.NOT_CONVERGED``: Newton failed, one of the two states is not a local minimum
        there, or both ran into the same state.

    Raises:
        ValueError/TypeError: ``K < 1``; negative or NaN parameters; non-scalar or unphysical states.
    """
    K = _check_K(K)
    alpha_tilde = _check_scalar(alpha_tilde, "alpha_tilde", "alpha / T, a load")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    dtype = jnp.result_type(alpha_tilde, gamma, *first, *second, float)
    first, second = _branch_start(first, dtype), _branch_start(second, dtype)
    return _coexistence_jit(first, second, alpha_tilde.astype(dtype), gamma.astype(dtype), K)


@functools.partial(jax.jit, static_argnums=(4,))
def _coexistence_jit(first, second, alpha_tilde, gamma, K):
    dtype = gamma.dtype
    mask = _mask(K, False, dtype)
    u1, u2 = _coordinates_of(first, K), _coordinates_of(second, K)
    z0 = jnp.concatenate([u1, u2, alpha_tilde[None]])
    sol = root(_coexistence_residual, z0, (gamma, mask, u1, jnp.ones((K,), dtype)), max_steps=50)
    x = sol.value[8]
    both = jax.vmap(_describe, (0, None, None, None))(sol.value[:8].reshape(2, 4), x, gamma, K)
    a, b = (jax.tree_util.tree_map(lambda leaf, i=i: leaf[i], both) for i in (0, 1))
    pa, pb = a.order_parameters, b.order_parameters
    same = jnp.max(jnp.abs(jnp.stack(pa) - jnp.stack(pb))) <= 1e-6 * (1.0 + jnp.abs(pa.Q))
    unstable = (a.lowest_eigenvalue <= 0) | (b.lowest_eigenvalue <= 0)
    status = flag(sol.status, Status.NOT_CONVERGED, same | unstable)
    status = flag(status, Status.INVALID_PARAMETER, ~(gamma >= 0))
    return Solution(Coexistence(x, a, b), status, sol.num_steps)


def _fold_residual(z, params):
    """``(grad f, H v, |v|^2 - 1)`` for ``z = (u, v, alpha_tilde)`` over the active coordinates."""
    gamma, mask, u_frozen, ones_K = params
    K = ones_K.shape[0]
    u, v, alpha_tilde = z[:4], z[4:8], z[8]
    g, Hv = jax.jvp(lambda w: _gradient(w, alpha_tilde, gamma, mask, u_frozen, K), (u,), (v * mask,))
    Hv = mask * Hv + (1.0 - mask) * v
    return jnp.concatenate([g, Hv, (v @ v - 1.0)[None]])


def spinodal(state: OrderParameters, alpha_tilde: ArrayLike, gamma: ArrayLike, K: int) -> Solution:
    """The fold where a branch of minima ends (a saddle-node: the Hessian gets a zero eigenvalue).

    Solves ``grad f = 0``, ``H v = 0``, ``|v| = 1`` for ``(u, v, alpha_tilde)`` by Newton's
    method (:func:`jaxphys.theory.fixed_point.root`) from a minimum ``state`` at a load
    ``alpha_tilde`` near the end of its branch and the eigenvector of its lowest Hessian
    eigenvalue: the extended system whose Jacobian is regular at a fold, although the branch
    ``u(alpha_tilde)`` has a square-root singularity there. Start close (the last point of
    :func:`follow` before the branch jumps). The loss of stability of the unspecialised state
    to specialisation is no fold: see :func:`specialisation_instability`.

    Args:
        state: :class:`OrderParameters` of scalars, a minimum on the branch at ``alpha_tilde``.
        alpha_tilde: its load, scalar ``>= 0``; gamma: weight decay ``>= 0``; K: Python int ``>= 1``.

    Returns:
        ``Solution(value=Spinodal(alpha_tilde, state), status, num_steps)``; ``state`` has
        ``lowest_eigenvalue ~ 0``. ``Status.NOT_CONVERGED`` if Newton failed.

    Raises:
        ValueError/TypeError: as :func:`coexistence`.
    """
    K = _check_K(K)
    alpha_tilde = _check_scalar(alpha_tilde, "alpha_tilde", "alpha / T, a load")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    dtype = jnp.result_type(alpha_tilde, gamma, *state, float)
    return _spinodal_jit(_branch_start(state, dtype), alpha_tilde.astype(dtype), gamma.astype(dtype), K)


@functools.partial(jax.jit, static_argnums=(3,))
def _spinodal_jit(state, alpha_tilde, gamma, K):
    dtype = gamma.dtype
    u = _coordinates_of(state, K)
    mask = _mask(K, False, dtype)
    big = jnp.finfo(dtype).max ** 0.5
    H = _hessian(u, alpha_tilde, gamma, K) * mask[:, None] * mask[None, :] + jnp.diag((1.0 - mask) * big)
    v = jnp.linalg.eigh(H)[1][:, 0]
    z0 = jnp.concatenate([u, v, alpha_tilde[None]])
    fold = root(_fold_residual, z0, (gamma, mask, u, jnp.ones((K,), dtype)), max_steps=50)
    x = fold.value[8]
    status = flag(fold.status, Status.INVALID_PARAMETER, ~(gamma >= 0))
    return Solution(Spinodal(x, _describe(fold.value[:4], x, gamma, K)), status, fold.num_steps)


def _instability_residual(z, params):
    """Gradient inside ``R = S`` and ``d^2 f / d d^2`` for ``z = (ln a, ln lambda_1, m, alpha_tilde)``."""
    (gamma, ones_K) = params
    K = ones_K.shape[0]
    alpha_tilde = z[3]

    def f(x, d):
        return _free_energy_u(jnp.concatenate([x, d[None]]), alpha_tilde, gamma, K)

    zero = jnp.zeros((), z.dtype)
    g = jax.grad(f)(z[:3], zero)
    curvature = jax.grad(jax.grad(f, argnums=1), argnums=1)(z[:3], zero)
    return jnp.concatenate([g, curvature[None]])


def specialisation_instability(state: OrderParameters, alpha_tilde: ArrayLike, gamma: ArrayLike, K: int) -> Solution:
    """The load where the unspecialised minimum (``R = S``) becomes unstable to specialisation.

    On the unspecialised branch the Hessian is block diagonal in ``d = R - S`` (module
    docstring), so the instability is where ``d^2 f / d d^2`` vanishes while the gradient inside
    ``R = S`` does: four equations for ``(ln a, ln lambda_1, m, alpha_tilde)``, solved by Newton's
    method (:func:`jaxphys.theory.fixed_point.root`) from an unspecialised ``state`` at a nearby
    load. For ``K = 2`` this is the (continuous) specialisation transition; for ``K >= 3`` cubic
    terms in ``d`` make the transition discontinuous and this is the spinodal of the
    unspecialised state.

    Args:
        state: :class:`OrderParameters` of scalars, unspecialised (``R = S``; ``S`` is ignored).
        alpha_tilde: its load (initial guess), scalar; gamma: weight decay ``>= 0``;
            K: hidden units, Python int ``>= 2``.

    Returns:
        ``Solution(value=Spinodal(alpha_tilde, state), status, num_steps)``; ``Status.NOT_CONVERGED``
        if Newton failed.
    """
    K = as_count(K, "K (the number of hidden units; specialisation needs two)", minimum=2)
    alpha_tilde = _check_scalar(alpha_tilde, "alpha_tilde", "alpha / T, a load")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    dtype = jnp.result_type(alpha_tilde, gamma, *state, float)
    return _instability_jit(_branch_start(state, dtype), alpha_tilde.astype(dtype), gamma.astype(dtype), K)


@functools.partial(jax.jit, static_argnums=(3,))
def _instability_jit(state, alpha_tilde, gamma, K):
    dtype = gamma.dtype
    u = _to_coordinates(state.Q, state.C, state.R, state.R, K)
    z0 = jnp.concatenate([u[:3], alpha_tilde[None]])
    sol = root(_instability_residual, z0, (gamma, jnp.ones((K,), dtype)), max_steps=50)
    x = sol.value[3]
    point = _describe(jnp.concatenate([sol.value[:3], jnp.zeros((1,), dtype)]), x, gamma, K)
    status = flag(sol.status, Status.INVALID_PARAMETER, ~(gamma >= 0))
    return Solution(Spinodal(x, point), status, sol.num_steps)


# --------------------------------------------------------------------------- simulation


def student(key: Array, order_parameters: OrderParameters, K: int, N: int) -> Float[Array, "K N"]:
    """Student weights ``W`` (K, N) with exactly the given site-symmetric overlaps with the teacher ``sqrt(N) e_n``.

    ``W[:, :K] = sqrt(N) R`` (the teacher components) and the rest ``sqrt(N) L O`` with
    ``L L^T = Q - R R^T`` (Cholesky) and ``O`` (K, N - K) random orthonormal rows (from ``key``),
    so ``W W^T / N = Q`` and ``W[:, :K] / sqrt(N) = R`` up to rounding. A start for :func:`sample`.

    Args:
        key: typed ``jax.random.key``.
        order_parameters: :class:`OrderParameters` of scalars with ``Q - R R^T`` positive definite.
        K: hidden units, Python int ``>= 1``; N: input dimension, Python int ``>= 2 K``.

    Returns:
        float array ``(K, N)`` of the order parameters' dtype.

    Raises:
        ValueError: ``N < 2 K``; concrete order parameters that are not physical.
    """
    K = _check_K(K)
    N = as_count(N, "N (the input dimension)", minimum=2 * K)
    Q, C, R, S = _branch_start(order_parameters, jnp.result_type(*order_parameters, float))
    if K == 1:
        C, S = Q, R
    Qm, Rm = _matrices(Q, C, R, S, K)
    M = Qm - Rm @ Rm.T
    if is_concrete(M) and np.linalg.eigvalsh(np.asarray(M))[0] <= 0:
        raise ValueError("Q - R R^T must be positive definite (overlaps of real vectors); got an unphysical state")
    L = jnp.linalg.cholesky(M)
    O, _ = jnp.linalg.qr(jax.random.normal(key, (N - K, K), Q.dtype))  # (N - K, K), orthonormal columns
    return math.sqrt(N) * jnp.concatenate([Rm, L @ O.T], axis=1)


def _overlap_matrices(W):
    K, N = W.shape
    return W @ W.T / N, W[:, :K] / math.sqrt(N)


def overlaps(W: ArrayLike) -> OrderParameters:
    """Site-symmetric averages of the overlaps of ``W`` (..., K, N) with the teacher ``sqrt(N) e_n``.

    ``Q`` = mean of ``w_i.w_i / N``, ``C`` = mean over ``i != k`` of ``w_i.w_k / N``, ``R`` = mean of
    ``W_ii / sqrt N``, ``S`` = mean over ``i != n`` of ``W_in / sqrt N`` (``C = Q``, ``S = R`` for
    ``K = 1``). Returns :class:`OrderParameters` of the leading shape.
    """
    W = jnp.asarray(W)
    if W.ndim < 2 or W.shape[-2] < 1 or W.shape[-1] < W.shape[-2]:
        raise ValueError(f"W must have shape (..., K, N) with 1 <= K <= N, got {W.shape}")

    def one(w):
        K = w.shape[0]
        Qm, Rm = _overlap_matrices(w)
        off = max(K * (K - 1), 1)
        Q, R = jnp.trace(Qm) / K, jnp.trace(Rm) / K
        C = jnp.where(K > 1, (jnp.sum(Qm) - K * Q) / off, Q)
        S = jnp.where(K > 1, (jnp.sum(Rm) - K * R) / off, R)
        return OrderParameters(Q, C, R, S)

    fn = one
    for _ in range(W.ndim - 2):
        fn = jax.vmap(fn)
    return fn(W)


class Chain(NamedTuple):
    """A MALA run: ``order_parameters`` (:class:`OrderParameters` of ``(num_records,)`` traces),
    ``acceptance`` (mean acceptance rate), ``W`` (last state (K, N)), ``status`` (int32)."""

    order_parameters: OrderParameters
    acceptance: Float[Array, ""]
    W: Float[Array, "K N"]
    status: Int[Array, ""]


def _log_density(W, alpha_tilde, gamma):
    """``-N [alpha_tilde eps_g(Q(W), R(W)) + (gamma / 2) tr Q(W)]`` with the general (matrix) eps_g."""
    K, N = W.shape
    Qm, Rm = _overlap_matrices(W)
    ones = jnp.ones((K,), W.dtype)
    eps = _eps_g(Qm, Rm, jnp.eye(K, dtype=W.dtype), ones, ones)
    return -N * (alpha_tilde * eps + 0.5 * gamma * jnp.trace(Qm))


def _energy(W, alpha_tilde, gamma):
    return -_log_density(W, alpha_tilde, gamma)


@functools.partial(jax.jit, static_argnums=(5, 6, 7))
def _sample(key, W0, alpha_tilde, gamma, step_size, num_records, record_every, burn_in):
    # Burn-in and recording share one scan (one compiled copy of the MALA step): the burn-in is
    # ceil(burn_in / record_every) records that are dropped.
    num_burn = -(-burn_in // record_every)
    sampler = mala(step_size)
    energy = jax.tree_util.Partial(_energy, alpha_tilde=alpha_tilde, gamma=gamma)

    def steps(carry, keys):
        def body(i, c):
            state, accepted = c
            state, info = sampler.step(keys[i], state, energy, 1.0)
            return state, accepted + info.accepted

        return jax.lax.fori_loop(0, record_every, body, carry)

    def record(carry, k):
        carry = steps(carry, jax.random.split(k, record_every))
        return carry, (overlaps(carry[0].position), carry[1])

    carry = (sampler.init(energy, W0), jnp.zeros((), jnp.int32))
    (state, _), (trace, accepted) = jax.lax.scan(record, carry, jax.random.split(key, num_burn + num_records))
    W = state.position
    trace = jax.tree_util.tree_map(lambda x: x[num_burn:], trace)
    accepted_before = accepted[num_burn - 1] if num_burn else 0
    acceptance = (accepted[-1] - accepted_before) / (num_records * record_every)
    status = flag(state.status, Status.NAN, ~jnp.isfinite(state.energy) | ~jnp.all(jnp.isfinite(W)))
    status = flag(status, Status.INVALID_PARAMETER, ~(alpha_tilde >= 0) | ~(gamma >= 0) | ~(step_size > 0))
    return Chain(trace, acceptance, W, status)


def sample(
    key: Array,
    W0: ArrayLike,
    alpha_tilde: ArrayLike,
    gamma: ArrayLike,
    *,
    step_size: ArrayLike,
    num_records: int,
    record_every: int = 10,
    burn_in: int = 0,
) -> Chain:
    """Sample the high-temperature Gibbs measure ``P(W) ~ exp(-N [alpha_tilde eps_g + (gamma/2) tr Q])`` by MALA.

    The Metropolis-adjusted Langevin algorithm (Roberts & Tweedie, Bernoulli 2, 341, 1996;
    :func:`jaxphys.mc.mala`): propose ``W' = W + h grad ln P(W) + sqrt(2 h) xi`` and accept with the
    Metropolis-Hastings ratio, so the chain samples ``P`` exactly at any step ``h``. ``eps_g`` is the matrix formula
    of :func:`jaxphys.theory.online.eps_g` evaluated on ``Q(W) = W W^T / N``,
    ``R(W) = W B^T / N`` (teacher ``B = sqrt(N) e_n``); nothing of the site-symmetric theory is
    used, so the sampled overlaps test it. Choose ``h`` of the order of the variance per weight
    (``Q - R^2`` for a short student, ``~1/gamma`` for a long one) times ``(K N)^(-1/3)``
    (acceptance ~ 0.6-0.9). ``jit``-compiled; ``jax.vmap`` over keys for independent chains.

    Args:
        key: typed ``jax.random.key``.
        W0: start (K, N), float (e.g. :func:`student` on the branch to be sampled).
        alpha_tilde: load ``>= 0``; gamma: weight decay ``>= 0`` (float scalars, may be traced).
        step_size: MALA step ``h > 0``.
        num_records: number of recorded states, Python int ``>= 1``; record_every: MALA steps
            between records; burn_in: MALA steps before the first, rounded up to a multiple of
            ``record_every`` (Python ints).

    Returns:
        :class:`Chain` with the site-symmetric overlaps (:func:`overlaps`) of each record.

    Raises:
        ValueError/TypeError: ``W0`` not (K, N) with ``N >= K``; concrete negative ``alpha_tilde``,
            ``gamma`` or non-positive ``step_size``; bad counts.
    """
    W0 = jnp.asarray(W0)
    if W0.ndim != 2 or W0.shape[0] < 1 or W0.shape[1] < W0.shape[0]:
        raise ValueError(f"W0 must have shape (K, N) with 1 <= K <= N, got {W0.shape}")
    alpha_tilde = _check_scalar(alpha_tilde, "alpha_tilde", "alpha / T, a load")
    gamma = _check_scalar(gamma, "gamma", "the weight decay")
    step_size = _check_scalar(step_size, "step_size", "the MALA step")
    if is_concrete(step_size) and not float(step_size) > 0:
        raise ValueError(f"step_size must be > 0, got {float(step_size)}")
    num_records = as_count(num_records, "num_records")
    record_every = as_count(record_every, "record_every")
    burn_in = as_count(burn_in, "burn_in", minimum=0)
    dtype = jnp.result_type(W0, alpha_tilde, gamma, step_size, float)
    return _sample(
        key,
        W0.astype(dtype),
        alpha_tilde.astype(dtype),
        gamma.astype(dtype),
        step_size.astype(dtype),
        num_records,
        record_every,
        burn_in,
    )
