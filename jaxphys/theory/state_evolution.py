"""State evolution of (G)AMP for generalised linear models, and the priors and channels they share.

A generalised linear model (GLM): a teacher ``w* in R^N`` with i.i.d. entries ``w*_i ~ P_0`` labels
``P = alpha N`` Gaussian inputs ``x^mu ~ N(0, I_N)`` through an output channel,

    y^mu ~ P_out(y | z^mu),   z^mu = w* . x^mu / sqrt(N).

Generalised approximate message passing (GAMP; Rangan, ISIT 2011; Zdeborova & Krzakala, Adv.
Phys. 65, 453, 2016, sec. 6) estimates ``w*`` with two scalar *denoisers*:

* the prior's: mean and variance of the tilted law ``P_0(w) exp(-A w^2 / 2 + B w) / Z``,
  ``f_a(A, B)`` and ``f_v(A, B) = d f_a / d B`` (:meth:`Prior.denoise`);
* the channel's: ``g_out(y, omega, V) = d/d omega log Z_out`` and its derivative, with
  ``Z_out(y, omega, V) = integral dz P_out(y | z) N(z; omega, V)`` (:meth:`Channel.denoise`).

In the Bayes-optimal setting (the student knows ``P_0`` and ``P_out``) the overlap of the AMP
estimate with the teacher, ``m_t = a^t . w* / N``, equals its self-overlap ``q_t = a^t . a^t / N``
(Nishimori) and follows, for ``N -> infinity``, the scalar *state evolution* (Barbier, Krzakala,
Macris, Miolane & Zdeborova, PNAS 116, 5451, 2019, eqs. 7-8 and sec. "AMP"):

    q_hat_t = alpha E_xi E_{y | xi} g_out(y, sqrt(q_t) xi, rho - q_t)^2           (Channel.se_output)
    q_{t+1} = E_{w0 ~ P_0, z} w0 f_a(q_hat_t, q_hat_t w0 + sqrt(q_hat_t) z)       (Prior.se_input)

with ``rho = E w0^2`` and ``xi, z ~ N(0, 1)``; ``y`` given ``xi`` is drawn with weight
``Z_out(y, sqrt(q) xi, rho - q)``. From the uninformative start ``q_0 = (E w0)^2`` its first fixed
point is what AMP reaches; the minimum mean-squared error of the posterior mean is ``rho - q``.
Its fixed points are the stationary points of the replica-symmetric free entropy, e.g. of
:mod:`jaxphys.theory.teacher_student` for the noiseless perceptron (sign channel): Gaussian
prior ``q = q_hat / (1 + q_hat)`` (the spherical student), Rademacher prior
``q = E tanh(q_hat + sqrt(q_hat) z)`` (the binary one, whose SE follows the metastable branch up to
the spinodal ``alpha_alg = 1.493`` and jumps to ``q = 1`` beyond).

Priors (separable, :class:`Prior`): :class:`GaussianPrior`, :class:`RademacherPrior`,
:class:`GaussBernoulliPrior`. Channels (:class:`Channel`): :class:`SignChannel` (perceptron, with
label-flip noise) and :class:`LinearChannel` (additive Gaussian noise). They are equinox modules:
their parameters are array leaves (vmap or differentiate through them). A user prior or channel
subclasses :class:`Prior`/:class:`Channel` and defines ``denoise`` (what AMP iterates), ``average``
(the law: the prior's moments start AMP; both feed state evolution's generic quadrature) and
``sample`` (to draw a teacher or labels); the built-ins override ``se_input``/``se_output`` with
closed forms or better-conditioned integrals.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validate import as_count
from ..status import Solution, Status, flag
from . import fixed_point
from ._params import jit_broadcast
from .quadrature import _concrete, gauss_hermite, gaussian_expectation, gaussian_expectation_trapezoid, log_H

__all__ = [
    "Prior",
    "GaussianPrior",
    "RademacherPrior",
    "GaussBernoulliPrior",
    "Channel",
    "SignChannel",
    "LinearChannel",
    "SEState",
    "SETrajectory",
    "solve",
    "iterate",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Gauss-Hermite order of the state-evolution averages (their integrands are smooth: see se_output).
_NUM_NODES = 128


def _float(value: Any, name: str, low: float, high: float, *, low_open: bool, high_open: bool, hint: str) -> Array:
    """A scalar float parameter; ``TypeError``/``ValueError`` when concrete and outside its interval."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real number, got dtype {arr.dtype}")
    arr = arr.astype(jnp.result_type(float))
    concrete = _concrete(arr)
    if concrete is not None:
        if concrete.ndim:
            raise ValueError(f"{name} must be a scalar, got shape {concrete.shape} (vmap over the constructor for many)")
        v = float(concrete)
        ok = np.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        if not ok:
            interval = ("(" if low_open else "[") + f"{low}, {high}" + (")" if high_open else "]")
            raise ValueError(f"{name} must lie in {interval}{hint}, got {v}")
    return arr


# --------------------------------------------------------------------------- priors


class Prior(eqx.Module):
    """Separable prior ``P_0(w)`` of the weights (abstract).

    Subclasses define :meth:`denoise` and :meth:`average` (or override :meth:`mean` and
    :meth:`second_moment`, which GAMP needs to start, and :meth:`se_input` for state evolution);
    :meth:`sample` draws teachers. Everything works elementwise on arrays of any shape.
    """

    @abc.abstractmethod
    def denoise(self, A: Array, B: Array) -> tuple[Array, Array]:
        """``(f_a, f_v)``: mean and variance of ``P_0(w) exp(-A w^2/2 + B w) / Z`` (``f_v = d f_a / d B``).

        ``A`` (precision, scalar or array) and ``B`` (field) broadcast together.
        """

    def average(self, fn: Callable[[Array], Array]) -> Array:
        """``E_{w ~ P_0} fn(w)``; ``fn`` is called once with a 1-D array of points (leading axis reduced)."""
        raise NotImplementedError(f"{type(self).__name__} defines no average: implement it (or se_input) for state evolution")

    def sample(self, key: Array, shape: tuple[int, ...], dtype: Any = None) -> Array:
        """``shape`` i.i.d. draws from ``P_0`` (``dtype``: default float)."""
        raise NotImplementedError(f"{type(self).__name__} defines no sample: implement it to draw teachers")

    def mean(self) -> Float[Array, ""]:
        """``E w``."""
        return self.average(lambda w: w)

    def second_moment(self) -> Float[Array, ""]:
        """``rho = E w^2`` (the scale of the overlaps)."""
        return self.average(lambda w: w * w)

    def se_input(self, q_hat: ArrayLike) -> Float[Array, ""]:
        """State-evolution input update ``q = E_{w0, z} w0 f_a(q_hat, q_hat w0 + sqrt(q_hat) z)`` (scalar ``q_hat >= 0``).

        Generic version by quadrature (Gauss-Hermite in ``z``, :meth:`average` in ``w0``).
        """
        q_hat = jnp.asarray(q_hat)

        def given_w0(w0):
            mean_b = q_hat * w0
            return gaussian_expectation(
                lambda b: w0 * self.denoise(q_hat, b)[0], mean=mean_b, std=jnp.sqrt(q_hat), num_nodes=_NUM_NODES
            )

        return self.average(given_w0)


class GaussianPrior(Prior):
    """``w ~ N(0, variance)``: ``f_a = B / (1/variance + A)``, ``f_v = 1 / (1/variance + A)``.

    The Bayes-optimal counterpart of the spherical student (``|w|^2 = N``, variance 1).
    ``se_input(q_hat) = variance^2 q_hat / (1 + variance q_hat)`` (``q_hat / (1 + q_hat)`` at variance 1).

    Args:
        variance: ``> 0`` float scalar (array leaf; may be traced).

    Raises:
        TypeError/ValueError: a non-real or concrete non-positive/non-finite ``variance``.
    """

    variance: Float[Array, ""]

    def __init__(self, variance: ArrayLike = 1.0):
        self.variance = _float(variance, "variance", 0.0, math.inf, low_open=True, high_open=True, hint=" (a Gaussian prior's variance)")

    def denoise(self, A, B):
        precision = 1.0 / self.variance + A
        return B / precision, jnp.broadcast_to(1.0 / precision, jnp.shape(B))

    def average(self, fn):
        return gaussian_expectation(fn, std=jnp.sqrt(self.variance), num_nodes=_NUM_NODES)

    def sample(self, key, shape, dtype=None):
        return jnp.sqrt(self.variance) * jax.random.normal(key, shape, dtype or jnp.result_type(float))

    def mean(self):
        return jnp.zeros_like(self.variance)

    def second_moment(self):
        return self.variance

    def se_input(self, q_hat):
        return self.variance**2 * q_hat / (1.0 + self.variance * q_hat)


class RademacherPrior(Prior):
    """``w = +-1`` with probability 1/2 each: ``f_a = tanh(B)``, ``f_v = 1 - tanh(B)^2`` (A drops out).

    The binary (Ising) perceptron. ``se_input(q_hat) = E_z tanh(q_hat + sqrt(q_hat) z)``, computed as
    ``1 - E 2 sigmoid(-2 x)`` by the trapezoid rule that resolves the kink for any ``q_hat``
    (as :mod:`jaxphys.theory.teacher_student`).
    """

    def denoise(self, A, B):
        a = jnp.tanh(B)
        # sech^2 = 4 sigmoid(2B) sigmoid(-2B): exact for |B| large, where 1 - tanh^2 rounds to 0
        v = 4.0 * jax.nn.sigmoid(2.0 * B) * jax.nn.sigmoid(-2.0 * B)
        return jnp.broadcast_to(a, jnp.broadcast_shapes(jnp.shape(A), jnp.shape(B))), v

    def average(self, fn):
        return 0.5 * jnp.sum(fn(jnp.array([1.0, -1.0], jnp.result_type(float))), axis=0)

    def sample(self, key, shape, dtype=None):
        return jax.random.rademacher(key, shape, dtype or jnp.result_type(float))

    def mean(self):
        return jnp.zeros((), jnp.result_type(float))

    def second_moment(self):
        return jnp.ones((), jnp.result_type(float))

    def se_input(self, q_hat):
        q_hat = jnp.asarray(q_hat, jnp.result_type(q_hat, float))
        return 1.0 - gaussian_expectation_trapezoid(lambda x: 2.0 * jax.nn.sigmoid(-2.0 * x), q_hat, jnp.sqrt(q_hat))


class GaussBernoulliPrior(Prior):
    """Sparse weights ``P_0 = (1 - density) delta_0 + density N(0, variance)`` (compressed sensing).

    With ``s2 = 1 / (1/variance + A)``, ``mu = B s2`` and the posterior probability of a non-zero
    weight ``pi = sigmoid(log(density/(1-density)) + log(s2/variance)/2 + B^2 s2 / 2)``:
    ``f_a = pi mu``, ``f_v = pi s2 + pi (1 - pi) mu^2``. ``se_input(q_hat) = density E_B[(s2 B) f_a(q_hat, B)]``,
    ``B ~ N(0, q_hat (1 + q_hat variance))`` (the law of ``B`` given a non-zero ``w0``, for which
    ``E[w0 | B] = s2 B``), one Gauss-Hermite integral.

    Args:
        density: fraction of non-zero weights in ``(0, 1]``.
        variance: ``> 0``, variance of the non-zero weights.

    Raises:
        TypeError/ValueError: concrete parameters out of range.
    """

    density: Float[Array, ""]
    variance: Float[Array, ""]

    def __init__(self, density: ArrayLike, variance: ArrayLike = 1.0):
        self.density = _float(density, "density", 0.0, 1.0, low_open=True, high_open=False, hint=" (fraction of non-zero weights)")
        self.variance = _float(variance, "variance", 0.0, math.inf, low_open=True, high_open=True, hint="")

    def denoise(self, A, B):
        s2 = 1.0 / (1.0 / self.variance + A)
        mu = B * s2
        logit = jnp.log(self.density) - jnp.log1p(-self.density) + 0.5 * jnp.log(s2 / self.variance) + 0.5 * B * mu
        pi = jax.nn.sigmoid(logit)
        return pi * mu, pi * s2 + pi * (1.0 - pi) * mu * mu

    def average(self, fn):
        nodes, weights = gauss_hermite(_NUM_NODES)
        dtype = jnp.result_type(float)
        points = jnp.concatenate([jnp.zeros(1, dtype), jnp.sqrt(self.variance) * jnp.asarray(nodes, dtype)])
        w = jnp.concatenate([(1.0 - self.density)[None], self.density * jnp.asarray(weights, dtype)])
        values = fn(points)
        return jnp.tensordot(w.astype(values.dtype), values, axes=(0, 0))

    def sample(self, key, shape, dtype=None):
        k_support, k_value = jax.random.split(key)
        dtype = dtype or jnp.result_type(float)
        support = jax.random.bernoulli(k_support, self.density, shape)
        return jnp.where(support, jnp.sqrt(self.variance) * jax.random.normal(k_value, shape, dtype), 0.0).astype(dtype)

    def mean(self):
        return jnp.zeros_like(self.density)

    def second_moment(self):
        return self.density * self.variance

    def se_input(self, q_hat):
        s2 = 1.0 / (1.0 / self.variance + q_hat)
        std = jnp.sqrt(q_hat * (1.0 + q_hat * self.variance))
        # 256 nodes: the switch of pi(B) sharpens as q_hat grows
        return self.density * gaussian_expectation(lambda b: s2 * b * self.denoise(q_hat, b)[0], std=std, num_nodes=256)


# --------------------------------------------------------------------------- channels


class Channel(eqx.Module):
    """Output channel ``P_out(y | z)`` (abstract).

    Subclasses define :meth:`denoise`; :meth:`average` (the law of ``y``) and :meth:`sample` are
    needed for state evolution and for drawing labels.
    """

    @abc.abstractmethod
    def denoise(self, y: Array, omega: Array, V: Array) -> tuple[Array, Array]:
        """``(g_out, d g_out / d omega)`` with ``g_out = d/d omega log integral dz P_out(y|z) N(z; omega, V)``.

        ``y``, ``omega`` and ``V`` (``> 0``) broadcast together.
        """

    def average(self, fn: Callable[[Array], Array], omega: Array, V: Array) -> Array:
        """``E fn(y)`` for ``y ~ P_out(y | z)``, ``z ~ N(omega, V)``; ``fn`` elementwise, broadcasting with ``omega``."""
        raise NotImplementedError(f"{type(self).__name__} defines no average: implement it (or se_output) for state evolution")

    def sample(self, key: Array, z: Array) -> Array:
        """Labels ``y ~ P_out(y | z)`` for pre-activations ``z`` (any shape)."""
        raise NotImplementedError(f"{type(self).__name__} defines no sample: implement it to draw labels")

    def se_output(self, q: ArrayLike, rho: ArrayLike) -> Float[Array, ""]:
        """``q_hat / alpha = E_xi E_y g_out(y, sqrt(q) xi, rho - q)^2`` for scalars ``0 <= q < rho``.

        Generic version by Gauss-Hermite quadrature in ``xi`` and :meth:`average` in ``y``
        (accurate while ``q / (rho - q)`` is moderate; the built-ins override it).
        """
        q, rho = jnp.asarray(q), jnp.asarray(rho)
        V = rho - q

        def given_xi(xi):
            omega = jnp.sqrt(q) * xi
            return self.average(lambda y: self.denoise(y, omega, V)[0] ** 2, omega, V)

        return gaussian_expectation(given_xi, num_nodes=_NUM_NODES)


class SignChannel(Channel):
    """Perceptron ``y = sign(z)``, each label flipped with probability ``flip``.

    ``Z_out = flip + (1 - 2 flip) Phi(u)``, ``u = y omega / sqrt(V)``, ``r = (1 - 2 flip) phi(u) / Z_out``:
    ``g_out = y r / sqrt(V)``, ``d g_out / d omega = -r (u + r) / V`` (``V > 0``: see ``min_variance`` of
    :func:`jaxphys.learning.amp.gamp` for ``V -> 0``).

    ``se_output`` substitutes ``xi = t sqrt(V / rho)`` (``V = rho - q``), which removes the
    ``1/sqrt(V)`` sharpening of the integrand as ``q -> rho``:

        E_xi E_y g_out^2 = 1 / (2 pi sqrt(V rho)) E_t exp(-c^2 t^2/2) sum_y (1-2 flip)^2 / Z_y(c t),

    ``c = sqrt(q / rho)``, ``Z_y(s) = flip + (1 - 2 flip) Phi(y s)``; for ``flip = 0``, ``rho = 1`` this is
    ``I(q) / (pi sqrt(1 - q))`` of :mod:`jaxphys.theory.teacher_student` (Gyorgyi 1990).

    Args:
        flip: label-flip probability in ``[0, 1/2)`` (the derivative in ``flip`` at exactly 0 is NaN).
    """

    flip: Float[Array, ""]

    def __init__(self, flip: ArrayLike = 0.0):
        self.flip = _float(flip, "flip", 0.0, 0.5, low_open=False, high_open=True, hint=" (the label-flip probability)")

    def _log_z(self, u):
        # log(flip + (1 - 2 flip) Phi(u)), exact for flip = 0 and Phi(u) -> 0
        return jnp.logaddexp(jnp.log(self.flip), jnp.log1p(-2.0 * self.flip) + log_H(-u))

    def denoise(self, y, omega, V):
        sqrt_v = jnp.sqrt(V)
        u = y * omega / sqrt_v
        r = (1.0 - 2.0 * self.flip) * jnp.exp(-0.5 * u * u - _LOG_SQRT_2PI - self._log_z(u))
        h = r * (u + r)
        # noiseless: r (u + r) = 1 - Var/V of a truncated Gaussian, in [0, 1]; clipping undoes the
        # cancellation of u + r at u << 0 (with flips it may leave [0, 1]: no clipping)
        h = jnp.where(self.flip == 0.0, jnp.clip(h, 0.0, 1.0), h)
        return y * r / sqrt_v, -h / V

    def average(self, fn, omega, V):
        u = omega / jnp.sqrt(V)
        z_plus, z_minus = jnp.exp(self._log_z(u)), jnp.exp(self._log_z(-u))
        one = jnp.ones_like(u)
        return z_plus * fn(one) + z_minus * fn(-one)

    def sample(self, key, z):
        y = jnp.where(z >= 0, 1.0, -1.0).astype(jnp.result_type(z, float))
        return jnp.where(jax.random.bernoulli(key, self.flip, jnp.shape(z)), -y, y)

    def se_output(self, q, rho):
        q, rho = jnp.asarray(q), jnp.asarray(rho)
        c = jnp.sqrt(q / rho)
        scale = (1.0 - 2.0 * self.flip) ** 2 / (2.0 * math.pi * jnp.sqrt((rho - q) * rho))

        def integrand(t):
            s = c * t
            return jnp.exp(-0.5 * s * s - self._log_z(s)) + jnp.exp(-0.5 * s * s - self._log_z(-s))

        return scale * gaussian_expectation(integrand, num_nodes=_NUM_NODES)


class LinearChannel(Channel):
    """``y = z + sqrt(noise) xi``, ``xi ~ N(0, 1)``: ``g_out = (y - omega) / (V + noise)``, ``d g_out = -1 / (V + noise)``.

    ``se_output = 1 / (rho - q + noise)``; with a Gaussian prior the fixed point of GAMP is the
    ridge estimator / posterior mean ``(X^T X / N + noise I)^{-1} X^T y / sqrt(N)`` exactly.

    Args:
        noise: noise variance ``> 0``.
    """

    noise: Float[Array, ""]

    def __init__(self, noise: ArrayLike):
        self.noise = _float(noise, "noise", 0.0, math.inf, low_open=True, high_open=True, hint=" (the noise variance)")

    def denoise(self, y, omega, V):
        total = V + self.noise
        g = (y - omega) / total
        return g, jnp.broadcast_to(-1.0 / total, jnp.shape(g))

    def average(self, fn, omega, V):
        return gaussian_expectation(fn, mean=omega, std=jnp.sqrt(V + self.noise), num_nodes=_NUM_NODES)

    def sample(self, key, z):
        return z + jnp.sqrt(self.noise) * jax.random.normal(key, jnp.shape(z), jnp.result_type(z, float))

    def se_output(self, q, rho):
        return 1.0 / (rho - q + self.noise)


# --------------------------------------------------------------------------- state evolution


class SEState(NamedTuple):
    """State-evolution fixed point (arrays of the ``alpha`` grid's shape).

    ``q``: overlap with the teacher ``m = a . w* / N``, equal to the self-overlap (Bayes-optimal);
    ``q_hat``: its conjugate; ``mse``: ``rho - q``, the mean-squared error per weight of AMP's
    estimate (the posterior mean).
    """

    q: Float[Array, "..."]
    q_hat: Float[Array, "..."]
    mse: Float[Array, "..."]


class SETrajectory(NamedTuple):
    """``q[t]`` (t = 0 .. num_steps) and ``q_hat[t] = alpha se_output(q[t])``: trailing time axis."""

    q: Float[Array, "... t"]
    q_hat: Float[Array, "... t"]


# SE must be the plain iteration: its fixed point is the first one met from q0 (the metastable
# branch of the binary perceptron), and an accelerated iteration (fixed_point's Anderson option)
# may jump past it to another, stable, fixed point.
_PLAIN_ITERATION = {"anderson": 0}


def _q_ceiling(rho, dtype):
    # the largest q whose rho - q is resolved in the working dtype (as perceptron._q_upper)
    return rho * (1.0 - 64.0 * float(jnp.finfo(dtype).eps))


def _se_conjugate(q, alpha, prior, channel):
    rho = prior.second_moment()
    q = jnp.clip(q, 0.0, _q_ceiling(rho, jnp.result_type(q)))
    return alpha * channel.se_output(q, rho)


def _se_map(q, params):
    """One SE step ``q_t -> q_{t+1}`` (module-level: hashable, so fixed_point.solve compiles once)."""
    alpha, prior, channel = params
    return prior.se_input(_se_conjugate(q, alpha, prior, channel)).astype(q.dtype)


def _solve_one(alpha, prior, channel, q0, tol, max_steps):
    q0 = jnp.where(jnp.isnan(q0), prior.mean() ** 2, q0).astype(alpha.dtype)
    sol = fixed_point.solve(_se_map, q0, (alpha, prior, channel), damping=0.0, tol=tol, max_steps=max_steps, **_PLAIN_ITERATION)
    q = sol.value
    q_hat = _se_conjugate(q, alpha, prior, channel)
    bad = ~(jnp.isfinite(alpha) & (alpha > 0))
    status = flag(sol.status, Status.INVALID_PARAMETER, bad)
    fill = lambda x: jnp.where(bad, jnp.nan, x)  # noqa: E731
    return Solution(SEState(fill(q), fill(q_hat), fill(prior.second_moment() - q)), status, sol.num_steps)


def _iterate_one(alpha, prior, channel, q0, num_steps):
    q0 = jnp.where(jnp.isnan(q0), prior.mean() ** 2, q0).astype(alpha.dtype)

    def step(q, _):
        return _se_map(q, (alpha, prior, channel)), q

    last, qs = jax.lax.scan(step, q0, None, length=num_steps)
    qs = jnp.concatenate([qs, last[None]])
    q_hats = jax.vmap(lambda q: _se_conjugate(q, alpha, prior, channel))(qs)
    return SETrajectory(qs, q_hats)


def _check_model(alpha, prior, channel, q0):
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a jaxphys Prior (e.g. GaussianPrior(), RademacherPrior()), got {type(prior).__name__}")
    if not isinstance(channel, Channel):
        raise TypeError(f"channel must be a jaxphys Channel (e.g. SignChannel(), LinearChannel(0.1)), got {type(channel).__name__}")
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError(f"alpha must be a float, got the bool {alpha!r}")
    alpha = jnp.asarray(alpha)
    if not (jnp.issubdtype(alpha.dtype, jnp.floating) or jnp.issubdtype(alpha.dtype, jnp.integer)):
        raise TypeError(f"alpha must be a real number or float array, got dtype {alpha.dtype}")
    alpha = alpha.astype(jnp.result_type(alpha, float))
    concrete = _concrete(alpha)
    if concrete is not None and not (np.all(np.isfinite(concrete)) and np.all(concrete > 0)):
        raise ValueError(f"alpha = P/N must be > 0 and finite, got {concrete}")
    if q0 is None:
        q0 = jnp.full((), jnp.nan, alpha.dtype)  # the uninformative start (E w)^2, filled in per point
    else:
        q0 = jnp.asarray(q0, alpha.dtype)
        if q0.ndim:
            raise ValueError(f"q0 must be a scalar overlap, got shape {q0.shape}")
        value = _concrete(q0)
        rho = _concrete(prior.second_moment())
        if value is not None and rho is not None and not (0.0 <= float(value) <= float(rho)):
            raise ValueError(f"q0 must lie in [0, rho = E w^2 = {float(rho)}], got {float(value)}")
    return alpha, q0


def solve(
    alpha: ArrayLike, prior: Prior, channel: Channel, *, q0: ArrayLike | None = None, tol: float = 1e-10, max_steps: int = 10_000
) -> Solution:
    """Fixed point of state evolution reached from ``q0`` (default the uninformative ``(E w)^2``): what AMP reaches.

    Iterates the SE map of the module docstring (undamped, so the fixed point found is the first
    one met from ``q0``, e.g. the metastable branch of the binary perceptron below
    ``alpha_alg``), then polishes it by Newton steps (:func:`jaxphys.theory.fixed_point.solve`).
    Differentiable in ``alpha`` and in the prior's and channel's parameters (implicit function
    theorem). Near a spinodal the iteration slows down (``~ 1/sqrt(alpha_alg - alpha)`` steps);
    ``max_steps`` bounds it.

    Args:
        alpha: load ``P/N > 0``: float scalar or array (solved point by point).
        prior: a :class:`Prior`; channel: a :class:`Channel` (vmap over their constructors for sweeps).
        q0: starting overlap, scalar in ``[0, rho]``.
        tol: residual tolerance of :func:`~jaxphys.theory.fixed_point.solve` (floored at 64 eps).
        max_steps: most SE iterations, Python int ``>= 1``.

    Returns:
        ``Solution(value=SEState(q, q_hat, mse), status, num_steps)`` with ``alpha``'s shape.
        ``status``: ``NOT_CONVERGED``/``NAN`` from the solver; ``INVALID_PARAMETER`` (values NaN)
        for traced ``alpha <= 0``.

    Raises:
        TypeError: prior/channel not jaxphys ones; non-real ``alpha``.
        ValueError: concrete ``alpha <= 0`` or NaN; ``q0`` outside ``[0, rho]``; bad ``tol``/``max_steps``.
    """
    alpha, q0 = _check_model(alpha, prior, channel, q0)
    max_steps = as_count(max_steps, "max_steps")
    fixed_point._check_tol(tol)
    return jit_broadcast(_solve_one, (alpha,), (prior, channel, q0), (float(tol), max_steps))


def iterate(alpha: ArrayLike, prior: Prior, channel: Channel, num_steps: int, *, q0: ArrayLike | None = None) -> SETrajectory:
    """The state-evolution trajectory ``q_0, q_1, ..., q_num_steps`` (to compare with AMP's iterates).

    ``q_t`` predicts AMP's overlap ``m_t = a^t . w* / N`` after ``t`` undamped iterations started
    from the prior mean (``q_0 = (E w)^2`` by default).

    Args:
        alpha: load ``P/N > 0`` (scalar or array); prior, channel: as :func:`solve`.
        num_steps: number of SE steps, Python int ``>= 1``.
        q0: starting overlap in ``[0, rho]``.

    Returns:
        :class:`SETrajectory` with arrays of shape ``alpha.shape + (num_steps + 1,)``.

    Raises:
        As :func:`solve`.
    """
    alpha, q0 = _check_model(alpha, prior, channel, q0)
    num_steps = as_count(num_steps, "num_steps")
    return jit_broadcast(_iterate_one, (alpha,), (prior, channel, q0), (num_steps,))
