"""Hebbian learning: the Hebb perceptron, Hebbian Hopfield classifiers, and the Pavlov machine.

**1. Hebb rule for a perceptron with a restricted training set** (Vallet, Europhys. Lett. 8, 747,
1989; Coolen & Saad, Phys. Rev. E 62, 5444, 2000; Engel & Van den Broeck, *Statistical Mechanics
of Learning*, ch. 3). A teacher ``B`` (Gaussian, so spherical as N -> infinity) labels
``P = alpha N`` Gaussian inputs ``x^mu ~ N(0, I_N)`` by ``y^mu = sign(B . x^mu)``; the student is

    batch:    w = (1/sqrt N) sum_mu y^mu x^mu,
    on-line:  w <- w + (eta/sqrt N) y^mu x^mu  with mu drawn uniformly from the P examples,
              t N times (w(0) = 0; example mu is then used n_mu ~ Poisson(t/alpha) times).

Splitting each input into its component ``u = x . B/|B|`` along the teacher and the rest gives,
for N -> infinity (with ``c = sqrt(2/pi) = E|u|``),

    R   = [1 + (pi/2)(1/alpha + 1/t)]^(-1/2),           E_g = arccos(R) / pi,
    E_t = sum_n Poisson(n; t/alpha) E_u H( (n + c t |u|) / sqrt(t^2/alpha + t) ),

and the batch rule is ``t -> infinity``: ``R = (1 + pi/(2 alpha))^(-1/2)`` (as in
:func:`jaxphys.theory.teacher_student.hebb`) and

    E_t = E_u H( (1 + c alpha |u|) / sqrt(alpha) ),     H(x) = P(z > x), u, z ~ N(0, 1).

The ``1`` (batch) or ``n`` (on-line) in the numerator is the *self term*: the example's own
contribution ``|x^mu|^2 / N = 1`` to its stability ``y^mu w . x^mu / sqrt N``, on top of the
teacher signal ``c alpha |u|`` and the Gaussian cross-talk of the other examples (variance
``alpha``). It makes ``E_t < E_g`` at every ``alpha``; both decay as ``1/sqrt(2 pi alpha)``,
``E_g - E_t ~ 1/(2 alpha)``.

**2. Hebbian Hopfield classifiers** (Agliari, Alemanno, Barra & De Marzo, arXiv:2109.00454,
unsupervised; Alemanno, Aquaro, Kanter, Barra & Agliari, arXiv:2203.01304, supervised; dreaming:
Fachechi, Agliari & Barra, Neural Networks 112, 24, 2019). From ``M`` examples of each of ``K``
classes, the supervised network stores the class averages ``eta_bar^c`` (the couplings of
:func:`~jaxphys.learning.supervised_hebbian`), the unsupervised one every example
(:func:`~jaxphys.learning.unsupervised_hebbian`). Either may be "dreamt",

    J = (1/N) eta^T (1 + t) (I + t C)^(-1) eta,   C = eta eta^T / N,   J_ii = 0,

(``t = 0``: Hebb; ``t = inf``: pseudo-inverse, for real-valued patterns too). A test image ``s``
is classified by (``"retrieval"``) zero-temperature dynamics from ``s`` and the label of the
stored prototype nearest (largest overlap) to the fixed point reached, or (``"overlap"``) the
prototype nearest to ``s`` itself: for the supervised network, the class average with the
largest overlap ``eta_bar^c . s`` (when it is positive, the class whose term
``-(eta_bar^c . s)^2 / 2N`` of the Hebbian energy is lowest). Supervised prototypes are the class
averages; unsupervised ones are the fixed points reached from the training examples, labelled by
the examples that fall into them (labels are used only for that naming).
:func:`nearest_class_mean` is the baseline. Strongly correlated classes (the 8 x 8 digits share
their background) give a pure Hebbian network a single attractor; dreaming removes it.

**3. Pavlov learning machine**: a linear, exactly solvable version of the two-timescale machine
of Agliari, Aquaro, Barra, Fachechi & Marullo ("Pavlov learning machines", arXiv:2207.00790;
Lotito, Aquaro & Marullo, Neural Comput. 37, 311, 2025). Fast soft-spin neurons ``sigma`` (N,) relax towards the presented stimulus ``s^mu`` (K stimuli; the
presented one is redrawn uniformly at rate ``1/Delta``) at temperature ``T``; slow synapses
follow the neurons' correlations:

    tau_s d sigma = (s^mu(t) - sigma) dt + sqrt(2 T tau_s) dW,
    tau_J d J     = (sigma sigma^T / N - J) dt,

integrated by Euler-Maruyama (step ``dt``). With ``tau_s << Delta << tau_J`` the synapses
converge to the Hebbian kernel of the stimuli,

    J -> (1/(N K)) sum_mu s^mu s^mu^T + (T/N) I     (off the diagonal: Hopfield couplings / K).

For finite ratios the stationary mean is exactly (continuous time; :func:`pavlov_kernel` also
gives the Euler-Maruyama value)

    E J = (1/N) [ s_bar s_bar^T + g (C_s - s_bar s_bar^T) + T I ],   g = 1 / (1 + tau_s/Delta),

``s_bar``, ``C_s`` the mean and second moment of the stimuli: the lag of the neurons costs a
relative bias ``~ tau_s / Delta``. Around it ``J`` fluctuates with variance
``~ (Delta + tau_s) / tau_J`` (:class:`PavlovKernel`); neurons do not feed back through ``J``
during learning, which keeps the model linear and its kernel exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .. import status as st
from .._validate import as_count
from ..models.base import float_dtype, is_concrete
from ..models.hopfield import Hopfield, _as_patterns, zero_temperature_dynamics
from ..models.pairwise import PairwiseIsing
from ..theory.perceptron import _check_value, _invalid
from ..theory.quadrature import H
from ..theory.teacher_student import hebb as _hebb_overlap
from ..typing import PRNGKey
from .archetypes import _examples
from .data import teacher_perceptron

__all__ = [
    "HebbErrors",
    "hebb_errors",
    "hebb_weights",
    "online_hebb",
    "hebb_simulation",
    "HopfieldClassifier",
    "class_examples",
    "dreaming_couplings",
    "supervised_classifier",
    "unsupervised_classifier",
    "classify",
    "nearest_class_mean",
    "PavlovResult",
    "PavlovKernel",
    "pavlov",
    "pavlov_kernel",
]

_C = math.sqrt(2.0 / math.pi)  # E|u| for u ~ N(0, 1)

# =========================================================================== 1. Hebb perceptron


class HebbErrors(NamedTuple):
    """Hebb-rule student: teacher overlap ``R``, training error ``E_t``, generalisation error ``E_g``.

    Float arrays of a common shape (the load grid's; a leading seed axis under ``vmap``).
    """

    R: Float[Array, "..."]
    training_error: Float[Array, "..."]
    generalisation_error: Float[Array, "..."]


# E_u f(|u|) = 2 int_0^inf phi(u) f(u) du by Gauss-Legendre on [0, 10] (phi(10) ~ 8e-23): the
# integrands phi(u) H(a + b u) are entire, so 128 nodes reach float64 round-off (checked
# against scipy.integrate.quad in the tests), with no kink at u = 0 to slow the rule down.
_U_MAX = 10.0
_LEGENDRE = np.polynomial.legendre.leggauss(128)
_HALF_NODES = 0.5 * _U_MAX * (_LEGENDRE[0] + 1.0)
_HALF_WEIGHTS = _LEGENDRE[1] * 0.5 * _U_MAX * 2.0 * np.exp(-0.5 * _HALF_NODES**2) / math.sqrt(2.0 * math.pi)
# The on-line training error sums Poisson(n; t/alpha) over a window of 400 counts starting
# 12 standard deviations below the mean: complete (mass lost < 1e-30) for t/alpha < ~250.
# Beyond, the window misses a visible part of the mass and the result is NaN.
_POISSON_TERMS = 400


def _abs_normal_expectation(f):
    """``E_u f(|u|)`` for ``u ~ N(0, 1)``; ``f`` maps an array of nodes (last axis) elementwise."""
    nodes = jnp.asarray(_HALF_NODES, float_dtype())
    return jnp.sum(jnp.asarray(_HALF_WEIGHTS, float_dtype()) * f(nodes), axis=-1)


def hebb_errors(alpha: ArrayLike, *, time: ArrayLike = math.inf) -> HebbErrors:
    """Closed-form learning curve of the Hebb rule with a restricted training set (N -> inf).

    See the module docstring: ``R = [1 + (pi/2)(1/alpha + 1/t)]^(-1/2)``, ``E_g = arccos(R)/pi``
    and the training error ``E_t`` with its self term; ``time = inf`` (default) is the batch
    rule ``w = sum_mu y^mu x^mu`` (``E_g(1) = 0.28563``, ``E_t(1) = 0.067714``), a finite
    ``time`` the on-line rule after ``t N`` steps from ``w = 0`` (Coolen & Saad 2000).

    Args:
        alpha: load ``P/N > 0``, float scalar or array.
        time: on-line time ``t = steps/N > 0`` (concrete ``inf``: batch), broadcast against
            ``alpha``. The on-line ``E_t`` needs ``t/alpha < ~250`` uses per example (NaN
            beyond; there the batch value is within ``O(alpha/t)``).

    Returns:
        :class:`HebbErrors` with the broadcast shape; NaN where a traced argument is invalid.
        Differentiable in ``alpha`` and ``time``.

    Raises:
        ValueError: concrete ``alpha <= 0`` or ``time <= 0`` or NaN.
    """
    alpha = _check_value(alpha, "alpha", 0.0, hint=" (the load P/N must be positive)")
    if isinstance(time, (bool, np.bool_)):
        raise TypeError(f"time must be a float, got the bool {time!r}")
    t = jnp.asarray(time, float_dtype())
    if is_concrete(t):
        value = np.asarray(t)
        if not np.all(value > 0):
            raise ValueError(f"time must be > 0 (on-line steps / N; inf for the batch rule), got {time!r}")
        if np.all(np.isposinf(value)):
            return _batch_errors(jnp.broadcast_to(alpha, jnp.broadcast_shapes(alpha.shape, t.shape)))
    return _online_errors(*jnp.broadcast_arrays(alpha, t))


@jax.jit
def _batch_errors(alpha):
    R = _hebb_overlap(alpha).R
    a = alpha[..., None]
    train = _abs_normal_expectation(lambda u: H((1.0 + _C * a * u) / jnp.sqrt(a)))
    train = jnp.where(_invalid(alpha, 0.0), jnp.nan, train)
    return HebbErrors(R, train, jnp.arccos(R) / math.pi)


@jax.jit
def _online_errors(alpha, t):
    bad = _invalid(alpha, 0.0) | ~(t > 0)
    R = 1.0 / jnp.sqrt(1.0 + 0.5 * math.pi * (1.0 / alpha + 1.0 / t))
    mean = t / alpha  # uses of each example
    scale = jnp.sqrt(t * t / alpha + t)
    start = jnp.floor(jnp.maximum(mean - 12.0 * jnp.sqrt(mean), 0.0))
    counts = start[..., None] + jnp.arange(_POISSON_TERMS, dtype=mean.dtype)  # (..., W)
    log_pmf = counts * jnp.log(mean[..., None]) - mean[..., None] - jax.lax.lgamma(counts + 1.0)
    pmf = jnp.exp(log_pmf)
    inner = _abs_normal_expectation(
        lambda u: H((counts[..., None] + _C * t[..., None, None] * u) / scale[..., None, None])
    )  # (..., W)
    train = jnp.sum(pmf * inner, axis=-1)
    tolerance = max(1e-10, 1e3 * float(jnp.finfo(pmf.dtype).eps))  # round-off of the 400-term sum
    incomplete = jnp.abs(1.0 - jnp.sum(pmf, axis=-1)) > tolerance
    train = jnp.where(bad | incomplete, jnp.nan, train)
    R = jnp.where(bad, jnp.nan, R)
    return HebbErrors(R, train, jnp.arccos(R) / math.pi)


def _inputs_labels(inputs, labels):
    x = jnp.asarray(inputs)
    y = jnp.asarray(labels)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"inputs must have shape (P, N) with P, N >= 1 (one example per row), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape (P,) = ({x.shape[0]},) matching inputs {x.shape}, got {y.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float_dtype())
    return x, y.astype(x.dtype)


def hebb_weights(inputs: Float[Array, "p n"], labels: Float[Array, " p"]) -> Float[Array, " n"]:
    """Batch Hebb rule ``w = (1/sqrt N) sum_mu y^mu x^mu``.

    Args:
        inputs: (P, N) float array.
        labels: (P,) labels ``y = +-1`` (any real weights work).

    Returns:
        (N,) float weights. jit/vmap-able.

    Raises:
        ValueError: inputs not (P, N) with P, N >= 1, labels not (P,).
    """
    x, y = _inputs_labels(inputs, labels)
    return y @ x / math.sqrt(x.shape[1])


def online_hebb(
    key: PRNGKey,
    inputs: Float[Array, "p n"],
    labels: Float[Array, " p"],
    num_steps: int,
    *,
    learning_rate: ArrayLike = 1.0,
    num_examples: ArrayLike | None = None,
) -> Float[Array, " n"]:
    """On-line Hebb rule on a restricted training set: ``num_steps`` steps from ``w = 0`` of

        w <- w + (eta / sqrt N) y^mu x^mu,   mu uniform among the first P' examples

    (the on-line time is ``t = num_steps / N``). The update does not depend on ``w``, so the
    sum is order-free: the steps are drawn, counted per example (``n_mu``, multinomial), and
    ``w = (eta / sqrt N) sum_mu n_mu y^mu x^mu`` is formed in one product, in O(num_steps + P N)
    instead of O(num_steps N). After many steps per example the direction of ``w`` tends to
    the batch :func:`hebb_weights`.

    Args:
        key: typed PRNG key (draws the example of each step).
        inputs: (P, N) float array; labels: (P,) +-1.
        num_steps: number of steps (static int >= 1).
        learning_rate: ``eta`` (only scales ``w``).
        num_examples: ``P'``: train on the first ``P'`` rows only (default all P; may be traced,
            so one can vmap over training-set sizes with a common array).

    Returns:
        (N,) float weights.

    Raises:
        ValueError/TypeError: bad shapes, ``num_steps`` not a positive int, concrete
            ``num_examples`` outside [1, P].
    """
    x, y = _inputs_labels(inputs, labels)
    num_steps = as_count(num_steps, "num_steps")
    p, n = x.shape
    if num_examples is None:
        num_examples = p
    count = jnp.asarray(num_examples, jnp.int32)
    if is_concrete(count) and not 1 <= int(count) <= p:
        raise ValueError(f"num_examples must lie in [1, P = {p}], got {num_examples}")
    return _online_hebb(key, x, y, count, jnp.asarray(learning_rate, x.dtype), num_steps)


@functools.partial(jax.jit, static_argnames="num_steps")
def _online_hebb(key, x, y, count, learning_rate, num_steps):
    p, n = x.shape
    picks = jax.random.randint(key, (num_steps,), 0, count)
    uses = jax.ops.segment_sum(jnp.ones((num_steps,), x.dtype), picks, num_segments=p)
    return learning_rate / math.sqrt(n) * (uses * y) @ x


@functools.partial(jax.jit, static_argnames=("num_inputs", "sizes", "num_steps"))
def _hebb_simulation(key, num_inputs, sizes, num_steps):
    n, p_max = num_inputs, max(sizes)
    k_data, k_online = jax.random.split(key)
    (x, y), teacher = teacher_perceptron(k_data, p_max, n)
    sizes_arr = jnp.asarray(sizes, jnp.int32)
    used = jnp.arange(p_max)[None, :] < sizes_arr[:, None]  # (A, P_max): nested training sets
    if num_steps is None:
        w = (used * y) @ x / math.sqrt(n)  # hebb_weights of each prefix
    else:
        keys = jax.random.split(k_online, len(sizes))
        w = jax.vmap(lambda k, size: online_hebb(k, x, y, num_steps, num_examples=size))(keys, sizes_arr)
    stability = (w @ x.T) * y  # (A, P_max)
    train = jnp.sum(used & (stability <= 0), axis=1) / sizes_arr
    R = w @ teacher / (jnp.linalg.norm(w, axis=1) * jnp.linalg.norm(teacher))
    return HebbErrors(R, train.astype(R.dtype), jnp.arccos(jnp.clip(R, -1.0, 1.0)) / math.pi)


def hebb_simulation(
    key: PRNGKey, alphas: Sequence[float], num_inputs: int, *, time: float | None = None
) -> HebbErrors:
    """Simulate the Hebb perceptron of the module docstring at several loads (one teacher).

    A Gaussian teacher (:func:`~jaxphys.learning.data.teacher_perceptron`) labels
    ``P_max = round(max(alphas) N)`` Gaussian inputs; the training
    set at load ``alpha`` is the first ``round(alpha N)`` of them (nested sets, one draw). The
    training error is measured on that set; the generalisation error is exact for Gaussian
    inputs, ``arccos(R)/pi``. Vmap over keys for seeds: ``jax.vmap(lambda k: hebb_simulation(k,
    alphas, N))(keys)``.

    Args:
        key: typed PRNG key.
        alphas: concrete positive loads (they fix the array sizes).
        num_inputs: ``N >= 1``.
        time: ``None`` for the batch rule, else the on-line time ``t > 0`` (``round(t N)``
            steps of :func:`online_hebb`).

    Returns:
        :class:`HebbErrors` of shape ``(len(alphas),)``, compare with :func:`hebb_errors`.

    Raises:
        ValueError/TypeError: empty or non-positive ``alphas``, ``alpha N < 0.5``, bad ``N`` or ``time``.
    """
    n = as_count(num_inputs, "num_inputs")
    loads = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if loads.size == 0 or not np.all(np.isfinite(loads)) or not np.all(loads > 0):
        raise ValueError(f"alphas must be a non-empty sequence of positive loads P/N, got {alphas!r}")
    sizes = tuple(int(round(a * n)) for a in loads)
    if min(sizes) < 1:
        raise ValueError(f"every alpha * N must round to at least one example; got sizes {sizes} for N = {n}")
    num_steps = None
    if time is not None:
        if isinstance(time, (bool, np.bool_)) or not isinstance(time, (int, float, np.integer, np.floating)):
            raise TypeError(f"time must be a positive float (on-line steps / N) or None, got {time!r}")
        if not (math.isfinite(time) and time > 0):
            raise ValueError(f"time must be a positive finite float (None for the batch rule), got {time!r}")
        num_steps = as_count(max(1, int(round(time * n))), "time * N")
    return _hebb_simulation(key, n, sizes, num_steps)


# =========================================================================== 2. Hopfield classifiers


class HopfieldClassifier(eqx.Module):
    """A Hebbian Hopfield network with labelled prototypes.

    Attributes:
        couplings: (N, N) float symmetric coupling matrix, zero diagonal.
        prototypes: (Q, N) float patterns whose labels name the states the network ends in
            (supervised: the K class averages; unsupervised: the fixed points reached from the
            K M training examples).
        prototype_labels: (Q,) int32 labels in ``[0, num_classes)``.
        num_classes: static int ``K``.
    """

    couplings: Float[Array, "n n"]
    prototypes: Float[Array, "q n"]
    prototype_labels: Int[Array, " q"]
    num_classes: int = eqx.field(static=True)

    @property
    def model(self) -> Hopfield:
        """The network as a :class:`~jaxphys.models.Hopfield` model (dense couplings)."""
        return Hopfield.from_couplings(self.couplings)


def class_examples(key: PRNGKey, inputs, labels, num_examples: int, *, num_classes: int | None = None) -> Array:
    """Pick ``M`` random examples of each class without replacement: the (K, M, N) array of
    :func:`~jaxphys.learning.supervised_hebbian` and of the classifiers here.

    Args:
        key: typed PRNG key.
        inputs: (P, N) array (e.g. ``digits(spins=True).x``); labels: (P,) ints in ``[0, K)``.
        num_examples: ``M >= 1``, at most the size of the smallest class.
        num_classes: ``K`` (default ``max(labels) + 1``).

    Returns:
        (K, M, N) array of ``inputs``' dtype; row ``k`` holds examples of class ``k``.

    Raises:
        ValueError: shapes, labels outside ``[0, K)``, a class with fewer than ``M`` examples.
    """
    m = as_count(num_examples, "num_examples")
    x = np.asarray(inputs)
    y = np.asarray(labels)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"inputs must be (P, N) and labels (P,), got {x.shape} and {y.shape}")
    if y.size == 0 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("labels must be a non-empty int array of class indices")
    k = int(y.max()) + 1 if num_classes is None else as_count(num_classes, "num_classes")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}), got range [{y.min()}, {y.max()}]")
    order = np.argsort(np.asarray(jax.random.uniform(key, (y.size,))))  # one random order for all classes
    rows = []
    for c in range(k):
        where = order[y[order] == c]
        if where.size < m:
            raise ValueError(f"class {c} has {where.size} examples, fewer than num_examples = {m}")
        rows.append(where[:m])
    return jnp.asarray(x[np.stack(rows)])


def dreaming_couplings(patterns, time: float = 0.0) -> Float[Array, "n n"]:
    """Dreaming couplings ``J = (1/N) eta^T (1 + t)(I + t C)^(-1) eta``, ``C = eta eta^T / N``, ``J_ii = 0``.

    Fachechi, Agliari & Barra (2019) for real-valued patterns ``eta`` (Q, N): ``t = 0`` is the
    Hebbian rule, ``t = inf`` the pseudo-inverse (projector on the patterns' span; needs
    ``Q <= N`` independent patterns). For ``Q > N`` the equivalent N x N form
    ``(1 + t) S (I + t S)^(-1)``, ``S = eta^T eta / N``, is used. For +-1 patterns this is
    :meth:`~jaxphys.models.Hopfield.dreaming`.

    Args:
        patterns: (Q, N) finite float (or int) array.
        time: dreaming time ``t >= 0`` (concrete float; ``inf`` allowed when ``Q <= N``).

    Returns:
        (N, N) float symmetric matrix with zero diagonal.

    Raises:
        ValueError: patterns not 2-D, empty or not finite; ``t < 0`` or NaN; ``t = inf`` with
            ``Q > N`` or singular ``C``.
    """
    eta = jnp.asarray(patterns)
    if eta.ndim != 2 or eta.shape[0] < 1 or eta.shape[1] < 1:
        raise ValueError(f"patterns must have shape (Q, N) with Q, N >= 1, got {eta.shape}")
    eta = eta.astype(float_dtype())
    if is_concrete(eta) and not np.all(np.isfinite(np.asarray(eta))):
        raise ValueError("patterns must be finite (no NaN/inf)")
    t = float(time)
    if not t >= 0:
        raise ValueError(f"the dreaming time must be >= 0 (0: Hebbian, inf: pseudo-inverse), got {time!r}")
    q, n = eta.shape
    if math.isinf(t):
        if q > n:
            raise ValueError(f"the pseudo-inverse (time = inf) needs Q <= N patterns, got Q = {q} > N = {n}; use a finite time")
        if is_concrete(eta) and np.linalg.matrix_rank(np.asarray(eta, np.float64)) < q:
            raise ValueError("the pattern correlation matrix is singular: the pseudo-inverse needs independent patterns")
        return _dream(eta, jnp.zeros((), eta.dtype), "inf")
    return _dream(eta, jnp.asarray(t, eta.dtype), "patterns" if q <= n else "sites")


@functools.partial(jax.jit, static_argnames="form")
def _dream(eta, t, form):
    q, n = eta.shape
    if form == "inf":
        J = eta.T @ jnp.linalg.solve(eta @ eta.T / n, eta) / n
    elif form == "patterns":
        C = eta @ eta.T / n
        J = (1.0 + t) * eta.T @ jnp.linalg.solve(jnp.eye(q, dtype=C.dtype) + t * C, eta) / n
    else:
        S = eta.T @ eta / n
        J = (1.0 + t) * jnp.linalg.solve(jnp.eye(n, dtype=S.dtype) + t * S, S)
    return 0.5 * (J + J.T) * (1.0 - jnp.eye(n, dtype=J.dtype))


def supervised_classifier(examples, *, dreaming_time: float = 0.0) -> HopfieldClassifier:
    """Supervised Hebbian classifier: the class averages ``eta_bar^c`` stored in one network.

    At ``dreaming_time = 0`` the couplings are those of
    :func:`~jaxphys.learning.supervised_hebbian` (quality ``r = 1``), ``J = (1/N) sum_c
    eta_bar^c eta_bar^c^T``; a positive time dreams them (:func:`dreaming_couplings`), which
    correlated classes need (pure Hebb gives the 8 x 8 digits a single attractor). The
    prototypes are the class averages.

    Args:
        examples: (K, M, N) +-1 array (:func:`class_examples`).
        dreaming_time: ``t >= 0`` (``inf``: pseudo-inverse).

    Returns:
        :class:`HopfieldClassifier` with K prototypes labelled ``0..K-1``.

    Raises:
        ValueError: examples not (K, M, N) or not +-1; bad ``dreaming_time``.
    """
    eta = _examples(examples).astype(float_dtype())
    k, _, _ = eta.shape
    means = jnp.mean(eta, axis=1)
    J = dreaming_couplings(means, dreaming_time)
    return HopfieldClassifier(J, means, jnp.arange(k, dtype=jnp.int32), k)


@functools.partial(jax.jit, static_argnames=("mode", "max_sweeps"))
def _descend(keys, J, starts, fields, mode, max_sweeps):
    """Zero-temperature dynamics of ``E = -1/2 s.J.s - h.s`` from each start (vmapped)."""

    def one(key, s, h):
        return zero_temperature_dynamics(key, PairwiseIsing(J, h), s, mode=mode, max_sweeps=max_sweeps).spins

    return jax.vmap(one)(keys, starts, fields)


def unsupervised_classifier(
    key: PRNGKey, examples, *, dreaming_time: float = 0.0, max_sweeps: int = 100
) -> HopfieldClassifier:
    """Unsupervised Hebbian classifier: every example stored, attractors named afterwards.

    Couplings ``J = (1/N) sum_{c,a} eta^{c,a} eta^{c,a}^T`` (those of
    :func:`~jaxphys.learning.unsupervised_hebbian` up to its ``1/(r^2 M)`` scale, which does
    not move zero-temperature fixed points), dreamt for ``dreaming_time > 0``. The labels are
    not used to build ``J``; they only name the fixed point that asynchronous zero-temperature
    dynamics reaches from each training example (the prototypes). :func:`classify` then
    labels a state by majority vote of the prototypes nearest to it.

    Args:
        key: typed PRNG key (update orders of the dynamics).
        examples: (K, M, N) +-1 array; class ``k`` is row ``k``.
        dreaming_time: ``t >= 0`` (finite when ``K M > N``).
        max_sweeps: sweep budget of the dynamics.

    Returns:
        :class:`HopfieldClassifier` with K M prototypes.

    Raises:
        ValueError: examples not (K, M, N) or not +-1; bad ``dreaming_time`` or ``max_sweeps``.
    """
    eta = _examples(examples)
    k, m, n = eta.shape
    max_sweeps = as_count(max_sweeps, "max_sweeps")
    flat = eta.reshape(k * m, n)
    J = dreaming_couplings(flat, dreaming_time)
    fields = jnp.zeros((k * m, n), J.dtype)
    ends = _descend(jax.random.split(key, k * m), J, flat, fields, "asynchronous", max_sweeps)
    labels = jnp.repeat(jnp.arange(k, dtype=jnp.int32), m)
    return HopfieldClassifier(J, ends.astype(J.dtype), labels, k)


_METHODS = ("retrieval", "overlap")


@functools.partial(jax.jit, static_argnames="num_classes")
def _vote(prototypes, prototype_labels, states, num_classes):
    overlaps = states.astype(prototypes.dtype) @ prototypes.T  # (B, Q)
    best = jnp.max(overlaps, axis=1, keepdims=True)
    # ties within round-off share the vote (unsupervised prototypes repeat the same attractor)
    tied = overlaps >= best - 1e-6 * (1.0 + jnp.abs(best))
    votes = jax.vmap(lambda t: jax.ops.segment_sum(t.astype(jnp.int32), prototype_labels, num_classes))(tied)
    return jnp.argmax(votes, axis=1).astype(jnp.int32)


def classify(
    key: PRNGKey,
    classifier: HopfieldClassifier,
    inputs,
    *,
    method: str = "retrieval",
    input_field: float = 0.0,
    max_sweeps: int = 100,
    mode: str = "asynchronous",
) -> Int[Array, " b"]:
    """Labels of +-1 images by a Hebbian Hopfield classifier.

    ``"retrieval"``: zero-temperature dynamics (:func:`~jaxphys.models.zero_temperature_dynamics`)
    of ``E = -1/2 s.J.s - lambda s0.s`` from the image ``s0`` (``lambda = input_field``: a
    persistent stimulus, 0 for free retrieval), then the label of the prototype with the
    largest overlap with the fixed point reached (majority vote among ties). ``"overlap"``: the
    same vote on the image itself, with no dynamics.

    Args:
        key: typed PRNG key (update orders).
        classifier: from :func:`supervised_classifier` or :func:`unsupervised_classifier`.
        inputs: (B, N) +-1 images.
        method: ``"retrieval"`` or ``"overlap"``.
        input_field: ``lambda >= 0``.
        max_sweeps: sweep budget of the dynamics (a state not yet fixed is labelled as it is).
        mode: ``"asynchronous"`` or ``"synchronous"`` dynamics.

    Returns:
        (B,) int32 predicted labels.

    Raises:
        ValueError: unknown method, inputs not (B, N) +-1 with the classifier's N, negative
            ``input_field``.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    s0 = _as_patterns(inputs, "inputs")
    n = classifier.couplings.shape[0]
    if s0.shape[1] != n:
        raise ValueError(f"inputs have N = {s0.shape[1]} pixels but the classifier has N = {n}")
    lam = float(input_field)
    if not lam >= 0:
        raise ValueError(f"input_field must be >= 0, got {input_field!r}")
    max_sweeps = as_count(max_sweeps, "max_sweeps")
    states = s0
    if method == "retrieval":
        fields = lam * s0.astype(classifier.couplings.dtype)
        keys = jax.random.split(key, s0.shape[0])
        states = _descend(keys, classifier.couplings, s0, fields, mode, max_sweeps)
    return _vote(classifier.prototypes, classifier.prototype_labels, states, classifier.num_classes)


def nearest_class_mean(examples, inputs) -> Int[Array, " b"]:
    """Baseline: the class whose example average is nearest in Euclidean distance.

    ``argmin_c |s - eta_bar^c|^2 = argmax_c (eta_bar^c . s - |eta_bar^c|^2 / 2)``.

    Args:
        examples: (K, M, N) +-1 array; inputs: (B, N) +-1 (or real) array.

    Returns:
        (B,) int32 labels.

    Raises:
        ValueError: shapes that do not match.
    """
    eta = _examples(examples)
    x = jnp.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != eta.shape[2]:
        raise ValueError(f"inputs must have shape (B, {eta.shape[2]}), got {x.shape}")
    return _nearest_mean(eta, x)


@jax.jit
def _nearest_mean(eta, x):
    means = jnp.mean(eta.astype(float_dtype()), axis=1)
    score = x.astype(means.dtype) @ means.T - 0.5 * jnp.sum(means * means, axis=1)
    return jnp.argmax(score, axis=1).astype(jnp.int32)


# =========================================================================== 3. Pavlov machine


class PavlovResult(NamedTuple):
    """Final state of :func:`pavlov`.

    Attributes:
        synapses: (N, N) float ``J`` at the end.
        neurons: (N,) float ``sigma`` at the end.
        stimulus: int32 index of the stimulus presented at the end.
        record: (num_records, N, N) ``J`` at equally spaced times (the last equals ``synapses``;
            shape (0, N, N) when ``num_records = 0``).
        status: int32 :class:`~jaxphys.status.Status` (``NAN``, ``INVALID_PARAMETER``).
    """

    synapses: Float[Array, "n n"]
    neurons: Float[Array, " n"]
    stimulus: Int[Array, ""]
    record: Float[Array, "r n n"]
    status: Int[Array, ""]


class PavlovKernel(NamedTuple):
    """Stationary synapses of the Pavlov machine: exact ``mean`` (N, N) and ``variance`` (N, N).

    The variance is the leading order for ``tau_s << Delta`` and ``tau_s, Delta << tau_J``
    (:func:`pavlov_kernel`); the adiabatic limit of ``mean`` is the Hebbian kernel.
    """

    mean: Float[Array, "n n"]
    variance: Float[Array, "n n"]


def _stimuli(stimuli) -> Float[Array, "k n"]:
    s = jnp.asarray(stimuli)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
        raise ValueError(f"stimuli must have shape (K, N) with K, N >= 1 (one stimulus per row), got {s.shape}")
    if isinstance(stimuli, (bool, np.bool_)) or s.dtype == jnp.bool_:
        raise TypeError("stimuli must be a float (or int) array, got bool")
    s = s.astype(float_dtype())
    if is_concrete(s) and not np.all(np.isfinite(np.asarray(s))):
        raise ValueError("stimuli must be finite (no NaN/inf)")
    return s


def _times(dt, neuron_time, synapse_time, presentation_time, temperature):
    """Check the Pavlov parameters; returns them as float arrays and a traced validity flag."""
    values = {
        "neuron_time": _check_value(neuron_time, "neuron_time", 0.0),
        "synapse_time": _check_value(synapse_time, "synapse_time", 0.0),
        "presentation_time": _check_value(presentation_time, "presentation_time", 0.0),
        "temperature": _check_value(temperature, "temperature", 0.0, strict=False),
    }
    if dt is not None:
        values["dt"] = _check_value(dt, "dt", 0.0)
    for name, value in values.items():
        if value.ndim != 0:
            raise ValueError(f"{name} must be a scalar (vmap to sweep it), got shape {value.shape}")
    bad = _invalid(values["neuron_time"], 0.0) | _invalid(values["synapse_time"], 0.0)
    bad = bad | _invalid(values["presentation_time"], 0.0) | _invalid(values["temperature"], 0.0, strict=False)
    if dt is not None:
        step = values["dt"]
        if is_concrete(step):
            for name in ("neuron_time", "synapse_time", "presentation_time"):
                if is_concrete(values[name]) and float(step) > float(values[name]):
                    raise ValueError(f"dt = {float(step)} must not exceed {name} = {float(values[name])}; use a smaller dt")
        small = (step <= values["neuron_time"]) & (step <= values["synapse_time"]) & (step <= values["presentation_time"])
        bad = bad | _invalid(step, 0.0) | ~small
    return values, bad


def pavlov(
    key: PRNGKey,
    stimuli,
    num_steps: int,
    *,
    dt: ArrayLike = 0.05,
    neuron_time: ArrayLike = 1.0,
    synapse_time: ArrayLike = 100.0,
    presentation_time: ArrayLike = 10.0,
    temperature: ArrayLike = 0.1,
    num_records: int = 0,
) -> PavlovResult:
    """Euler-Maruyama integration of the Pavlov machine of the module docstring.

    One step of length ``dt`` (``a = dt/tau_s``, ``b = dt/tau_J``): with probability
    ``dt/Delta`` a new stimulus index is drawn uniformly among the K (possibly the same); then

        sigma <- sigma + a (s^mu - sigma) + sqrt(2 a T) z,     z ~ N(0, I_N),
        J     <- J + b (sigma sigma^T / N - J).

    A ``lax.scan`` over the records wraps a ``fori_loop`` over the steps whose count is traced,
    so runs of any length share one compilation. Starts from ``sigma = 0``, ``J = 0`` and a
    uniform stimulus; the synapses reach their stationary state after a few ``tau_J`` (compare
    with :func:`pavlov_kernel`, whose ``dt`` argument gives the exact mean of this discrete
    scheme). The stimulus strength is the scale of ``stimuli`` (pass ``h * patterns``).

    Args:
        key: typed PRNG key.
        stimuli: (K, N) float (or +-1) array of stimuli ``s^mu``.
        num_steps: number of steps (a Python int >= 1).
        dt: time step, at most each of the three times.
        neuron_time: ``tau_s > 0``; synapse_time: ``tau_J > 0``; presentation_time:
            ``Delta > 0`` (mean duration of a presentation); temperature: ``T >= 0``.
            All may be traced (vmap over them).
        num_records: record ``J`` this many times, equally spaced (must divide ``num_steps``).

    Returns:
        :class:`PavlovResult`; ``status`` flags ``INVALID_PARAMETER`` (traced parameters out of
        range) and ``NAN``.

    Raises:
        ValueError/TypeError: bad stimuli, non-positive times, ``dt`` above a time, negative
            temperature, ``num_records`` not dividing ``num_steps``.
    """
    s = _stimuli(stimuli)
    num_steps = as_count(num_steps, "num_steps")
    num_records = as_count(num_records, "num_records", minimum=0)
    if num_records and num_steps % num_records:
        raise ValueError(f"num_records = {num_records} must divide num_steps = {num_steps}")
    values, bad = _times(dt, neuron_time, synapse_time, presentation_time, temperature)
    return _pavlov(key, s, jnp.asarray(num_steps, jnp.int32), num_records, values, bad)


@functools.partial(jax.jit, static_argnames="num_records")
def _pavlov(key, s, num_steps, num_records, values, bad):
    # the step count is traced (a while loop), so runs of any length share one compilation
    k, n = s.shape
    dtype = s.dtype
    dt = values["dt"].astype(dtype)
    a = dt / values["neuron_time"].astype(dtype)
    b = dt / values["synapse_time"].astype(dtype)
    p_switch = dt / values["presentation_time"].astype(dtype)
    noise = jnp.sqrt(2.0 * a * values["temperature"].astype(dtype))
    key_start, key_run = jax.random.split(key)

    def step(index, carry):
        sigma, J, mu = carry
        k_uniform, k_noise = jax.random.split(jax.random.fold_in(key_run, index))
        u = jax.random.uniform(k_uniform, (2,), dtype)  # switch?  and the new stimulus
        new = jnp.minimum(jnp.floor(u[1] * k).astype(jnp.int32), k - 1)
        mu = jnp.where(u[0] < p_switch, new, mu)
        sigma = sigma + a * (s[mu] - sigma) + noise * jax.random.normal(k_noise, (n,), dtype)
        J = J + b * (jnp.outer(sigma, sigma) / n - J)
        return sigma, J, mu

    chunk = num_steps // max(num_records, 1)

    def block(carry, first):
        carry = jax.lax.fori_loop(first, first + chunk, step, carry)
        return carry, carry[1]

    carry = (jnp.zeros((n,), dtype), jnp.zeros((n, n), dtype), jax.random.randint(key_start, (), 0, k, jnp.int32))
    carry, record = jax.lax.scan(block, carry, chunk * jnp.arange(max(num_records, 1)))
    if not num_records:
        record = record[:0]
    sigma, J, mu = carry
    status = st.flag(st.ok(), st.Status.INVALID_PARAMETER, bad)
    status = st.flag(status, st.Status.NAN, ~jnp.all(jnp.isfinite(J)))
    return PavlovResult(J, sigma, mu.astype(jnp.int32), record, status)


def pavlov_kernel(
    stimuli,
    *,
    neuron_time: ArrayLike = 1.0,
    synapse_time: ArrayLike = 100.0,
    presentation_time: ArrayLike = 10.0,
    temperature: ArrayLike = 0.1,
    dt: ArrayLike | None = None,
) -> PavlovKernel:
    """Stationary mean and variance of the Pavlov synapses (:func:`pavlov`).

    Mean (exact; ``s_bar = (1/K) sum s^mu``, ``C_s = (1/K) sum s^mu s^mu^T``)::

        E J = (1/N) [ s_bar s_bar^T + g (C_s - s_bar s_bar^T) + v I ],

    continuous time (``dt=None``): ``g = 1/(1 + tau_s/Delta)``, ``v = T``; Euler-Maruyama with
    step ``dt`` (``a = dt/tau_s``, ``phi = 1 - a``, ``rho = 1 - dt/Delta``):
    ``g = a^2 (1 + phi rho) / ((1 - phi^2)(1 - phi rho))``, ``v = T / (1 - a/2)``. ``g`` is the
    variance gain of the neurons' low-pass filter on the randomly switching stimulus;
    ``g -> 1``, ``v -> T`` is the Hebbian kernel of the module docstring.

    Variance, to leading order (adiabatic neurons ``sigma = s^mu + eta``, ``eta`` an OU process of
    variance T and correlation time ``tau_s``; each piece ``V e^{-|t|/tau_c}`` of the
    autocovariance of ``N sigma_i sigma_j`` adds ``V tau_c / (tau_J + tau_c)`` to ``N^2 Var J_ij``)::

        i != j:  Var_mu(s_i s_j) Delta/(tau_J + Delta) + T (q_i + q_j) tau_s/(tau_J + tau_s)
                 + T^2 (tau_s/2)/(tau_J + tau_s/2),
        i == j:  Var_mu(s_i^2)  Delta/(tau_J + Delta) + 4 T q_i tau_s/(tau_J + tau_s)
                 + 2 T^2 (tau_s/2)/(tau_J + tau_s/2),

    all over ``N^2``, with ``q_i = (1/K) sum_mu (s_i^mu)^2``; the relative corrections are
    ``O(tau_s/Delta)`` (neuron lag) and ``O(dt/tau_s)``.

    Args:
        stimuli: (K, N) array; the other arguments as in :func:`pavlov` (``dt=None``: continuous
            time). ``synapse_time`` only enters the variance.

    Returns:
        :class:`PavlovKernel` (float (N, N) arrays); NaN where traced parameters are invalid.

    Raises:
        ValueError/TypeError: as :func:`pavlov`.
    """
    s = _stimuli(stimuli)
    values, bad = _times(dt, neuron_time, synapse_time, presentation_time, temperature)
    return _pavlov_kernel(s, values, bad, dt is None)


@functools.partial(jax.jit, static_argnames="continuous")
def _pavlov_kernel(s, values, bad, continuous):
    k, n = s.shape
    tau_s, tau_j = values["neuron_time"], values["synapse_time"]
    delta, T = values["presentation_time"], values["temperature"]
    if continuous:
        gain = 1.0 / (1.0 + tau_s / delta)
        thermal = T
    else:
        a = values["dt"] / tau_s
        phi, rho = 1.0 - a, 1.0 - values["dt"] / delta
        gain = a * a * (1.0 + phi * rho) / ((1.0 - phi * phi) * (1.0 - phi * rho))
        thermal = T / (1.0 - 0.5 * a)
    s_bar = jnp.mean(s, axis=0)
    second = s.T @ s / k
    eye = jnp.eye(n, dtype=s.dtype)
    mean = (jnp.outer(s_bar, s_bar) + gain * (second - jnp.outer(s_bar, s_bar)) + thermal * eye) / n

    products = s[:, :, None] * s[:, None, :]  # (K, N, N)
    switch_var = jnp.mean(products**2, axis=0) - second**2
    q = jnp.diagonal(second)
    window = lambda tau_c: tau_c / (tau_j + tau_c)  # noqa: E731
    offdiag = switch_var * window(delta) + T * (q[:, None] + q[None, :]) * window(tau_s) + T**2 * window(0.5 * tau_s)
    diag = jnp.diagonal(switch_var) * window(delta) + 4.0 * T * q * window(tau_s) + 2.0 * T**2 * window(0.5 * tau_s)
    variance = (offdiag * (1.0 - eye) + jnp.diag(diag)) / n**2
    nan = jnp.asarray(jnp.nan, s.dtype)
    return PavlovKernel(jnp.where(bad, nan, mean), jnp.where(bad, nan, variance))
