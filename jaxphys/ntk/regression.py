"""Kernel regression, the infinite-width NTK predictor, and the spectral theory of its learning curves.

* :func:`kernel_regression`: ``f(x) = k(x, X) (K + lambda I)^{-1} Y``, through the eigendecomposition
  of ``K`` (stable for ill-conditioned kernels; at ``ridge = 0`` a pseudo-inverse, i.e. the
  minimum-norm interpolant when ``K`` is singular).
* :func:`ntk_predictor`: the output distribution of an infinitely wide network trained by gradient
  flow on the squared loss for a time ``t`` (Lee et al. 2019, arXiv:1902.06720, eqs. (9)-(10)).
  With ``f_0 ~ GP(0, K)`` (NNGP) and the NTK ``Theta`` fixed, the flow
  ``df_t(x)/dt = -eta Theta(x, X) (f_t(X) - Y)`` (loss ``(1/2) sum_i |f(x_i) - y_i|^2``) gives
  ``f_t(x) = f_0(x) + A_t(x) (Y - f_0(X))`` with ``A_t(x) = Theta(x, X) Theta^{-1} (I - e^{-eta Theta t})``,
  hence the mean ``A_t(x) Y`` and the covariance
  ``K(x, x') - A_t(x) K(X, x') - K(x, X) A_t(x')^T + A_t(x) K(X, X) A_t(x')^T``.
* :func:`mean_squared_error`: the empirical test error of a predictor (optionally its expectation
  over initialisations, adding the predictive variance).
* :func:`mercer_decomposition` and :func:`learning_curve_theory`: the generalisation error of kernel
  ridge regression from the kernel's eigenvalues ``eta_k`` and the target's coefficients ``a_k`` in
  the orthonormal eigenbasis (Bordelon, Canatar & Pehlevan 2020, arXiv:2002.02561; Canatar,
  Bordelon & Pehlevan 2021, Nat. Commun. 12, 2914, eqs. (3)-(5)): for ``P`` samples drawn i.i.d.
  from the input distribution, labels ``y = f*(x) + noise`` of variance ``sigma^2`` and ridge
  ``lambda``,

      kappa = lambda + kappa sum_k eta_k / (P eta_k + kappa),
      gamma = sum_k P eta_k^2 / (P eta_k + kappa)^2,
      E_g   = E (f(x) - f*(x))^2 = [sum_k a_k^2 kappa^2 / (P eta_k + kappa)^2 + sigma^2 gamma] / (1 - gamma).

  It is exact as ``P`` and the number of modes grow together, and accurate to a few per cent
  already at ``P ~ 10`` for smooth kernels.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .. import status as status_lib
from ..theory import fixed_point
from ..theory.signal_propagation import concrete_value

__all__ = [
    "kernel_regression",
    "ntk_predictor",
    "NTKPrediction",
    "mean_squared_error",
    "mercer_decomposition",
    "learning_curve_theory",
    "LearningCurveTheory",
    "linearized_prediction",
]


# --------------------------------------------------------------------------- checks


def _matrix(value, name: str, shape: tuple[int | None, int | None] | None = None) -> Array:
    arr = jnp.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D kernel matrix, got shape {arr.shape}")
    if shape is not None:
        for axis, want in enumerate(shape):
            if want is not None and arr.shape[axis] != want:
                raise ValueError(f"{name} must have shape {tuple('?' if s is None else s for s in shape)}, got {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    _finite(arr, name)
    return arr


def _targets(value, num: int, name: str = "y_train") -> Array:
    arr = jnp.asarray(value)
    if arr.ndim not in (1, 2) or arr.shape[0] != num:
        raise ValueError(f"{name} must have shape ({num},) or ({num}, num_outputs), got {arr.shape}")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    _finite(arr, name)
    return arr


def _finite(arr: Array, name: str) -> None:
    concrete = concrete_value(arr)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError(f"{name} contains NaN or infinity")


def _non_negative(value, name: str, allow_inf: bool = False) -> Array:
    arr = jnp.asarray(value, jnp.result_type(value, float))
    if arr.ndim:
        raise ValueError(f"{name} must be a scalar (vmap for many), got shape {arr.shape}")
    concrete = concrete_value(value)
    if concrete is not None and not (concrete >= 0 and (allow_inf or np.isfinite(concrete))):
        raise ValueError(f"{name} must be >= 0{'' if allow_inf else ' and finite'}, got {concrete}")
    return arr


def _spectral(matrix: Array) -> tuple[Array, Array]:
    """``eigh`` of the symmetrised matrix; negative eigenvalues (rounding of a PSD kernel) clipped to 0."""
    eigenvalues, vectors = jnp.linalg.eigh(0.5 * (matrix + matrix.T))
    return jnp.maximum(eigenvalues, 0.0), vectors


def _pseudo_inverse_cutoff(eigenvalues: Array, rcond: float | None) -> Array:
    """Eigenvalues below ``rcond * max`` count as 0 (default ``rcond = size * eps``, as ``numpy.linalg.pinv``)."""
    if rcond is None:
        rcond = eigenvalues.shape[0] * float(jnp.finfo(eigenvalues.dtype).eps)
    return rcond * jnp.max(eigenvalues)


# --------------------------------------------------------------------------- kernel ridge regression


def kernel_regression(
    k_train: Float[Array, "p p"],
    y_train: Float[Array, "p ..."],
    k_test_train: Float[Array, "q p"],
    ridge: ArrayLike = 0.0,
    *,
    rcond: float | None = None,
) -> Float[Array, "q ..."]:
    """Kernel ridge regression ``f(x) = k(x, X) (K + ridge I)^{-1} Y``.

    The solve goes through ``K = V diag(lambda) V^T`` (``eigh``): ``alpha = V diag(1/(lambda + ridge)) V^T Y``.
    At ``ridge = 0`` eigenvalues below ``rcond * lambda_max`` are dropped (pseudo-inverse): for a
    singular ``K`` (repeated inputs) this is the minimum-RKHS-norm interpolant. This is the
    minimiser of ``sum_i (f(x_i) - y_i)^2 + ridge |f|_H^2`` (the convention of
    :func:`learning_curve_theory`).

    Args:
        k_train: ``(P, P)`` symmetric PSD kernel matrix of the training inputs.
        y_train: ``(P,)`` or ``(P, C)`` training targets.
        k_test_train: ``(Q, P)`` kernel between test and training inputs.
        ridge: ``lambda >= 0``, float scalar (may be traced).
        rcond: relative eigenvalue cutoff at ``ridge = 0`` (default ``P * eps``).

    Returns:
        ``(Q,)`` or ``(Q, C)`` predictions.

    Raises:
        ValueError: shapes that do not match, empty or non-finite arrays, negative ridge.
    """
    k_train = _matrix(k_train, "k_train")
    p = k_train.shape[0]
    if k_train.shape != (p, p):
        raise ValueError(f"k_train must be square, got {k_train.shape}")
    k_test_train = _matrix(k_test_train, "k_test_train", (None, p))
    y_train = _targets(y_train, p)
    ridge = _non_negative(ridge, "ridge")
    return _kernel_regression(k_train, y_train, k_test_train, ridge, rcond)


def _solve(k_train, y_train, ridge, rcond=None):
    eigenvalues, vectors = _spectral(k_train)
    shifted = eigenvalues + ridge
    keep = shifted > jnp.where(ridge > 0, 0.0, _pseudo_inverse_cutoff(eigenvalues, rcond))
    inverse = jnp.where(keep, 1.0 / jnp.where(keep, shifted, 1.0), 0.0)
    projected = vectors.T @ y_train
    return vectors @ (inverse.reshape((-1,) + (1,) * (y_train.ndim - 1)) * projected)


@functools.partial(jax.jit, static_argnums=4)
def _kernel_regression(k_train, y_train, k_test_train, ridge, rcond):
    dtype = jnp.result_type(k_train, y_train, k_test_train, ridge)
    alpha = _solve(k_train.astype(dtype), y_train.astype(dtype), ridge.astype(dtype), rcond)
    return k_test_train.astype(dtype) @ alpha


# --------------------------------------------------------------------------- NTK predictor


class NTKPrediction(NamedTuple):
    """Gaussian output of a network trained by gradient flow: ``mean`` ``(Q,)``/``(Q, C)``, ``covariance`` ``(Q, Q)`` or ``None``.

    The covariance is over random initialisations (the same for every output), ``None`` when no
    NNGP kernels were given.
    """

    mean: Array
    covariance: Array | None


def ntk_predictor(
    ntk_train: Float[Array, "p p"],
    ntk_test_train: Float[Array, "q p"],
    y_train: Float[Array, "p ..."],
    time: ArrayLike,
    *,
    learning_rate: ArrayLike = 1.0,
    nngp_train: Float[Array, "p p"] | None = None,
    nngp_test_train: Float[Array, "q p"] | None = None,
    nngp_test: Float[Array, "q q"] | None = None,
) -> NTKPrediction:
    """Mean and covariance of ``f_t(x)`` for an infinitely wide network after gradient flow for time ``t``.

    Lee et al. 2019, eqs. (9)-(10) (see the module docstring), for the loss
    ``(1/2) sum_i |f(x_i) - y_i|^2`` and ``d theta / dt = -eta grad loss``. :func:`jaxphys.learning.train.fit`
    minimises the MEAN loss: ``k`` steps of ``optax.sgd(lr)`` on ``(1/2)(f - y)^2`` correspond to
    ``eta t = k lr / P``. ``Theta^{-1} (I - e^{-eta Theta t})`` is evaluated in ``Theta``'s eigenbasis as
    ``-expm1(-eta lambda t) / lambda`` (``-> eta t`` for ``lambda -> 0``, so a singular ``Theta`` is
    fine at finite ``t``); ``time = inf`` gives the converged predictor ``Theta(x, X) Theta^+ Y`` (kernel
    regression with the NTK, pseudo-inverse for a singular ``Theta``).

    Args:
        ntk_train: ``(P, P)`` NTK of the training inputs.
        ntk_test_train: ``(Q, P)`` NTK between test and training inputs.
        y_train: ``(P,)`` or ``(P, C)`` targets.
        time: ``t >= 0`` (``inf`` allowed; may be traced).
        learning_rate: ``eta > 0``.
        nngp_train, nngp_test_train, nngp_test: the NNGP kernels ``(P, P)``, ``(Q, P)``, ``(Q, Q)``
            (all three or none): give them for the covariance.

    Returns:
        :class:`NTKPrediction` ``(mean, covariance)``.

    Raises:
        ValueError: mismatched shapes, negative time or learning rate, only some NNGP kernels.
    """
    ntk_train = _matrix(ntk_train, "ntk_train")
    p = ntk_train.shape[0]
    if ntk_train.shape != (p, p):
        raise ValueError(f"ntk_train must be square, got {ntk_train.shape}")
    ntk_test_train = _matrix(ntk_test_train, "ntk_test_train", (None, p))
    q = ntk_test_train.shape[0]
    y_train = _targets(y_train, p)
    time = _non_negative(time, "time", allow_inf=True)
    learning_rate = _non_negative(learning_rate, "learning_rate")
    given = [k is not None for k in (nngp_train, nngp_test_train, nngp_test)]
    if any(given) and not all(given):
        raise ValueError("give all three NNGP kernels (nngp_train, nngp_test_train, nngp_test) for the covariance, or none")
    nngp = None
    if all(given):
        nngp = (
            _matrix(nngp_train, "nngp_train", (p, p)),
            _matrix(nngp_test_train, "nngp_test_train", (q, p)),
            _matrix(nngp_test, "nngp_test", (q, q)),
        )
    return _ntk_predictor(ntk_train, ntk_test_train, y_train, time, learning_rate, nngp)


@jax.jit
def _ntk_predictor(ntk_train, ntk_test_train, y_train, time, learning_rate, nngp):
    eigenvalues, vectors = _spectral(ntk_train)
    rate = learning_rate * eigenvalues
    converged = jnp.isinf(time)
    keep = eigenvalues > _pseudo_inverse_cutoff(eigenvalues, None)
    safe = jnp.where(keep, eigenvalues, 1.0)
    finite_t = jnp.where(converged, 0.0, time)
    # Theta^{-1} (1 - e^{-eta Theta t}) per eigenvalue; eta t where lambda = 0
    transient = jnp.where(
        rate * finite_t > 0, -jnp.expm1(-rate * finite_t) / jnp.where(rate > 0, eigenvalues, 1.0), learning_rate * finite_t
    )
    factor = jnp.where(converged, jnp.where(keep, 1.0 / safe, 0.0), transient)
    a_matrix = ntk_test_train @ (vectors * factor) @ vectors.T  # A_t(x), (Q, P)
    mean = a_matrix @ y_train
    if nngp is None:
        return NTKPrediction(mean, None)
    k_train, k_test_train, k_test = nngp
    cross = a_matrix @ k_test_train.T
    covariance = k_test - cross - cross.T + a_matrix @ k_train @ a_matrix.T
    return NTKPrediction(mean, 0.5 * (covariance + covariance.T))


# --------------------------------------------------------------------------- test error


def mean_squared_error(
    prediction: Float[Array, "q ..."], target: Float[Array, "q ..."], covariance: Float[Array, "q q"] | None = None
) -> Float[Array, ""]:
    """Test mean squared error ``mean_{i,c} (f_c(x_i) - y_c(x_i))^2``.

    With the predictive ``covariance`` of a Gaussian predictor (:class:`NTKPrediction`), the
    expectation over initialisations: ``mean (mean_f - y)^2 + mean_i Cov(x_i, x_i)``.

    Raises:
        ValueError: shapes that differ, a covariance not ``(Q, Q)``.
    """
    prediction, target = jnp.asarray(prediction), jnp.asarray(target)
    if prediction.shape != target.shape or prediction.ndim == 0 or prediction.shape[0] == 0:
        raise ValueError(
            f"prediction and target must have the same non-empty shape (Q,) or (Q, C), got {prediction.shape} and {target.shape}"
        )
    error = jnp.mean((prediction - target) ** 2)
    if covariance is None:
        return error
    covariance = jnp.asarray(covariance)
    q = prediction.shape[0]
    if covariance.shape != (q, q):
        raise ValueError(f"covariance must have shape ({q}, {q}), got {covariance.shape}")
    return error + jnp.mean(jnp.diagonal(covariance))


# --------------------------------------------------------------------------- spectral theory


def mercer_decomposition(
    kernel_matrix: Float[Array, "m m"], target: Float[Array, "m ..."] | None = None, weights: Float[Array, " m"] | None = None
) -> tuple[Float[Array, " m"], Float[Array, "m ..."] | None]:
    """Eigenvalues of a kernel's integral operator on a discrete input distribution, and a target's coefficients.

    For inputs ``x_1..x_M`` with probabilities ``p_i`` (default ``1/M``), the operator
    ``(T g)(x) = sum_j p_j k(x, x_j) g(x_j)`` has eigenvalues those of ``D^{1/2} K D^{1/2}``
    (``D = diag p``) and eigenfunctions ``phi_k(x_i) = U_ik / sqrt(p_i)``, orthonormal under ``p``.
    The target ``f*`` has coefficients ``a_k = sum_i p_i f*(x_i) phi_k(x_i)``, so
    ``sum_k a_k^2 = E_p f*^2``. The decomposition is exact: sampling from the discrete
    distribution is then what :func:`learning_curve_theory` describes.

    Args:
        kernel_matrix: ``(M, M)`` symmetric PSD.
        target: ``(M,)`` or ``(M, C)`` values ``f*(x_i)``, or ``None``.
        weights: ``(M,)`` probabilities ``p_i > 0`` (normalised here), or ``None`` for uniform.

    Returns:
        ``(eigenvalues (M,) descending, coefficients (M,) / (M, C) or None)``.

    Raises:
        ValueError: bad shapes, non-positive or non-finite weights.
    """
    kernel_matrix = _matrix(kernel_matrix, "kernel_matrix")
    m = kernel_matrix.shape[0]
    if kernel_matrix.shape != (m, m):
        raise ValueError(f"kernel_matrix must be square, got {kernel_matrix.shape}")
    if weights is None:
        weights = jnp.full((m,), 1.0 / m, kernel_matrix.dtype)
    else:
        weights = jnp.asarray(weights, kernel_matrix.dtype)
        if weights.shape != (m,):
            raise ValueError(f"weights must have shape ({m},), got {weights.shape}")
        concrete = concrete_value(weights)
        if concrete is not None and not (np.all(np.isfinite(concrete)) and np.all(concrete > 0)):
            raise ValueError("weights must be finite and > 0 (drop the inputs of zero probability)")
        weights = weights / jnp.sum(weights)
    root = jnp.sqrt(weights)
    eigenvalues, vectors = _spectral(root[:, None] * kernel_matrix * root[None, :])
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    if target is None:
        return eigenvalues, None
    target = _targets(target, m, "target")
    coefficients = vectors.T @ (root.reshape((-1,) + (1,) * (target.ndim - 1)) * target)
    return eigenvalues, coefficients


class LearningCurveTheory(NamedTuple):
    """Result of :func:`learning_curve_theory` (float scalars unless stated).

    Attributes:
        generalization_error: ``E_g = E (f - f*)^2``, averaged over outputs (label noise on test
            points not included), the expectation of :func:`mean_squared_error` against ``f*``.
        kappa: the self-consistent effective ridge.
        gamma: the overlap ``sum_k P eta_k^2 / (P eta_k + kappa)^2`` (``< 1``).
        mode_errors: ``(K,)`` (or ``(K, C)``) contributions ``a_k^2 kappa^2 / ((P eta_k + kappa)^2 (1 - gamma))``.
        status: int32, ``NOT_CONVERGED``/``NAN`` from the root finder.
    """

    generalization_error: Float[Array, ""]
    kappa: Float[Array, ""]
    gamma: Float[Array, ""]
    mode_errors: Float[Array, "k ..."]
    status: Int[Array, ""]


def learning_curve_theory(
    eigenvalues: Float[Array, " k"],
    coefficients: Float[Array, "k ..."],
    num_samples: ArrayLike,
    *,
    ridge: ArrayLike = 0.0,
    noise: ArrayLike = 0.0,
) -> LearningCurveTheory:
    """Generalisation error of kernel ridge regression with ``P`` samples (Canatar et al. 2021; module docstring).

    ``kappa`` solves ``lambda / kappa + sum_k eta_k / (P eta_k + kappa) = 1`` (decreasing in
    ``kappa``; bracketed in ``log kappa`` between ``lambda`` and ``lambda + sum eta`` by
    :func:`jaxphys.theory.fixed_point.bracket_root`, so derivatives in every argument come from the
    implicit function theorem). At ``lambda = 0`` with ``P >=`` the number of non-zero eigenvalues
    the data pin down every learnable mode: ``kappa = 0``. Modes with ``eta_k = 0`` are never
    learnt (their ``a_k^2`` adds to ``E_g``).

    Args:
        eigenvalues: ``(K,)`` kernel eigenvalues ``eta_k >= 0`` (w.r.t. the input distribution;
            small negative values from rounding are clipped to 0).
        coefficients: ``(K,)`` or ``(K, C)`` target coefficients ``a_k`` in the orthonormal eigenbasis.
        num_samples: ``P > 0`` (a float is allowed, e.g. to vmap over a grid).
        ridge: ``lambda >= 0`` in the convention of :func:`kernel_regression`.
        noise: label noise variance ``sigma^2 >= 0``.

    Returns:
        :class:`LearningCurveTheory`.

    Raises:
        ValueError: mismatched shapes, empty spectrum, negative ``P``, ridge or noise.
    """
    eigenvalues = jnp.asarray(eigenvalues)
    if eigenvalues.ndim != 1 or eigenvalues.shape[0] == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array, got shape {eigenvalues.shape}")
    if not jnp.issubdtype(eigenvalues.dtype, jnp.floating):
        eigenvalues = eigenvalues.astype(jnp.result_type(float))
    coefficients = _targets(coefficients, eigenvalues.shape[0], "coefficients")
    _finite(eigenvalues, "eigenvalues")
    num_samples = _non_negative(num_samples, "num_samples")
    concrete = concrete_value(num_samples)
    if concrete is not None and concrete <= 0:
        raise ValueError(f"num_samples must be > 0, got {concrete}")
    ridge = _non_negative(ridge, "ridge")
    noise = _non_negative(noise, "noise")
    dtype = jnp.result_type(eigenvalues, coefficients, num_samples, ridge, noise)
    args = (eigenvalues, coefficients, num_samples, ridge, noise)
    return _learning_curve_theory(*(a.astype(dtype) for a in args))


def _num_outputs(coefficients: Array) -> int:
    return 1 if coefficients.ndim == 1 else coefficients.shape[1]


def _kappa_residual(log_kappa, params):
    eigenvalues, p, ridge = params
    kappa = jnp.exp(log_kappa)
    return ridge / kappa + jnp.sum(eigenvalues / (p * eigenvalues + kappa)) - 1.0


@jax.jit
def _learning_curve_theory(eigenvalues, coefficients, p, ridge, noise):
    eigenvalues = jnp.maximum(eigenvalues, 0.0)
    total = jnp.sum(eigenvalues)
    # kappa in [lambda, lambda + sum eta]; at lambda = 0 the lower end is 1e-30 of the trace
    lower = jnp.log(jnp.maximum(ridge, 1e-30 * total))
    upper = jnp.log(ridge + total)
    params = (eigenvalues, p, ridge)
    solution = fixed_point.bracket_root(_kappa_residual, lower, upper, params, tol=1e-13)
    # no sign change at lambda = 0: more samples than non-zero modes, every learnable mode is fixed
    pinned = (ridge == 0) & (_kappa_residual(lower, params) <= 0)
    kappa = jnp.where(pinned, 0.0, jnp.exp(jnp.where(pinned, lower, solution.value)))
    status = jnp.where(pinned, status_lib.ok(), solution.status)
    denominator = p * eigenvalues + kappa
    positive = denominator > 0
    safe = jnp.where(positive, denominator, 1.0)
    residual_fraction = jnp.where(positive, kappa / safe, 1.0)  # kappa / (P eta + kappa); 1 for eta = 0 modes
    gamma = jnp.sum(jnp.where(positive, p * eigenvalues**2 / safe**2, 0.0))
    shape = (-1,) + (1,) * (coefficients.ndim - 1)
    mode_errors = coefficients**2 * residual_fraction.reshape(shape) ** 2 / (1.0 - gamma)
    error = jnp.sum(mode_errors) / _num_outputs(coefficients) + noise * gamma / (1.0 - gamma)
    status = status_lib.flag(status, status_lib.Status.NAN, ~jnp.isfinite(error))
    return LearningCurveTheory(error, kappa, gamma, mode_errors, status.astype(jnp.int32))


# --------------------------------------------------------------------------- linearised network


def linearized_prediction(
    model,
    x_train: Float[Array, "p ..."],
    y_train: Float[Array, "p ..."],
    x_test: Float[Array, "q ..."],
    time: ArrayLike,
    *,
    learning_rate: ArrayLike = 1.0,
    discrete: bool = False,
    implementation: str = "auto",
) -> Float[Array, "q ..."]:
    """Output of the network linearised around ``model`` (its parameters at initialisation) after training.

    Lee et al. 2019 (arXiv:1902.06720), eq. (6) solved in closed form: with the empirical NTK
    ``Theta_0`` of ``model`` (:func:`jaxphys.ntk.empirical.empirical_ntk`, full output blocks) and its
    outputs ``f_0``, gradient flow on ``(1/2) sum_i |f(x_i) - y_i|^2`` of the linearised model
    ``f_lin(theta) = f_0 + J_0 (theta - theta_0)`` gives

        f_lin,t(x) = f_0(x) + Theta_0(x, X) Theta_0^{-1} (I - e^{-eta Theta_0 t}) (Y - f_0(X)),

    and ``discrete=True`` gives the exact gradient-DESCENT map ``f <- f - eta Theta_0 (f - Y)`` on
    the training outputs applied ``k = time`` times, i.e. ``(I - e^{-eta Theta_0 t})`` replaced by
    ``I - (I - eta Theta_0)^k``. For :func:`jaxphys.learning.train.fit` with ``optax.sgd(lr)`` on the
    per-sample loss ``(1/2)(f - y)^2`` (a MEAN over ``P`` samples), ``k`` full-batch steps are
    ``discrete=True, time=k, learning_rate=lr / P`` exactly, or ``time=k, learning_rate=lr / P`` of the
    flow when ``lr lambda_max / P << 1``. For several outputs the kernel is the full
    ``(P C, P C)`` matrix (the output blocks of a finite network are not diagonal). The inverse is
    taken per eigenvalue ``lambda`` of ``Theta_0(X, X)``: ``-expm1(-eta lambda t) / lambda``
    (flow) or ``(1 - (1 - eta lambda)^k) / lambda`` (descent), ``-> eta t`` for ``lambda -> 0``.

    Args:
        model: the network at initialisation, applied to ONE input (an equinox Module such as
            :class:`jaxphys.ntk.networks.MLP`; see ``empirical_ntk``).
        x_train: ``(P, *feature_shape)`` training inputs.
        y_train: targets, of shape ``(P, *out_shape)`` (the model's output shape per sample).
        x_test: ``(Q, *feature_shape)`` inputs where the prediction is wanted.
        time: ``t >= 0`` (flow; may be traced) or the number of steps ``k`` (``discrete=True``).
        learning_rate: ``eta >= 0`` (per step for ``discrete=True``).
        discrete: gradient descent instead of gradient flow.
        implementation: passed to ``empirical_ntk``.

    Returns:
        ``(Q, *out_shape)`` predictions, in the model's output dtype.

    Raises:
        ValueError/TypeError: ``y_train`` not matching the model's outputs on ``x_train``, negative
        time or learning rate, and what ``empirical_ntk`` raises for the model and inputs.
    """
    from .empirical import empirical_ntk  # lazy, as in spectra.tracker

    x_train, x_test = jnp.asarray(x_train), jnp.asarray(x_test)
    if x_train.ndim < 1 or x_test.ndim < 1 or x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"x_train (P, ...) and x_test (Q, ...) need a batch axis and equal feature shapes, got {x_train.shape}, {x_test.shape}"
        )
    time = _non_negative(time, "time")
    learning_rate = _non_negative(learning_rate, "learning_rate")
    out = jax.eval_shape(jax.vmap(model), x_train)  # checks the model on the inputs without computing
    y_train = jnp.asarray(y_train)
    if y_train.shape != out.shape:
        raise ValueError(f"y_train must have the shape of the model's outputs on x_train, {out.shape}, got {y_train.shape}")
    _finite(y_train, "y_train")
    f0_train, f0_test = _outputs(model, x_train), _outputs(model, x_test)
    ntk_train = empirical_ntk(model, x_train, implementation=implementation)  # (P, P, *out, *out)
    ntk_test_train = empirical_ntk(model, x_test, x_train, implementation=implementation)
    return _linearized_prediction(ntk_train, ntk_test_train, f0_train, f0_test, y_train, time, learning_rate, discrete)


@eqx.filter_jit
def _outputs(model, x):
    return jax.vmap(model)(x)


@functools.partial(jax.jit, static_argnums=7)
def _linearized_prediction(ntk_train, ntk_test_train, f0_train, f0_test, y_train, time, learning_rate, discrete):
    p, q = f0_train.shape[0], f0_test.shape[0]
    c = f0_train[0].size

    def flat(kernel, rows):  # (rows, P, *out, *out) -> (rows C, P C)
        kernel = kernel.reshape(rows, p, c, c)
        return jnp.transpose(kernel, (0, 2, 1, 3)).reshape(rows * c, p * c)

    eigenvalues, vectors = _spectral(flat(ntk_train, p))
    dtype = eigenvalues.dtype
    rate, time = (learning_rate * eigenvalues).astype(dtype), jnp.asarray(time, dtype)
    if discrete:
        # 1 - (1 - eta lambda)^k, through log1p where 1 - eta lambda > 0 (accurate for small eta lambda)
        safe_log = jnp.log1p(-jnp.where(rate < 1, rate, 0.0))
        decayed = jnp.where(rate < 1, -jnp.expm1(time * safe_log), 1.0 - (1.0 - rate) ** time)
    else:
        decayed = -jnp.expm1(-rate * time)
    keep = eigenvalues > _pseudo_inverse_cutoff(eigenvalues, None)
    factor = jnp.where(keep, decayed / jnp.where(keep, eigenvalues, 1.0), learning_rate * time)
    residual = (y_train - f0_train).reshape(p * c)
    update = flat(ntk_test_train, q) @ (vectors @ (factor * (vectors.T @ residual)))
    return f0_test + update.reshape(f0_test.shape).astype(f0_test.dtype)
