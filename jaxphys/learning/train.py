"""Training loops over any ``optax.GradientTransformation`` and equinox model, one ``lax.scan`` each.

:func:`fit` minimises the weighted empirical risk

    L(theta) = sum_i w_i l(theta; x_i, y_i) / sum_i w_i  +  penalty(theta)

with a per-sample ``loss(model, x_i, y_i) -> scalar`` and per-sample weights ``w_i >= 0`` (default
1). Weights are how data sets of different sizes share one shape: pad to the largest size and
give the padding weight 0 (:func:`size_masks`), then ``jax.vmap`` over the masks; a whole learning
curve over seeds and sample sizes is one call of :func:`learning_curve`. Each step follows the
gradient of an unbiased estimate of ``L`` chosen by the arguments (``n`` = number of samples with
``w_i > 0``, ``W = sum_i w_i``):

* full-batch gradient descent (default): ``L`` itself;
* minibatch SGD (``batch_size=B``): ``B`` indices drawn uniformly *with replacement* among the
  ``n`` weighted samples, ``L_B = (n / W) (1/B) sum_b w_{i_b} l_{i_b} + penalty``;
* persistent SGD (``persistence=tau``; Mignacco, Krzakala, Urbani & Zdeborova, NeurIPS 2020;
  Mignacco & Urbani, "The effective noise of stochastic gradient descent", J. Stat. Mech. 2022): sample ``i`` is in the batch when
  ``s_i(t) = 1``, ``L_s = sum_i s_i w_i l_i / (b W) + penalty``. Each ``s_i`` is a two-state
  Markov chain, ``P(0 -> 1) = b (1 - lambda)``, ``P(1 -> 0) = (1 - b)(1 - lambda)``,
  ``lambda = exp(-1/tau)``, started from its stationary law: ``E s_i = b`` (the batch fraction) and
  ``Corr(s_i(t), s_i(t + k)) = exp(-k / tau)`` (``tau`` in steps). ``tau = 0`` gives i.i.d.
  Bernoulli(b) batches, the SGD of the DMFT papers; ``tau = inf`` freezes one random batch. In the
  continuous-time notation of Mignacco et al. (rates ``1/tau_M`` into the batch and
  ``(1 - b)/(b tau_M)`` out of it, time step ``eta`` = learning rate),
  ``lambda = 1 - eta / (b tau_M)``, so ``tau = -1 / ln(1 - eta / (b tau_M))`` (``~ b tau_M / eta``).
  Every step evaluates the loss on all samples (masked), so it costs as much as full batch.

With :func:`langevin` as the optimizer the loop samples ``exp(-L / T)`` (unadjusted Langevin;
with minibatches, stochastic-gradient Langevin). A step whose loss, gradient or updated
parameters are not finite is not applied (model and optimizer state stay as they were) and sets
``Status.NAN``; the logged ``loss`` shows the failure. Everything is a pure function of ``key``,
so ``jax.vmap`` over keys, weights, data or hyperparameters (build the optimizer inside the
vmapped function, e.g. ``optax.sgd(lr)`` with a traced ``lr``) gives independent runs.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int

from .. import _progress, status as st
from .._validate import as_count, real_scalar
from ..models.base import float_dtype, is_concrete
from ..typing import PRNGKey
from .data import Dataset, _check_key

__all__ = ["LangevinState", "TrainResult", "fit", "langevin", "learning_curve", "persistent_masks", "size_groups", "size_masks"]


class TrainResult(NamedTuple):
    """Result of :func:`fit` (fields gain leading axes under ``vmap`` and in :func:`learning_curve`).

    Attributes:
        model: the trained model (same structure as the initial one).
        history: ``"step"`` (int32, steps at which it was logged: 0, ``log_every``, ...,
            ``num_steps``), ``"loss"`` (the full weighted objective ``L`` there, penalty included) and
            the entries of ``eval_fn(model)`` (a dict is merged, anything else is stored as ``"eval"``).
        status: int32 bitmask (:class:`jaxphys.status.Status`): ``NAN`` if some step was skipped
            because its loss, gradient or update was not finite.
    """

    model: Any
    history: dict[str, Array]
    status: Int[Array, ""]


# --------------------------------------------------------------------------- Langevin


class LangevinState(NamedTuple):
    """State of :func:`langevin`: ``count`` (int32 steps taken) and ``key`` (typed key of the noise)."""

    count: Int[Array, ""]
    key: PRNGKey


def langevin(learning_rate: float | optax.Schedule, temperature, key: PRNGKey | None = None) -> optax.GradientTransformation:
    """Unadjusted Langevin dynamics as an optax transformation: ``theta <- theta - lr grad L + sqrt(2 lr T) xi``.

    ``xi ~ N(0, I)`` fresh at each step. For small ``lr`` the chain samples ``exp(-L(theta) / T)``;
    the discretisation biases it at O(lr): for a quadratic ``L = (theta - m)^T A (theta - m) / 2`` the
    stationary law is exactly Gaussian with mean ``m`` and covariance ``T A^-1 (1 - lr A / 2)^-1``
    (stable for ``lr < 2 / lambda_max(A)``). The Bayesian posterior of a model with likelihood
    ``prod_i p(y_i | x_i, theta)`` and prior ``p(theta)`` is ``exp(-L/T)`` with ``l = -log p(y|x, theta)``,
    ``penalty = -log p(theta) / P`` and ``T = 1/P`` (``L`` is a *mean* over samples).

    Args:
        learning_rate: ``lr > 0``, a float (may be traced) or an optax schedule ``step -> lr``.
        temperature: ``T >= 0`` (``T = 0`` is gradient descent; may be traced).
        key: seeds the noise when the transformation is used on its own (default
            ``jax.random.key(0)``). :func:`fit` reseeds it from its own ``key``, so runs vmapped
            over ``fit``'s keys get independent noise.

    Returns:
        An ``optax.GradientTransformation`` with state :class:`LangevinState`; its updates already
        contain the ``-lr`` factor (use it alone, or after gradient transformations, not with ``optax.sgd``).

    Raises:
        ValueError/TypeError: non-positive ``lr``, negative ``T`` (when concrete), an untyped key.
    """
    if not callable(learning_rate):
        learning_rate = real_scalar(learning_rate, "learning_rate", low=0.0, low_open=True, high_open=True)
    temperature = real_scalar(temperature, "temperature", low=0.0, high_open=True)
    if key is None:
        key = jax.random.key(0)
    _check_key(key)

    def init(params):
        del params
        return LangevinState(jnp.zeros((), jnp.int32), key)

    def update(updates, state, params=None):
        del params
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        next_key, noise_key = jax.random.split(state.key)
        leaves, treedef = jax.tree.flatten(updates)
        keys = jax.random.split(noise_key, max(len(leaves), 1))
        moved = []
        for k, g in zip(keys, leaves):
            scale = jnp.sqrt(2.0 * lr * temperature).astype(g.dtype)
            moved.append((-lr * g).astype(g.dtype) + scale * jax.random.normal(k, g.shape, g.dtype))
        return jax.tree.unflatten(treedef, moved), LangevinState(optax.safe_int32_increment(state.count), next_key)

    return optax.GradientTransformation(init, update)


def _reseed_langevin(opt_state, key):
    """Give every :class:`LangevinState` in ``opt_state`` a key derived from ``key`` (its position folded in)."""
    counter = itertools.count()

    def reseed(leaf):
        if isinstance(leaf, LangevinState):
            return leaf._replace(key=jax.random.fold_in(key, next(counter)))
        return leaf

    return jax.tree.map(reseed, opt_state, is_leaf=lambda s: isinstance(s, LangevinState))


# --------------------------------------------------------------------------- batches


def size_masks(sizes: Sequence[int], num_samples: int, dtype=None) -> Float[Array, "s p"]:
    """0/1 weights selecting the first ``sizes[j]`` of ``num_samples`` samples: row ``j`` is data set ``j``.

    Data sets of different sizes then share one (padded) shape, and ``jax.vmap(fit, ...)`` over the
    rows (``weights=``) trains on all of them at once; the smaller data sets are prefixes of the
    larger ones (nested, as when a data set grows).

    Args:
        sizes: sample sizes, each in ``[1, num_samples]``.
        num_samples: the padded size ``P``.
        dtype: floating dtype (default float32, float64 under x64).

    Returns:
        (len(sizes), P) array of 0 and 1.

    Raises:
        ValueError/TypeError: empty ``sizes``, a size outside ``[1, num_samples]``.
    """
    p = as_count(num_samples, "num_samples")
    sizes = [as_count(s, "each size") for s in sizes]
    if not sizes:
        raise ValueError("sizes must not be empty")
    if max(sizes) > p:
        raise ValueError(f"sizes must be <= num_samples = {p}, got {max(sizes)}")
    dtype = float_dtype() if dtype is None else dtype
    return jnp.asarray(np.arange(p)[None, :] < np.asarray(sizes)[:, None], dtype)


def _switch_probabilities(fraction: Array, persistence: Array) -> tuple[Array, Array]:
    """``(P(0 -> 1), P(1 -> 0))`` of the in/out chain with mean ``fraction`` and correlation time ``persistence``."""
    correlation = jnp.exp(-1.0 / persistence)  # tau = 0 -> 0 (i.i.d.), tau = inf -> 1 (frozen)
    return fraction * (1.0 - correlation), (1.0 - fraction) * (1.0 - correlation)


def _switch(key, inside: Array, p_in: Array, p_out: Array, active: Array) -> Array:
    u = jax.random.uniform(key, inside.shape, p_in.dtype)
    return jnp.where(inside, u >= p_out, u < p_in) & active


def persistent_masks(
    key: PRNGKey, num_samples: int, num_steps: int, *, batch_fraction, persistence
) -> Bool[Array, "t p"]:
    """The in/out process of persistent SGD: ``s_i(t)`` for ``t = 0..num_steps-1``, as :func:`fit` draws it.

    Independent two-state Markov chains, one per sample, started in their stationary law:
    ``P(s = 1) = b``, ``P(0 -> 1) = b (1 - lambda)``, ``P(1 -> 0) = (1 - b)(1 - lambda)``,
    ``lambda = exp(-1 / tau)``, so ``Cov(s(t), s(t + k)) = b (1 - b) exp(-k / tau)``. For inspection
    and tests; ``fit(..., persistence=tau)`` uses the same chain.

    Args:
        key: typed key.
        num_samples: ``P >= 1``.
        num_steps: ``>= 1``.
        batch_fraction: ``b`` in (0, 1] (may be traced).
        persistence: ``tau >= 0`` in steps, ``inf`` allowed (may be traced).

    Returns:
        (num_steps, P) bool.
    """
    _check_key(key)
    p, t = as_count(num_samples, "num_samples"), as_count(num_steps, "num_steps")
    b = _fraction(batch_fraction)
    tau = _persistence(persistence)
    return _persistent_masks(key, b, tau, p, t)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _persistent_masks(key, b, tau, num_samples, num_steps):
    p_in, p_out = _switch_probabilities(b, tau)
    active = jnp.ones((num_samples,), bool)
    key_init, key_steps = jax.random.split(key)
    inside = jax.random.bernoulli(key_init, b, (num_samples,))

    def step(inside, k):
        return _switch(k, inside, p_in, p_out, active), inside

    return jax.lax.scan(step, inside, jax.random.split(key_steps, num_steps))[1]


# --------------------------------------------------------------------------- fit


def fit(
    key: PRNGKey,
    model: Any,
    loss: Callable[[Any, Array, Array], Array],
    data: Dataset | tuple[Array, Array],
    optimizer: optax.GradientTransformation,
    *,
    num_steps: int,
    batch_size: int | None = None,
    batch_fraction=None,
    persistence=None,
    weights: Array | None = None,
    penalty: Callable[[Any], Array] | None = None,
    eval_fn: Callable[[Any], Any] | None = None,
    log_every: int | None = None,
    throw: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Train ``model`` on ``data`` for ``num_steps`` optimizer steps (one jitted ``lax.scan``).

    See the module docstring for the objective and the batch schemes. The trained leaves are the
    model's floating-point arrays (``eqx.partition(model, eqx.is_inexact_array)``); everything else
    is held fixed. ``model`` may also be a bare array or any pytree of arrays. To vmap ``fit`` over
    keys, weights or hyperparameters when the model holds non-array leaves (functions, as in
    ``eqx.nn.MLP``), use ``eqx.filter_vmap``; functions passed here (``loss``, ``eval_fn``, the
    optimizer) are static arguments of the compiled loop: define them once, not as new lambdas per call.

    Args:
        key: typed key (``jax.random.key``): batches, persistent masks and :func:`langevin` noise.
        model: initial model, an ``eqx.Module`` (or a pytree of arrays).
        loss: ``loss(model, x_i, y_i) -> scalar`` for ONE sample (vmapped over samples here).
        data: ``Dataset(x, y)`` (or ``(x, y)``), ``x`` (P, ...) and ``y`` (P, ...) with equal ``P >= 1``.
        optimizer: any ``optax.GradientTransformation`` (``optax.sgd(lr)``, ``optax.adam(lr)``,
            :func:`langevin`...). An ``optax.GradientTransformationExtraArgs`` also receives
            ``value=`` (the batch objective).
        num_steps: optimizer steps ``>= 1``.
        batch_size: minibatch size ``B`` (drawn with replacement); with ``persistence``, the expected
            batch size ``b n`` (then ``b = min(B / n, 1)``). ``None``: full batch.
        batch_fraction: ``b`` in (0, 1] for persistent SGD instead of ``batch_size`` (may be traced);
            alone it means ``persistence=0`` (i.i.d. Bernoulli batches).
        persistence: correlation time ``tau >= 0`` of persistent SGD, in steps (may be traced; ``inf``
            freezes the batch). Needs ``batch_size`` or ``batch_fraction``.
        weights: (P,) per-sample weights ``>= 0`` (default all 1); 0 marks padding.
        penalty: ``penalty(model) -> scalar`` added to the objective (e.g. ridge ``lam |w|^2 / 2``).
        eval_fn: ``eval_fn(model) -> dict of scalars`` (or any pytree), logged with the loss.
        log_every: log every this many steps (default ``max(1, num_steps // 100)``); the history
            holds step 0, every multiple of ``log_every`` and ``num_steps``.
        throw: raise (also under ``jit``) if a step was skipped for a non-finite value.
        progress: a tqdm progress bar over the logged chunks (via a host callback; under ``vmap``
            it advances once per chunk for the whole batch; inside an outer ``jit`` nothing is shown).

    Returns:
        :class:`TrainResult` ``(model, history, status)``.

    Raises:
        TypeError/ValueError: untyped key; ``x`` and ``y`` (or ``weights``) with different numbers of
        samples; an empty data set; NaN or infinity in the data (pad with zeros, not NaN); negative,
        non-finite or all-zero weights; a loss that does not return one scalar per sample; sizes
        < 1; ``persistence`` without a batch size; ``batch_size`` with ``batch_fraction``.

    Example::

        model = jnp.zeros(N)                       # ridge regression, y_hat = w . x / sqrt N
        loss = lambda w, x, y: 0.5 * (y - w @ x / jnp.sqrt(N)) ** 2
        result = fit(key, model, loss, data, optax.sgd(0.5), num_steps=1000, batch_size=32)
    """
    _check_key(key)
    if not callable(loss):
        raise TypeError(f"loss must be a function (model, x_i, y_i) -> scalar, got {type(loss).__name__}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax.GradientTransformation (e.g. optax.sgd(0.1)), got {type(optimizer).__name__}")
    for name, fn in (("penalty", penalty), ("eval_fn", eval_fn)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be a function of the model, got {type(fn).__name__}")
    x, y = _check_data(data)
    num_samples = x.shape[0]
    num_steps = as_count(num_steps, "num_steps")
    log_every = max(1, num_steps // 100) if log_every is None else as_count(log_every, "log_every")
    if log_every > num_steps:
        raise ValueError(f"log_every = {log_every} exceeds num_steps = {num_steps}")
    weights = _check_weights(weights, num_samples, x.dtype)
    if batch_size is not None:
        batch_size = as_count(batch_size, "batch_size")
    if batch_size is not None and batch_fraction is not None:
        raise ValueError("give batch_size or batch_fraction, not both")
    if batch_fraction is not None:
        batch_fraction = _fraction(batch_fraction)
        persistence = 0.0 if persistence is None else persistence
    if persistence is not None:
        if batch_size is None and batch_fraction is None:
            raise ValueError("persistence needs a batch: give batch_size (expected size) or batch_fraction")
        persistence = _persistence(persistence)
    params, _ = eqx.partition(model, eqx.is_inexact_array)
    if not jax.tree.leaves(params):
        raise TypeError("model has no floating-point arrays to train")
    _check_loss_shape(loss, model, x, y)

    num_logs = num_steps // log_every + (num_steps % log_every > 0)
    result = _progress.call(
        progress, (num_logs, "train.fit", "log"),
        _fit, key, model, loss, x, y, optimizer, weights, batch_fraction, persistence,
        num_steps=num_steps, batch_size=batch_size, log_every=log_every, penalty=penalty, eval_fn=eval_fn,
        progress=progress,
    )  # fmt: skip
    if throw:
        result = result._replace(history=st.check(result.history, result.status))
    return result


@eqx.filter_jit
def _fit(key, model, loss, x, y, optimizer, weights, batch_fraction, persistence, *, num_steps, batch_size, log_every, penalty, eval_fn, progress):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    key_langevin, key_masks, key_steps, key_tail = jax.random.split(key, 4)
    opt_state = _reseed_langevin(optimizer.init(params), key_langevin)
    extra_args = isinstance(optimizer, optax.GradientTransformationExtraArgs)

    active = weights > 0
    num_active = jnp.sum(active)
    total_weight = jnp.sum(weights)
    masked = persistence is not None
    if masked:
        b = batch_fraction if batch_fraction is not None else jnp.minimum(batch_size / num_active, 1.0).astype(x.dtype)
        p_in, p_out = _switch_probabilities(b, persistence)
        inside = jax.random.bernoulli(key_masks, b, active.shape) & active
    else:
        inside = jnp.zeros((), bool)  # unused placeholder carry
    cumulative = jnp.cumsum(active)

    def per_sample(params, xs, ys):
        return jax.vmap(loss, in_axes=(None, 0, 0))(eqx.combine(params, static), xs, ys)

    def regulariser(params):
        return 0.0 if penalty is None else penalty(eqx.combine(params, static))

    def weighted_sum(params, scale):
        losses = per_sample(params, x, y)
        return jnp.sum(jnp.where(scale > 0, scale * losses, 0.0))

    def full_objective(params):
        return weighted_sum(params, weights) / total_weight + regulariser(params)

    def batch_objective(params, k, inside):
        if masked:
            return weighted_sum(params, jnp.where(inside, weights, 0.0)) / (b * total_weight) + regulariser(params)
        if batch_size is None:
            return full_objective(params)
        ranks = jax.random.randint(k, (batch_size,), 0, num_active)
        index = jnp.searchsorted(cumulative, ranks, side="right")  # the (rank+1)-th weighted sample
        losses = per_sample(params, x[index], y[index])
        return num_active / total_weight * jnp.mean(weights[index] * losses) + regulariser(params)

    def step(carry, k):
        # one key per step: it draws the batch indices or switches the masks, never both
        params, opt_state, inside, status = carry
        value, grads = jax.value_and_grad(batch_objective)(params, k, inside)
        kwargs = {"value": value} if extra_args else {}
        updates, new_opt_state = optimizer.update(grads, opt_state, params, **kwargs)
        new_params = eqx.apply_updates(params, updates)
        finite = jnp.isfinite(value) & _all_finite(grads) & _all_finite(new_params)
        params = _tree_where(finite, new_params, params)
        opt_state = _tree_where(finite, new_opt_state, opt_state)
        status = st.flag(status, st.Status.NAN, ~finite)
        if masked:
            inside = _switch(k, inside, p_in, p_out, active)
        return (params, opt_state, inside, status), None

    def log(params):
        record = {"loss": full_objective(params)}
        if eval_fn is not None:
            metrics = eval_fn(eqx.combine(params, static))
            record.update(metrics if isinstance(metrics, dict) else {"eval": metrics})
        return record

    def chunk(carry, k_and_index, length):
        k, index = k_and_index
        carry, _ = jax.lax.scan(step, carry, jax.random.split(k, length))
        _progress.tick(index, progress)
        return carry, log(carry[0])

    num_chunks, tail = divmod(num_steps, log_every)
    carry = (params, opt_state, inside, st.ok())
    first = log(params)
    carry, records = jax.lax.scan(
        lambda c, ki: chunk(c, ki, log_every), carry, (jax.random.split(key_steps, num_chunks), jnp.arange(num_chunks))
    )
    pieces = [jax.tree.map(lambda v: v[None], first), records]
    steps = [np.arange(num_chunks + 1) * log_every]
    if tail:
        carry, last = chunk(carry, (key_tail, jnp.asarray(num_chunks)), tail)
        pieces.append(jax.tree.map(lambda v: v[None], last))
        steps.append(np.array([num_steps]))
    history = jax.tree.map(lambda *v: jnp.concatenate(v), *pieces)
    for name in history:
        if name == "step":
            raise ValueError("eval_fn must not return an entry named 'step'")
    history = {"step": jnp.asarray(np.concatenate(steps), jnp.int32), **history}
    params, _, _, status = carry
    return TrainResult(eqx.combine(params, static), history, status)


def _all_finite(tree) -> Array:
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree) if eqx.is_inexact_array(leaf)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _tree_where(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b) if eqx.is_array(a) else a, new, old)


# --------------------------------------------------------------------------- learning curves


# Automatic grouping of learning_curve (num_groups=None). Padding to the largest size multiplies the
# per-run work by max(P) / mean(P) (2.85 for 16 geometric sizes from P/16 to P), and each group is one
# more vmapped loop in the compiled program (compile time grows about linearly with the groups). What
# padding costs in run time depends on the model (measured on one CPU core, 16 geometric sizes):
# * the runs of one seed share its inputs, so for a linear model (parameters ~ one input) the vmapped
#   products over the runs are bound by reading the inputs and padding is nearly free: N = 256
#   perceptron, 16 seeds x 300 steps, 2.6 s in one group, 3.1 s in 4 groups, 3.4 s with no padding;
# * with hidden layers each run is compute-bound and the padded work sets the time: a two-layer
#   network with N = H = 128, 4 seeds x 200 steps, 6.3 s in one group, 2.8 s in 4 groups, but 3 s of
#   extra compilation.
# So groups are used when the trained parameters exceed _MIN_PARAMETERS_PER_INPUT times the size of
# one input and the curve costs more than _MIN_GROUPED_WORK (sample-steps x parameters, padded to
# max(P); about 10 s of CPU at the ~2e10 per second measured above, where the saved run time exceeds
# the extra compilation); then the fewest groups, at most _MAX_GROUPS, whose padded work is within
# _PADDING_TARGET of the unpadded work (16 geometric sizes: 4 groups, 1.24; 16 linear ones: 4, 1.18).
_PADDING_TARGET = 1.25
_MAX_GROUPS = 4
_MIN_GROUPED_WORK = 2e11
_MIN_PARAMETERS_PER_INPUT = 8


def size_groups(sizes: Sequence[int], num_groups: int) -> tuple[tuple[int, ...], ...]:
    """Split sample sizes into ``num_groups`` groups that minimise the padded work ``sum_g |g| max_{j in g} P_j``.

    Each group is trained padded to its own largest size (:func:`learning_curve`), so this is the
    work of the grouped curve. The optimal groups are runs of consecutive sizes in sorted order; an
    exact dynamic programme over the split points finds them (O(k^2 num_groups) for ``k`` sizes).

    Args:
        sizes: sample sizes (ints >= 1), in any order, repeats allowed.
        num_groups: ``>= 1``; at most the number of distinct sizes are used.

    Returns:
        tuple of groups, each a tuple of indices into ``sizes`` (ascending size); every index appears
        exactly once. Groups are ordered by size.

    Raises:
        TypeError/ValueError: empty ``sizes``, sizes or ``num_groups`` that are not ints >= 1.
    """
    sizes = [as_count(s, "each size") for s in sizes]
    if not sizes:
        raise ValueError("sizes must not be empty")
    num_groups = min(as_count(num_groups, "num_groups"), len(set(sizes)))
    order = sorted(range(len(sizes)), key=lambda j: sizes[j])
    ordered = [sizes[j] for j in order]
    cost, split = _padded_work(ordered, num_groups)
    if num_groups > 1:
        # equal costs: use no more groups than needed (never split equal sizes)
        num_groups = min(g for g in range(1, num_groups + 1) if cost[g] == cost[num_groups])
    bounds, end = [], len(ordered)
    for g in range(num_groups, 0, -1):
        start = split[g][end]
        bounds.append((start, end))
        end = start
    return tuple(tuple(order[i] for i in range(a, b)) for a, b in reversed(bounds))


def _padded_work(ordered: list[int], max_groups: int) -> tuple[list[float], list[list[int]]]:
    """Least padded work of ascending ``ordered`` with 1..max_groups groups, and the split points.

    ``best[g][j]``: least work of the first ``j`` sizes in ``g`` groups; ``split[g][j]``: where the last
    of those groups starts. Returns ``([best[g][k] for g], split)`` (index 0 unused).
    """
    k = len(ordered)
    best = [[math.inf] * (k + 1) for _ in range(max_groups + 1)]
    split = [[0] * (k + 1) for _ in range(max_groups + 1)]
    best[0][0] = 0.0
    for g in range(1, max_groups + 1):
        for j in range(1, k + 1):
            for i in range(g - 1, j):
                work = best[g - 1][i] + (j - i) * ordered[j - 1]
                if work < best[g][j]:
                    best[g][j], split[g][j] = work, i
    return [row[k] for row in best], split


def _auto_num_groups(sizes: tuple[int, ...], num_runs_steps: int, num_parameters: int, input_size: int) -> int:
    """``num_groups=None`` of :func:`learning_curve` (the rule above ``_PADDING_TARGET``).

    ``num_runs_steps``: seeds x steps; ``num_parameters``: trained parameters of one model;
    ``input_size``: numbers in one input ``x_i``.
    """
    if num_parameters < _MIN_PARAMETERS_PER_INPUT * input_size:
        return 1
    if num_runs_steps * len(sizes) * max(sizes) * num_parameters < _MIN_GROUPED_WORK:
        return 1
    ordered = sorted(sizes)
    cost, _ = _padded_work(ordered, min(_MAX_GROUPS, len(set(sizes))))
    fits = [g for g in range(1, len(cost)) if cost[g] <= _PADDING_TARGET * sum(ordered)]
    return fits[0] if fits else len(cost) - 1


def learning_curve(
    key: PRNGKey,
    model: Any,
    loss: Callable[[Any, Array, Array], Array],
    sample: Callable[[PRNGKey, int], tuple[Dataset, Any]],
    optimizer: optax.GradientTransformation,
    sizes: Sequence[int],
    *,
    num_seeds: int,
    num_steps: int,
    eval_fn: Callable[[Any, Any], Any] | None = None,
    num_groups: int | None = None,
    **fit_options,
) -> TrainResult:
    """Train on every (seed, sample size) pair in one jitted, vmapped call: a learning curve.

    For each seed ``s`` one data set of ``max(sizes)`` samples is drawn, ``data, aux = sample(k_s, P_max)``
    (e.g. ``lambda k, p: data.teacher_perceptron(k, p, N)``, whose ``aux`` is the teacher), and
    the model is trained on its first ``P`` samples for every ``P`` in ``sizes`` (:func:`size_masks`,
    so the data sets of one seed are nested), with :func:`fit` and ``fit_options``. Logged metrics
    are ``eval_fn(model, aux)`` (``aux`` can also hold a test set). Different seeds are independent;
    the runs of one seed share its data and its initial model but not their batch noise.

    Cost: the sizes are split into groups (:func:`size_groups`), and each group is one vmapped loop
    whose runs are padded to the group's largest size: a step costs ``num_seeds * sum_g |g| max(g)``
    per-sample gradients. One group (``num_groups=1``) pads everything to ``max(sizes)``, which is
    ``max(sizes) / mean(sizes)`` times the unpadded work (1.9 for a linear grid of sizes from ``P/16``
    to ``P``, 3 for a geometric one); four groups bring that to 1.2. Each group adds a loop to the
    compiled program, so compilation grows with the groups. Whether padding costs run time depends on
    the model: the runs of one seed share its inputs, so for linear models (as many parameters as an
    input has numbers) the vmapped products are bound by reading the inputs and padding is nearly free
    on a CPU (an N = 256 perceptron ran 20% slower in 4 groups), while networks with hidden layers are
    compute-bound and gain the padding ratio (2.3 times faster in 4 groups for N = H = 128).
    ``num_groups=None`` uses one group for models with fewer than 8 parameters per input number and
    for curves too small for the saved time to pay for the compilation (below 2e11 sample-steps x
    parameters), and otherwise the fewest groups (at most 4) within 25% of the unpadded work.

    Keys (so any single run can be repeated with :func:`fit`): seed ``s`` uses
    ``k_s = jax.random.split(key, num_seeds)[s]``, ``key_data, key_init, key_fit = jax.random.split(k_s, 3)``,
    and size ``j`` trains with ``fit(jax.random.split(key_fit, len(sizes))[j], ..., weights=size_masks(sizes, max(sizes))[j])``
    on all ``max(sizes)`` samples. In a group padded to ``P_g`` it is trained on the first ``P_g``
    samples with the first ``P_g`` weights: the same run up to float rounding, since padding carries
    weight 0 and the batch draws of :func:`fit` do not depend on it (so results do not depend on
    ``num_groups``).

    Args:
        key: typed key.
        model: initial model, or a function ``key -> model`` for a random initialisation per seed.
        loss: per-sample loss ``loss(model, x_i, y_i) -> scalar``.
        sample: ``sample(key, num_samples) -> (Dataset, aux)``.
        optimizer: an optax transformation (hyperparameters that vary go in a ``jax.vmap`` around
            this call, building the optimizer inside it).
        sizes: training-set sizes ``P`` (ints), e.g. ``[round(a * N) for a in alphas]``.
        num_seeds: independent repetitions ``>= 1``.
        num_steps: optimizer steps per run.
        eval_fn: ``eval_fn(model, aux) -> dict of scalars``, e.g. the generalisation error.
        num_groups: number of padded groups of sizes (``>= 1``; 1 pads everything to ``max(sizes)``);
            ``None``: automatic (see Cost).
        **fit_options: passed to :func:`fit` (``batch_size``, ``persistence``, ``penalty``, ``log_every``...;
            not ``weights``).

    Returns:
        :class:`TrainResult` with leading axes ``(num_seeds, len(sizes))`` (sizes in the order given)
        on every leaf of ``model``, ``history`` (then ``(num_seeds, len(sizes), num_logs)``) and ``status``.

    Raises:
        TypeError/ValueError: as :func:`fit`; bad ``sizes``/``num_seeds``/``num_groups``; a ``sample``
        that does not return ``max(sizes)`` samples.
    """
    _check_key(key)
    num_seeds = as_count(num_seeds, "num_seeds")
    sizes = tuple(as_count(s, "each size") for s in sizes)
    if not sizes:
        raise ValueError("sizes must not be empty")
    if "weights" in fit_options:
        raise TypeError("learning_curve sets the weights itself (one mask per size); do not pass weights")
    if not callable(sample):
        raise TypeError("sample must be a function (key, num_samples) -> (Dataset, aux)")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError("eval_fn must be a function (model, aux) -> dict of scalars")
    if num_groups is None:
        init = model if (callable(model) and not isinstance(model, eqx.Module)) else None
        shapes = eqx.filter_eval_shape(init, key) if init is not None else model
        num_parameters = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes) if eqx.is_inexact_array_like(leaf))
        inputs = jax.tree.leaves(eqx.filter_eval_shape(sample, key, max(sizes)))[0]  # x of the Dataset
        input_size = math.prod(inputs.shape[1:])
        num_groups = _auto_num_groups(sizes, num_seeds * as_count(num_steps, "num_steps"), num_parameters, input_size)
    groups = size_groups(sizes, num_groups)
    return _learning_curve(key, model, loss, sample, optimizer, sizes, groups, num_seeds, num_steps, eval_fn, fit_options)


@eqx.filter_jit
def _learning_curve(key, model, loss, sample, optimizer, sizes, groups, num_seeds, num_steps, eval_fn, fit_options):
    largest = max(sizes)
    init = model if (callable(model) and not isinstance(model, eqx.Module)) else None
    # result j of the groups' concatenation is size concatenated[j]; this gathers them back in order
    inverse = np.argsort(np.concatenate(groups))

    def one_seed(k):
        key_data, key_init, key_fit = jax.random.split(k, 3)
        data, aux = sample(key_data, largest)
        x, y = _check_data(data)
        if x.shape[0] != largest:
            raise ValueError(f"sample(key, {largest}) returned {x.shape[0]} samples")
        model0 = init(key_init) if init is not None else model
        evaluate = None if eval_fn is None else (lambda m: eval_fn(m, aux))
        run_keys = jax.random.split(key_fit, len(sizes))

        def one_size(k_run, mask, xs, ys):
            options = dict(num_steps=num_steps, weights=mask, eval_fn=evaluate, **fit_options)
            return fit(k_run, model0, loss, (xs, ys), optimizer, **options)

        pieces = []
        for group in groups:
            padded = max(sizes[j] for j in group)
            masks = size_masks([sizes[j] for j in group], padded, x.dtype)
            run = jax.vmap(one_size, in_axes=(0, 0, None, None))
            pieces.append(run(run_keys[np.asarray(group)], masks, x[:padded], y[:padded]))
        return jax.tree.map(lambda *leaves: jnp.concatenate(leaves)[inverse], *pieces)

    return jax.vmap(one_seed)(jax.random.split(key, num_seeds))


# --------------------------------------------------------------------------- argument checks


def _fraction(value) -> Array:
    return real_scalar(value, "batch_fraction", low=0.0, high=1.0, low_open=True)


def _persistence(value) -> Array:
    return real_scalar(value, "persistence", low=0.0)  # inf allowed: a frozen batch


def _check_data(data) -> tuple[Array, Array]:
    try:
        x, y = data
    except (TypeError, ValueError):
        raise TypeError(f"data must be a Dataset(x, y) or a pair (x, y), got {type(data).__name__}") from None
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"x and y need a leading sample axis, got shapes {x.shape} and {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}: they must match along axis 0")
    if x.shape[0] == 0:
        raise ValueError("the data set is empty (P = 0 samples)")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float_dtype())
    for name, arr in (("x", x), ("y", y)):
        if is_concrete(arr) and jnp.issubdtype(arr.dtype, jnp.inexact) and not np.all(np.isfinite(np.asarray(arr))):
            raise ValueError(f"{name} contains NaN or infinity; remove those samples, or pad with zeros and weight 0")
    return x, y


def _check_weights(weights, num_samples: int, dtype) -> Array:
    if weights is None:
        return jnp.ones((num_samples,), dtype)
    w = jnp.asarray(weights)
    if w.shape != (num_samples,):
        raise ValueError(f"weights must have shape ({num_samples},) (one per sample), got {w.shape}")
    if not (jnp.issubdtype(w.dtype, jnp.floating) or jnp.issubdtype(w.dtype, jnp.integer) or w.dtype == bool):
        raise TypeError(f"weights must be real, got dtype {w.dtype}")
    w = w.astype(dtype)
    if is_concrete(w):
        values = np.asarray(w)
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("weights must be finite and >= 0")
        if not np.any(values > 0):
            raise ValueError("all weights are 0: nothing to train on")
    return w


def _check_loss_shape(loss, model, x, y) -> None:
    try:
        out = eqx.filter_eval_shape(loss, model, x[0], y[0])
    except Exception as err:  # the user's loss failed on one sample: say what it was called with
        raise TypeError(
            f"calling loss(model, x_i, y_i) on one sample (x_i {x.shape[1:]}, y_i {y.shape[1:]}) failed: {err}"
        ) from err
    if not (hasattr(out, "shape") and out.shape == ()):
        raise ValueError(
            f"loss(model, x_i, y_i) must return one scalar per sample, got {getattr(out, 'shape', type(out).__name__)}; "
            "it receives a single sample (fit vmaps it over the data)"
        )
