"""Random-matrix theory: limiting spectral laws, samplers, spiked models and Jacobians of rate networks.

Conventions (``n -> infinity``; ``variance`` is ``sigma^2``):

* **Wigner / semicircle.** ``W`` real symmetric (GOE, ``beta = 1``) or complex Hermitian (GUE,
  ``beta = 2``) with off-diagonal ``E |W_ij|^2 = sigma^2 / n``. Its eigenvalues follow Wigner's
  semicircle on ``[-2 sigma, 2 sigma]``,

      rho(x) = sqrt(4 sigma^2 - x^2) / (2 pi sigma^2),   E x^{2k} = C_k sigma^{2k},

  ``C_k = binom(2k, k) / (k + 1)`` the Catalan numbers; Stieltjes transform
  ``G(z) = (z - sqrt(z^2 - 4 sigma^2)) / (2 sigma^2)``.
* **Wishart / Marchenko-Pastur.** ``X`` is ``(n, p)`` (``n`` samples of ``p`` features) with iid
  entries of variance ``sigma^2``; ``S = X^T X / n`` is ``(p, p)``; ``ratio = gamma = p / n``.
  The eigenvalues of ``S`` follow (Marchenko & Pastur, Math. USSR Sb. 1, 457 (1967))

      rho(x) = sqrt((b - x)(x - a)) / (2 pi sigma^2 gamma x)  on  [a, b] = sigma^2 (1 -+ sqrt(gamma))^2,

  plus a point mass ``1 - 1/gamma`` at ``x = 0`` when ``gamma > 1`` (:func:`marchenko_pastur_atom`;
  the densities here are the continuous part, the CDF includes the atom). Moments are
  Narayana polynomials, ``E x^k = sigma^{2k} sum_{j=1}^{k} N(k, j) gamma^{j-1}``,
  ``N(k, j) = binom(k, j) binom(k, j - 1) / k``; Stieltjes transform
  ``G(z) = (z + sigma^2 (gamma - 1) - sqrt((z - a)(z - b))) / (2 sigma^2 gamma z)``.
* **Ginibre / circular law.** ``G`` with iid entries of variance ``1/n`` (real or complex):
  eigenvalues uniform on the unit disk (Ginibre 1965; Girko 1984; Tao & Vu 2010).
* **Elliptic law.** ``J`` with ``Var J_ij = 1/n``, ``corr(J_ij, J_ji) = tau``: eigenvalues uniform
  on the ellipse with real and imaginary half-axes ``1 + tau`` and ``1 - tau``, density
  ``1 / (pi (1 - tau^2))`` (Sommers, Crisanti, Sompolinsky & Stein, PRL 60, 1895 (1988));
  ``E lambda^2 = tau``, ``E |lambda|^2 = (1 + tau^2) / 2``.
* **BBP transition.** Spiked Wigner ``Y = theta v v^T + W`` (``|v| = 1``, ``W`` GOE with
  ``sigma = 1``): the top eigenvalue leaves the bulk for ``theta > 1`` at ``theta + 1/theta``
  and its eigenvector has squared overlap ``(v . u)^2 = 1 - 1/theta^2`` with ``v``; otherwise it
  sticks to the edge 2 with zero overlap (Peche 2006; Feral & Peche 2007; Benaych-Georges &
  Nadakuditi 2011). Spiked covariance: samples ``x = (1 + l v v^T)^{1/2} z``, ``S = X^T X / n``;
  for ``l > sqrt(gamma)`` the top sample eigenvalue is ``(1 + l)(1 + gamma / l)`` with squared
  overlap ``(1 - gamma / l^2) / (1 + gamma / l)``, else ``(1 + sqrt(gamma))^2`` and 0 (Baik, Ben
  Arous & Peche, Ann. Probab. 33, 1643 (2005); Paul, Stat. Sinica 17, 1617 (2007)).
* **Rate networks.** ``dx/dt = -x + J phi(x)`` has the Jacobian ``-I + J diag(phi'(x))``
  (:func:`rate_jacobian`). For ``J = g J0``, ``J0`` from :func:`jaxphys.theory.dmft.random_couplings`
  (correlation ``eta``), the spectrum at ``x = 0`` fills the ellipse centred at ``-1`` with
  half-axes ``g phi'(0) (1 +- eta)``: the fixed point loses stability at
  ``g phi'(0) (1 + eta) = 1``, :func:`jaxphys.theory.dmft.critical_gain`.
* **Sequence Hebbian network** (Jiang, Chen, Hou & Huang 2022, arXiv:2208.11411):
  ``J = (1/n) sum_mu xi^{mu+1} xi^{mu T}`` stores a cycle of ``P`` patterns. Exactly, its nonzero
  eigenvalues are those of the ``P x P`` matrix ``C Pi`` (``C = Xi^T Xi / n`` the pattern overlaps,
  ``Pi`` the cyclic shift), since ``eig(A B) = eig(B A)``; at low load ``C -> I`` and they approach
  the ``P``-th roots of unity (:func:`sequence_hebbian_couplings`).

Densities and transforms are vectorised ``jax.numpy`` functions whose float dtype follows the
input; samplers take a typed key first and return float (complex for GUE and complex Ginibre)
arrays of the default float dtype unless ``dtype`` is given.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Complex, Float, Key

from .._validate import as_count
from . import dmft
from .signal_propagation import Activation, activation_derivative, concrete_value

__all__ = [
    "semicircle_edges",
    "semicircle_density",
    "semicircle_cdf",
    "semicircle_moment",
    "semicircle_stieltjes",
    "marchenko_pastur_edges",
    "marchenko_pastur_atom",
    "marchenko_pastur_density",
    "marchenko_pastur_cdf",
    "marchenko_pastur_moment",
    "marchenko_pastur_stieltjes",
    "circular_law_density",
    "elliptic_law_density",
    "elliptic_second_moments",
    "inside_ellipse",
    "ellipse_boundary",
    "kolmogorov_distance",
    "wigner",
    "wishart",
    "ginibre",
    "elliptic",
    "spiked_wigner",
    "spiked_wishart",
    "top_eigenpair",
    "BBPPrediction",
    "bbp_threshold",
    "spiked_wigner_theory",
    "spiked_wishart_theory",
    "rate_jacobian",
    "Ellipse",
    "rate_jacobian_support",
    "sequence_hebbian_couplings",
]


# --------------------------------------------------------------------------- argument checks


def _float(value: ArrayLike) -> Array:
    return jnp.asarray(value, jnp.result_type(value, float))


def _check_positive(value: ArrayLike, name: str, what: str) -> None:
    """Raise if a concrete ``value`` is not > 0 (NaN included); traced values pass."""
    concrete = concrete_value(value)
    if concrete is not None and not np.all(concrete > 0):
        raise ValueError(f"{name} is {what}: it must be > 0 and not NaN, got {concrete}")


def _check_tau(tau: ArrayLike, *, closed: bool) -> None:
    concrete = concrete_value(tau)
    if concrete is None:
        return
    ok = np.abs(concrete) <= 1.0 if closed else np.abs(concrete) < 1.0
    if not np.all(ok):
        interval = "[-1, 1]" if closed else "(-1, 1) (at |tau| = 1 the ellipse degenerates to a segment)"
        raise ValueError(f"tau = corr(J_ij, J_ji) must lie in {interval}, got {concrete}")


def _check_order(k: int) -> int:
    return as_count(k, "k (the moment order)", minimum=0)


def _dtype(dtype, *values) -> jnp.dtype:
    return jnp.result_type(*values, float) if dtype is None else jnp.dtype(dtype)


def _check_square(matrix: ArrayLike, name: str) -> Array:
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square (n, n) matrix, got shape {matrix.shape}")
    return matrix


# --------------------------------------------------------------------------- semicircle


def semicircle_edges(variance: ArrayLike = 1.0) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Support ``(-2 sigma, 2 sigma)`` of the semicircle law, ``sigma^2 = variance``.

    Raises:
        ValueError: ``variance <= 0`` or NaN (when concrete).
    """
    _check_positive(variance, "variance", "the entry variance sigma^2 (times n)")
    edge = 2.0 * jnp.sqrt(_float(variance))
    return -edge, edge


def semicircle_density(x: ArrayLike, variance: ArrayLike = 1.0) -> Float[Array, "..."]:
    """Wigner's semicircle ``rho(x) = sqrt(4 sigma^2 - x^2) / (2 pi sigma^2)`` (0 outside the support).

    Args:
        x: points, any shape, float (the result has its float dtype, broadcast with ``variance``).
        variance: ``sigma^2 = n E W_ij^2`` (off-diagonal), > 0.

    Raises:
        ValueError: ``variance <= 0`` or NaN (when concrete).
    """
    _check_positive(variance, "variance", "the entry variance sigma^2 (times n)")
    return _semicircle_density(x, variance)


@jax.jit
def _semicircle_density(x, variance):
    x = _float(x)
    variance = jnp.asarray(variance, x.dtype)
    return jnp.sqrt(jnp.maximum(4.0 * variance - x**2, 0.0)) / (2.0 * jnp.pi * variance)


def semicircle_cdf(x: ArrayLike, variance: ArrayLike = 1.0) -> Float[Array, "..."]:
    """``F(x) = 1/2 + (u sqrt(1 - u^2) + arcsin u) / pi`` with ``u = x / (2 sigma)`` clipped to ``[-1, 1]``.

    Raises:
        ValueError: ``variance <= 0`` or NaN (when concrete).
    """
    _check_positive(variance, "variance", "the entry variance sigma^2 (times n)")
    return _semicircle_cdf(x, variance)


@jax.jit
def _semicircle_cdf(x, variance):
    x = _float(x)
    u = jnp.clip(x / (2.0 * jnp.sqrt(jnp.asarray(variance, x.dtype))), -1.0, 1.0)
    return 0.5 + (u * jnp.sqrt(1.0 - u**2) + jnp.arcsin(u)) / jnp.pi


def semicircle_moment(k: int, variance: ArrayLike = 1.0) -> Float[Array, "..."]:
    """``E x^k``: ``C_{k/2} sigma^k`` for even ``k`` (Catalan number), 0 for odd ``k`` (``k`` a Python int).

    Raises:
        ValueError: ``k < 0``, ``variance <= 0`` or NaN (when concrete).
    """
    k = _check_order(k)
    _check_positive(variance, "variance", "the entry variance sigma^2 (times n)")
    variance = _float(variance)
    if k % 2:
        return jnp.zeros_like(variance)
    half = k // 2
    return math.comb(2 * half, half) / (half + 1) * variance**half


def semicircle_stieltjes(z: ArrayLike, variance: ArrayLike = 1.0) -> Complex[Array, "..."]:
    """``G(z) = integral rho(x) / (z - x) dx = (z - sqrt(z - 2 sigma) sqrt(z + 2 sigma)) / (2 sigma^2)``.

    The product of principal square roots is the branch with ``G(z) ~ 1/z`` at infinity,
    analytic off the cut ``[-2 sigma, 2 sigma]``; ``-Im G(x + i0) / pi = rho(x)``.

    Args:
        z: complex points off the support (any shape).

    Raises:
        ValueError: ``variance <= 0`` or NaN (when concrete).
    """
    _check_positive(variance, "variance", "the entry variance sigma^2 (times n)")
    return _semicircle_stieltjes(z, variance)


@jax.jit
def _semicircle_stieltjes(z, variance):
    z = jnp.asarray(z, jnp.result_type(z, complex))
    sigma = jnp.sqrt(jnp.asarray(variance, z.real.dtype))
    return (z - jnp.sqrt(z - 2.0 * sigma) * jnp.sqrt(z + 2.0 * sigma)) / (2.0 * sigma**2)


# --------------------------------------------------------------------------- Marchenko-Pastur


def _check_mp(ratio: ArrayLike, variance: ArrayLike) -> None:
    _check_positive(ratio, "ratio", "gamma = p / n (features over samples)")
    _check_positive(variance, "variance", "the entry variance sigma^2 of X")


def marchenko_pastur_edges(ratio: ArrayLike, variance: ArrayLike = 1.0) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Edges ``sigma^2 (1 -+ sqrt(gamma))^2`` of the continuous part of the Marchenko-Pastur law.

    Raises:
        ValueError: ``ratio <= 0`` or ``variance <= 0`` or NaN (when concrete).
    """
    _check_mp(ratio, variance)
    root = jnp.sqrt(_float(ratio))
    variance = jnp.asarray(variance, root.dtype)
    return variance * (1.0 - root) ** 2, variance * (1.0 + root) ** 2


def marchenko_pastur_atom(ratio: ArrayLike) -> Float[Array, "..."]:
    """Weight ``max(0, 1 - 1/gamma)`` of the point mass at 0 (``p > n``: ``S`` has rank ``n``).

    Raises:
        ValueError: ``ratio <= 0`` or NaN (when concrete).
    """
    _check_positive(ratio, "ratio", "gamma = p / n (features over samples)")
    return jnp.maximum(1.0 - 1.0 / _float(ratio), 0.0)


def marchenko_pastur_density(x: ArrayLike, ratio: ArrayLike, variance: ArrayLike = 1.0) -> Float[Array, "..."]:
    """Continuous part ``sqrt((b - x)(x - a)) / (2 pi sigma^2 gamma x)`` on ``[a, b]`` (0 elsewhere).

    It integrates to ``min(1, 1/gamma)``; the rest is :func:`marchenko_pastur_atom` at 0.

    Args:
        x: points, any shape, float (the result has its dtype).
        ratio: ``gamma = p / n`` > 0; variance: ``sigma^2`` of the entries of ``X``, > 0.

    Raises:
        ValueError: ``ratio <= 0`` or ``variance <= 0`` or NaN (when concrete).
    """
    _check_mp(ratio, variance)
    return _marchenko_pastur_density(x, ratio, variance)


@jax.jit
def _marchenko_pastur_density(x, ratio, variance):
    x = _float(x)
    ratio = jnp.asarray(ratio, x.dtype)
    variance = jnp.asarray(variance, x.dtype)
    lower, upper = marchenko_pastur_edges(ratio, variance)
    inside = (x > lower) & (x < upper)
    safe_x = jnp.where(inside, x, 1.0)
    value = jnp.sqrt(jnp.maximum((upper - safe_x) * (safe_x - lower), 0.0)) / (2.0 * jnp.pi * variance * ratio * safe_x)
    return jnp.where(inside, value, 0.0)


def marchenko_pastur_cdf(x: ArrayLike, ratio: ArrayLike, variance: ArrayLike = 1.0) -> Float[Array, "..."]:
    """CDF of the Marchenko-Pastur law, the atom at 0 included, in closed form.

    With ``x / sigma^2 = c - r cos theta`` (``c = 1 + gamma``, ``r = 2 sqrt(gamma)``,
    ``theta in [0, pi]``) the continuous part is
    ``(1 / (2 pi gamma)) integral_0^theta r^2 sin^2 t / (c - r cos t) dt``, whose antiderivative is

        r sin theta + c theta - 2 |1 - gamma| arctan((1 + sqrt gamma) tan(theta/2) / |1 - sqrt gamma|),

    reaching ``min(1, 1/gamma)`` at ``theta = pi``.

    Raises:
        ValueError: ``ratio <= 0`` or ``variance <= 0`` or NaN (when concrete).
    """
    _check_mp(ratio, variance)
    return _marchenko_pastur_cdf(x, ratio, variance)


@jax.jit
def _marchenko_pastur_cdf(x, ratio, variance):
    x = _float(x)
    ratio = jnp.asarray(ratio, x.dtype)
    u = x / jnp.asarray(variance, x.dtype)
    root = jnp.sqrt(ratio)
    c, r = 1.0 + ratio, 2.0 * root
    theta = jnp.arccos(jnp.clip((c - u) / r, -1.0, 1.0))
    # arctan2 form: finite at gamma = 1 (where the arctan term has weight |1 - gamma| = 0) and theta = pi
    angle = jnp.arctan2((1.0 + root) * jnp.sin(0.5 * theta), jnp.abs(1.0 - root) * jnp.cos(0.5 * theta))
    continuous = (r * jnp.sin(theta) + c * theta - 2.0 * jnp.abs(1.0 - ratio) * angle) / (2.0 * jnp.pi * ratio)
    return continuous + jnp.where(x >= 0.0, marchenko_pastur_atom(ratio), 0.0)


def marchenko_pastur_moment(k: int, ratio: ArrayLike, variance: ArrayLike = 1.0) -> Float[Array, "..."]:
    """``E x^k = sigma^{2k} sum_{j=1}^{k} N(k, j) gamma^{j-1}`` (Narayana numbers; 1 for ``k = 0``).

    E.g. ``E x = sigma^2``, ``E x^2 = sigma^4 (1 + gamma)``, ``E x^3 = sigma^6 (1 + 3 gamma + gamma^2)``.
    The atom contributes nothing for ``k >= 1``. ``k`` is a Python int.

    Raises:
        ValueError: ``k < 0``, ``ratio <= 0`` or ``variance <= 0`` or NaN (when concrete).
    """
    k = _check_order(k)
    _check_mp(ratio, variance)
    ratio = _float(ratio)
    variance = jnp.asarray(variance, ratio.dtype)
    if k == 0:
        return jnp.ones_like(ratio * variance)
    total = sum(math.comb(k, j) * math.comb(k, j - 1) / k * ratio ** (j - 1) for j in range(1, k + 1))
    return variance**k * total


def marchenko_pastur_stieltjes(z: ArrayLike, ratio: ArrayLike, variance: ArrayLike = 1.0) -> Complex[Array, "..."]:
    """``G(z) = integral dF(x) / (z - x) = (z + sigma^2 (gamma - 1) - sqrt(z - a) sqrt(z - b)) / (2 sigma^2 gamma z)``.

    The atom is included (``G ~ (1 - 1/gamma) / z`` near 0 for ``gamma > 1``); the product of
    principal roots gives ``G ~ 1/z`` at infinity.

    Raises:
        ValueError: ``ratio <= 0`` or ``variance <= 0`` or NaN (when concrete).
    """
    _check_mp(ratio, variance)
    return _marchenko_pastur_stieltjes(z, ratio, variance)


@jax.jit
def _marchenko_pastur_stieltjes(z, ratio, variance):
    z = jnp.asarray(z, jnp.result_type(z, complex))
    real = z.real.dtype
    ratio = jnp.asarray(ratio, real)
    variance = jnp.asarray(variance, real)
    lower, upper = marchenko_pastur_edges(ratio, variance)
    return (z + variance * (ratio - 1.0) - jnp.sqrt(z - lower) * jnp.sqrt(z - upper)) / (2.0 * variance * ratio * z)


# --------------------------------------------------------------------------- circular and elliptic laws


def _complex(z: ArrayLike) -> Array:
    return jnp.asarray(z, jnp.result_type(z, complex))


def inside_ellipse(z: ArrayLike, tau: ArrayLike = 0.0, scale: ArrayLike = 1.0, center: ArrayLike = 0.0) -> Bool[Array, "..."]:
    """Whether ``z`` lies in the ellipse ``((x - Re c)/(s(1 + tau)))^2 + ((y - Im c)/(s(1 - tau)))^2 <= 1``.

    Args:
        z: complex points, any shape; tau in ``(-1, 1)``; scale ``s > 0``; center ``c`` (complex).

    Raises:
        ValueError: ``|tau| >= 1``, ``scale <= 0`` (when concrete).
    """
    _check_tau(tau, closed=False)
    _check_positive(scale, "scale", "the radius of the law")
    return _inside_ellipse(z, tau, scale, center)


@jax.jit
def _inside_ellipse(z, tau, scale, center):
    w = _complex(z) - center
    return (w.real / (scale * (1.0 + tau))) ** 2 + (w.imag / (scale * (1.0 - tau))) ** 2 <= 1.0


def elliptic_law_density(z: ArrayLike, tau: ArrayLike, scale: ArrayLike = 1.0) -> Float[Array, "..."]:
    """Elliptic law: ``1 / (pi s^2 (1 - tau^2))`` inside the ellipse of half-axes ``s (1 +- tau)``, 0 outside.

    Density with respect to ``d Re z d Im z`` (Sommers et al. 1988); ``tau = 0`` is the circular law.

    Raises:
        ValueError: ``|tau| >= 1``, ``scale <= 0`` or NaN (when concrete).
    """
    _check_tau(tau, closed=False)
    _check_positive(scale, "scale", "the radius of the law")
    return _elliptic_law_density(z, tau, scale)


@jax.jit
def _elliptic_law_density(z, tau, scale):
    z = _complex(z)
    tau = jnp.asarray(tau, z.real.dtype)
    scale = jnp.asarray(scale, z.real.dtype)
    height = 1.0 / (jnp.pi * scale**2 * (1.0 - tau**2))
    return jnp.where(_inside_ellipse(z, tau, scale, 0.0), height, 0.0)


def circular_law_density(z: ArrayLike, radius: ArrayLike = 1.0) -> Float[Array, "..."]:
    """Circular law ``1 / (pi R^2)`` on the disk ``|z| <= R`` (Ginibre matrices, ``R = 1``).

    Raises:
        ValueError: ``radius <= 0`` or NaN (when concrete).
    """
    return elliptic_law_density(z, 0.0, radius)


def elliptic_second_moments(tau: ArrayLike, scale: ArrayLike = 1.0) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """``(E lambda^2, E |lambda|^2) = (s^2 tau, s^2 (1 + tau^2) / 2)`` under the elliptic law.

    ``E lambda^2 = tr J^2 / n`` for the matrix itself; ``E |lambda|^2`` is the second moment of the
    uniform law on the ellipse (not ``tr J J^T / n = 1``: ``J`` is not normal). ``tau`` in ``[-1, 1]``.

    Raises:
        ValueError: ``|tau| > 1``, ``scale <= 0`` or NaN (when concrete).
    """
    _check_tau(tau, closed=True)
    _check_positive(scale, "scale", "the radius of the law")
    tau = _float(tau)
    scale = jnp.asarray(scale, tau.dtype)
    return scale**2 * tau, scale**2 * (1.0 + tau**2) / 2.0


def ellipse_boundary(
    tau: ArrayLike = 0.0, scale: ArrayLike = 1.0, center: ArrayLike = 0.0, *, num_points: int = 256
) -> Complex[Array, " num_points"]:
    """Closed curve ``c + s ((1 + tau) cos t + i (1 - tau) sin t)``, ``t`` in ``[0, 2 pi]`` (for plots).

    ``tau`` may be ``+-1`` here (a segment). Raises ``ValueError`` for ``|tau| > 1``, ``scale <= 0``.
    """
    _check_tau(tau, closed=True)
    _check_positive(scale, "scale", "the radius of the law")
    num_points = as_count(num_points, "num_points", minimum=3)
    tau = _float(tau)
    t = jnp.linspace(0.0, 2.0 * jnp.pi, num_points, dtype=tau.dtype)
    return center + scale * ((1.0 + tau) * jnp.cos(t) + 1j * (1.0 - tau) * jnp.sin(t))


def kolmogorov_distance(samples: ArrayLike, cdf) -> Float[Array, ""]:
    """``sup_x |F_n(x) - F(x)|`` between the empirical CDF of ``samples`` (shape ``(m,)``) and ``cdf``.

    ``cdf`` is a vectorised callable (e.g. ``lambda x: semicircle_cdf(x, 1.0)``); atoms are handled
    (both one-sided limits are compared), but numerically zero eigenvalues of a rank-deficient
    matrix (``~1e-15``, either sign) must be set to exactly 0 first to meet the atom of
    :func:`marchenko_pastur_cdf`. For one GOE/GUE or Wishart spectrum this distance is
    ``O(log n / n)`` (eigenvalue rigidity), far below the ``O(1/sqrt(m))`` of independent samples.

    Raises:
        ValueError: ``samples`` not a non-empty 1-D array.
    """
    samples = jnp.asarray(samples)
    if samples.ndim != 1 or samples.shape[0] == 0:
        raise ValueError(f"samples must be a non-empty 1-D array of eigenvalues, got shape {samples.shape}")
    # compare both one-sided limits at every sample, so that ties (e.g. the zero eigenvalues of a
    # rank-deficient Wishart matrix) meet a CDF with an atom correctly
    x, below = _sort_and_step_down(samples)
    return _kolmogorov(x, cdf(x), cdf(below))


@jax.jit
def _sort_and_step_down(samples):
    """Sorted samples, and points a few ulps below them (at 0 the smallest normal number:
    nextafter's denormal would be flushed to zero by XLA) where the CDF gives its left limits."""
    x = jnp.sort(samples)
    info = jnp.finfo(x.dtype)
    return x, x - jnp.maximum(4.0 * info.eps * jnp.abs(x), info.tiny)


@jax.jit
def _kolmogorov(x, f_right, f_left):
    m = x.shape[0]
    index = jnp.arange(m)
    # F_n(x_i) = (last index of the tie group of x_i + 1) / m; F_n(x_i^-) = (its first index) / m
    group_end = jnp.where(jnp.append(x[1:] > x[:-1], True), index + 1, m)
    group_start = jnp.where(jnp.insert(x[1:] > x[:-1], 0, True), index, 0)
    counts_right = jax.lax.cummin(group_end, reverse=True).astype(f_right.dtype) / m
    counts_left = jax.lax.cummax(group_start).astype(f_right.dtype) / m
    return jnp.maximum(jnp.max(jnp.abs(counts_right - f_right)), jnp.max(jnp.abs(counts_left - f_left)))


# --------------------------------------------------------------------------- samplers


def wigner(key: Key[Array, ""], n: int, *, beta: int = 1, variance: ArrayLike = 1.0, dtype=None) -> Array:
    """A GOE (``beta = 1``, real symmetric) or GUE (``beta = 2``, complex Hermitian) matrix, ``(n, n)``.

    ``W = sigma (A + A^H) / sqrt(2 n)`` with ``A`` standard Gaussian (complex with ``E|A_ij|^2 = 1``
    for GUE), so off-diagonal ``E |W_ij|^2 = sigma^2 / n`` and the spectrum tends to the semicircle
    on ``[-2 sigma, 2 sigma]``. ``dtype`` is the real dtype (GUE returns the matching complex type).

    Raises:
        ValueError: ``n < 1``, ``beta`` not 1 or 2, ``variance <= 0`` (when concrete).
    """
    n = as_count(n, "n")
    if beta not in (1, 2):
        raise ValueError(f"beta must be 1 (GOE, real symmetric) or 2 (GUE, complex Hermitian), got {beta!r}")
    _check_positive(variance, "variance", "the entry variance sigma^2 (times n)")
    dtype = _dtype(dtype, variance)
    scale = jnp.sqrt(jnp.asarray(variance, dtype) / (2.0 * n))
    k1, k2 = jax.random.split(key)
    a = jax.random.normal(k1, (n, n), dtype)
    if beta == 2:
        a = (a + 1j * jax.random.normal(k2, (n, n), dtype)) / math.sqrt(2.0)
    return scale * (a + a.conj().T)


def wishart(key: Key[Array, ""], n: int, p: int, *, variance: ArrayLike = 1.0, dtype=None) -> Float[Array, "p p"]:
    """Sample covariance ``S = X^T X / n`` of ``n`` samples of ``p`` features, ``X_ij ~ N(0, sigma^2)``.

    The spectrum tends to Marchenko-Pastur with ``ratio = p / n``.

    Raises:
        ValueError: ``n < 1``, ``p < 1``, ``variance <= 0`` (when concrete).
    """
    n, p = as_count(n, "n (samples)"), as_count(p, "p (features)")
    _check_positive(variance, "variance", "the entry variance sigma^2 of X")
    dtype = _dtype(dtype, variance)
    x = jnp.sqrt(jnp.asarray(variance, dtype)) * jax.random.normal(key, (n, p), dtype)
    return x.T @ x / n


def ginibre(key: Key[Array, ""], n: int, *, real: bool = True, dtype=None) -> Array:
    """Ginibre matrix ``(n, n)`` with iid entries of variance ``1/n``: real, or complex with ``E|G_ij|^2 = 1/n``.

    Its eigenvalues tend to the uniform law on the unit disk (real Ginibre: plus ``~ sqrt(2 n / pi)``
    real eigenvalues, a vanishing fraction).

    Raises:
        ValueError: ``n < 1``.
    """
    n = as_count(n, "n")
    dtype = _dtype(dtype)
    k1, k2 = jax.random.split(key)
    g = jax.random.normal(k1, (n, n), dtype)
    if not real:
        g = (g + 1j * jax.random.normal(k2, (n, n), dtype)) / math.sqrt(2.0)
    return g / math.sqrt(n)


def elliptic(key: Key[Array, ""], n: int, tau: ArrayLike, *, dtype=None) -> Float[Array, "n n"]:
    """Real ``(n, n)`` matrix with ``Var J_ij = 1/n``, ``corr(J_ij, J_ji) = tau``, ``J_ii = 0``.

    This is :func:`jaxphys.theory.dmft.random_couplings` (the couplings of the rate network);
    its spectrum tends to the elliptic law.

    Raises:
        ValueError: ``n < 2``, ``|tau| > 1`` (when concrete).
    """
    _check_tau(tau, closed=True)
    return dmft.random_couplings(key, n, tau, _dtype(dtype, tau))


def _unit_vector(key: Key[Array, ""], n: int, dtype) -> Array:
    v = jax.random.normal(key, (n,), dtype)
    return v / jnp.linalg.norm(v)


def spiked_wigner(key: Key[Array, ""], n: int, theta: ArrayLike, *, dtype=None) -> tuple[Float[Array, "n n"], Float[Array, " n"]]:
    """``(Y, v)`` with ``Y = theta v v^T + W``, ``W`` GOE (``sigma = 1``), ``v`` uniform on the unit sphere.

    Raises:
        ValueError: ``n < 1``; ``theta`` NaN (when concrete).
    """
    n = as_count(n, "n")
    concrete = concrete_value(theta)
    if concrete is not None and np.any(np.isnan(concrete)):
        raise ValueError(f"theta (the spike strength) must not be NaN, got {concrete}")
    dtype = _dtype(dtype, theta)
    k_noise, k_spike = jax.random.split(key)
    v = _unit_vector(k_spike, n, dtype)
    return jnp.asarray(theta, dtype) * jnp.outer(v, v) + wigner(k_noise, n, dtype=dtype), v


def spiked_wishart(
    key: Key[Array, ""], n: int, p: int, spike: ArrayLike, *, dtype=None
) -> tuple[Float[Array, "p p"], Float[Array, " p"]]:
    """``(S, v)``: sample covariance of ``n`` samples ``x = (I + l v v^T)^{1/2} z``, ``z ~ N(0, I_p)``.

    The population covariance has one eigenvalue ``1 + l`` (direction ``v``, uniform on the sphere)
    and ``p - 1`` eigenvalues 1; ``S = X^T X / n``.

    Raises:
        ValueError: ``n < 1``, ``p < 1``, ``spike <= -1`` or NaN (when concrete).
    """
    n, p = as_count(n, "n (samples)"), as_count(p, "p (features)")
    concrete = concrete_value(spike)
    if concrete is not None and not np.all(concrete > -1.0):
        raise ValueError(f"spike l must be > -1 (the population covariance I + l v v^T must be positive), got {concrete}")
    dtype = _dtype(dtype, spike)
    k_noise, k_spike = jax.random.split(key)
    v = _unit_vector(k_spike, p, dtype)
    z = jax.random.normal(k_noise, (n, p), dtype)
    x = z + (jnp.sqrt(1.0 + jnp.asarray(spike, dtype)) - 1.0) * jnp.outer(z @ v, v)
    return x.T @ x / n, v


def top_eigenpair(matrix: ArrayLike) -> tuple[Float[Array, ""], Array]:
    """Largest eigenvalue and its unit eigenvector of a symmetric/Hermitian ``(n, n)`` matrix (``eigh``).

    Raises:
        ValueError: not a non-empty square matrix.
    """
    matrix = _check_square(matrix, "matrix")
    values, vectors = jnp.linalg.eigh(matrix)
    return values[-1], vectors[:, -1]


# --------------------------------------------------------------------------- BBP predictions


class BBPPrediction(NamedTuple):
    """``top_eigenvalue`` (limit of the largest eigenvalue) and ``overlap`` (limit of ``(v . u)^2``), float arrays."""

    top_eigenvalue: Float[Array, "..."]
    overlap: Float[Array, "..."]


def bbp_threshold(ratio: ArrayLike | None = None) -> Float[Array, "..."]:
    """Critical spike: ``1`` for spiked Wigner (``ratio=None``), ``sqrt(gamma)`` for spiked covariance.

    Raises:
        ValueError: ``ratio <= 0`` or NaN (when concrete).
    """
    if ratio is None:
        return jnp.asarray(1.0)
    _check_positive(ratio, "ratio", "gamma = p / n (features over samples)")
    return jnp.sqrt(_float(ratio))


def spiked_wigner_theory(theta: ArrayLike) -> BBPPrediction:
    """``theta + 1/theta`` and ``1 - 1/theta^2`` above ``theta = 1``; ``2`` and ``0`` below (``theta >= 0``).

    Raises:
        ValueError: ``theta < 0`` or NaN (when concrete).
    """
    concrete = concrete_value(theta)
    if concrete is not None and not np.all(concrete >= 0):
        raise ValueError(f"theta must be >= 0 (a negative spike moves the bottom eigenvalue instead), got {concrete}")
    theta = _float(theta)
    above = theta > 1.0
    safe = jnp.where(above, theta, 2.0)
    return BBPPrediction(jnp.where(above, safe + 1.0 / safe, 2.0), jnp.where(above, 1.0 - 1.0 / safe**2, 0.0))


def spiked_wishart_theory(spike: ArrayLike, ratio: ArrayLike) -> BBPPrediction:
    """Top sample eigenvalue and squared overlap of the spiked covariance model (BBP 2005; Paul 2007).

    ``(1 + l)(1 + gamma / l)`` and ``(1 - gamma / l^2) / (1 + gamma / l)`` for ``l > sqrt(gamma)``;
    ``(1 + sqrt(gamma))^2`` and 0 otherwise.

    Raises:
        ValueError: ``spike < 0``, ``ratio <= 0`` or NaN (when concrete).
    """
    concrete = concrete_value(spike)
    if concrete is not None and not np.all(concrete >= 0):
        raise ValueError(f"spike l must be >= 0 here (the top eigenvalue is predicted), got {concrete}")
    _check_positive(ratio, "ratio", "gamma = p / n (features over samples)")
    spike = _float(spike)
    ratio = jnp.asarray(ratio, spike.dtype)
    above = spike > jnp.sqrt(ratio)
    safe = jnp.where(above, spike, 2.0 * jnp.sqrt(ratio) + 1.0)
    top = jnp.where(above, (1.0 + safe) * (1.0 + ratio / safe), (1.0 + jnp.sqrt(ratio)) ** 2)
    overlap = jnp.where(above, (1.0 - ratio / safe**2) / (1.0 + ratio / safe), 0.0)
    return BBPPrediction(top, overlap)


# --------------------------------------------------------------------------- rate networks


def rate_jacobian(couplings: ArrayLike, x: ArrayLike, activation: Activation = "tanh") -> Float[Array, "n n"]:
    """Jacobian ``-I + J diag(phi'(x))`` of ``dx/dt = -x + J phi(x)`` at the state ``x``.

    Args:
        couplings: ``J``, float ``(n, n)`` (the gain included: ``g J0`` for dmft's network).
        x: state, float ``(n,)``.
        activation: a name (``tanh``, ``erf``, ``relu``, ``linear``) or a callable ``phi``.

    Raises:
        ValueError: ``J`` not square, ``x`` not of shape ``(n,)``, unknown activation.
    """
    couplings = _check_square(couplings, "couplings J")
    x = jnp.asarray(x)
    if x.shape != (couplings.shape[0],):
        raise ValueError(f"x must have shape ({couplings.shape[0]},) to match J, got {x.shape}")
    slopes = activation_derivative(activation)(x)
    return couplings * slopes[None, :] - jnp.eye(couplings.shape[0], dtype=couplings.dtype)


class Ellipse(NamedTuple):
    """Ellipse ``((Re z - center) / real_axis)^2 + (Im z / imag_axis)^2 <= 1`` (float scalars)."""

    center: Float[Array, ""]
    real_axis: Float[Array, ""]
    imag_axis: Float[Array, ""]

    @property
    def right_edge(self) -> Float[Array, ""]:
        """Rightmost point ``center + real_axis``: the fixed point is unstable when it is > 0."""
        return self.center + self.real_axis

    def boundary(self, num_points: int = 256) -> Complex[Array, " num_points"]:
        """Points on the boundary curve (for plots)."""
        t = jnp.linspace(0.0, 2.0 * jnp.pi, as_count(num_points, "num_points", minimum=3))
        return self.center + self.real_axis * jnp.cos(t) + 1j * self.imag_axis * jnp.sin(t)


def rate_jacobian_support(
    g: ArrayLike, eta: ArrayLike = 0.0, activation: Activation = "tanh", x: ArrayLike | None = None
) -> Ellipse:
    """Limiting support of the spectrum of :func:`rate_jacobian` for ``J = g J0`` (``J0`` from dmft.random_couplings).

    At ``x = None`` (the fixed point ``x = 0``): the ellipse centred at ``-1`` with half-axes
    ``g phi'(0) (1 + eta)`` and ``g phi'(0) (1 - eta)``; its right edge crosses 0 at
    :func:`jaxphys.theory.dmft.critical_gain`. At a state ``x`` independent of ``J0`` with
    ``eta = 0``: the disk centred at ``-1`` of radius ``g sqrt(mean_i phi'(x_i)^2)`` (the support of
    ``J0 D`` for iid ``J0`` and a diagonal ``D``: Rajan & Abbott, PRL 97, 188104 (2006); Ahmadian,
    Fumarola & Miller, PRE 91, 012820 (2015)); the density inside is not uniform then.

    Raises:
        ValueError: ``g < 0``, ``|eta| > 1`` (when concrete), ``x`` given with ``eta != 0`` or not 1-D.
    """
    concrete = concrete_value(g)
    if concrete is not None and not np.all(concrete >= 0):
        raise ValueError(f"g is a gain: it must be >= 0 and not NaN, got {concrete}")
    _check_tau(eta, closed=True)
    concrete_eta = concrete_value(eta)  # the raw argument: under jit even jnp.asarray(0.0) is a tracer
    g = _float(g)
    eta = jnp.asarray(eta, g.dtype)
    if x is None:
        gain = g * activation_derivative(activation)(jnp.zeros((), g.dtype))
        return Ellipse(-jnp.ones_like(gain), gain * (1.0 + eta), gain * (1.0 - eta))
    if concrete_eta is None or np.any(concrete_eta != 0):
        raise ValueError("the support at a state x is only known here for eta = 0 (iid couplings); pass x=None for x = 0")
    x = jnp.asarray(x, g.dtype)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty state of shape (n,), got {x.shape}")
    radius = g * jnp.sqrt(jnp.mean(activation_derivative(activation)(x) ** 2))
    return Ellipse(-jnp.ones_like(radius), radius, radius)


def sequence_hebbian_couplings(
    key: Key[Array, ""], n: int, p: int, *, cyclic: bool = True, dtype=None
) -> tuple[Float[Array, "n n"], Float[Array, "p n"]]:
    """``(J, xi)``: ``J = (1/n) sum_mu xi^{mu+1} xi^{mu T}`` for ``p`` random ``+-1`` patterns ``xi`` (``(p, n)``).

    The asymmetric Hebbian rule that stores the sequence ``xi^1 -> xi^2 -> ...`` (Jiang, Chen, Hou
    & Huang 2022, arXiv:2208.11411); ``cyclic`` closes it (``xi^{p+1} = xi^1``), otherwise the sum
    stops at ``mu = p - 1``. Exact identity (``eig(A B) = eig(B A)``): the nonzero eigenvalues of
    ``J`` are those of the ``p x p`` matrix ``C Pi``, ``C = xi xi^T / n``, ``(Pi)_{mu nu} = 1`` if
    ``mu = nu + 1`` (cyclically); at low load ``p / n -> 0``, ``C -> I`` and they tend to the
    ``p``-th roots of unity (cyclic) or 0 (open chain, a nilpotent shift).

    Raises:
        ValueError: ``n < 1``, ``p < 1`` (``p < 2`` for an open chain).
    """
    n = as_count(n, "n")
    p = as_count(p, "p (patterns)", minimum=1 if cyclic else 2)
    dtype = _dtype(dtype)
    xi = jax.random.rademacher(key, (p, n), dtype)
    successors = jnp.roll(xi, -1, axis=0)  # row mu holds xi^{mu+1}
    if not cyclic:
        xi_from, xi_to = xi[:-1], successors[:-1]
    else:
        xi_from, xi_to = xi, successors
    return xi_to.T @ xi_from / n, xi
