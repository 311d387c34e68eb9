"""Asymptotic test error of random-feature ridge regression: the double-descent curve.

Mei & Montanari, "The generalization error of random features regression: precise asymptotics
and double descent curve", arXiv:1908.05355 (Comm. Pure Appl. Math. 2022). Data ``x_i`` (``n``
samples in ``d`` dimensions), features ``sigma(<theta_a, x>/sqrt d)`` for ``N`` random weights
``theta_a`` of norm ``sqrt d``, and the ridge estimator

    a = argmin (1/n) sum_i (y_i - sum_a a_a sigma(<theta_a, x_i>/sqrt d))^2 + (N lambda / d) |a|^2

(the simulation is :mod:`jaxphys.learning.random_features`). The target is
``y = <beta_1, x> + f_NL(x) + eps`` with ``|beta_1|^2 = F1^2`` (``linear``), a nonlinear part of
variance ``F*^2`` (``nonlinear``) orthogonal to linear functions, and label noise of variance
``tau^2`` (``noise``). With ``d, N, n -> infinity`` at fixed ``psi1 = N/d`` and ``psi2 = n/d``,
the test error ``E_x (f(x) - f_hat(x))^2`` (label noise not included) tends to

    R = F1^2 B + (F*^2 + tau^2) V + F*^2,   B = E1 / E0,   V = E2 / E0,

polynomials in ``zeta = mu_1 / mu_*`` and ``chi`` (M&M Definition 1, 2 and Theorem 1), where
``mu_0 = E sigma(G)``, ``mu_1 = E G sigma(G)``, ``mu_*^2 = E sigma(G)^2 - mu_0^2 - mu_1^2``
(``G ~ N(0, 1)``), and ``chi = nu_1 nu_2`` at ``xi = i sqrt(psi1 psi2 lambda / mu_*^2)``:

    nu_1 = psi1 (-xi - nu_2 - zeta^2 nu_2 / (1 - zeta^2 nu_1 nu_2))^{-1},
    nu_2 = psi2 (-xi - nu_1 - zeta^2 nu_1 / (1 - zeta^2 nu_1 nu_2))^{-1}.

Solving them: on the imaginary axis ``xi = i s`` the solution is ``nu_j = i a_j`` with real
``a_j > 0``, and with ``p = a_1 a_2 = -chi`` and ``q(p) = p + zeta^2 p / (1 + zeta^2 p)`` the
equations read ``s a_j = psi_j - q(p)``, so ``p`` is the unique root of the monotone scalar
equation

    s^2 p = (psi1 - q(p)) (psi2 - q(p)),    0 <= p <= p_max,   q(p_max) = min(psi1, psi2),

found by Brent's method (:func:`jaxphys.theory.fixed_point.bracket_root`) in a bracket known in
closed form. At ``lambda = 0`` the root is ``p_max`` itself, which is M&M's ridgeless ``chi``
(their Theorem 3): the ridgeless limit needs no separate code. The test error diverges at the
interpolation threshold ``psi1 = psi2`` as ``lambda -> 0``.

Limits checked in tests/test_random_features.py: ``lambda -> infinity`` gives the null risk
``F1^2 + F*^2``; ``psi1 -> infinity`` gives kernel ridge regression, i.e. linear ridge
regression with the effective ridge ``(mu_*^2 + psi2 lambda) / (psi2 mu_1^2)`` (Hastie,
Montanari, Rosset & Tibshirani, arXiv:1903.08560, Marchenko-Pastur closed form:
:func:`kernel_limit`); and agreement with simulations at ``d = 200``.

Covariate shift (Tripuraneni, Adlam & Pennington 2021) is not implemented.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .. import status as status_lib
from .._validate import as_count
from . import fixed_point, quadrature
from .signal_propagation import activation_function, concrete_value

__all__ = [
    "ActivationCoefficients",
    "TestError",
    "activation_coefficients",
    "chi",
    "test_error",
    "kernel_limit",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


class ActivationCoefficients(NamedTuple):
    """``mu0 = E sigma(G)``, ``mu1 = E G sigma(G)``, ``mu_star = sqrt(E sigma(G)^2 - mu0^2 - mu1^2)``, ``G ~ N(0, 1)``."""

    mu0: Array
    mu1: Array
    mu_star: Array


class TestError(NamedTuple):
    """Asymptotic test error ``total = F1^2 bias + (F*^2 + tau^2) variance + F*^2`` and its two factors."""

    __test__ = False  # not a pytest class

    total: Array
    bias: Array
    variance: Array


# Closed forms where the kink or the special function makes quadrature slow or inexact:
# relu: E sigma = 1/sqrt(2 pi), E G sigma = 1/2, E sigma^2 = 1/2;
# erf (sigma = erf(x)): E G erf(G) = 2/sqrt(3 pi) (Stein), E erf(G)^2 = (2/pi) arcsin(2/3) (Williams 1997).
_CLOSED_FORMS = {
    "relu": (1.0 / _SQRT_2PI, 0.5, 0.5),
    "erf": (0.0, 2.0 / math.sqrt(3.0 * math.pi), 2.0 / math.pi * math.asin(2.0 / 3.0)),
}


def activation_coefficients(
    activation: str | Callable[[Array], Array] = "relu", *, num_nodes: int = 128
) -> ActivationCoefficients:
    """Gaussian Hermite coefficients ``(mu0, mu1, mu_star)`` of an activation (M&M eq. 9).

    ``mu0 = E sigma(G)``, ``mu1 = E G sigma(G)``, ``mu_star^2 = E sigma(G)^2 - mu0^2 - mu1^2``
    for ``G ~ N(0, 1)``. Closed forms for ``"relu"`` and ``"erf"`` (``sigma = erf(x)``);
    ``num_nodes``-point Gauss-Hermite quadrature (:mod:`jaxphys.theory.quadrature`) otherwise
    (exponentially accurate for analytic activations such as ``tanh``; slow, ~``num_nodes^-3/2``,
    for kinks).

    Args:
        activation: a name known to :func:`jaxphys.theory.signal_propagation.activation_function`
            (``tanh``, ``relu``, ``erf``, ``linear``) or a jax-traceable scalar function.
        num_nodes: quadrature nodes, Python int ``>= 1``.

    Returns:
        :class:`ActivationCoefficients` of float scalars (float64 under ``jax_enable_x64``).

    Raises:
        ValueError: unknown activation name. TypeError: neither a name nor a callable.
    """
    phi = activation_function(activation)
    dtype = jnp.result_type(float)
    if isinstance(activation, str) and activation in _CLOSED_FORMS:
        mu0, mu1, second = (jnp.asarray(v, dtype) for v in _CLOSED_FORMS[activation])
    else:
        mu0, mu1, second = quadrature.gaussian_expectation(
            lambda z: (phi(z), z * phi(z), phi(z) ** 2), num_nodes=as_count(num_nodes, "num_nodes")
        )
    return ActivationCoefficients(mu0, mu1, jnp.sqrt(jnp.maximum(second - mu0**2 - mu1**2, 0.0)))


def _check_positive(name: str, value: ArrayLike, *, allow_zero: bool = False) -> Array:
    concrete = concrete_value(value)
    if concrete is not None:
        bad = np.isnan(concrete) | ((concrete < 0) if allow_zero else (concrete <= 0))
        if np.any(bad):
            bound = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{name} must be {bound} and not NaN, got {concrete}")
    return jnp.asarray(value, jnp.result_type(value, float))


def _q(p: Array, zeta2: Array) -> Array:
    return p + zeta2 * p / (1.0 + zeta2 * p)


def _p_max(psi: Array, zeta2: Array) -> Array:
    """Root of ``q(p) = psi``: ``zeta^2 p^2 + (1 + zeta^2 - psi zeta^2) p - psi = 0`` (M&M Theorem 3's ``-chi``)."""
    b = 1.0 + zeta2 - psi * zeta2
    root = jnp.sqrt(b**2 + 4.0 * zeta2 * psi)
    # (-b + root) / (2 zeta^2) cancels for b > 0 (and is 0/0 at zeta = 0), its conjugate form for b < 0.
    small = 2.0 * psi / jnp.where(b > 0, b + root, 1.0)
    large = (root - b) / jnp.where(b > 0, 1.0, 2.0 * zeta2)
    return jnp.where(b > 0, small, large)


def _chi_equation(p, params):
    psi1, psi2, zeta2, s2 = params
    q = _q(p, zeta2)
    return s2 * p - (psi1 - q) * (psi2 - q)


def chi(psi1: ArrayLike, psi2: ArrayLike, ridge: ArrayLike, zeta: ArrayLike, mu_star: ArrayLike = 1.0) -> status_lib.Solution:
    """``chi = nu_1 nu_2`` of M&M Definition 1 at ``xi = i sqrt(psi1 psi2 ridge / mu_star^2)``.

    Solves the scalar equation of the module docstring for ``p = -chi`` in ``[0, p_max]``
    (Brent). Scalars; ``jax.vmap`` for grids; differentiable (implicit function theorem).

    Returns:
        ``Solution(value=chi, status, num_steps)``: ``chi <= 0``; ``Status.NOT_CONVERGED`` or
        ``Status.NAN`` from the root finder.
    """
    psi1, psi2, ridge, zeta, mu_star = (jnp.asarray(v, jnp.result_type(v, float)) for v in (psi1, psi2, ridge, zeta, mu_star))
    zeta2 = zeta**2
    s2 = psi1 * psi2 * ridge / mu_star**2
    upper = jax.lax.stop_gradient(_p_max(jnp.minimum(psi1, psi2), zeta2))
    solution = fixed_point.bracket_root(_chi_equation, 0.0, upper, (psi1, psi2, zeta2, s2), tol=1e-14)
    # At ridge = 0 the root is the bracket end p_max itself (where rounding may hide the sign change).
    ridgeless = s2 == 0
    p = jnp.where(ridgeless, upper, solution.value)
    status = jnp.where(ridgeless, status_lib.ok(), solution.status)
    return status_lib.Solution(-p, status, solution.num_steps)


def _bias_variance(chi: Array, zeta: Array, psi1: Array, psi2: Array) -> tuple[Array, Array]:
    """``B = E1/E0``, ``V = E2/E0`` (M&M Definition 2)."""
    z2, z4, z6 = zeta**2, zeta**4, zeta**6
    c2, c3, c4, c5 = chi**2, chi**3, chi**4, chi**5
    pp = psi1 * psi2
    e0 = (
        -c5 * z6
        + 3.0 * c4 * z4
        + (pp - psi2 - psi1 + 1.0) * c3 * z6
        - 2.0 * c3 * z4
        - 3.0 * c3 * z2
        + (psi1 + psi2 - 3.0 * pp + 1.0) * c2 * z4
        + 2.0 * c2 * z2
        + c2
        + 3.0 * pp * chi * z2
        - pp
    )
    e1 = psi2 * c3 * z4 - psi2 * c2 * z2 + pp * chi * z2 - pp
    e2 = (
        c5 * z6
        - 3.0 * c4 * z4
        + (psi1 - 1.0) * c3 * z6
        + 2.0 * c3 * z4
        + 3.0 * c3 * z2
        + (-psi1 - 1.0) * c2 * z4
        - 2.0 * c2 * z2
        - c2
    )
    return e1 / e0, e2 / e0


def _coefficients(activation, coefficients) -> tuple[Array, Array]:
    if coefficients is None:
        coefficients = activation_coefficients(activation)
    elif activation is not None:
        raise ValueError("pass either activation or coefficients=(mu0, mu1, mu_star), not both")
    try:
        _, mu1, mu_star = coefficients
    except (TypeError, ValueError):
        raise TypeError(f"coefficients must be a triple (mu0, mu1, mu_star), got {coefficients!r}") from None
    mu_star = _check_positive("mu_star (the nonlinear part of the activation)", mu_star)
    return jnp.asarray(mu1, jnp.result_type(mu1, float)), mu_star


def test_error(
    psi1: ArrayLike,
    psi2: ArrayLike,
    ridge: ArrayLike,
    *,
    activation: str | Callable[[Array], Array] | None = None,
    coefficients: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
    linear: ArrayLike = 1.0,
    nonlinear: ArrayLike = 0.0,
    noise: ArrayLike = 0.0,
) -> status_lib.Solution:
    """Asymptotic test error ``R(psi1, psi2, lambda)`` of random-feature ridge regression (M&M Theorem 1).

    ``R = F1^2 B + (F*^2 + tau^2) V + F*^2`` (module docstring), the limit of
    ``E_x (f(x) - f_hat(x))^2`` (excess risk: add ``tau^2`` for the error on noisy test labels).
    ``ridge = 0`` is the ridgeless (minimum-norm interpolator) limit, infinite at ``psi1 = psi2``.

    Args:
        psi1: ``N / d``, features per dimension, float scalar ``> 0``.
        psi2: ``n / d``, samples per dimension, float scalar ``> 0``.
        ridge: ``lambda >= 0`` in the penalty ``(N lambda / d) |a|^2`` (float scalar).
        activation: activation name or callable (default ``"relu"`` when ``coefficients`` is not given).
        coefficients: ``(mu0, mu1, mu_star)`` instead of ``activation`` (e.g. from
            :func:`activation_coefficients`); ``mu_star > 0`` (a purely linear activation has no limit here).
        linear: ``F1``, norm of the linear part of the target.
        nonlinear: ``F*``, standard deviation of the nonlinear part of the target.
        noise: ``tau``, standard deviation of the label noise.

    All numbers are scalars (``jax.vmap`` for grids), may be traced and differentiated.

    Returns:
        ``Solution(value=TestError(total, bias, variance), status, num_steps)``: float scalars
        (``inf`` at ``psi1 = psi2`` with ``ridge = 0``);
        ``Status.INVALID_PARAMETER`` (value NaN) where traced ``psi1, psi2 <= 0`` or ``ridge < 0``;
        the root finder's ``NOT_CONVERGED``/``NAN`` bits.

    Raises:
        ValueError: concrete ``psi1 <= 0``, ``psi2 <= 0``, ``ridge < 0``, ``mu_star <= 0`` or
            NaN; both ``activation`` and ``coefficients`` given.
        TypeError: malformed ``coefficients``.
    """
    if activation is None and coefficients is None:
        activation = "relu"
    mu1, mu_star = _coefficients(activation, coefficients)
    psi1 = _check_positive("psi1 (= num_features / d)", psi1)
    psi2 = _check_positive("psi2 (= num_samples / d)", psi2)
    ridge = _check_positive("ridge", ridge, allow_zero=True)
    for name, value in (("psi1", psi1), ("psi2", psi2), ("ridge", ridge), ("mu_star", mu_star)):
        if value.ndim:
            raise ValueError(f"{name} must be a scalar (jax.vmap over grids), got shape {value.shape}")
    invalid = ~((psi1 > 0) & (psi2 > 0) & (ridge >= 0) & (mu_star > 0))
    zeta = mu1 / mu_star
    # Safe stand-ins keep the root finder inside its domain; the result is NaN-ed below.
    solution = chi(jnp.where(invalid, 1.0, psi1), jnp.where(invalid, 2.0, psi2), jnp.where(invalid, 1.0, ridge), zeta, mu_star)
    bias, variance = _bias_variance(solution.value, zeta, psi1, psi2)
    linear, nonlinear, noise = (jnp.asarray(v, jnp.result_type(v, float)) for v in (linear, nonlinear, noise))
    total = linear**2 * bias + (nonlinear**2 + noise**2) * variance + nonlinear**2
    # At the interpolation threshold the ridgeless error is infinite (E0 = 0 up to rounding, of either sign).
    threshold = (ridge == 0) & (psi1 == psi2)
    value = jax.tree_util.tree_map(
        lambda v: jnp.where(invalid, jnp.nan, jnp.where(threshold, jnp.inf, v)), TestError(total, bias, variance)
    )
    status = status_lib.flag(solution.status, status_lib.Status.INVALID_PARAMETER, invalid)
    return status_lib.Solution(value, status, solution.num_steps)


test_error.__test__ = False  # a library function, not a pytest test


def kernel_limit(
    psi2: ArrayLike,
    ridge: ArrayLike,
    *,
    activation: str | Callable[[Array], Array] | None = None,
    coefficients: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
    linear: ArrayLike = 1.0,
    nonlinear: ArrayLike = 0.0,
    noise: ArrayLike = 0.0,
) -> Float[Array, ""]:
    """``psi1 -> infinity`` limit of :func:`test_error`: kernel ridge regression, in closed form.

    With infinitely many features the estimator is kernel ridge regression with kernel
    ``E_theta sigma sigma ~ mu0^2 + mu1^2 <x, x'>/d + mu_*^2 delta`` and ridge ``psi2 lambda``,
    i.e. linear ridge regression of ``y`` on ``x`` with ridge
    ``lambda_eff = (mu_*^2 + psi2 lambda) / (psi2 mu1^2)`` (penalty ``lambda_eff |beta|^2`` next
    to ``(1/n) |y - X beta|^2``). For isotropic inputs and ``gamma = 1/psi2`` (Hastie et al.
    2019, Theorem 5; Dobriban & Wager 2018):

        R = F1^2 lambda_eff^2 m'(-lambda_eff) + (F*^2 + tau^2) gamma (m - lambda_eff m') + F*^2,

    ``m(-l) = (-(1 - gamma + l) + sqrt((1 - gamma + l)^2 + 4 gamma l)) / (2 gamma l)`` the
    Marchenko-Pastur Stieltjes transform. An independent formula, used to test :func:`test_error`.

    Arguments as in :func:`test_error` (no ``psi1``); returns the total test error (float scalar).
    """
    if activation is None and coefficients is None:
        activation = "relu"
    mu1, mu_star = _coefficients(activation, coefficients)
    psi2 = _check_positive("psi2 (= num_samples / d)", psi2)
    ridge = _check_positive("ridge", ridge, allow_zero=True)
    gamma = 1.0 / psi2
    lam = (mu_star**2 + psi2 * ridge) / (psi2 * mu1**2)

    def stieltjes(l):
        b = 1.0 - gamma + l
        return (-b + jnp.sqrt(b**2 + 4.0 * gamma * l)) / (2.0 * gamma * l)

    m, dm = jax.jvp(stieltjes, (lam,), (-jnp.ones_like(lam),))  # dm = m'(z) at z = -lam
    linear, nonlinear, noise = (jnp.asarray(v, jnp.result_type(v, float)) for v in (linear, nonlinear, noise))
    return linear**2 * lam**2 * dm + (nonlinear**2 + noise**2) * gamma * (m - lam * dm) + nonlinear**2
