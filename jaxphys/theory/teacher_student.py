"""Teacher-student perceptron learning: Gibbs, Bayes-optimal and Hebbian students.

A teacher ``w*`` (N,) labels ``P = alpha N`` Gaussian inputs ``x^mu`` (N,) by
``y^mu = sign(w* . x^mu / sqrt N)``; a student of the same kind (spherical ``|w|^2 = N``, or
binary ``w_i = +-1``, with a uniform prior) learns from the examples. With ``R`` the normalised
teacher-student overlap, the generalisation error is ``eps = arccos(R) / pi``.

Bayes-optimal replica-symmetric theory (Gyorgyi, PRA 41, 7097, 1990; Engel & Van den Broeck,
Statistical Mechanics of Learning, CUP 2001, ch. 2-3 and 7; Barbier, Krzakala, Macris, Miolane &
Zdeborova, PNAS 116, 5451, 2019). On the Nishimori line the overlap ``q`` of two posterior
samples equals their overlap with the teacher, and extremises

    phi(q, qh) = psi_P(qh) - q qh / 2 + alpha Psi_out(q),
    Psi_out(q) = 2 E_xi H(u) ln H(u),   u = sqrt(q / (1 - q)) xi,

    output saddle:  qh = alpha / (pi sqrt(1 - q)) I(q),  I(q) = E_t exp(-q t^2/2) / H(-sqrt(q) t),
    spherical:      q = qh / (1 + qh)    =>  q / sqrt(1 - q) = (alpha / pi) I(q)   (E&VdB ch. 2),
    binary:         q = E_z tanh(qh + sqrt(qh) z).

Estimators: a *Gibbs* student (a random point of the version space, zero training error;
``R = q``) and the *Bayes-optimal* one (the posterior mean's sign; ``R = sqrt(q)``). At large
``alpha`` (spherical) ``eps_Gibbs ~ 0.625 / alpha`` and ``eps_Bayes ~ 0.442 / alpha``.

Binary students: the free entropy ``s = phi + ln 2`` (log of the version-space size per weight)
of the poor-generalisation branch vanishes at ``alpha_IT = 1.245``; beyond it the teacher
itself (``q = 1``, ``s = 0``) dominates: a first-order transition to perfect generalisation
(Gardner & Derrida 1989; Gyorgyi 1990). The metastable branch, which message passing
(AMP) follows, ends at the spinodal ``alpha_alg = 1.493`` (Cui, arXiv:2409.13904, table 1).

The Hebb rule ``w = sum_mu y^mu x^mu`` has ``R = (1 + pi / (2 alpha))^(-1/2)`` (spherical) and,
clipped to ``sign(w)`` for binary weights, ``R = erf(sqrt(alpha / pi))`` (Vallet 1989; Coolen &
Saad 2000; E&VdB ch. 3).

Numerics: the saddle is parametrised explicitly (spherical by ``q``, binary by ``qh``) so each
load is one :func:`bracket_root`, differentiable in ``alpha`` by the implicit function theorem.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ..status import Solution, Status, flag
from .fixed_point import bracket_root
from .perceptron import _broadcast, _check_value, _check_weights, _invalid, _q_upper, _vectorized
from .quadrature import H, gaussian_expectation, gaussian_expectation_trapezoid, log_H

__all__ = ["LearningState", "Transition", "learning_curve", "transition", "hebb"]

_ESTIMATORS = ("gibbs", "bayes")
_BRANCHES = ("equilibrium", "metastable")
_NUM_NODES = 128
_LOG2 = math.log(2.0)


class LearningState(NamedTuple):
    """RS teacher-student state (float scalars, or arrays of the ``alpha`` grid's shape).

    ``q``: overlap of two posterior samples (= overlap of one with the teacher); ``q_hat``: its
    conjugate; ``R``: normalised teacher overlap of the chosen estimator (Gibbs ``q``, Bayes
    ``sqrt(q)``); ``eps``: generalisation error ``arccos(R) / pi``; ``entropy``: ``(1/N) ln`` of
    the version-space volume (binary: of the number of consistent students; spherical: of the
    Gaussian-prior mass), 0 at perfect generalisation.
    """

    q: Float[Array, "..."]
    q_hat: Float[Array, "..."]
    R: Float[Array, "..."]
    eps: Float[Array, "..."]
    entropy: Float[Array, "..."]


class Transition(NamedTuple):
    """Binary teacher-student transitions: ``alpha_it`` (first order, entropy of the
    poor-generalisation branch = 0; 1.245) and ``alpha_alg`` (its spinodal; 1.493)."""

    alpha_it: Float[Array, ""]
    alpha_alg: Float[Array, ""]


# --------------------------------------------------------------------------- saddle pieces


def _output_integral(q):
    """``I(q) = E_t exp(-q t^2 / 2) / H(-sqrt(q) t)``: smooth on [0, 1], ``I(0) = 2``."""
    return gaussian_expectation(lambda t: jnp.exp(-0.5 * q * t * t - log_H(-jnp.sqrt(q) * t)), num_nodes=_NUM_NODES)


def _output_entropy(q):
    """``Psi_out(q) = 2 E_xi H(u) ln H(u)``, ``u = sqrt(q / (1 - q)) xi``; ``-ln 2`` at q = 0."""
    scale = jnp.sqrt(q / (1.0 - q))
    return 2.0 * gaussian_expectation(lambda x: H(scale * x) * log_H(scale * x), num_nodes=_NUM_NODES)


def _spherical_state(q):
    """``(alpha, qh, entropy)`` of the spherical saddle at overlap ``q``."""
    alpha = math.pi * q / (jnp.sqrt(1.0 - q) * _output_integral(q))
    entropy = 0.5 * q + 0.5 * jnp.log1p(-q) + alpha * _output_entropy(q)
    return alpha, q / (1.0 - q), entropy


def _binary_state(q_hat):
    """``(q, alpha, entropy)`` of the binary saddle at conjugate ``qh``.

    ``1 - q = E 2 sigmoid(-2 x)``, ``x = qh + sqrt(qh) z`` (``1 - tanh x`` without cancellation).
    """
    x_mean, x_std = q_hat, jnp.sqrt(q_hat)
    one_minus_q = gaussian_expectation_trapezoid(lambda x: 2.0 * jax.nn.sigmoid(-2.0 * x), x_mean, x_std)
    q = 1.0 - one_minus_q
    alpha = math.pi * q_hat * jnp.sqrt(one_minus_q) / _output_integral(q)
    log_cosh = gaussian_expectation_trapezoid(lambda x: jnp.logaddexp(x, -x) - _LOG2, x_mean, x_std)
    entropy = log_cosh - 0.5 * q_hat - 0.5 * q * q_hat + alpha * _output_entropy(q) + _LOG2
    return q, alpha, entropy


def _binary_alpha(q_hat, _=None):
    return _binary_state(q_hat)[1]


# The binary alpha(qh) rises to its maximum alpha_alg near qh = 3.2 (scan: alpha(2) = 1.369,
# alpha(3) = 1.488, alpha(4) = 1.465), so the spinodal root of d alpha / d qh lies in [2, 4.5].
_SPINODAL_BRACKET = (2.0, 4.5)


def _binary_spinodal():
    """``(qh_alg, alpha_alg)``: maximum of ``alpha(qh)`` on the poor-generalisation branch."""
    slope = jax.grad(lambda qh: _binary_alpha(qh))
    sol = bracket_root(lambda qh, _: slope(qh), *_SPINODAL_BRACKET, jnp.zeros(()))
    return sol, _binary_alpha(sol.value)


def _binary_first_order(q_hat_alg):
    """``qh_it`` where the poor branch's entropy vanishes (between qh = 1e-3 and the spinodal)."""
    return bracket_root(lambda qh, _: _binary_state(qh)[2], 1e-3, q_hat_alg, jnp.zeros(()))


# --------------------------------------------------------------------------- public API


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def learning_curve(
    alpha: ArrayLike, *, weights: str = "spherical", estimator: str = "gibbs", branch: str = "equilibrium"
) -> Solution:
    """Replica-symmetric learning curve of a perceptron student of a perceptron teacher.

    Solves the Bayes-optimal saddle of the module docstring at each load: spherical, one root in
    ``q in [0, 1)`` of ``pi q / (sqrt(1 - q) I(q)) = alpha``; binary, one root in ``qh`` of
    ``alpha(qh) = alpha`` on the poor-generalisation branch ``qh < qh_alg``. For binary weights
    with ``branch="equilibrium"`` the state is the perfect-generalisation one (``q = 1``,
    ``eps = 0``, entropy 0) for ``alpha > alpha_IT = 1.245``; ``branch="metastable"`` follows the
    poor branch up to its spinodal ``alpha_alg = 1.493`` (what AMP reaches) and flags
    ``INVALID_PARAMETER`` beyond it.

    Args:
        alpha: load ``P/N > 0``, float scalar or array (any shape; a grid is solved elementwise).
        weights: ``"spherical"`` or ``"binary"`` (teacher and student alike).
        estimator: ``"gibbs"`` (``R = q``, ``eps = arccos(q)/pi``) or ``"bayes"`` (``R = sqrt(q)``).
        branch: ``"equilibrium"`` or ``"metastable"`` (binary only; ignored for spherical).

    Returns:
        ``Solution(value=LearningState(q, q_hat, R, eps, entropy), status, num_steps)`` with the
        shape of ``alpha``; differentiable in ``alpha`` (implicit function theorem; the
        derivative is 0 on the perfect-generalisation state). ``status`` has
        ``INVALID_PARAMETER`` for traced ``alpha <= 0``/NaN and outside the branch.

    Raises:
        ValueError: unknown ``weights``/``estimator``/``branch``; concrete ``alpha <= 0`` or NaN.
    """
    _check_weights(weights)
    _check_choice(estimator, "estimator", _ESTIMATORS)
    _check_choice(branch, "branch", _BRANCHES)
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    (alpha,) = _broadcast(alpha)
    if weights == "binary":
        q_hat_alg, q_hat_it, _, _ = _binary_thresholds(jnp.zeros((), alpha.dtype))
        upper = q_hat_alg if branch == "metastable" else q_hat_it
    else:
        upper = jnp.zeros((), alpha.dtype)
    metastable = jnp.asarray(branch == "metastable")
    (q, q_hat, entropy), status, steps = _learning_curve_grid(alpha, upper, metastable, weights)
    # the estimator only post-processes q (outside the compiled solver, which is shared)
    R = q if estimator == "gibbs" else jnp.sqrt(q)
    eps = jnp.arccos(jnp.clip(R, -1.0, 1.0)) / math.pi
    return Solution(LearningState(q, q_hat, R, eps, entropy), status, steps)


@jax.jit
def _binary_thresholds(dtype_carrier):
    """``(qh_alg, qh_it, status, num_steps)`` of the binary branch (compiled once per dtype)."""
    del dtype_carrier
    spinodal, _ = _binary_spinodal()
    q_hat_alg = jax.lax.stop_gradient(spinodal.value)
    first = _binary_first_order(q_hat_alg)
    q_hat_it = jax.lax.stop_gradient(first.value)
    return q_hat_alg, q_hat_it, spinodal.status | first.status, spinodal.num_steps + first.num_steps


@functools.partial(jax.jit, static_argnames="weights")
def _learning_curve_grid(alpha, upper, metastable, weights):
    if weights == "spherical":

        def one(a):
            sol = bracket_root(lambda q, a: _spherical_state(q)[0] - a, 0.0, _q_upper(a.dtype), a)
            q = sol.value
            _, q_hat, entropy = _spherical_state(q)
            return (q, q_hat, entropy), sol.status, sol.num_steps

    else:

        def one(a):
            perfect = (a > _binary_alpha(upper)) & ~metastable
            # beyond alpha_IT solve at a point of the branch (any) and overwrite with q = 1
            a_branch = jnp.where(perfect, 0.5, a)
            sol = bracket_root(lambda qh, a: _binary_alpha(qh) - a, 0.0, upper, a_branch)
            q, _, entropy = _binary_state(sol.value)
            fill = lambda x, v: jnp.where(perfect, v, x)  # noqa: E731
            state = (fill(q, 1.0), fill(sol.value, jnp.inf), fill(entropy, 0.0))
            return state, jnp.where(perfect, 0, sol.status).astype(jnp.int32), sol.num_steps

    state, status, steps = _vectorized(one, alpha)
    return state, flag(status, Status.INVALID_PARAMETER, _invalid(alpha, 0.0)), steps


def transition(weights: str = "binary") -> Solution:
    """Phase transitions of Bayes-optimal (= Gibbs) teacher-student learning.

    Binary weights: ``alpha_IT``, where the entropy of the poor-generalisation branch crosses
    zero (first-order jump to ``eps = 0``; 1.245, Gyorgyi 1990), and ``alpha_alg``, the spinodal
    ``d alpha / d qh = 0`` ending that branch (1.493; Cui, arXiv:2409.13904). Spherical weights
    have no transition (``eps`` decreases smoothly), so they are refused.

    Args:
        weights: ``"binary"``.

    Returns:
        ``Solution(value=Transition(alpha_it, alpha_alg), status, num_steps)`` (float scalars;
        status the OR of both root searches).

    Raises:
        ValueError: ``weights`` other than ``"binary"``.
    """
    _check_weights(weights)
    if weights != "binary":
        raise ValueError("the spherical teacher-student perceptron has no phase transition; use weights='binary'")
    q_hat_alg, q_hat_it, status, steps = _binary_thresholds(jnp.zeros((), jnp.result_type(float)))
    return Solution(Transition(_binary_alpha(q_hat_it), _binary_alpha(q_hat_alg)), status, steps)


class HebbState(NamedTuple):
    """Hebb-rule student: normalised teacher overlap ``R`` and generalisation error ``eps``."""

    R: Float[Array, "..."]
    eps: Float[Array, "..."]


def hebb(alpha: ArrayLike, *, weights: str = "spherical") -> HebbState:
    """Hebb rule ``w = sum_mu y^mu x^mu`` (binary: ``sign`` of it) learning from a perceptron teacher.

    ``R = (1 + pi / (2 alpha))^(-1/2)`` (spherical; Vallet, Europhys. Lett. 8, 747, 1989; E&VdB ch. 3) or
    ``R = erf(sqrt(alpha / pi))`` (clipped Hebb for binary teacher and student), and
    ``eps = arccos(R) / pi``: ``eps(1) = 0.28563``, ``eps(5) = 0.16261``, ``eps(10) = 0.12011``
    (spherical). The projection of ``w`` on the teacher grows as ``alpha sqrt(2/pi)`` while the
    orthogonal noise has variance ``alpha``.

    Args:
        alpha: load ``P/N > 0``, float scalar or array; differentiable.
        weights: ``"spherical"`` or ``"binary"``.

    Returns:
        ``HebbState(R, eps)`` with the shape of ``alpha``.

    Raises:
        ValueError: unknown ``weights``; concrete ``alpha <= 0`` or NaN.
    """
    _check_weights(weights)
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    if weights == "spherical":
        R = 1.0 / jnp.sqrt(1.0 + math.pi / (2.0 * alpha))
    else:
        R = jax.scipy.special.erf(jnp.sqrt(alpha / math.pi))
    R = jnp.where(_invalid(alpha, 0.0), jnp.nan, R)
    return HebbState(R, jnp.arccos(R) / math.pi)
