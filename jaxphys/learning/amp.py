"""Generalised approximate message passing (GAMP) for generalised linear models.

Problem (see :mod:`jaxphys.theory.state_evolution`): estimate ``w in R^N`` with i.i.d. prior
``P_0`` from ``P`` examples ``(x^mu, y^mu)``, ``y^mu ~ P_out(y | w . x^mu / sqrt(N))``, ``x^mu`` rows of
the (P, N) data matrix. With ``F = X / sqrt(N)``, GAMP (Rangan, ISIT 2011, arXiv:1010.5141;
Zdeborova & Krzakala, Adv. Phys. 65, 453, 2016, sec. 6.3; Barbier et al., PNAS 116, 5451, 2019)
iterates, from ``a^0 = E w``, ``v^0 = Var w``, ``g^{-1} = 0``:

    V^t     = F^2 v^t                          (P,)  output variances
    omega^t = F a^t - V^t g^{t-1}                    (the Onsager reaction term)
    g^t, dg^t = g_out(y, omega^t, V^t), d g_out / d omega
    A^t     = -(F^2)^T dg^t                    (N,)  input precisions
    B^t     = F^T g^t + A^t a^t
    a^{t+1}, v^{t+1} = f_a(A^t, B^t), f_v(A^t, B^t)    (prior denoiser: posterior mean, variance)

For i.i.d. Gaussian data ``F_{mu i}^2`` concentrates on ``1/N``, so ``variances="scalar"`` (the
default) replaces ``F^2`` by ``1/N``: ``V = mean(v)``, ``A = -sum(dg) / N``, two matrix-vector
products per iteration; ``variances="vector"`` keeps ``F^2`` (Rangan's original, four). Both have
the same fixed points for the means in the linear-Gaussian case: the ridge / posterior-mean
estimator, exactly at any ``N``.

In the Bayes-optimal setting the overlap ``m_t = a^t . w* / N`` follows the state evolution
(:func:`jaxphys.theory.state_evolution.iterate`) as ``N -> infinity``, with fluctuations
``O(1/sqrt(N))``. Damping (``a, v, g <- damping * old + (1 - damping) * new``) leaves the fixed
points unchanged and helps convergence away from Bayes optimality; ``adaptive_damping=True`` halves
the step whenever the estimate reverses direction, which turns the slow or stable 2-cycles that a
few instances fall into near a spinodal (binary perceptron at ``alpha = 1.3``: 4 of 64 at N = 1000
without it, none with it) into convergence to the same fixed points.

Priors and channels are the small objects of :mod:`jaxphys.theory.state_evolution`, re-exported
here (:class:`GaussianPrior`, :class:`RademacherPrior`, :class:`GaussBernoulliPrior`,
:class:`SignChannel`, :class:`LinearChannel`; subclass :class:`Prior`/:class:`Channel` for others).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validate import as_count
from ..models.base import is_concrete
from ..status import Solution, Status, flag, ok
from ..theory.state_evolution import (
    Channel as Channel,
    GaussBernoulliPrior as GaussBernoulliPrior,
    GaussianPrior as GaussianPrior,
    LinearChannel as LinearChannel,
    Prior as Prior,
    RademacherPrior as RademacherPrior,
    SignChannel as SignChannel,
)
from ..typing import PRNGKey

__all__ = [
    "AMPResult",
    "Problem",
    "gamp",
    "sample_problem",
    "Prior",
    "GaussianPrior",
    "RademacherPrior",
    "GaussBernoulliPrior",
    "Channel",
    "SignChannel",
    "LinearChannel",
]

_VARIANCES = ("scalar", "vector")


class Problem(NamedTuple):
    """A teacher-student GLM instance: inputs ``x`` (P, N), labels ``y`` (P,), teacher ``teacher`` (N,)."""

    x: Float[Array, "p n"]
    y: Float[Array, " p"]
    teacher: Float[Array, " n"]


class AMPResult(NamedTuple):
    """GAMP output.

    ``mean`` (N,): the estimate ``a`` (posterior mean); ``variance`` (N,): ``v`` (posterior
    variances); ``overlap`` (max_steps + 1,): ``m_t = a^t . w* / N`` after ``t`` iterations
    (``None`` without a teacher); ``self_overlap`` (max_steps + 1,): ``q_t = a^t . a^t / N``.
    Trajectory entries after the last iteration repeat its value.
    """

    mean: Float[Array, " n"]
    variance: Float[Array, " n"]
    overlap: Float[Array, " t"] | None
    self_overlap: Float[Array, " t"]


def sample_problem(key: PRNGKey, prior: Prior, channel: Channel, num_weights: int, num_examples: int) -> Problem:
    """Draw a teacher ``w* ~ P_0^N``, inputs ``x^mu ~ N(0, I_N)`` and labels ``y ~ P_out(y | w* . x / sqrt(N))``.

    Args:
        key: typed PRNG key.
        prior, channel: a :class:`Prior` and :class:`Channel` with ``sample`` methods.
        num_weights: ``N >= 1``; num_examples: ``P >= 1`` (``alpha = P / N``).

    Returns:
        :class:`Problem` ``(x (P, N), y (P,), teacher (N,))`` in the default float dtype.

    Raises:
        TypeError: not a jaxphys prior/channel, or sizes not ints. ValueError: sizes < 1.
    """
    _check_objects(prior, channel)
    n = as_count(num_weights, "num_weights")
    p = as_count(num_examples, "num_examples")
    k_teacher, k_inputs, k_labels = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    teacher = prior.sample(k_teacher, (n,), dtype)
    x = jax.random.normal(k_inputs, (p, n), dtype)
    y = channel.sample(k_labels, x @ teacher / math.sqrt(n)).astype(dtype)
    return Problem(x, y, teacher)


def _check_objects(prior, channel):
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a jaxphys Prior (e.g. amp.GaussianPrior(), amp.RademacherPrior()), got {type(prior).__name__}")
    if not isinstance(channel, Channel):
        raise TypeError(f"channel must be a jaxphys Channel (e.g. amp.SignChannel(), amp.LinearChannel(0.1)), got {type(channel).__name__}")


def _check_float(value, name: str, low: float, high: float, high_open: bool) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a Python float, got {type(value).__name__}")
    value = float(value)
    inside = low <= value < high if high_open else low < value <= high
    if not (np.isfinite(value) and inside):
        interval = f"[{low}, {high})" if high_open else f"({low}, {high}]"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


def _as_data(value, name: str, ndim: int) -> Array:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float array, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real (float or int) array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        shapes = {1: "(P,)" if name == "y" else "(N,)", 2: "(P, N)"}
        raise ValueError(f"{name} must be {ndim}-D of shape {shapes[ndim]}, got shape {arr.shape} (vmap for many instances)")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); GAMP needs P >= 1 examples of N >= 1 weights")
    return arr


def gamp(
    x: ArrayLike,
    y: ArrayLike,
    prior: Prior,
    channel: Channel,
    *,
    teacher: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    damping: float = 0.0,
    tol: float = 1e-6,
    max_steps: int = 200,
    variances: str = "scalar",
    min_variance: float = 1e-6,
    adaptive_damping: bool | Array = False,
) -> Solution:
    """Bayes-optimal GAMP estimate of the weights of a generalised linear model (module docstring).

    Stops when the root-mean-square change of the estimate, ``|a^{t+1} - a^t| / sqrt(N rho)``
    (``rho = E w^2``), drops below ``tol``, when its mean posterior variance drops below
    ``min_variance * rho`` (perfect recovery), or after ``max_steps`` iterations. jit- and
    vmap-friendly: ``jax.vmap(lambda x, y, w: amp.gamp(x, y, prior, channel, teacher=w))`` runs
    many instances (a vmapped loop runs until the slowest instance stops; the others are frozen).

    Args:
        x: inputs, float array (P, N), rows ``x^mu`` with i.i.d. ``N(0, 1)`` entries (the
            algorithm divides by ``sqrt(N)`` itself).
        y: labels, float array (P,).
        prior: a :class:`Prior` (e.g. :class:`GaussianPrior`); channel: a :class:`Channel`.
        teacher: optional (N,) true weights, to record the overlap trajectory ``m_t``.
        mask: optional (P,) array; examples where it is 0 (or False) are ignored (their ``g_out``
            and its derivative are set to 0). Data sets of different sizes then share one shape:
            pad to the largest ``P`` (with finite rows, e.g. zeros) and vmap over masks, e.g. for a
            learning curve in one compilation.
        damping: weight of the old iterate, Python float in ``[0, 1)``; with ``adaptive_damping``, the
            least damping used (the step ``1 - damping`` is the largest).
        tol: stopping threshold, Python float ``> 0`` (below ~1e-6 in float32 rounding may keep
            the change above it: use float64 for tighter fixed points).
        max_steps: most iterations, Python int ``>= 1`` (static: sets the trajectory length).
        variances: ``"scalar"`` (``F^2 -> 1/N``) or ``"vector"`` (exact ``F^2``, four products per step).
        min_variance: stop (converged, status OK) once the mean posterior variance ``mean(v)``
            falls below ``min_variance * rho``, Python float in ``[0, 1)``: the estimate is then
            exact to that accuracy, and iterating on loses it. At perfect recovery ``V -> 0``
            super-exponentially; once ``sqrt(V)`` is far below the smallest margin ``|omega|``,
            every message of a sign channel underflows to 0 (in exact arithmetic too, at finite
            ``P``), ``A = B = 0`` and the estimate is forgotten. 0 disables the rule (e.g. for a
            linear channel with a noise variance below it; a sign channel may then end in NaN).
        adaptive_damping: a Python bool, or a bool scalar that may be traced and vmapped over (runs
            with and without share one compilation). Adapts the step ``beta`` (the weight of the new
            iterate, ``1 - damping`` at most) to oscillations: when two successive changes of the estimate
            point in opposite directions (``(a^{t+1} - a^t) . (a^t - a^{t-1}) < 0``) the step is halved (down to
            ``(1 - damping) / 1024``), otherwise it grows by 10% back towards ``1 - damping``. A fixed
            point whose Jacobian has an eigenvalue near or below -1 (a slowly decaying or stable
            2-cycle, as met near the spinodal of the binary perceptron) then converges: damping by
            ``beta`` maps the eigenvalue ``lambda`` to ``1 - beta + beta lambda``. The rule is a sign-based
            step adaptation (Jacobs, Neural Networks 1, 295, 1988) in the spirit of the adaptive damping
            of Vila, Schniter, Rangan, Krzakala & Zdeborova (ICASSP 2015), with the step reversal in place
            of their cost function. The fixed points do not change; ``tol`` is applied to the change
            rescaled to the full step, ``|a^{t+1} - a^t| (1 - damping) / beta``.

    Returns:
        ``Solution(value=AMPResult(mean, variance, overlap, self_overlap), status, num_steps)``;
        ``status`` has ``NOT_CONVERGED`` if ``max_steps`` ran out and ``NAN`` if the estimate
        became non-finite (the loop then stops; e.g. NaN in a traced ``x`` or ``y``).

    Raises:
        TypeError: not a jaxphys prior/channel, non-real arrays, options of the wrong type.
        ValueError: shapes that are not (P, N), (P,), (N,) (``mask`` (P,)) or empty; concrete
            non-finite ``x``, ``y`` or ``teacher``; options out of range.
    """
    _check_objects(prior, channel)
    x = _as_data(x, "x", 2)
    y = _as_data(y, "y", 1)
    num_examples, num_weights = x.shape
    if y.shape[0] != num_examples:
        raise ValueError(f"y has {y.shape[0]} labels but x has P = {num_examples} rows; they must match")
    if teacher is not None:
        teacher = _as_data(teacher, "teacher", 1)
        if teacher.shape[0] != num_weights:
            raise ValueError(f"teacher has {teacher.shape[0]} weights but x has N = {num_weights} columns; they must match")
    if mask is not None:
        mask = jnp.asarray(mask)
        if not any(jnp.issubdtype(mask.dtype, kind) for kind in (jnp.bool_, jnp.integer, jnp.floating)):
            raise TypeError(f"mask must be a bool, int or float array, got dtype {mask.dtype}")
        if mask.shape != (num_examples,):
            raise ValueError(f"mask must have shape (P,) = ({num_examples},) like y, got {mask.shape}")
    damping = _check_float(damping, "damping", 0.0, 1.0, high_open=True)
    tol = _check_float(tol, "tol", 0.0, math.inf, high_open=False)
    min_variance = _check_float(min_variance, "min_variance", 0.0, 1.0, high_open=True)
    max_steps = as_count(max_steps, "max_steps")
    if variances not in _VARIANCES:
        raise ValueError(f"variances must be one of {_VARIANCES}, got {variances!r}")
    for name, arr in (("x", x), ("y", y), ("teacher", teacher)):
        # evaluated eagerly (on the device) also while an outer jit traces: one bool comes back
        with jax.ensure_compile_time_eval():
            if arr is not None and is_concrete(arr) and not bool(jnp.all(jnp.isfinite(arr))):
                raise ValueError(f"{name} contains NaN or infinity; pass finite data")
    dtype = jnp.result_type(x, y, float)
    x, y = x.astype(dtype), y.astype(dtype)
    teacher = None if teacher is None else teacher.astype(dtype)
    mask = None if mask is None else (mask != 0).astype(dtype)
    adaptive = jnp.asarray(adaptive_damping)  # traced: runs with and without share one compilation
    if adaptive.dtype != jnp.bool_ or adaptive.ndim != 0:
        raise TypeError(f"adaptive_damping must be True, False or a bool scalar, got {adaptive.dtype} of shape {adaptive.shape}")
    return _gamp(x, y, prior, channel, teacher, mask, damping, tol, min_variance, adaptive, max_steps, variances)


# adaptive damping: halve the step on a reversal, grow it by 10% otherwise (slow growth, fast decay, as
# in the adaptive step rules it follows), never below 1/1024 of the full step
_STEP_SHRINK, _STEP_GROW, _STEP_FLOOR = 0.5, 1.1, 1.0 / 1024.0


@functools.partial(jax.jit, static_argnames=("max_steps", "variances"))
def _gamp(x, y, prior, channel, teacher, mask, damping, tol, min_variance, adaptive, max_steps, variances):
    num_examples, num_weights = x.shape
    dtype = x.dtype
    sqrt_n = math.sqrt(num_weights)
    if variances == "vector":
        x2 = x * x / num_weights
        output_variance = lambda v: x2 @ v  # noqa: E731
        input_precision = lambda dg: -(dg @ x2)  # noqa: E731
    else:
        output_variance = jnp.mean
        input_precision = lambda dg: -jnp.sum(dg) / num_weights  # noqa: E731
    rho = prior.second_moment().astype(dtype)
    min_variance = min_variance * rho
    a = jnp.full((num_weights,), prior.mean(), dtype)
    v = jnp.full((num_weights,), rho - prior.mean() ** 2, dtype)
    g = jnp.zeros((num_examples,), dtype)

    def overlaps(a):
        m = jnp.nan if teacher is None else a @ teacher / num_weights
        return jnp.stack([jnp.asarray(m, dtype), a @ a / num_weights])

    trajectory = jnp.full((max_steps + 1, 2), jnp.nan, dtype).at[0].set(overlaps(a))

    def step(a, v, g, damping):
        V = output_variance(v)
        omega = x @ a / sqrt_n - V * g
        g_new, dg = channel.denoise(y, omega, V)
        if mask is not None:
            # where() rather than a product: a padded example may give a non-finite g_out
            g_new, dg = jnp.where(mask > 0, g_new, 0.0), jnp.where(mask > 0, dg, 0.0)
        A = input_precision(dg)
        B = g_new @ x / sqrt_n + A * a
        a_new, v_new = prior.denoise(A, B)
        mix = lambda old, new: damping * old + (1.0 - damping) * new  # noqa: E731
        return mix(a, a_new), mix(v, v_new), mix(g, g_new)

    def unresolved(v, change):
        # change = NaN: the estimate became non-finite
        return (change > tol) & (jnp.mean(v) >= min_variance) & ~jnp.isnan(change)

    full_step = 1.0 - damping

    def keep_going(carry):
        _, v, _, t, change, _, _ = carry
        return (t < max_steps) & unresolved(v, change)

    def body(carry):
        a, v, g, t, _, trajectory, (step_size, last_move) = carry
        a_new, v_new, g_new = step(a, v, g, jnp.where(adaptive, 1.0 - step_size, damping))
        move = a_new - a
        change = jnp.sqrt(jnp.mean(move**2) / rho) * (full_step / step_size)
        finite = jnp.all(jnp.isfinite(a_new)) & jnp.all(jnp.isfinite(v_new))
        change = jnp.where(finite, change, jnp.nan)
        trajectory = trajectory.at[t + 1].set(overlaps(a_new))
        reversal = move @ last_move < 0
        shrunk = jnp.maximum(_STEP_SHRINK * step_size, _STEP_FLOOR * full_step)
        adapted = jnp.where(reversal, shrunk, jnp.minimum(_STEP_GROW * step_size, full_step))
        step_size = jnp.where(adaptive, adapted, step_size)
        return a_new, v_new, g_new, t + 1, change, trajectory, (step_size, move)

    adaptation = (jnp.asarray(full_step, dtype), jnp.zeros_like(a))
    init = (a, v, g, jnp.int32(0), jnp.asarray(jnp.inf, dtype), trajectory, adaptation)
    a, v, g, steps, change, trajectory, _ = jax.lax.while_loop(keep_going, body, init)
    # hold the last value after the final iteration, so trajectories of instances average
    index = jnp.minimum(jnp.arange(max_steps + 1), steps)
    trajectory = trajectory[index]
    status = flag(ok(), Status.NAN, jnp.isnan(change))
    status = flag(status, Status.NOT_CONVERGED, unresolved(v, change))
    overlap = None if teacher is None else trajectory[:, 0]
    return Solution(AMPResult(a, v, overlap, trajectory[:, 1]), status, steps)
