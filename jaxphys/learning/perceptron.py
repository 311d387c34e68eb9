"""Perceptron storage by training, and Gibbs learning by sampling the version space.

Two simulations of the models whose replica theory lives in :mod:`jaxphys.theory.perceptron`
(Gardner storage) and :mod:`jaxphys.theory.teacher_student` (Gibbs / Bayes learning). Inputs
``x^mu`` (N,) have i.i.d. N(0, 1) entries and the *stability* of pattern ``mu`` under weights
``w`` is ``y^mu w . x^mu / |w|`` (= ``y^mu w . x^mu / sqrt N`` for the spherical normalisation
``|w|^2 = N`` of the theory modules).

**Storage** (:func:`max_margin`). The maximal stability of an instance,

    kappa_max = max_{|w| = 1} min_mu z^mu . w,      z^mu = y^mu x^mu,

is the largest margin ``kappa`` at which the instance can be stored; the instance is linearly
separable (storable at ``kappa = 0``) iff ``kappa_max > 0``. For ``kappa_max >= 0`` minimax
duality makes it a convex problem, the distance from the origin to the convex hull of the
``z^mu`` (the hard-margin SVM without bias, solved by the minover and AdaTron algorithms of
Krauth & Mezard, J. Phys. A 20, L745, 1987 and Anlauf & Biehl, Europhys. Lett. 10, 687, 1989):

    kappa_max = min_{c in simplex} |sum_mu c_mu z^mu|,

and every ``c`` in the simplex and every ``w`` give certified bounds

    min_mu z^mu . w / |w|  <=  kappa_max  <=  |Z^T c|     (Z: the (P, N) matrix of the z^mu).

The upper bound is weak duality: for unit ``u``, ``min_mu z^mu . u <= sum_mu c_mu z^mu . u <= |Z^T c|``.
With ``w = Z^T c`` both bounds meet at the optimum. Exact finite-N reference: Cover's theorem
(:func:`cover_probability`); large-N theory: ``kappa_max`` concentrates at the root of
``alpha_c(kappa) = alpha`` (:func:`gardner_margin`).

**Gibbs learning** (:func:`hit_and_run`, :func:`sample_version_space`). A Gibbs student is a
uniform point of the version space ``{w on the sphere : y^mu w . x^mu >= 0 for all mu}``. Since
the standard Gaussian is rotation invariant and the constraint set is a cone, the direction of a
standard Gaussian vector restricted to the cone is exactly such a point (and its ``|w|^2`` is
chi-square with N degrees of freedom, independent of the direction). Hit-and-run samples the
restricted Gaussian: from a feasible ``w`` pick a line ``w + t d``; along it the constraints
cut out an interval of ``t`` and the density is a 1D Gaussian, drawn exactly by inverse CDF
(Smith, Oper. Res. 32, 1296, 1984; Gibbs on coordinates is the case ``d = e_i``). Every move
leaves the restricted Gaussian invariant, so the chain converges to it from any feasible start
(the teacher, or a trained weight vector).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._validate import as_count
from ..models.base import float_dtype, is_concrete
from ..status import Solution, Status, flag, ok
from ..theory.fixed_point import bracket_root
from ..theory.perceptron import gardner_capacity
from ..typing import PRNGKey
from .data import Dataset, teacher_perceptron

__all__ = [
    "MaxMargin",
    "VersionSpaceSamples",
    "VersionSpaceState",
    "cover_probability",
    "gardner_margin",
    "hit_and_run",
    "init_version_space",
    "max_margin",
    "random_patterns",
    "sample_version_space",
    "teacher_patterns",
]

_DIRECTIONS = ("coordinate", "random")


# --------------------------------------------------------------------------- data


def random_patterns(key: PRNGKey, num_patterns: int, num_inputs: int, *, dtype=None) -> Dataset:
    """Storage problem: ``P`` inputs ``x^mu ~ N(0, I_N)`` with independent uniform labels ``y^mu = +-1``.

    A thin call of :func:`jaxphys.learning.data.teacher_perceptron` with ``label_noise=1/2`` (a label
    flipped with probability 1/2 is a fair coin, independent of the inputs and of the teacher).

    Args:
        key: typed PRNG key.
        num_patterns: ``P >= 1`` (static int).
        num_inputs: ``N >= 1`` (static int).
        dtype: float dtype of ``x`` and ``y`` (default float32, or float64 under x64).

    Returns:
        ``Dataset(x, y)``, ``x`` (P, N) and ``y`` (P,) of ``dtype``.

    Raises:
        TypeError/ValueError: an untyped key, sizes that are not ints >= 1.
    """
    p, n = as_count(num_patterns, "num_patterns"), as_count(num_inputs, "num_inputs")
    return teacher_perceptron(key, p, n, label_noise=0.5, dtype=dtype)[0]


def teacher_patterns(key: PRNGKey, num_patterns: int, num_inputs: int, *, dtype=None) -> tuple[Float[Array, " n"], Dataset]:
    """Teacher-student problem: a spherical teacher ``w*`` (``|w*|^2 = N``, uniform direction) labels
    ``P`` inputs ``x^mu ~ N(0, I_N)`` by ``y^mu = sign(w* . x^mu)``.

    A thin call of :func:`jaxphys.learning.data.teacher_perceptron` with ``weights="spherical"``
    (note the order of the results, teacher first).

    Args:
        key: typed PRNG key.
        num_patterns: ``P >= 1`` (static int).
        num_inputs: ``N >= 1`` (static int).
        dtype: float dtype (default float32, or float64 under x64).

    Returns:
        ``(teacher, Dataset(x, y))``: teacher (N,), ``x`` (P, N), ``y`` (P,) in ``{-1, +1}``.

    Raises:
        TypeError/ValueError: an untyped key, sizes that are not ints >= 1.
    """
    p, n = as_count(num_patterns, "num_patterns"), as_count(num_inputs, "num_inputs")
    data, teacher = teacher_perceptron(key, p, n, weights="spherical", dtype=dtype)
    return teacher, data


# --------------------------------------------------------------------------- exact and theory references


def cover_probability(num_patterns: ArrayLike, num_inputs: ArrayLike) -> Float[Array, "..."]:
    """Probability that ``P`` points in general position with random labels are separable in ``N``
    dimensions by a plane through the origin (Cover, IEEE Trans. Electron. Comput. 14, 326, 1965):

        P_sep(P, N) = 2^(1 - P) sum_{k=0}^{N-1} C(P - 1, k)  =  Pr[Binomial(P - 1, 1/2) <= N - 1],

    evaluated as the regularised incomplete beta function ``I_{1/2}(P - N, N)`` (1 for ``P <= N``).
    Exact for any input distribution that is symmetric and puts points in general position
    (e.g. Gaussian); ``P_sep(2N, N) = 1/2``, and at large N it jumps from 1 to 0 at ``alpha = 2``.

    Args:
        num_patterns: ``P >= 1``, int scalar or array.
        num_inputs: ``N >= 1``, int scalar or array (broadcast with ``num_patterns``).

    Returns:
        float array of the broadcast shape (default float dtype).

    Raises:
        TypeError: non-integer arguments. ValueError: concrete values < 1.
    """
    p, n = jnp.asarray(num_patterns), jnp.asarray(num_inputs)
    for name, arr in (("num_patterns", p), ("num_inputs", n)):
        if not jnp.issubdtype(arr.dtype, jnp.integer):
            raise TypeError(f"{name} must be an int or int array, got dtype {arr.dtype}")
        if is_concrete(arr) and np.any(np.asarray(arr) < 1):
            raise ValueError(f"{name} must be >= 1, got {np.asarray(arr)!r}")
    dtype = float_dtype()
    p, n = jnp.broadcast_arrays(p.astype(dtype), n.astype(dtype))
    tail = jax.scipy.special.betainc(jnp.maximum(p - n, 1.0), n, jnp.asarray(0.5, dtype))
    return jnp.where(p <= n, jnp.ones_like(tail), tail)


def gardner_margin(alpha: ArrayLike) -> Solution:
    """Typical maximal stability at load ``alpha <= 2``: the root ``kappa`` of ``alpha_c(kappa) = alpha``.

    ``alpha_c`` is Gardner's capacity (:func:`jaxphys.theory.perceptron.gardner_capacity`); at large N
    the ``kappa_max`` of :func:`max_margin` concentrates there (Gardner, J. Phys. A 21, 257, 1988).
    ``alpha_c`` decreases from 2 at ``kappa = 0`` and ``alpha_c(kappa) <= 1 / kappa^2``, so the root
    is bracketed by ``[0, 1 / sqrt(alpha)]``. Beyond ``alpha = 2`` the margin is negative, the
    problem non-convex and the replica-symmetric theory unstable, so no value is returned.

    Args:
        alpha: load ``P / N`` in ``(0, 2]``, float scalar or array; differentiable.

    Returns:
        ``Solution(value=kappa, status, num_steps)`` with the shape of ``alpha``; ``status`` has
        ``INVALID_PARAMETER`` (value NaN) for ``alpha > 2`` or traced ``alpha <= 0``/NaN.

    Raises:
        ValueError: concrete ``alpha <= 0`` or NaN/inf.
    """
    if isinstance(alpha, (bool, np.bool_)):
        raise TypeError("alpha must be a float, got a bool")
    alpha = jnp.asarray(alpha)
    if not (jnp.issubdtype(alpha.dtype, jnp.floating) or jnp.issubdtype(alpha.dtype, jnp.integer)):
        raise TypeError(f"alpha must be real, got dtype {alpha.dtype}")
    alpha = alpha.astype(jnp.result_type(alpha, float))
    if is_concrete(alpha):
        values = np.asarray(alpha)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"alpha must be finite and > 0 (the load P/N), got {values!r}")
    return _gardner_margin(alpha)


@jax.jit
def _gardner_margin(alpha):
    def one(a):
        bad = ~jnp.isfinite(a) | (a <= 0)
        a_safe = jnp.where(bad, 1.0, a)
        sol = bracket_root(lambda k, a: gardner_capacity(k) - a, 0.0, 1.0 / jnp.sqrt(a_safe), a_safe)
        return Solution(jnp.where(bad, jnp.nan, sol.value), flag(sol.status, Status.INVALID_PARAMETER, bad), sol.num_steps)

    flat = alpha.reshape(-1)
    sol = jax.vmap(one)(flat)
    return jax.tree.map(lambda leaf: leaf.reshape(alpha.shape), sol)


# --------------------------------------------------------------------------- input checks


def _check_patterns(x, y, mask):
    """``(z, mask)``: signed patterns ``z = y x`` (P, N) with inactive rows zeroed, boolean mask (P,)."""
    if isinstance(x, (bool, np.bool_)) or isinstance(y, (bool, np.bool_)):
        raise TypeError("x and y must be arrays, got a bool")
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (P, N) (patterns, inputs), got shape {x.shape}; vmap for batches")
    p, n = x.shape
    if p < 1 or n < 1:
        raise ValueError(f"x must hold at least one pattern of at least one input, got shape {x.shape}")
    if y.shape != (p,):
        raise ValueError(f"y must have shape (P,) = ({p},) to label the rows of x, got shape {y.shape}")
    for name, arr in (("x", x), ("y", y)):
        if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
            raise TypeError(f"{name} must be real (float or int), got dtype {arr.dtype}")
    dtype = jnp.result_type(x, y, float)
    x, y = x.astype(dtype), y.astype(dtype)
    if is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError("x contains NaN or infinity; pass finite inputs")
    if is_concrete(y) and not np.all(np.isin(np.asarray(y), (-1.0, 1.0))):
        raise ValueError("y must hold labels -1 or +1")
    if mask is None:
        mask = jnp.ones((p,), bool)
    else:
        mask = jnp.asarray(mask)
        if mask.shape != (p,) or mask.dtype != jnp.bool_:
            raise ValueError(f"mask must be a boolean array of shape (P,) = ({p},), got {mask.dtype} of shape {mask.shape}")
        if is_concrete(mask) and not np.any(np.asarray(mask)):
            raise ValueError("mask selects no pattern; keep at least one pattern active")
    z = jnp.where(mask[:, None], y[:, None] * x, 0.0)
    return z, mask


def _check_tol(tol, dtype) -> float:
    if tol is None:
        # stabilities are O(1); float32 resolves the bounds to ~1e-6, so ask for less
        return 1e-4 if jnp.finfo(dtype).bits < 64 else 1e-7
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a positive float, got {tol!r}")
    return float(tol)


# --------------------------------------------------------------------------- max margin


class MaxMargin(NamedTuple):
    """Result of :func:`max_margin` (float/bool scalars; leading axes under ``vmap``).

    ``weights`` (N,): the best weights found, ``|w|^2 = N``. ``margin``: their smallest stability
    ``min_mu y^mu w . x^mu / sqrt N``, a certified lower bound on ``kappa_max`` (the margin at
    which these weights store the data). ``margin_bound``: a certified upper bound on
    ``kappa_max`` (``|Z^T c|`` of a convex combination; ``>= margin``). ``separable``:
    ``margin > 0``, i.e. ``weights`` classify every active pattern correctly. Storable at margin
    ``kappa >= 0`` iff ``kappa_max >= kappa``: certified yes when ``margin >= kappa``, certified
    no when ``margin_bound < kappa``. ``coefficients`` (P,): the simplex point ``c`` with
    ``margin_bound = |sum_mu c_mu y^mu x^mu|`` (the dual certificate; at the optimum its support
    are the patterns at the margin, the "support vectors", and ``weights ~ sum_mu c_mu y^mu x^mu``).
    """

    weights: Float[Array, " n"]
    margin: Float[Array, ""]
    margin_bound: Float[Array, ""]
    separable: Bool[Array, ""]
    coefficients: Float[Array, " p"]


def max_margin(
    x: Float[Array, "p n"],
    y: Float[Array, " p"],
    *,
    mask: Bool[Array, " p"] | None = None,
    tol: float | None = None,
    max_steps: int = 20000,
    polish_every: int | None = None,
) -> Solution:
    """Maximal stability ``kappa_max`` of a perceptron storing ``(x^mu, y^mu)``, and its weights.

    Minimises ``f(c) = |Z^T c|^2 / 2`` over the simplex (module docstring) by accelerated projected
    gradient (FISTA, Beck & Teboulle, SIAM J. Imaging Sci. 2, 183, 2009) with step ``1 / sigma_max(Z)^2``,
    monotone restart (a step that raises ``f`` is discarded and the momentum reset; O'Donoghue & Candes,
    Found. Comput. Math. 15, 715, 2015) and an exact, sort-free simplex projection. FISTA alone crawls
    when ``kappa_max`` is near 0 (its support keeps a point whose weight decays slowly), so every
    ``polish_every`` steps two exact candidates on the current support ``S = {c_mu > 0}`` are tried and
    kept if they lower ``f``: three minor cycles of Wolfe's minimum-norm-point algorithm (the affine
    minimiser on ``S``, dropping points that turn negative; exact once ``S`` is the optimal support of a
    separable instance) and the nearest point with ``Z_S^T c = 0`` (an exact certificate of
    non-separability). Stops when ``margin_bound - margin <= tol`` (``kappa_max`` known to ``tol``) or
    ``margin_bound <= tol`` (``kappa_max <= tol``: declared not separable, wrongly only for instances with
    ``0 < kappa_max <= tol``). At N = 16, P = 32 (the hardest load) 400 instances need at most 200 steps.

    For ``kappa_max < 0`` (not separable) the problem on the sphere is non-convex; the returned
    ``margin`` is then only that of the weights found, not the best negative margin.

    Args:
        x: inputs (P, N), float; stabilities follow the theory's normalisation when entries have unit variance.
        y: labels (P,), -1 or +1.
        mask: optional boolean (P,): only patterns with ``True`` count (vmap over loads with one shape).
        tol: absolute tolerance on ``kappa_max`` (default 1e-7 in float64, 1e-4 in float32).
        max_steps: gradient-step budget (static int >= 1; checked after each block of ``polish_every`` steps).
        polish_every: gradient steps between exact polishing attempts (static int >= 1); default
            ``max(25, P // 2)``, which keeps the O(P^3) polishing below ~twice the cost of the O(P N + P^2) steps.

    Returns:
        ``Solution(value=MaxMargin(weights, margin, margin_bound, separable, coefficients), status, num_steps)``.
        ``status``: ``NOT_CONVERGED`` when ``max_steps`` did not close the gap (the bounds stay certified),
        ``NAN`` for non-finite traced inputs, ``INVALID_PARAMETER`` for a traced mask with no pattern.
        jit/vmap-able over ``x``, ``y`` and ``mask``.

    Raises:
        ValueError/TypeError: wrong shapes or dtypes, no patterns, concrete NaN inputs, labels not +-1,
        bad options.
    """
    z, mask = _check_patterns(x, y, mask)
    tol = _check_tol(tol, z.dtype)
    max_steps = as_count(max_steps, "max_steps")
    polish_every = max(25, z.shape[0] // 2) if polish_every is None else as_count(polish_every, "polish_every")
    return _max_margin(z, mask, tol, max_steps, polish_every)


def _project_simplex(v, mask):
    """Euclidean projection of ``v`` onto ``{c >= 0, sum c = 1, c = 0 off mask}``: ``max(v - theta, 0)``.

    ``theta = max_j (sum_{v_i >= v_j} v_i - 1) / #{v_i >= v_j}`` over active ``i, j``: every top set
    gives a lower bound of the threshold (``sum_{i in S} (v_i - theta) <= 1``) and the support
    itself attains it (Held, Wolfe & Crowder, Math. Program. 6, 62, 1974 use the sorted form).
    O(P^2) without sorting or a data-dependent loop (both slow or fragile inside ``while_loop``).
    """
    above = (v[None, :] >= v[:, None]) & mask[None, :]
    sums = jnp.sum(jnp.where(above, v[None, :], 0.0), axis=1)
    counts = jnp.maximum(jnp.sum(above, axis=1), 1)
    theta = jnp.max(jnp.where(mask, (sums - 1.0) / counts, -jnp.inf))
    return jnp.where(mask, jnp.maximum(v - theta, 0.0), 0.0)


def _to_simplex(c):
    """Clip to ``c >= 0`` and renormalise (a polishing candidate becomes a feasible point)."""
    c = jnp.maximum(c, 0.0)
    return c / jnp.sum(c)


# Wolfe minor cycles per polishing attempt: each drops at least one point from the support, and
# FISTA's support usually exceeds the optimal one by a point or two (near-degenerate instances).
_MINOR_CYCLES = 3


def _wolfe_minor_cycles(gram, c):
    """Minor cycles of Wolfe's minimum-norm-point algorithm (Math. Program. 11, 128, 1976) from ``c``.

    On the support ``S`` of ``c`` the affine minimiser ``a`` of ``f = c^T G c / 2`` solves the bordered
    system ``[[G_S, 1], [1^T, 0]] [a; lambda] = [0; 1]`` (regular when the ``z^mu``, mu in S, are
    affinely independent). If ``a >= 0`` it is the minimum of ``f`` on that face; otherwise the
    segment ``c -> a`` is followed until a coordinate hits zero and that point leaves ``S``. ``f``
    never increases (convexity), and a step that would raise it (a singular system) is refused.
    """
    num = c.shape[0]
    dtype = c.dtype
    rhs = jnp.zeros((num + 1,), dtype).at[num].set(1.0)

    def cycle(_, c):
        s = (c > 0).astype(dtype)
        bordered = jnp.block([[gram * (s[:, None] * s[None, :]) + jnp.diag(1.0 - s), s[:, None]], [s[None, :], jnp.zeros((1, 1), dtype)]])
        a = jnp.linalg.solve(bordered, rhs)[:num] * s
        blocking = (s > 0) & (a < 0)
        ratio = jnp.where(blocking, c / jnp.where(blocking, c - a, 1.0), jnp.inf)
        theta = jnp.minimum(jnp.min(ratio), 1.0)
        candidate = c + theta * (a - c)
        # the blocking coordinate leaves the support exactly (rounding would leave ~1e-17 there)
        candidate = _to_simplex(jnp.where(blocking & (ratio <= theta), 0.0, candidate))
        accept = jnp.all(jnp.isfinite(candidate)) & (candidate @ gram @ candidate <= c @ gram @ c)
        return jnp.where(accept, candidate, c)

    return jax.lax.fori_loop(0, _MINOR_CYCLES, cycle, c)


def _polish_candidates(z, gram, c):
    """Two exact candidates on the support of ``c`` (see :func:`max_margin`), as simplex points."""
    s = (c > 0).astype(z.dtype)
    # nearest point to c with Z_S^T c' = 0 and sum c' = 1: c' = c - A^T (A A^T)^-1 A c + ...,
    # A = [Z_S^T; 1_S^T] of shape (N + 1, P); regular when |S| >= N + 1 (a non-separable face)
    a = jnp.concatenate([z * s[:, None], s[:, None]], axis=1).T
    residual = jnp.concatenate([z.T @ c, jnp.zeros((1,), z.dtype)])
    cone = _to_simplex(c - a.T @ jnp.linalg.solve(a @ a.T, residual))
    return _wolfe_minor_cycles(gram, c), cone


class _FistaState(NamedTuple):
    c: Array  # (P,) simplex point
    w: Array  # (N,) Z^T c
    g: Array  # (P,) Z w
    c_momentum: Array  # (P,) extrapolated point
    g_momentum: Array  # (P,) Z Z^T c_momentum
    t: Array  # FISTA momentum parameter
    best_w: Array  # (N,) weights with the best certified margin so far
    best_margin: Array
    num_steps: Array


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _max_margin(z, mask, tol, max_steps, polish_every):
    dtype = z.dtype
    lipschitz = jnp.linalg.norm(z, ord=2) ** 2
    gram = z @ z.T
    inf = jnp.asarray(jnp.inf, dtype)

    def margin_of(w, g):
        return jnp.min(jnp.where(mask, g, inf)) / jnp.linalg.norm(w)

    def fresh(c, state):
        """Restart at simplex point ``c`` (no momentum), updating the best certified margin."""
        w = z.T @ c
        g = z @ w
        margin = margin_of(w, g)
        better = margin > state.best_margin
        return _FistaState(
            c, w, g, c, g, jnp.ones((), dtype),
            jnp.where(better, w, state.best_w), jnp.where(better, margin, state.best_margin), state.num_steps,
        )

    def fista_step(_, state):
        c = _project_simplex(state.c_momentum - state.g_momentum / lipschitz, mask)
        w = z.T @ c
        g = z @ w
        rejected = w @ w > state.w @ state.w
        t = (1.0 + jnp.sqrt(1.0 + 4.0 * state.t**2)) / 2.0
        beta = (state.t - 1.0) / t
        margin = margin_of(w, g)
        better = (margin > state.best_margin) & ~rejected
        keep = lambda old, new: jnp.where(rejected, old, new)  # noqa: E731
        return _FistaState(
            keep(state.c, c), keep(state.w, w), keep(state.g, g),
            jnp.where(rejected, state.c, c + beta * (c - state.c)),
            jnp.where(rejected, state.g, g + beta * (g - state.g)),
            jnp.where(rejected, 1.0, t).astype(dtype),
            jnp.where(better, w, state.best_w), jnp.where(better, margin, state.best_margin), state.num_steps + 1,
        )

    def polish(state):
        best = state
        for candidate in _polish_candidates(z, gram, state.c):
            value = candidate @ gram @ candidate
            accept = jnp.all(jnp.isfinite(candidate)) & (value < best.w @ best.w)
            polished = fresh(candidate, best)
            best = jax.tree.map(lambda new, old: jnp.where(accept, new, old), polished, best)
        return best

    def bounds(state):
        return state.best_margin, jnp.linalg.norm(state.w)

    def not_done(state):
        lower, upper = bounds(state)
        return (state.num_steps < max_steps) & (upper - lower > tol) & (upper > tol)

    def chunk(state):
        state = jax.lax.fori_loop(0, polish_every, fista_step, state)
        return polish(state)

    c0 = mask.astype(dtype) / jnp.sum(mask)
    empty = _FistaState(c0, z[0], z[:, 0], c0, z[:, 0], jnp.ones((), dtype), jnp.zeros_like(z[0]), -inf, jnp.zeros((), jnp.int32))
    state = jax.lax.while_loop(not_done, chunk, fresh(c0, empty))

    lower, upper = bounds(state)
    status = flag(ok(), Status.NOT_CONVERGED, (upper - lower > tol) & (upper > tol))
    status = flag(status, Status.NAN, ~jnp.all(jnp.isfinite(z)))
    status = flag(status, Status.INVALID_PARAMETER, ~jnp.any(mask))
    num_inputs = z.shape[1]
    weights = state.best_w * (math.sqrt(num_inputs) / jnp.linalg.norm(state.best_w))
    result = MaxMargin(weights, lower, jnp.maximum(upper, lower), lower > 0, state.c)
    return Solution(result, status, state.num_steps)


# --------------------------------------------------------------------------- version space sampling


class VersionSpaceState(NamedTuple):
    """State of the version-space chain.

    ``weights`` (N,): a standard Gaussian vector restricted to the cone ``Z w >= 0`` (its direction
    is the Gibbs student; ``|w|^2 ~ chi^2_N``). ``stabilities`` (P,): ``Z w`` (0 for masked
    patterns). ``status``: int32; ``INVALID_PARAMETER`` when the start was outside the version space.
    """

    weights: Float[Array, " n"]
    stabilities: Float[Array, " p"]
    status: Int[Array, ""]


def init_version_space(
    x: Float[Array, "p n"], y: Float[Array, " p"], weights: Float[Array, " n"], *, mask: Bool[Array, " p"] | None = None
) -> VersionSpaceState:
    """Start a version-space chain at ``weights`` (any positive scale; rescaled to ``|w|^2 = N``).

    Args:
        x, y, mask: the training set as in :func:`max_margin`.
        weights: (N,) a point of the version space, ``y^mu weights . x^mu >= 0`` for every active pattern
            (the teacher, or weights from :func:`max_margin`).

    Returns:
        :class:`VersionSpaceState`; ``status`` has ``INVALID_PARAMETER`` when ``weights`` violate a
        constraint (traced input) or are zero or non-finite.

    Raises:
        ValueError: shapes (as :func:`max_margin`); concrete ``weights`` of the wrong shape, zero,
        non-finite, or outside the version space.
    """
    z, _ = _check_patterns(x, y, mask)
    weights = jnp.asarray(weights)
    if weights.shape != (z.shape[1],):
        raise ValueError(f"weights must have shape (N,) = ({z.shape[1]},), got {weights.shape}")
    weights = weights.astype(z.dtype)
    if is_concrete(weights) and is_concrete(z):
        w = np.asarray(weights)
        if not np.all(np.isfinite(w)) or not np.any(w != 0):
            raise ValueError("weights must be finite and non-zero")
        if np.any(np.asarray(z) @ w < 0):
            raise ValueError(
                "weights are outside the version space (some y^mu w . x^mu < 0): start from the teacher "
                "or from max_margin(x, y).value.weights of a separable training set"
            )
    return _init_version_space(z, weights)


@jax.jit
def _init_version_space(z, weights):
    norm = jnp.linalg.norm(weights)
    weights = weights * (math.sqrt(z.shape[1]) / norm)
    stabilities = z @ weights
    bad = ~jnp.all(jnp.isfinite(weights)) | (norm == 0) | jnp.any(stabilities < 0)
    return VersionSpaceState(weights, stabilities, flag(ok(), Status.INVALID_PARAMETER, bad))


def _truncated_normal(uniform, lower, upper):
    """Exact draw of N(0, 1) restricted to ``[lower, upper]`` by inverse CDF of a ``uniform`` in [0, 1).

    The interval is mirrored to lie mostly at negative values, where ``Phi`` keeps full relative
    precision (tails down to ~37 sigma in float64), and the result is clipped against rounding.
    """
    flip = lower + upper > 0
    lo = jnp.where(flip, -upper, lower)
    hi = jnp.where(flip, -lower, upper)
    p_lo = jax.scipy.special.ndtr(lo)
    p_hi = jax.scipy.special.ndtr(hi)
    value = jnp.clip(jax.scipy.special.ndtri(p_lo + uniform * (p_hi - p_lo)), lo, hi)
    return jnp.where(flip, -value, value)


def _line_move(uniform, weights_along, stabilities, slope):
    """Move along a unit direction: the constraints ``s + t slope >= 0`` bound ``t``, and the
    Gaussian coordinate along the line (now ``weights_along``) is redrawn on that interval. Returns ``t``."""
    ratio = -stabilities / jnp.where(slope == 0, 1.0, slope)
    inf = jnp.asarray(jnp.inf, stabilities.dtype)
    # s >= 0 up to rounding, so t = 0 is feasible; min/max with 0 keep it so
    t_lo = jnp.minimum(jnp.max(jnp.where(slope > 0, ratio, -inf)), 0.0)
    t_hi = jnp.maximum(jnp.min(jnp.where(slope < 0, ratio, inf)), 0.0)
    new = _truncated_normal(uniform, weights_along + t_lo, weights_along + t_hi)
    return new - weights_along


def _sweep(key, state, z, direction):
    """N line moves along the rows of a direction matrix ``D`` (N, N): the identity or random unit rows.

    The moves are sequential, but everything that does not depend on the path is computed once per
    sweep with matrix products: the slopes ``D Z^T`` (N, P) and, for random directions, the overlaps
    ``D D^T`` that update ``D w`` after each move. The stabilities are recomputed from ``w`` first, so
    rounding cannot accumulate over sweeps. Coordinate sweeps (``D = I``) cost O(P N).
    """
    num_inputs = z.shape[1]
    key_uniform, key_direction = jax.random.split(key)
    uniforms = jax.random.uniform(key_uniform, (num_inputs,), z.dtype)
    stabilities = z @ state.weights

    if direction == "coordinate":
        slopes = z.T  # (N, P): row i is the slope of every stability along e_i

        def move(i, carry):
            weights, stabilities = carry
            t = _line_move(uniforms[i], weights[i], stabilities, slopes[i])
            return weights.at[i].add(t), stabilities + t * slopes[i]

        weights, stabilities = jax.lax.fori_loop(0, num_inputs, move, (state.weights, stabilities))
    else:
        directions = jax.random.normal(key_direction, (num_inputs, num_inputs), z.dtype)
        directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
        slopes = directions @ z.T  # (N, P)
        overlaps = directions @ directions.T  # (N, N)

        def move(i, carry):
            along, steps, stabilities = carry  # along = D w (N,), steps = t per move (N,)
            t = _line_move(uniforms[i], along[i], stabilities, slopes[i])
            return along + t * overlaps[i], steps.at[i].set(t), stabilities + t * slopes[i]

        init = (directions @ state.weights, jnp.zeros((num_inputs,), z.dtype), stabilities)
        _, steps, stabilities = jax.lax.fori_loop(0, num_inputs, move, init)
        weights = state.weights + directions.T @ steps

    status = flag(state.status, Status.NAN, ~jnp.all(jnp.isfinite(weights)))
    return VersionSpaceState(weights, stabilities, status)


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


def hit_and_run(
    key: PRNGKey,
    state: VersionSpaceState,
    x: Float[Array, "p n"],
    y: Float[Array, " p"],
    *,
    mask: Bool[Array, " p"] | None = None,
    direction: str = "coordinate",
) -> VersionSpaceState:
    """One sweep (N line moves) of hit-and-run in the version space (module docstring).

    ``direction="coordinate"``: the lines are the coordinate axes in turn (Gibbs sampling of the
    restricted Gaussian; O(P N) per sweep). ``"random"``: N isotropic random directions (O(P N^2 + N^3)
    per sweep, in matrix products). Both leave the standard Gaussian restricted to
    ``{y^mu w . x^mu >= 0}`` invariant; per sweep they decorrelate the overlaps about equally fast.

    Args:
        key: typed PRNG key.
        state: from :func:`init_version_space` or a previous sweep.
        x, y, mask: the training set (as in :func:`max_margin`).
        direction: ``"coordinate"`` or ``"random"``.

    Returns:
        the next :class:`VersionSpaceState` (``NAN`` set in ``status`` if the weights became non-finite).

    Raises:
        ValueError: bad shapes, unknown ``direction``.
    """
    z, _ = _check_patterns(x, y, mask)
    _check_direction(direction)
    if state.weights.shape != (z.shape[1],):
        raise ValueError(f"state.weights has shape {state.weights.shape}, expected ({z.shape[1]},) for these inputs")
    return _hit_and_run(key, state, z, direction)


@functools.partial(jax.jit, static_argnums=3)
def _hit_and_run(key, state, z, direction):
    return _sweep(key, state, z, direction)


class VersionSpaceSamples(NamedTuple):
    """Output of :func:`sample_version_space`.

    ``weights`` (num_samples, N): Gibbs students, each normalised to ``|w|^2 = N``.
    ``squared_norms`` (num_samples,): ``|w|^2`` of the restricted Gaussian before normalising
    (chi-square with N degrees of freedom in equilibrium: a built-in check).
    ``state``: the final chain state (pass it to continue). ``status``: int32 bitmask.
    """

    weights: Float[Array, "s n"]
    squared_norms: Float[Array, " s"]
    state: VersionSpaceState
    status: Int[Array, ""]


def sample_version_space(
    key: PRNGKey,
    x: Float[Array, "p n"],
    y: Float[Array, " p"],
    weights: Float[Array, " n"],
    num_samples: int,
    *,
    thin: int = 1,
    burn_in: int = 0,
    mask: Bool[Array, " p"] | None = None,
    direction: str = "coordinate",
) -> VersionSpaceSamples:
    """Gibbs students: uniform samples of the version space by :func:`hit_and_run`.

    Runs ``burn_in`` sweeps from ``weights``, then keeps every ``thin``-th of ``num_samples * thin``
    sweeps. The chain is exact in the limit of many sweeps, but it moves slowly: at N = 100 (coordinate
    sweeps) the integrated autocorrelation time of the teacher overlap is ~12, 19 and 32 sweeps at
    ``alpha`` = 1, 2 and 4, and from the teacher (R = 1) the mean overlap needs ~200 sweeps to come
    within 0.002 of equilibrium at ``alpha = 2``; plan the burn-in accordingly. The Gibbs student's
    teacher overlap ``R = w . w* / N`` is ``q`` of the theory, and the centre of mass of many samples
    approaches the Bayes-optimal student (``R = sqrt(q)``).

    Args:
        key: typed PRNG key.
        x, y, mask: training set, as in :func:`max_margin`.
        weights: (N,) starting point inside the version space (e.g. the teacher).
        num_samples: number of kept samples (static int >= 1).
        thin: sweeps per kept sample (static int >= 1).
        burn_in: discarded sweeps first (static int >= 0).
        direction: ``"coordinate"`` or ``"random"`` (see :func:`hit_and_run`).

    Returns:
        :class:`VersionSpaceSamples`; ``status`` has ``INVALID_PARAMETER`` if the start was outside the
        version space (traced input) and ``NAN`` if the chain broke. jit/vmap-able over all arrays.

    Raises:
        ValueError/TypeError: as :func:`init_version_space`, bad counts or ``direction``.
    """
    state = init_version_space(x, y, weights, mask=mask)
    z, _ = _check_patterns(x, y, mask)
    num_samples = as_count(num_samples, "num_samples")
    thin = as_count(thin, "thin")
    burn_in = as_count(burn_in, "burn_in", minimum=0)
    _check_direction(direction)
    return _sample_version_space(key, state, z, num_samples, thin, burn_in, direction)


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _sample_version_space(key, state, z, num_samples, thin, burn_in, direction):
    def sample(state, index):
        # the first block also runs the burn-in: one copy of the sweep in the compiled loop
        num_sweeps = jnp.where(index == 0, burn_in + thin, thin)
        block_key = jax.random.fold_in(key, index)
        state = jax.lax.fori_loop(0, num_sweeps, lambda i, s: _sweep(jax.random.fold_in(block_key, i), s, z, direction), state)
        squared_norm = state.weights @ state.weights
        unit = state.weights * jnp.sqrt(z.shape[1] / squared_norm)
        return state, (unit, squared_norm)

    state, (samples, squared_norms) = jax.lax.scan(sample, state, jnp.arange(num_samples))
    return VersionSpaceSamples(samples, squared_norms, state, state.status)
