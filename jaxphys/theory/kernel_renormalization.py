"""Bayesian one-hidden-layer networks at ``P ~ N``: kernel renormalization (Pacelli et al. 2023).

Network and posterior (Pacelli, Ariosto, Pastore, Ginelli, Gherardi & Rotondo, "A statistical
mechanics framework for Bayesian deep neural networks beyond the infinite-width limit",
Nat. Mach. Intell. 5, 1497 (2023), arXiv:2209.04882):

    f(x) = (1 / sqrt N1) sum_{i=1}^{N1} v_i phi(h_i(x)),     h_i(x) = w_i . x / sqrt N0,
    p(v, w | data) ~ exp(-(1 / 2T) sum_mu (y_mu - f(x_mu))^2) N(w; 0, I / lambda0) N(v; 0, I / lambda1),

with ``P`` training points ``(x_mu, y_mu)``, temperature ``T = 1 / beta`` and ``alpha = P / N1``.

Derivation. Given the last-layer norm ``Q = lambda1 |v|^2 / N1``, the output ``f`` on the data is
(exactly for ``phi(x) = x``, approximately otherwise, see below) a centred Gaussian with covariance
``(Q / lambda1) K``, where ``K`` is the NNGP kernel of the first layer,

    K_{mu nu} = E phi(h_mu) phi(h_nu),    (h_mu) centred Gaussian, E h_mu h_nu = x_mu . x_nu / (lambda0 N0)

(:func:`nngp_kernel`), and the prior of ``Q`` is ``chi^2_{N1} / N1``, i.e. ``~ Q^{N1/2 - 1} e^{-N1 Q/2}``.
Integrating out ``f`` (a Gaussian integral) leaves the exact posterior of ``Q``; in ``u = log Q``,

    p(u | data) ~ exp(-(N1 / 2) S(e^u)),
    S(Q) = Q - log Q + (alpha / P) [log det(1 + Q K / (lambda1 T)) + y^T (T 1 + Q K / lambda1)^{-1} y]

(:func:`action`; ``S(1) -> 1`` as ``alpha -> 0``). In the proportional limit ``P, N1 -> inf`` at fixed
``alpha`` the integral concentrates on the minimum ``Qbar`` of ``S`` (:func:`solve`), which solves
``dS/dQ = 0``:

    1 - 1/Q + (alpha / P) Tr[(T + Q K/lambda1)^{-1} K/lambda1]
            - (alpha / P) y^T (T + Q K/lambda1)^{-1} (K/lambda1) (T + Q K/lambda1)^{-1} y = 0,

and the network's posterior is Gaussian-process regression with the RENORMALIZED kernel
``K_R = (Qbar / lambda1) K`` and noise ``T`` (:func:`predictor`, :func:`training_error`,
:func:`generalization_error`). ``alpha -> 0`` gives ``Qbar -> 1``: the infinite-width NNGP.
At ``T -> 0`` with ``K`` invertible the equation becomes ``Q^2 - (1 - alpha) Q - alpha r = 0``,
``r = lambda1 y^T K^{-1} y / P``: the one-hidden-layer result of Li & Sompolinsky, "Statistical mechanics
of deep linear neural networks: the backpropagating kernel renormalization", PRX 11, 031059 (2021).

What is exact and what is not:

* linear ``phi``: ``f`` given ``v`` is exactly Gaussian (``f(x) = u . x / sqrt N0`` with
  ``u = sum_i v_i w_i / sqrt N1 ~ N(0, |v|^2 / (N1 lambda0) I)``) for every ``N0, N1, P``; so the
  posterior of ``Q`` above is exact at finite width (:func:`finite_width_average` integrates it),
  and only the saddle point ``Qbar`` carries ``O(1/N1)`` corrections;
* non-linear ``phi`` (erf, ReLU): ``h`` is still exactly Gaussian, but ``f`` given ``v`` is a sum of
  ``N1`` non-Gaussian terms; treating it as Gaussian with covariance ``(Q/lambda1) K`` is the
  approximation of Pacelli et al. (a central-limit argument at large ``P, N0``), to be checked
  against sampling (see ``tests/test_kernel_renormalization.py``).

All functions are pure ``jnp`` and work under ``jit``/``vmap``; :func:`solve` differentiates
implicitly (``jax.grad`` of ``Qbar`` with respect to ``alpha``, ``T``, ``K``, ``y``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .. import status as status_lib
from .._validate import as_count
from . import fixed_point
from ._params import parameter, temperature
from .quadrature import _concrete

__all__ = [
    "nngp_kernel",
    "action",
    "solve",
    "predictor",
    "training_error",
    "generalization_error",
    "finite_width_average",
]

# Points of the log-spaced grid on which solve() looks for the global minimum of S before
# polishing the root of dS/dQ between the grid neighbours of the best point.
_GRID_POINTS = 129


# --------------------------------------------------------------------------- validation


def _matrix(value: Any, name: str) -> Array:
    """A 2-D real float array; concrete NaN/inf raises."""
    array = jnp.asarray(value)
    if not (jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)) or array.dtype == bool:
        raise TypeError(f"{name} must be a real array, got dtype {array.dtype}")
    array = array.astype(jnp.result_type(array.dtype, float))
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    concrete = _concrete(value)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def _vector(value: Any, name: str, length: int | None = None) -> Array:
    array = jnp.asarray(value)
    if not (jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)) or array.dtype == bool:
        raise TypeError(f"{name} must be a real array, got dtype {array.dtype}")
    array = array.astype(jnp.result_type(array.dtype, float))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if length is not None and array.shape[0] != length:
        raise ValueError(f"{name} must have length {length} (one entry per point), got {array.shape[0]}")
    concrete = _concrete(value)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def _kernel_matrix(K: Any, name: str = "K") -> Array:
    """Square, symmetric, positive semi-definite (checked when concrete), at least 1 x 1."""
    K = _matrix(K, name)
    if K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (P, P) kernel matrix, got shape {K.shape}")
    concrete = _concrete(K)
    if concrete is not None:
        # rounding allowance: sqrt(eps) |K| (1.5e-8 |K| in float64, 3.5e-4 |K| in float32) covers the asymmetry
        # of a float matmul and the ~P eps |K| error of eigvalsh for a PSD matrix
        tolerance = float(np.sqrt(np.finfo(K.dtype).eps)) * max(float(np.max(np.abs(concrete))), np.finfo(K.dtype).tiny)
        if not np.allclose(concrete, concrete.T, rtol=0.0, atol=tolerance):
            raise ValueError(f"{name} must be symmetric (a kernel Gram matrix); symmetrise it with (K + K.T) / 2")
        smallest = float(np.linalg.eigvalsh(concrete)[0])
        if smallest < -tolerance:
            raise ValueError(f"{name} must be positive semi-definite, its smallest eigenvalue is {smallest:.3g}")
    return K


def _non_negative(value: Any, name: str) -> Array:
    array = parameter(value, name)
    concrete = _concrete(value)
    if concrete is not None and np.any(concrete < 0):
        raise ValueError(f"{name} must be >= 0, got {concrete}")
    return array


def _positive(value: Any, name: str) -> Array:
    array = parameter(value, name)
    concrete = _concrete(value)
    if concrete is not None and np.any(concrete <= 0):
        raise ValueError(f"{name} must be > 0, got {concrete}")
    return array


def _scalar(array: Array, name: str) -> Array:
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar (use jax.vmap for many values), got shape {array.shape}")
    return array


def _common(K, y, T, lambda1):
    K = _kernel_matrix(K)
    y = _vector(y, "y", K.shape[0])
    T = _scalar(temperature(T), "T")
    lambda1 = _scalar(_positive(lambda1, "lambda1"), "lambda1")
    return K, y, T, lambda1


# --------------------------------------------------------------------------- kernel


def nngp_kernel(
    x1: Float[Array, "p1 n0"],
    x2: Float[Array, "p2 n0"] | None = None,
    activation: str = "erf",
    *,
    lambda0: ArrayLike = 1.0,
    diagonal: bool = False,
) -> Float[Array, "p1 p2"]:
    """First-layer NNGP kernel ``K(x, x') = E phi(h(x)) phi(h(x'))``, ``E h(x) h(x') = x . x' / (lambda0 N0)``.

    Closed forms (``q = |x|^2 / (lambda0 N0)``, ``c = x . x' / (lambda0 N0)``):

    * ``"linear"``: ``c``;
    * ``"erf"``: ``(2 / pi) arcsin(2 c / sqrt((1 + 2 q)(1 + 2 q')))`` (Williams 1997);
    * ``"relu"``: ``(1 / 2 pi) sqrt(q q') (sin t + (pi - t) cos t)``, ``cos t = c / sqrt(q q')``
      (arc-cosine kernel, Cho & Saul 2009).

    Computed by :func:`jaxphys.ntk.analytic.mlp` (depth 1, ``sigma_w2 = 1 / lambda0``, no biases) divided
    by its readout variance.

    Args:
        x1: inputs, float array (P1, N0).
        x2: inputs, float array (P2, N0); ``None`` means ``x1``.
        activation: ``"linear"``, ``"erf"`` or ``"relu"``.
        lambda0: inverse prior variance of the first-layer weights, float ``> 0``.
        diagonal: return only ``K(x1_m, x1_m)``, shape (P1,) (needs ``x2 = None``).

    Returns:
        Float array (P1, P2), or (P1,) with ``diagonal=True``.

    Raises:
        ValueError: inputs not 2-D, different ``N0``, NaN, ``lambda0 <= 0``, unknown activation,
        ``diagonal`` with ``x2``. TypeError: non-real inputs.
    """
    if activation not in ("linear", "erf", "relu"):
        raise ValueError(f"activation must be 'linear', 'erf' or 'relu' (closed-form kernels), got {activation!r}")
    x1 = _matrix(x1, "x1")
    if diagonal and x2 is not None:
        raise ValueError("diagonal=True gives K(x1_m, x1_m): leave x2 = None")
    x2 = x1 if x2 is None else _matrix(x2, "x2")
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same input dimension N0, got {x1.shape[1]} and {x2.shape[1]}")
    lambda0 = _scalar(_positive(lambda0, "lambda0"), "lambda0")
    # The infinite-width NNGP of a one-hidden-layer network with sigma_w2 = 1 / lambda0 and no biases is
    # sigma_w2 E phi(h) phi(h') (the readout layer adds the factor sigma_w2): the same closed forms.
    from ..ntk import analytic  # ntk imports theory: import here

    nngp, _ = analytic.mlp(
        x1, None if diagonal or x2 is x1 else x2, depth=1, activation=activation, sigma_w2=1.0 / lambda0, sigma_b2=0.0,
        diagonal=diagonal,
    )  # fmt: skip
    return lambda0 * nngp


# --------------------------------------------------------------------------- action and saddle point


def _spectrum(K: Array, y: Array, lambda1: Array) -> tuple[Array, Array]:
    """Eigenvalues ``a_k`` of ``K / lambda1`` (clipped at 0) and squared projections ``(U^T y)_k^2``."""
    eigenvalues, vectors = jnp.linalg.eigh(K)
    return jnp.maximum(eigenvalues, 0.0) / lambda1, (vectors.T @ y) ** 2


def _action(Q, a, y2, alpha, T):
    P = a.shape[0]
    return Q - jnp.log(Q) + alpha / P * jnp.sum(jnp.log1p(Q * a / T) + y2 / (T + Q * a))


def _residual(u, params):
    """``Q dS/dQ`` at ``Q = e^u``: same sign as ``dS/dQ``, root at the saddle point."""
    a, y2, alpha, T = params
    P = a.shape[0]
    Qa = jnp.exp(u) * a
    denominator = T + Qa
    return jnp.exp(u) - 1.0 + alpha / P * jnp.sum(Qa / denominator - y2 * Qa / denominator**2)


def action(
    Q: ArrayLike,
    K: Float[Array, "p p"],
    y: Float[Array, " p"],
    *,
    alpha: ArrayLike,
    T: ArrayLike,
    lambda1: ArrayLike = 1.0,
) -> Float[Array, "..."]:
    """Effective action ``S(Q) = Q - log Q + (alpha/P) [log det(1 + Q K/(lambda1 T)) + y^T (T + Q K/lambda1)^{-1} y]``.

    The posterior of ``u = log(lambda1 |v|^2 / N1)`` is ``~ exp(-(N1/2) S(e^u))`` (module docstring).

    Args:
        Q: last-layer order parameter, float ``> 0`` (any shape: evaluated elementwise).
        K: first-layer NNGP kernel on the training inputs, symmetric PSD float (P, P).
        y: training targets, float (P,).
        alpha: ``P / N1 >= 0``, float scalar.
        T: temperature ``> 0``, float scalar.
        lambda1: inverse prior variance of the last layer, float scalar ``> 0``.

    Returns:
        ``S`` with the shape of ``Q``.

    Raises:
        ValueError/TypeError: ``K`` not square, symmetric and PSD, ``y`` of the wrong length, NaN,
        ``alpha < 0``, ``T <= 0``, ``lambda1 <= 0``, ``Q <= 0`` (when concrete).
    """
    K, y, T, lambda1 = _common(K, y, T, lambda1)
    alpha = _scalar(_non_negative(alpha, "alpha"), "alpha")
    Q = _positive(Q, "Q")
    return _action_values(Q, K, y, alpha, T, lambda1)


@jax.jit
def _action_values(Q, K, y, alpha, T, lambda1):
    a, y2 = _spectrum(K, y, lambda1)
    return jnp.vectorize(lambda q: _action(q, a, y2, alpha, T))(Q)


def _bracket(a, y2, alpha, T):
    """``log Q`` bracket of every stationary point of ``S`` (see :func:`solve`)."""
    P = a.shape[0]
    lower = 0.5 / (1.0 + alpha * jnp.max(a) / T)
    upper = 2.0 * (1.0 + alpha * jnp.sum(y2) / (4.0 * T * P))
    return jnp.log(lower), jnp.log(upper)


def solve(
    K: Float[Array, "p p"],
    y: Float[Array, " p"],
    *,
    alpha: ArrayLike,
    T: ArrayLike,
    lambda1: ArrayLike = 1.0,
    tol: float = 1e-12,
    throw: bool = False,
) -> status_lib.Solution:
    """Saddle point ``Qbar = argmin_Q S(Q)`` of :func:`action`: the kernel renormalization ``K_R = (Qbar/lambda1) K``.

    Every stationary point lies in ``[Q_lo, Q_hi]`` with ``Q_lo = 1 / (2 (1 + alpha max eig(K) / (lambda1 T)))``
    and ``Q_hi = 2 (1 + alpha |y|^2 / (4 T P))`` (the data terms of ``Q dS/dQ`` lie in
    ``[-alpha |y|^2 / (4 T P), alpha Q max eig / (lambda1 T)]``). ``S`` is evaluated on 129 log-spaced
    points of that bracket; the root of ``dS/dQ`` between the neighbours of the lowest point is then
    found by Brent's method in ``log Q`` (:func:`jaxphys.theory.fixed_point.bracket_root`), so the
    result is the global minimum unless two minima are closer in ``S`` than the grid resolves.
    The cost is one ``eigh`` of ``K`` plus ``O(P)`` per iteration.

    Args:
        K: first-layer NNGP kernel on the training inputs, symmetric PSD float (P, P).
        y: training targets, float (P,).
        alpha: ``P / N1 >= 0`` (float scalar; may be traced, e.g. under ``jax.vmap``).
        T: temperature ``> 0`` (float scalar).
        lambda1: inverse prior variance of the last-layer weights (float scalar ``> 0``).
        tol: absolute tolerance on ``log Qbar``, Python float ``> 0``.
        throw: raise if the status is not OK.

    Returns:
        ``Solution(value=Qbar, status, num_steps)``; ``Qbar`` a float scalar, differentiable
        (implicit function theorem) with respect to ``K``, ``y``, ``alpha``, ``T``, ``lambda1``.
        ``Status.INVALID_PARAMETER`` for traced ``alpha < 0`` or ``T <= 0``, ``NOT_CONVERGED``
        or ``NAN`` from the root finder.

    Raises:
        ValueError/TypeError: as :func:`action`.
    """
    K, y, T, lambda1 = _common(K, y, T, lambda1)
    alpha = _scalar(_non_negative(alpha, "alpha"), "alpha")
    solution = _solve(K, y, alpha, T, lambda1, tol)
    if throw:
        solution = solution._replace(value=status_lib.check(solution.value, solution.status))
    return solution


@jax.jit
def _grid_bracket(a, y2, alpha, T):
    lower, upper = _bracket(a, y2, alpha, T)
    u = jnp.linspace(lower, upper, _GRID_POINTS)
    values = jax.vmap(lambda ui: _action(jnp.exp(ui), a, y2, alpha, T))(u)
    best = jnp.argmin(values)
    return u[jnp.maximum(best - 1, 0)], u[jnp.minimum(best + 1, _GRID_POINTS - 1)]


@functools.partial(jax.jit, static_argnums=5)
def _solve(K, y, alpha, T, lambda1, tol):
    a, y2 = _spectrum(K, y, lambda1)
    params = (a, y2, alpha, T)
    lower, upper = _grid_bracket(*jax.lax.stop_gradient(params))
    solution = fixed_point.bracket_root(_residual, lower, upper, params, tol=tol)
    Q = jnp.exp(solution.value)
    bad = (alpha < 0) | ~jnp.isfinite(alpha) | ~(T > 0) | ~jnp.isfinite(T)
    status = status_lib.flag(solution.status, status_lib.Status.INVALID_PARAMETER, bad)
    return status_lib.Solution(Q, status, solution.num_steps)


# --------------------------------------------------------------------------- GP regression with K_R


def _gp_inputs(K_train, K_test_train, k_test_test, y, Q, T, lambda1):
    K_train, y, T, lambda1 = _common(K_train, y, T, lambda1)
    K_test_train = _matrix(K_test_train, "K_test_train")
    P = K_train.shape[0]
    if K_test_train.shape[1] != P:
        raise ValueError(f"K_test_train must have shape (M, P) = (M, {P}), got {K_test_train.shape}")
    k_test_test = _vector(k_test_test, "k_test_test", K_test_train.shape[0])
    Q = _scalar(_positive(Q, "Q"), "Q")
    return K_train, K_test_train, k_test_test, y, Q, T, lambda1


@jax.jit
def _predict(K_train, K_test_train, k_test_test, y, Q, T, lambda1):
    scale = Q / lambda1
    A = T * jnp.eye(K_train.shape[0], dtype=K_train.dtype) + scale * K_train
    factor = jax.scipy.linalg.cho_factor(A, lower=True)
    mean = scale * K_test_train @ jax.scipy.linalg.cho_solve(factor, y)
    solved = jax.scipy.linalg.cho_solve(factor, K_test_train.T)  # (P, M)
    variance = scale * k_test_test - scale**2 * jnp.sum(K_test_train.T * solved, axis=0)
    return mean, variance


def predictor(
    K_train: Float[Array, "p p"],
    K_test_train: Float[Array, "m p"],
    k_test_test: Float[Array, " m"],
    y: Float[Array, " p"],
    Q: ArrayLike,
    *,
    T: ArrayLike,
    lambda1: ArrayLike = 1.0,
) -> tuple[Float[Array, " m"], Float[Array, " m"]]:
    """Posterior mean and variance of the network output ``f(x)`` on test points: GP regression with ``K_R``.

    With ``K_R = (Q / lambda1) K`` and ``A = T 1 + K_R(train, train)``:

        mean(x)     = K_R(x, train) A^{-1} y,
        variance(x) = K_R(x, x) - K_R(x, train) A^{-1} K_R(train, x)

    (the variance of ``f``, without the output noise ``T``). ``Q = Qbar`` from :func:`solve` is the
    proportional-limit theory; ``Q = 1`` the infinite-width NNGP.

    Args:
        K_train: NNGP kernel on the training inputs, symmetric PSD float (P, P).
        K_test_train: kernel between test and training inputs, float (M, P).
        k_test_test: kernel of each test input with itself, float (M,) (``nngp_kernel(x, diagonal=True)``).
        y: training targets, float (P,).
        Q: kernel scale, float scalar ``> 0``.
        T: temperature (noise variance) ``> 0``.
        lambda1: inverse prior variance of the last layer ``> 0``.

    Returns:
        ``(mean, variance)``, float arrays (M,).

    Raises:
        ValueError/TypeError: shapes that do not fit, a kernel that is not symmetric PSD, NaN,
        ``Q <= 0``, ``T <= 0``, ``lambda1 <= 0``.
    """
    return _predict(*_gp_inputs(K_train, K_test_train, k_test_test, y, Q, T, lambda1))


def training_error(
    K: Float[Array, "p p"],
    y: Float[Array, " p"],
    Q: ArrayLike,
    *,
    T: ArrayLike,
    lambda1: ArrayLike = 1.0,
) -> Float[Array, ""]:
    """Posterior mean of the training loss ``(1/P) sum_mu (y_mu - f(x_mu))^2`` under GP regression with ``K_R``.

    With ``K_R = (Q / lambda1) K`` and ``A = T 1 + K_R``: ``y - E f = T A^{-1} y`` and
    ``Cov f = K_R - K_R A^{-1} K_R = T K_R A^{-1}``, so

        E_train = (1/P) [T^2 y^T A^{-2} y + T Tr(K_R A^{-1})].

    Args and errors as :func:`predictor` (``K`` the training kernel (P, P)). Returns a float scalar.
    """
    K, y, T, lambda1 = _common(K, y, T, lambda1)
    Q = _scalar(_positive(Q, "Q"), "Q")
    return _training_error(K, y, Q, T, lambda1)


@jax.jit
def _training_error(K, y, Q, T, lambda1):
    a, y2 = _spectrum(K, y, lambda1)
    Qa = Q * a
    return jnp.mean(T**2 * y2 / (T + Qa) ** 2 + T * Qa / (T + Qa))


def generalization_error(
    K_train: Float[Array, "p p"],
    K_test_train: Float[Array, "m p"],
    k_test_test: Float[Array, " m"],
    y: Float[Array, " p"],
    y_test: Float[Array, " m"],
    Q: ArrayLike,
    *,
    T: ArrayLike,
    lambda1: ArrayLike = 1.0,
) -> Float[Array, ""]:
    """Posterior mean test error ``(1/M) sum_m E (y_test_m - f(x_m))^2 = mean((y_test - mean)^2 + variance)``.

    ``mean`` and ``variance`` from :func:`predictor` (GP regression with ``K_R = (Q/lambda1) K``).
    ``y_test``: float (M,) targets of the test points; the rest as :func:`predictor`. Returns a float scalar.
    """
    inputs = _gp_inputs(K_train, K_test_train, k_test_test, y, Q, T, lambda1)
    y_test = _vector(y_test, "y_test", inputs[1].shape[0])
    mean, variance = _predict(*inputs)
    return jnp.mean((y_test - mean) ** 2 + variance)


# --------------------------------------------------------------------------- finite width


def finite_width_average(
    fn: Callable[[Array], Any],
    K: Float[Array, "p p"],
    y: Float[Array, " p"],
    *,
    num_hidden: int,
    T: ArrayLike,
    lambda1: ArrayLike = 1.0,
    num_points: int = 4001,
) -> Any:
    """Posterior average ``E[fn(Q) | data]`` of the last-layer norm ``Q = lambda1 |v|^2 / N1`` at finite width ``N1``.

    The posterior of ``u = log Q`` is ``~ exp(-(N1/2) S(e^u))`` with :func:`action` at
    ``alpha = P / N1``: EXACT for linear networks at any ``N0, N1, P`` (module docstring), the
    Gaussian approximation of Pacelli et al. otherwise. So for a linear network the exact
    posterior mean of any function of the output is ``E[g(Q)]`` with ``g(Q)`` its GP-regression
    value at kernel ``(Q/lambda1) K`` (e.g. ``fn = lambda Q: predictor(..., Q, T=T)[0]``), and
    ``fn = lambda Q: Q`` gives ``E |v|^2 lambda1 / N1``. The integral is a trapezoid rule on
    ``num_points`` points of ``u`` spanning the bracket of :func:`solve` widened by ``60 / N1`` on each side
    (the density falls like ``Q^{N1/2}`` below and ``e^{-N1 Q/2}`` above: ``e^{-30}`` beyond the grid).

    Args:
        fn: ``fn(Q) -> pytree`` of arrays for a float scalar ``Q`` (vmapped over the grid).
        K: first-layer NNGP kernel on the training inputs, symmetric PSD float (P, P).
        y: training targets, float (P,).
        num_hidden: hidden width ``N1 >= 1`` (Python int).
        T: temperature ``> 0``; lambda1: inverse prior variance of the last layer ``> 0``.
        num_points: grid size, Python int ``>= 3``.

    Returns:
        The average, a pytree like ``fn``'s output.

    Raises:
        ValueError/TypeError: as :func:`action`, a bad ``num_hidden`` or ``num_points``, ``fn`` not callable.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function Q -> pytree, got {type(fn).__name__}")
    K, y, T, lambda1 = _common(K, y, T, lambda1)
    num_hidden = as_count(num_hidden, "num_hidden")
    num_points = as_count(num_points, "num_points", minimum=3)
    a, y2 = _spectrum(K, y, lambda1)
    alpha = a.shape[0] / num_hidden
    lower, upper = _bracket(a, y2, alpha, T)
    u = jnp.linspace(lower - 60.0 / num_hidden, jnp.log(jnp.exp(upper) + 60.0 / num_hidden), num_points)
    log_density = -0.5 * num_hidden * jax.vmap(lambda ui: _action(jnp.exp(ui), a, y2, alpha, T))(u)
    weights = jnp.exp(log_density - jnp.max(log_density))
    weights = weights.at[0].multiply(0.5).at[-1].multiply(0.5)
    weights = weights / jnp.sum(weights)
    values = jax.vmap(fn)(jnp.exp(u))
    return jax.tree_util.tree_map(lambda v: jnp.tensordot(weights, v, axes=1), values)
