"""Training restricted Boltzmann machines: contrastive divergence, persistent CD, likelihoods, sampling.

The machine is :class:`jaxphys.models.RBM` (+-1 visible units ``v``; +-1 or Gaussian hidden units
``h``; ``E(v, h) = -v.W.h - a.v - b.h``, ``p(v) = exp(-F(v)) / Z`` at ``beta = 1``). The
log-likelihood of data ``{v_n}`` and its gradient with respect to ``theta = (W, a, b)`` are

    L = (1/P) sum_n [-F(v_n)] - log Z,
    dL/dtheta = < -dF/dtheta >_data - < -dF/dtheta >_model,
    -dF/dW_ij = v_i <h_j | v>,   -dF/da_i = v_i,   -dF/db_j = <h_j | v>,

with ``<h_j | v> = tanh(x_j)`` (+-1 hidden units) or ``x_j`` (Gaussian), ``x = b + W^T v``: the
hidden layer enters through its exact conditional mean (Rao-Blackwellised). The model average is
estimated from Gibbs chains (:func:`jaxphys.mc.block_gibbs`):

- CD-k (Hinton 2002, Neural Comput. 14, 1771): ``k`` block Gibbs steps started at the minibatch;
- PCD (Tieleman 2008, ICML; "stochastic maximum likelihood", Younes 1989): persistent chains
  ("fantasy particles") advanced ``k`` steps per update and never reset.

:func:`contrastive_gradient` gives the estimate; :func:`train` feeds its negative (optax
minimises) to any ``optax.GradientTransformation``. ``log Z`` comes from
:func:`exact_log_partition_function` for small machines (enumeration of the smaller layer) or from
annealed importance sampling, :func:`jaxphys.mc.rbm_ais` with the base law
:func:`base_rate_bias` (Salakhutdinov & Murray 2008); :func:`log_likelihood` combines either with
the free energies of the data. :func:`sample` draws from a trained machine by block Gibbs sampling.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .. import _progress, status as st
from .._validate import as_count
from ..exact.enumeration import MAX_SPINS, log_partition_function
from ..mc.ais import rbm_gibbs_step
from ..mc.base import random_spins
from ..models.base import float_dtype, is_concrete
from ..models.rbm import RBM


# ------------------------------------------------------------------------------ argument checks


def _check_rbm(rbm) -> RBM:
    if not isinstance(rbm, RBM):
        raise TypeError(f"expected a jaxphys.models.RBM, got {type(rbm).__name__}")
    return rbm


def _check_visible(num_visible: int | None, data, name: str = "data") -> Float[Array, "p nv"]:
    """``data`` as a float (P, Nv) array of +-1 values; clear errors for the usual mistakes."""
    if isinstance(data, (list, tuple)):
        data = np.asarray(data)
    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        raise TypeError(f"{name} must be an array of +-1 visible configurations (P, {num_visible}), got {type(data).__name__}")
    if not (jnp.issubdtype(data.dtype, jnp.floating) or jnp.issubdtype(data.dtype, jnp.integer)):
        raise TypeError(f"{name} must be a real array of +-1 values, got dtype {data.dtype}")
    if data.ndim != 2 or (num_visible is not None and data.shape[1] != num_visible):
        raise ValueError(
            f"{name} must have shape (P, num_visible) = (P, {num_visible}), got {tuple(data.shape)}; "
            "a single configuration needs a leading axis (data[None])"
        )
    if data.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 configurations); pass at least one")
    if is_concrete(data):
        values = np.asarray(data)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contains NaN or infinity")
        if not np.all(np.abs(values) == 1):
            hint = " (0/1 data: use 2 * data - 1, or learning.data.digits(spins=True))" if np.all((values == 0) | (values == 1)) else ""
            raise ValueError(f"{name} must hold +-1 spins, the visible units of models.RBM{hint}")
    return jnp.asarray(data).astype(float_dtype())


# ------------------------------------------------------------------------------ likelihoods


def exact_log_partition_function(rbm: RBM) -> Float[Array, ""]:
    """``log Z`` of the RBM at ``beta = 1`` by enumerating its smaller layer (scalar).

    ``Z = sum_v exp(a.v) prod_j 2 cosh(x_j(v))`` and, by the symmetry of ``E`` under exchanging
    the layers (+-1 hidden units), ``Z = sum_h exp(b.h) prod_i 2 cosh(a_i + (W h)_i)``; the sum
    runs over ``2^min(Nv, Nh)`` states with :func:`jaxphys.exact.log_partition_function` (chunked,
    differentiable: ``jax.grad`` gives the exact model averages). Gaussian hidden units: the sum
    over the ``2^Nv`` visible states of ``exp(-F(v))``.

    Raises:
        ValueError: the layer to enumerate has more than ``exact.MAX_SPINS`` (24) units; use
            ``mc.rbm_ais`` instead.
        TypeError: not an RBM.
    """
    rbm = _check_rbm(rbm)
    swap = rbm.hidden == "binary" and rbm.num_hidden < rbm.num_visible
    if min(rbm.num_visible, rbm.num_hidden) > MAX_SPINS or (rbm.hidden == "gaussian" and rbm.num_visible > MAX_SPINS):
        raise ValueError(
            f"exact log Z needs a layer of at most {MAX_SPINS} units (2^N states); this RBM has "
            f"{rbm.num_visible} x {rbm.num_hidden} ({rbm.hidden} hidden). Estimate it with jaxphys.mc.rbm_ais"
        )
    return _exact_log_partition_function(rbm, swap)


@eqx.filter_jit
def _exact_log_partition_function(rbm: RBM, swap: bool) -> Float[Array, ""]:
    if swap:
        rbm = RBM(rbm.weights.T, rbm.hidden_bias, rbm.visible_bias)
    return log_partition_function(rbm.visible_model(1.0), 1.0)


def log_likelihood(rbm: RBM, data, log_z) -> Float[Array, ""]:
    """Average log-likelihood ``(1/P) sum_n log p(v_n) = -(1/P) sum_n F(v_n) - log Z`` in nats (scalar).

    Args:
        rbm: the machine (``F`` at ``beta = 1``, :meth:`RBM.free_energy`).
        data: (P, Nv) +-1 visible configurations (float or int).
        log_z: ``log Z``: :func:`exact_log_partition_function` or ``mc.rbm_ais(...).log_z``.

    Raises:
        ValueError: data of the wrong shape, empty, or with values other than +-1; non-scalar ``log_z``.
    """
    rbm = _check_rbm(rbm)
    visible = _check_visible(rbm.num_visible, data)
    log_z = jnp.asarray(log_z, float_dtype())
    if log_z.ndim != 0:
        raise ValueError(f"log_z must be a scalar, got shape {log_z.shape}")
    return _log_likelihood(rbm, visible, log_z)


@eqx.filter_jit
def _log_likelihood(rbm, visible, log_z):
    return -jnp.mean(jax.vmap(rbm.free_energy)(visible)) - log_z


def base_rate_bias(data, pseudocount: float = 1.0) -> Float[Array, " nv"]:
    """Visible biases ``a0`` of the product law closest to the data, the AIS base law of Salakhutdinov & Murray.

    ``p0(v) = prod_i exp(a0_i v_i) / (2 cosh a0_i)`` has ``<v_i> = tanh(a0_i)``; matching the
    smoothed frequency ``q_i = (#{v_i = +1} + pseudocount) / (P + 2 pseudocount)`` gives
    ``a0_i = (1/2) log(q_i / (1 - q_i))``. The pseudocount keeps ``a0`` finite for units that are
    constant in the data.

    Args:
        data: (P, Nv) +-1 configurations.
        pseudocount: > 0.

    Returns:
        (Nv,) float.

    Raises:
        ValueError: data not (P, Nv) +-1, empty, or ``pseudocount <= 0``.
    """
    if not np.isfinite(pseudocount) or pseudocount <= 0:
        raise ValueError(f"pseudocount must be > 0 (it keeps the biases finite), got {pseudocount!r}")
    visible = _check_visible(None, data)
    count = jnp.sum(visible > 0, axis=0)
    q = (count + pseudocount) / (visible.shape[0] + 2 * pseudocount)
    return 0.5 * (jnp.log(q) - jnp.log1p(-q))


# ------------------------------------------------------------------------------ gradient estimate


def expected_hidden(rbm: RBM, visible: Float[Array, "m nv"]) -> Float[Array, "m nh"]:
    """``<h | v> = tanh(b + W^T v)`` (+-1 hidden) or ``b + W^T v`` (Gaussian), for a batch (M, Nv) -> (M, Nh)."""
    x = rbm.hidden_bias + visible.astype(rbm.weights.dtype) @ rbm.weights
    return jnp.tanh(x) if rbm.hidden == "binary" else x


def contrastive_gradient(rbm: RBM, positive, negative) -> RBM:
    """Estimate of ``dL/dtheta = <-dF/dtheta>_positive - <-dF/dtheta>_negative`` (module docstring).

    With ``positive`` the data (minibatch) and ``negative`` samples of the model this is the
    log-likelihood gradient; exact when ``negative`` are exact model draws, in expectation. The
    result is an :class:`RBM`-shaped pytree (``weights`` (Nv, Nh), ``visible_bias`` (Nv,),
    ``hidden_bias`` (Nh,)) holding the *ascent* direction; optax minimises, so feed it negated.

    Args:
        rbm: the machine.
        positive: (B, Nv) +-1 configurations (the data).
        negative: (C, Nv) +-1 configurations (CD or PCD chain states).

    Raises:
        ValueError: wrong shapes, empty arrays, values other than +-1 (when concrete).
    """
    rbm = _check_rbm(rbm)
    positive = _check_visible(rbm.num_visible, positive, "positive")
    negative = _check_visible(rbm.num_visible, negative, "negative")
    hidden_positive = expected_hidden(rbm, positive)
    hidden_negative = expected_hidden(rbm, negative)
    weights = positive.T @ hidden_positive / positive.shape[0] - negative.T @ hidden_negative / negative.shape[0]
    visible_bias = jnp.mean(positive, axis=0) - jnp.mean(negative, axis=0)
    hidden_bias = jnp.mean(hidden_positive, axis=0) - jnp.mean(hidden_negative, axis=0)
    return eqx.tree_at(lambda r: (r.weights, r.visible_bias, r.hidden_bias), rbm, (weights, visible_bias, hidden_bias))


# ------------------------------------------------------------------------------ Gibbs chains


def _gibbs(keys, rbm: RBM, visible: Float[Array, "m nv"]):
    """Block Gibbs steps of M chains, one per key in ``keys`` (num_steps,): (visible, hidden, all finite).

    The kernel is :func:`jaxphys.mc.ais.rbm_gibbs_step` at ``beta = 1``, the step of
    ``mc.block_gibbs`` hand-batched over chains (one uniform draw per step: cheap to compile).
    """

    def step(carry, key):
        v, _, x, finite = carry
        v, h, x = rbm_gibbs_step(key, rbm, v, x)
        return (v, h, x, finite & jnp.all(jnp.isfinite(x))), None

    x = rbm.hidden_bias + visible @ rbm.weights
    carry = (visible, jnp.zeros_like(x), x, jnp.ones((), bool))
    (visible, hidden, _, finite), _ = jax.lax.scan(step, carry, keys)
    return visible, hidden, finite


class Samples(NamedTuple):
    """Result of :func:`sample`.

    ``visible``: int8 (S, Nv) final visible configurations; ``hidden``: float (S, Nh) the last
    hidden draws (+-1 or Gaussian); ``visible_mean``: float (S, Nv) ``<v | h> = tanh(beta (a + W h))``,
    the smoother picture usually shown for images; ``status``: int32 (``NAN`` if a field was not finite).
    """

    visible: Int[Array, "s nv"]
    hidden: Float[Array, "s nh"]
    visible_mean: Float[Array, "s nv"]
    status: Int[Array, ""]


def sample(key, rbm: RBM, num_samples: int, num_steps: int, *, x0=None) -> Samples:
    """Draw from the machine's law ``p(v, h) ~ exp(-E)`` by block Gibbs sampling (``mc.block_gibbs``).

    ``num_samples`` independent chains start from ``x0`` (default uniformly random) and take
    ``num_steps`` steps each (h | v, then v | h). The draws are exact once ``num_steps`` exceeds
    the mixing time, which can be long for a trained machine with separated modes; starting
    from data (``x0 = data``) shows what the model does near them.

    Args:
        key: ``jax.random.key``.
        rbm: the machine.
        num_samples: S >= 1 chains.
        num_steps: block Gibbs steps per chain, >= 1.
        x0: optional (S, Nv) +-1 starting configurations.

    Returns:
        :class:`Samples`.

    Raises:
        ValueError: bad sizes, ``x0`` of the wrong shape or not +-1.
    """
    rbm = _check_rbm(rbm)
    num_samples = as_count(num_samples, "num_samples")
    num_steps = as_count(num_steps, "num_steps")
    if x0 is not None:
        x0 = _check_visible(rbm.num_visible, x0, "x0")
        if x0.shape[0] != num_samples:
            raise ValueError(f"x0 holds {x0.shape[0]} configurations but num_samples = {num_samples}")
    return _sample(key, rbm, num_samples, num_steps, x0)


@eqx.filter_jit
def _sample(key, rbm, num_samples, num_steps, x0):
    key_start, key_run = jax.random.split(key)
    if x0 is None:
        x0 = random_spins(key_start, (num_samples, rbm.num_visible)).astype(float_dtype())
    visible, hidden, finite = _gibbs(jax.random.split(key_run, num_steps), rbm, x0)
    visible_mean = jnp.tanh(rbm.visible_bias + hidden @ rbm.weights.T)
    status = st.flag(st.ok(), st.Status.NAN, ~finite)
    return Samples(visible.astype(jnp.int8), hidden, visible_mean, status)


# ------------------------------------------------------------------------------ training


class TrainState(NamedTuple):
    """Everything :func:`train` needs to continue: pass ``result.state`` back as ``rbm``.

    ``rbm``: the machine; ``opt_state``: the optax state; ``chains``: int8 (C, Nv) the
    persistent chains (PCD) or the last negative samples (CD); ``status``: int32 bitmask.
    """

    rbm: RBM
    opt_state: Any
    chains: Int[Array, "c nv"]
    status: Int[Array, ""]


class TrainResult(NamedTuple):
    """Result of :func:`train`.

    ``rbm``: the trained machine; ``state``: :class:`TrainState` to continue training;
    ``history``: name -> (num_epochs,) per-epoch values: ``reconstruction_error`` (mean over
    units and minibatches of ``(v - r)^2 / 4``, ``r = <v | h = <h|v>>`` the mean-field
    reconstruction; 0 = perfect), ``free_energy_gap`` (``<F>_data - <F>_negative``, the surrogate
    whose gradient is followed; near 0 when the chains sample the model), ``weight_norm``
    (RMS of ``W``), plus the monitor's entries (evaluated on the machine at the end of each epoch);
    ``status``: int32 (``NAN`` if a parameter became non-finite, chain status bits).
    """

    rbm: RBM
    state: TrainState
    history: dict[str, Array]
    status: Int[Array, ""]



def train(
    key,
    rbm: RBM | TrainState,
    data,
    optimizer,
    *,
    num_epochs: int,
    batch_size: int,
    k: int = 1,
    persistent: bool = True,
    num_chains: int | None = None,
    monitor: Callable[[RBM], dict[str, Array]] | None = None,
    progress: bool = False,
    throw: bool = False,
) -> TrainResult:
    """Train an RBM by CD-k or persistent CD with minibatches and an optax optimizer.

    Each epoch shuffles the data and runs through ``P // batch_size`` minibatches (the remainder
    is dropped, a different one each epoch). For each minibatch ``B``:

    - negative samples: ``k`` block Gibbs steps (``mc.block_gibbs``) from ``B`` itself (CD-k,
      ``persistent=False``) or from the persistent chains (PCD, ``persistent=True``; the chains
      start from random data rows and are carried across updates and calls);
    - ``grad = -contrastive_gradient(rbm, B, negative)`` (a descent direction of ``-L``);
    - ``updates, opt_state = optimizer.update(grad, opt_state, rbm)``; ``rbm += updates``.

    Weight decay, momentum and learning-rate schedules come from optax
    (``optax.chain(optax.add_decayed_weights(1e-4), optax.sgd(0.05, momentum=0.9))``).
    Everything runs in one ``lax.scan`` under ``jit``; vmap over keys trains independent machines.

    Args:
        key: ``jax.random.key``.
        rbm: the initial machine (e.g. ``RBM.random(Nv, Nh, key=..., scale=0.1)``), or the
            ``state`` of a previous :class:`TrainResult` to continue (optimizer state and chains kept).
        data: (P, Nv) +-1 training configurations (float or int).
        optimizer: an ``optax.GradientTransformation``.
        num_epochs: passes over the data, >= 1.
        batch_size: minibatch size, 1 <= batch_size <= P.
        k: Gibbs steps per update (CD-k / PCD-k), >= 1.
        persistent: PCD (True) or CD (False).
        num_chains: persistent chains (PCD only; default ``batch_size``, or the chains of a continued
            state). CD uses one chain per example.
        monitor: optional jittable ``rbm -> dict of scalars`` recorded after every epoch, e.g.
            ``lambda r: {"log_likelihood": log_likelihood(r, data, exact_log_partition_function(r))}``.
        progress: show a tqdm bar advancing epoch by epoch (host callback).
        throw: raise (also under jit) if the status has a bit other than ``UNRELIABLE_ERROR``.

    Returns:
        :class:`TrainResult`.

    Raises:
        TypeError: not an RBM/TrainState, an optimizer without ``init``/``update``, a monitor that
            is not callable.
        ValueError: data of the wrong shape, empty or not +-1; bad sizes; ``num_chains`` with CD,
            or a continued state whose chains do not match ``num_chains``.
    """
    if isinstance(rbm, TrainState):
        state = rbm
        _check_rbm(state.rbm)
    else:
        state = None
        _check_rbm(rbm)
    machine = state.rbm if state is not None else rbm
    visible = _check_visible(machine.num_visible, data)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer must be an optax.GradientTransformation (e.g. optax.sgd(0.05)), got {type(optimizer).__name__}")
    if monitor is not None and not callable(monitor):
        raise TypeError("monitor must be a function rbm -> dict of scalars")
    num_epochs = as_count(num_epochs, "num_epochs")
    batch_size = as_count(batch_size, "batch_size")
    k = as_count(k, "k")
    if batch_size > visible.shape[0]:
        raise ValueError(f"batch_size = {batch_size} exceeds the number of training configurations P = {visible.shape[0]}")
    if not persistent and num_chains is not None:
        raise ValueError("num_chains is for persistent CD only: CD-k runs one chain per minibatch example")
    if not persistent:
        num_chains = batch_size
    elif num_chains is None:
        num_chains = batch_size if state is None else state.chains.shape[0]
    else:
        num_chains = as_count(num_chains, "num_chains")
    key_init, key_train = jax.random.split(key)
    if state is None:
        rows = jax.random.randint(key_init, (num_chains,), 0, visible.shape[0])
        state = TrainState(rbm, optimizer.init(rbm), visible[rows].astype(jnp.int8), st.ok())
    elif tuple(state.chains.shape) != (num_chains, machine.num_visible):
        raise ValueError(
            f"the continued state has chains of shape {tuple(state.chains.shape)}, expected ({num_chains}, "
            f"{machine.num_visible}); pass the same num_chains (PCD) or batch_size (CD) as before"
        )
    result = _progress.call(
        progress, (num_epochs, "rbm.train epochs", "epoch"),
        _train, key_train, state, visible, optimizer, num_epochs, batch_size, k, persistent, monitor, progress,
    )  # fmt: skip
    if throw:
        result = result._replace(rbm=st.check(result.rbm, result.status))
    return result


@eqx.filter_jit
def _train(key, state, data, optimizer, num_epochs, batch_size, k, persistent, monitor, progress):
    num_batches = data.shape[0] // batch_size

    def update(carry, inputs):
        rbm, opt_state, chains, status = carry
        rows, keys = inputs
        batch = data[rows]
        negative, _, finite = _gibbs(keys, rbm, chains if persistent else batch)
        ascent = contrastive_gradient(rbm, batch, negative)
        updates, opt_state = optimizer.update(jax.tree.map(jnp.negative, ascent), opt_state, rbm)
        reconstruction = jnp.tanh(rbm.visible_bias + expected_hidden(rbm, batch) @ rbm.weights.T)
        free_energy = jax.vmap(rbm.free_energy)
        stats = {
            "reconstruction_error": jnp.mean((batch - reconstruction) ** 2) / 4,
            "free_energy_gap": jnp.mean(free_energy(batch)) - jnp.mean(free_energy(negative)),
        }
        rbm = eqx.apply_updates(rbm, updates)
        status = st.flag(status, st.Status.NAN, ~finite)
        return (rbm, opt_state, negative, status), stats

    def epoch(carry, inputs):
        keys, index = inputs
        # A uniformly random order (argsort of i.i.d. uniforms); every generator call site costs compile time.
        order = jnp.argsort(jax.random.uniform(keys[0], (data.shape[0],)))[: num_batches * batch_size]
        keys = keys[1:].reshape(num_batches, k)
        carry, stats = jax.lax.scan(update, carry, (order.reshape(num_batches, batch_size), keys))
        rbm, opt_state, chains, status = carry
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(rbm)]))
        status = st.flag(status, st.Status.NAN, ~finite)
        record = {name: jnp.mean(value) for name, value in stats.items()}
        record["weight_norm"] = jnp.sqrt(jnp.mean(rbm.weights**2))
        if monitor is not None:
            record.update({name: jnp.asarray(value) for name, value in monitor(rbm).items()})
        _progress.tick(index, progress)
        return (rbm, opt_state, chains, status), record

    carry = (state.rbm, state.opt_state, state.chains.astype(data.dtype), state.status)
    keys = jax.random.split(key, (num_epochs, 1 + num_batches * k))
    carry, history = jax.lax.scan(epoch, carry, (keys, jnp.arange(num_epochs)))
    rbm, opt_state, chains, status = carry
    state = TrainState(rbm, opt_state, chains.astype(jnp.int8), status)
    return TrainResult(rbm, state, history, status)
