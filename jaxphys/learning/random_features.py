"""Random-feature ridge regression: simulation of the double-descent setting of Mei & Montanari.

Mei & Montanari, arXiv:1908.05355: ``n`` inputs ``x_i`` in ``d`` dimensions, ``N`` random
weights ``theta_a`` uniform on the sphere of radius ``sqrt d`` (:func:`features`), features
``z_ia = sigma(<theta_a, x_i>/sqrt d)`` (:func:`feature_map`), and the ridge estimator

    a = argmin_a (1/n) |y - Z a|^2 + (N lambda / d) |a|^2                       (:func:`fit`)

solved through one eigendecomposition of the smaller Gram matrix (:func:`ridge`), so a whole
grid of ``lambda`` costs one factorisation under ``jax.vmap``; ``lambda = 0`` is the
minimum-norm interpolator.

Target (:func:`sample_teacher`, :func:`target`): ``f(x) = <beta, x> + F* He_2(<u, x>)/sqrt 2``
with ``|beta| = F1`` (``linear``), a unit direction ``u`` and ``He_2(t) = t^2 - 1``: for
Gaussian inputs ``x ~ N(0, I_d)`` the nonlinear part has mean 0, variance ``F*^2`` and is
orthogonal to every linear function (on the sphere ``|x| = sqrt d``, the default of M&M, its
variance is ``F*^2 (d - 1)/(d + 2)``); labels ``y = f(x) + tau eps`` (``noise``).

Test error ``E_x (f(x) - f_hat(x))^2`` (no label noise), three ways:

- :func:`test_error`: Monte Carlo over a test set (any input distribution);
- :func:`population_test_error`: exact over Gaussian test inputs. For ``x ~ N(0, I_d)`` and
  ``|theta_a| = sqrt d`` the pair ``(<theta_a, x>, <theta_b, x>)/sqrt d`` is exactly Gaussian
  with correlation ``rho_ab = <theta_a, theta_b>/d``, so ``E_x sigma_a sigma_b = K(rho_ab)`` with
  the Mehler series ``K(rho) = sum_k c_k^2 rho^k``, ``c_k = E sigma(G) He_k(G)/sqrt(k!)``
  (truncated at ``num_terms``; ``K(1) = E sigma^2`` exactly on the diagonal),
  ``E_x sigma_a x = mu_1 theta_a/sqrt d`` and ``E_x sigma_a He_2(<u, x>) = c_2 sqrt 2 rho_a^2`` (``rho_a = <theta_a, u>/sqrt d``);
- :func:`averaged_test_error`: the same, further averaged over the direction of ``beta``
  (uniform on its sphere) and over the label noise, in closed form (the estimator is linear in
  ``y``): what the asymptotic theory predicts, with far smaller sample-to-sample scatter.

:func:`simulate` draws one instance and returns its averaged test error; ``jax.vmap`` it over
keys and ridges. The asymptotic theory is :mod:`jaxphys.theory.random_features`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validate import as_count
from ..theory import quadrature
from ..theory.signal_propagation import activation_function, concrete_value
from ..typing import PRNGKey
from .data import Dataset

__all__ = [
    "Teacher",
    "sample_teacher",
    "target",
    "sample_inputs",
    "sample_problem",
    "features",
    "feature_map",
    "ridge",
    "fit",
    "predict",
    "test_error",
    "hermite_coefficients",
    "population_test_error",
    "averaged_test_error",
    "simulate",
]

Activation = str | Callable[[Array], Array]
_DISTRIBUTIONS = ("gaussian", "sphere")


class Teacher(NamedTuple):
    """Target ``f(x) = <beta, x> + nonlinear He_2(<direction, x>)/sqrt 2``, labels ``f(x) + noise eps``.

    ``beta`` (d,) of norm ``F1``; ``direction`` (d,) unit vector; ``nonlinear`` (``F*``) and
    ``noise`` (``tau``) float scalars.
    """

    beta: Array
    direction: Array
    nonlinear: Array
    noise: Array


# --------------------------------------------------------------------------- checks


def _check_key(key) -> None:
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(f"key must be a typed PRNG key made with jax.random.key(seed), got {type(key).__name__}")
    if key.shape != ():
        raise ValueError(f"key must be one key (shape ()), got shape {key.shape}; vmap over split keys instead")


def _check_nonnegative(name: str, value: ArrayLike) -> Array:
    concrete = concrete_value(value)
    if concrete is not None and (np.any(np.isnan(concrete)) or np.any(concrete < 0)):
        raise ValueError(f"{name} must be >= 0 and not NaN, got {concrete}")
    return jnp.asarray(value, jnp.result_type(value, float))


def _check_matrix(name: str, value: ArrayLike, columns: int | None = None) -> Array:
    value = jnp.asarray(value)
    if value.ndim != 2 or value.shape[0] == 0 or value.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows, d), got shape {value.shape}")
    if columns is not None and value.shape[1] != columns:
        raise ValueError(f"{name} has {value.shape[1]} columns but the weights theta have d = {columns}: use the same d")
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.result_type(float))
    return value


# --------------------------------------------------------------------------- data


def sample_teacher(
    key: PRNGKey, d: int, *, linear: ArrayLike = 1.0, nonlinear: ArrayLike = 0.0, noise: ArrayLike = 0.0
) -> Teacher:
    """A random :class:`Teacher`: ``beta`` uniform on the sphere of radius ``linear`` (``F1``), ``direction`` uniform unit.

    Args:
        key: typed PRNG key. d: input dimension, Python int ``>= 1``.
        linear, nonlinear, noise: ``F1, F*, tau >= 0`` (float scalars, may be traced).

    Raises:
        TypeError: untyped key. ValueError: ``d < 1`` or a concrete negative/NaN amplitude.
    """
    _check_key(key)
    d = as_count(d, "d")
    linear, nonlinear, noise = (
        _check_nonnegative(n, v) for n, v in (("linear", linear), ("nonlinear", nonlinear), ("noise", noise))
    )
    return _sample_teacher(key, d, linear, nonlinear, noise)


# Private jitted cores: the public functions check their arguments eagerly (concrete values
# can only be checked outside jit), then run one compiled computation instead of op-by-op dispatch.
@functools.partial(jax.jit, static_argnums=1)
def _sample_teacher(key, d, linear, nonlinear, noise) -> Teacher:
    dtype = jnp.result_type(float)
    k1, k2 = jax.random.split(key)
    g1, g2 = jax.random.normal(k1, (d,), dtype), jax.random.normal(k2, (d,), dtype)
    return Teacher(linear * g1 / jnp.linalg.norm(g1), g2 / jnp.linalg.norm(g2), nonlinear, noise)


def target(teacher: Teacher, x: Float[Array, "n d"]) -> Float[Array, " n"]:
    """Noise-free target ``f(x) = <beta, x> + F* (<u, x>^2 - 1)/sqrt 2`` for inputs ``x`` (n, d)."""
    return _target(teacher, _check_matrix("x", x, teacher.beta.shape[-1]))


@jax.jit
def _target(teacher, x):
    return x @ teacher.beta + teacher.nonlinear * ((x @ teacher.direction) ** 2 - 1.0) / math.sqrt(2.0)


def sample_inputs(key: PRNGKey, n: int, d: int, *, distribution: str = "gaussian") -> Float[Array, "n d"]:
    """``n`` inputs in ``d`` dimensions: ``"gaussian"`` ``N(0, I_d)`` or ``"sphere"`` (uniform, radius ``sqrt d``).

    Raises:
        TypeError: untyped key. ValueError: ``n, d < 1`` or unknown distribution.
    """
    _check_key(key)
    n, d = as_count(n, "n"), as_count(d, "d")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    return _sample_inputs(key, n, d, distribution == "sphere")


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _sample_inputs(key, n, d, sphere):
    x = jax.random.normal(key, (n, d), jnp.result_type(float))
    if sphere:
        x = math.sqrt(d) * x / jnp.linalg.norm(x, axis=1, keepdims=True)
    return x


def sample_problem(
    key: PRNGKey,
    n: int,
    d: int,
    *,
    linear: ArrayLike = 1.0,
    nonlinear: ArrayLike = 0.0,
    noise: ArrayLike = 0.0,
    distribution: str = "gaussian",
) -> tuple[Dataset, Teacher]:
    """Training set ``Dataset(x (n, d), y (n,))`` with ``y = f(x) + noise eps`` and its :class:`Teacher`.

    A test set from the same teacher: ``target(teacher, sample_inputs(key2, m, d))``.
    Raises like :func:`sample_teacher` and :func:`sample_inputs`.
    """
    _check_key(key)
    k_teacher, k_x, k_noise = jax.random.split(key, 3)
    teacher = sample_teacher(k_teacher, d, linear=linear, nonlinear=nonlinear, noise=noise)
    x = sample_inputs(k_x, n, d, distribution=distribution)
    y = target(teacher, x) + teacher.noise * jax.random.normal(k_noise, (n,), x.dtype)
    return Dataset(x, y), teacher


def features(key: PRNGKey, num_features: int, d: int) -> Float[Array, "num_features d"]:
    """``num_features`` weights ``theta_a`` uniform on the sphere of radius ``sqrt d`` (rows).

    Raises:
        TypeError: untyped key. ValueError: ``num_features, d < 1``.
    """
    return sample_inputs(key, num_features, d, distribution="sphere")


def feature_map(theta: Float[Array, "N d"], x: Float[Array, "n d"], *, activation: Activation = "relu") -> Float[Array, "n N"]:
    """``Z_ia = sigma(<theta_a, x_i>/sqrt d)``; ``activation`` as in :func:`jaxphys.theory.signal_propagation.activation_function`.

    Raises:
        ValueError: ``theta`` or ``x`` not a non-empty matrix, or different ``d``.
    """
    theta = _check_matrix("theta", theta)
    x = _check_matrix("x", x, theta.shape[1])
    activation_function(activation)  # validates
    return _feature_map(theta, x, activation)


@functools.partial(jax.jit, static_argnums=2)
def _feature_map(theta, x, activation):
    return activation_function(activation)(x @ theta.T / math.sqrt(theta.shape[1]))


# --------------------------------------------------------------------------- estimator


@jax.jit
def _ridge_operator(z: Array, penalty: Array) -> Array:
    """``P`` (N, n) with ``a = P y`` the minimiser of ``(1/n)|y - Z a|^2 + penalty |a|^2``.

    From the eigendecomposition of the smaller Gram matrix: ``Z Z^T = W diag(e) W^T`` when
    ``n <= N`` (dual form ``P = Z^T W diag(1/(e + n penalty)) W^T``), ``Z^T Z = V diag(e) V^T``
    when ``N < n`` (primal form ``P = V diag(1/(e + n penalty)) V^T Z^T``), so the cost is
    ``O(n N min(n, N))``, one factorisation serves every penalty, and at ``penalty = 0`` the
    eigenvalues below ``max(n, N) eps e_max`` are dropped: the pseudo-inverse, i.e. the
    minimum-norm least-squares solution (the interpolator when ``N >= n``). (A thin SVD of ``Z``
    would avoid squaring the condition number but is ~5x slower on CPU; in float64 the Gram
    route loses ``eps cond(Z)^2``, ~1e-10 at the interpolation peak of a ``d = 200`` problem.)
    """
    n, num_features = z.shape
    dual = n <= num_features
    gram = z @ z.T if dual else z.T @ z
    e, w = jnp.linalg.eigh(gram)
    cutoff = max(z.shape) * jnp.finfo(z.dtype).eps * jnp.max(e)
    keep = e > cutoff
    gain = jnp.where(keep, 1.0 / jnp.where(keep, e + n * penalty, 1.0), 0.0)
    inverse = (w * gain) @ w.T
    return z.T @ inverse if dual else inverse @ z.T


def ridge(z: Float[Array, "n N"], y: Array, penalty: ArrayLike) -> Array:
    """``argmin_a (1/n) |y - Z a|^2 + penalty |a|^2`` (primal or dual form, whichever is smaller; see :func:`_ridge_operator`).

    ``penalty = 0`` gives the minimum-norm least-squares solution (the interpolator when ``N >= n``).
    Under ``jax.vmap`` over ``penalty`` alone the factorisation is computed once.

    Args:
        z: design matrix (n, N), float. y: targets (n,) or (n, k). penalty: float scalar ``>= 0``.

    Returns:
        Coefficients (N,) or (N, k).

    Raises:
        ValueError: ``z`` not a non-empty matrix, ``y`` with another number of rows, ``penalty``
            not a scalar, or a concrete negative/NaN ``penalty``.
    """
    z = _check_matrix("z", z)
    y = jnp.asarray(y, z.dtype)
    if y.ndim not in (1, 2) or y.shape[0] != z.shape[0]:
        raise ValueError(f"y must have shape ({z.shape[0]},) or ({z.shape[0]}, k) to match z {z.shape}, got {y.shape}")
    penalty = _check_nonnegative("penalty", penalty)
    if penalty.ndim:
        raise ValueError(f"penalty must be a scalar (jax.vmap over a grid), got shape {penalty.shape}")
    return _ridge_operator(z, penalty) @ y


def fit(
    theta: Float[Array, "N d"],
    x: Float[Array, "n d"],
    y: Array,
    ridge_: ArrayLike,
    *,
    activation: Activation = "relu",
) -> Float[Array, " N"]:
    """Random-feature ridge coefficients ``a`` of M&M eq. (3): penalty ``(N lambda / d) |a|^2``, ``lambda = ridge_``.

    Args:
        theta: weights (N, d). x: inputs (n, d). y: labels (n,), or (n, k) for k label sets at once.
        ridge_: ``lambda >= 0`` scalar.
        activation: as in :func:`feature_map`.

    Raises:
        ValueError: shape mismatch, empty data, negative/NaN ridge.
    """
    theta = _check_matrix("theta", theta)
    z = feature_map(theta, x, activation=activation)
    penalty = theta.shape[0] * _check_nonnegative("ridge", ridge_) / theta.shape[1]
    return ridge(z, y, penalty)


def predict(
    theta: Float[Array, "N d"], coefficients: Float[Array, " N"], x: Float[Array, "m d"], *, activation: Activation = "relu"
) -> Float[Array, " m"]:
    """``f_hat(x) = sum_a a_a sigma(<theta_a, x>/sqrt d)`` for inputs ``x`` (m, d)."""
    coefficients = jnp.asarray(coefficients)
    if coefficients.shape != (jnp.shape(theta)[0],):
        raise ValueError(f"coefficients must have shape ({jnp.shape(theta)[0]},) (one per feature), got {coefficients.shape}")
    return feature_map(theta, x, activation=activation) @ coefficients


def test_error(
    theta: Float[Array, "N d"],
    coefficients: Float[Array, " N"],
    teacher: Teacher,
    x_test: Float[Array, "m d"],
    *,
    activation: Activation = "relu",
) -> Float[Array, ""]:
    """Monte Carlo test error ``(1/m) sum_j (f(x_j) - f_hat(x_j))^2`` on noise-free test targets."""
    return jnp.mean((target(teacher, x_test) - predict(theta, coefficients, x_test, activation=activation)) ** 2)


test_error.__test__ = False  # not a pytest test


# --------------------------------------------------------------------------- exact averages


def hermite_coefficients(activation: Activation = "relu", num_terms: int = 48, *, num_nodes: int = 3201) -> np.ndarray:
    """``c_k = E sigma(G) He_k(G) / sqrt(k!)`` for ``k < num_terms``, ``G ~ N(0, 1)`` (float64 numpy).

    ``sum_k c_k^2 = E sigma(G)^2``; ``c_0 = mu_0``, ``c_1 = mu_1``. Closed form for ``relu``
    (``c_k = phi(0) (He_k(0) + k He_{k-2}(0)) / sqrt(k!)`` for ``k >= 2``, from
    ``integral_0^inf He_m(g) phi(g) dg = He_{m-1}(0) phi(0)``); otherwise the trapezoid rule on
    ``num_nodes`` points of ``[-16, 16]`` (exponentially accurate for analytic activations; a
    kink elsewhere than at a node converges only like ``num_nodes^-2``). Host-side (numpy).
    """
    num_terms = as_count(num_terms, "num_terms", minimum=3)
    num_nodes = as_count(num_nodes, "num_nodes", minimum=2)
    activation_function(activation)  # validates
    return _hermite_coefficients(activation, num_terms, num_nodes).copy()


@functools.lru_cache(maxsize=32)
def _hermite_coefficients(activation: Activation, num_terms: int, num_nodes: int) -> np.ndarray:

    # Normalised probabilists' Hermite functions h_k = He_k / sqrt(k!):
    # h_{k+1} = (t h_k - sqrt(k) h_{k-1}) / sqrt(k + 1).
    def normalised(t: np.ndarray, count: int) -> np.ndarray:
        h = [np.ones_like(t), t]
        for k in range(1, count - 1):
            h.append((t * h[k] - math.sqrt(k) * h[k - 1]) / math.sqrt(k + 1))
        return np.array(h[:count])

    if activation == "relu":
        at_zero = normalised(np.zeros(1), num_terms)[:, 0]
        phi0 = 1.0 / math.sqrt(2.0 * math.pi)
        c = np.empty(num_terms)
        c[0], c[1] = phi0, 0.5
        k = np.arange(2, num_terms)
        c[2:] = phi0 * (at_zero[2:] + np.sqrt(k / (k - 1.0)) * at_zero[:-2])
        return c
    # Trapezoid rule on [-16, 16] (exponentially convergent for analytic sigma, error ~ phi(16) ~ 1e-56
    # beyond): Gauss-Hermite weights at the outer nodes carry absolute errors ~ 1e-17 that the
    # huge He_k there (k ~ 50) would amplify into garbage.
    nodes = np.linspace(-16.0, 16.0, num_nodes)
    weights = np.exp(-0.5 * nodes**2)
    weights /= weights.sum()
    return normalised(nodes, num_terms) @ (weights * _on_nodes(activation, nodes))


def _on_nodes(activation: Activation, nodes: np.ndarray) -> np.ndarray:
    """``sigma`` at the quadrature nodes, as numpy, also while tracing under ``jit``."""
    phi = activation_function(activation)
    with jax.ensure_compile_time_eval():
        return np.asarray(phi(jnp.asarray(nodes, jnp.result_type(float))), np.float64)


@jax.jit
def _kernel(theta: Array, coefficients: Array, second_moment: Array) -> Array:
    """``U_ab = E_x sigma_a sigma_b`` for Gaussian ``x``: Mehler series off the diagonal, ``E sigma^2`` on it."""
    d = theta.shape[1]
    rho = theta @ theta.T / d
    series = jnp.polyval(jnp.asarray(coefficients[::-1] ** 2, theta.dtype), rho)
    return jnp.where(jnp.eye(theta.shape[0], dtype=bool), jnp.asarray(second_moment, theta.dtype), series)


def _second_moment(activation: Activation, coefficients: np.ndarray) -> float:
    if activation == "relu":
        return 0.5
    nodes, weights = quadrature.gauss_hermite(256)
    return float(np.sum(weights * _on_nodes(activation, nodes) ** 2))


def population_test_error(
    theta: Float[Array, "N d"],
    coefficients: Float[Array, " N"],
    teacher: Teacher,
    *,
    activation: Activation = "relu",
    num_terms: int = 48,
) -> Float[Array, ""]:
    """Exact ``E_x (f(x) - f_hat(x))^2`` over Gaussian test inputs ``x ~ N(0, I_d)``.

    ``= F1^2 + F*^2 - 2 a.(mu_1 theta beta/sqrt d + F* c_2 rho^2) + a^T U a`` with
    ``rho_a = <theta_a, u>/sqrt d`` and ``U`` the Mehler-series kernel (module docstring),
    truncated after ``num_terms`` terms: the error is ``~ max_{a != b} |rho_ab|^num_terms``,
    negligible unless two features are nearly parallel (``d`` tiny). Rows of ``theta`` must
    have norm ``sqrt d`` (as from :func:`features`).
    """
    theta = _check_matrix("theta", theta)
    c = hermite_coefficients(activation, num_terms)
    a = jnp.asarray(coefficients, theta.dtype)
    if a.shape != (theta.shape[0],):
        raise ValueError(f"coefficients must have shape ({theta.shape[0]},) (one per feature), got {a.shape}")
    return _population_test_error(theta, a, teacher, jnp.asarray(c, theta.dtype), _second_moment(activation, c))


@jax.jit
def _population_test_error(theta, a, teacher, c, second_moment):
    d = theta.shape[1]
    rho = theta @ teacher.direction / math.sqrt(d)
    overlap = c[1] * theta @ teacher.beta / math.sqrt(d) + teacher.nonlinear * c[2] * rho**2
    u = _kernel(theta, c, second_moment)
    return jnp.sum(teacher.beta**2) + teacher.nonlinear**2 - 2.0 * a @ overlap + a @ u @ a


def averaged_test_error(
    theta: Float[Array, "N d"],
    x: Float[Array, "n d"],
    teacher: Teacher,
    ridge_: ArrayLike,
    *,
    activation: Activation = "relu",
    num_terms: int = 48,
) -> Float[Array, ""]:
    """:func:`population_test_error` of :func:`fit`, averaged over ``beta``'s direction and the label noise.

    With ``a = P y`` (``P`` the ridge operator, (N, n)), ``y = X beta + g + tau eps``,
    ``g = F* He_2(X u)/sqrt 2``, ``E beta beta^T = (F1^2/d) I`` and ``C = E_x sigma x^T = mu_1 theta/sqrt d``:

        E R = (F1^2/d) [d - 2 tr(C^T P X) + tr((P X)^T U P X)] + tau^2 tr(P^T U P)
              + F*^2 - 2 (P g).(F* c_2 rho^2) + (P g)^T U (P g)

    Exact for Gaussian test inputs; conditional on ``theta``, the training inputs ``x`` and
    ``u``; ``F1 = |teacher.beta|``. Its limit is the theory's test error; its scatter over
    instances is much smaller than that of :func:`test_error`.

    Args:
        theta: (N, d) weights of norm ``sqrt d``. x: (n, d) training inputs. teacher: as from
            :func:`sample_teacher`. ridge_: ``lambda >= 0`` (M&M normalisation, as in :func:`fit`).

    Raises:
        ValueError: shape mismatch, empty data, negative/NaN ridge.
    """
    theta = _check_matrix("theta", theta)
    x = _check_matrix("x", x, theta.shape[1])
    num_features, d = theta.shape
    penalty = num_features * _check_nonnegative("ridge", ridge_) / d
    c = hermite_coefficients(activation, num_terms)
    z = feature_map(theta, x, activation=activation)
    return _averaged_test_error(theta, x, z, teacher, penalty, jnp.asarray(c, theta.dtype), _second_moment(activation, c))


@jax.jit
def _averaged_test_error(theta, x, z, teacher, penalty, c, second_moment):
    num_features, d = theta.shape
    u = _kernel(theta, c, second_moment)
    p = _ridge_operator(z, penalty)
    px = p @ x
    f1_squared = jnp.sum(teacher.beta**2)
    linear = f1_squared / d * (d - 2.0 * c[1] * jnp.sum(theta * px) / math.sqrt(d) + jnp.sum(px * (u @ px)))
    noise = teacher.noise**2 * jnp.sum(p * (u @ p))
    a = p @ (teacher.nonlinear * ((x @ teacher.direction) ** 2 - 1.0) / math.sqrt(2.0))
    rho = theta @ teacher.direction / math.sqrt(d)
    nonlinear = teacher.nonlinear**2 - 2.0 * teacher.nonlinear * c[2] * a @ rho**2 + a @ u @ a
    return linear + noise + nonlinear


def simulate(
    key: PRNGKey,
    d: int,
    num_features: int,
    num_samples: int,
    ridge_: ArrayLike,
    *,
    activation: Activation = "relu",
    linear: ArrayLike = 1.0,
    nonlinear: ArrayLike = 0.0,
    noise: ArrayLike = 0.0,
) -> Float[Array, ""]:
    """One instance (Gaussian inputs, random features, teacher) and its :func:`averaged_test_error`.

    ``jax.vmap`` over ``key`` (instances) and ``ridge_`` (one factorisation serves the whole ridge grid);
    ``jax.jit`` with ``d, num_features, num_samples, activation`` static.
    """
    _check_key(key)
    k_teacher, k_x, k_theta = jax.random.split(key, 3)
    teacher = sample_teacher(k_teacher, d, linear=linear, nonlinear=nonlinear, noise=noise)
    x = sample_inputs(k_x, num_samples, d)
    theta = features(k_theta, num_features, d)
    return averaged_test_error(theta, x, teacher, ridge_, activation=activation)
