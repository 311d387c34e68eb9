"""Annealed importance sampling (AIS): partition functions from a chain of tempered laws.

Neal (2001), "Annealed importance sampling", Stat. Comput. 11, 125. A path of unnormalised laws
``p*_0, ..., p*_K`` joins a base law with known ``Z_0`` (here the uniform law of ``N`` spins,
``Z_0 = 2^N``, or a product law) to the target. Each of ``M`` independent chains starts from an
exact draw ``x_0 ~ p_0`` and, for ``k = 1..K``,

    log w += log p*_k(x_{k-1}) - log p*_{k-1}(x_{k-1}),     x_k ~ T_k(x_{k-1}, .),

where ``T_k`` is any Markov kernel that leaves ``p_k`` invariant (a sampler step at ``beta_k``).
Then ``E[w] = Z_K / Z_0`` exactly, for any number of steps, and

    log Z_K ~ log Z_0 + log( (1/M) sum_m w_m )                               (log-mean-exp).

Along the temperature path ``p*_k = exp(-beta_k E)`` the increment is ``-(beta_k - beta_{k-1}) E``,
i.e. minus the dimensionless work done on the system when ``beta`` is switched, and the identity is
Jarzynski's equality ``<exp(-beta W)> = exp(-beta Delta F)`` (Jarzynski 1997): :func:`ais`.

Error bar (delta method): with ``w`` the weights, ``Var(log Zhat) ~ Var(w) / (M <w>^2)``, so
``stderr = std(w) / (sqrt(M) mean(w))``. The effective sample size ``ESS = (sum w)^2 / sum w^2``
measures how many chains carry the estimate. ``log Zhat`` is biased low by about
``stderr^2 / 2`` (Jensen); it is a stochastic lower bound. Run from exact target draws through the
reversed schedule (``reverse_from=``) the same code estimates ``Z_0 / Z_K`` and gives a stochastic
*upper* bound on ``log Z_K`` (reverse AIS; Burda, Grosse & Salakhutdinov, AISTATS 2015); the two
sandwich the truth. The delta method assumes the weights have a finite variance; when a few
chains dominate (``ESS < MIN_ESS``) the error bar is not trustworthy and the status says so.

For RBMs :func:`rbm_ais` follows Salakhutdinov & Murray (ICML 2008): the hidden layer is summed
out analytically in the weights and the path runs from a product ("base-rate") law of the
visible layer to the RBM, with block Gibbs transitions, a much lower variance than annealing the
joint energy with :func:`ais`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .. import status as st
from .._validate import as_count
from ..models.base import as_parameter, check_spins, float_dtype, is_concrete
from ..models.rbm import RBM
from .base import Sampler, random_spins

MIN_ESS = 10.0  # below this effective sample size the delta-method error bar is flagged UNRELIABLE_ERROR


class AISResult(NamedTuple):
    """Result of :func:`ais` and :func:`rbm_ais`.

    Attributes:
        log_z: estimate of ``log Z`` of the target (scalar, default float dtype).
        stderr: delta-method standard error of ``log_z`` (scalar).
        log_weights: ``log w_m`` of each chain, (M,); ``E[w] = Z_K / Z_0`` (forward) or
            ``Z_0 / Z_K`` (reverse). Their log-mean-exp is the estimate.
        ess: effective sample size ``(sum w)^2 / sum w^2`` in ``[1, M]`` (scalar).
        status: int32 bitmask: sampler trouble OR-ed over chains, ``NAN`` for a non-finite
            estimate, ``INVALID_PARAMETER`` for a traced bad schedule, ``UNRELIABLE_ERROR`` when
            ``ess < MIN_ESS``.
        samples: final configurations of the chains, int8 (M, *spin_shape) (:func:`ais`) or the
            visible layer (M, Nv) (:func:`rbm_ais`). Weighted by ``w`` they are consistent draws
            from the end of the path, ``sum_m w_m f(x_m) / sum_m w_m -> <f>`` (forward runs);
            unweighted they lag behind it when the annealing is fast.
    """

    log_z: Float[Array, ""]
    stderr: Float[Array, ""]
    log_weights: Float[Array, " m"]
    ess: Float[Array, ""]
    status: Int[Array, ""]
    samples: Array


def log_mean_exp(log_weights: Float[Array, " m"]) -> tuple[Array, Array, Array]:
    """``(log mean w, stderr, ESS)`` of importance weights given by their logs (M,), M >= 2.

    ``stderr = std(w) / (sqrt(M) mean(w))`` (delta method, ``std`` with ``M - 1``), the standard
    error of ``log mean w``; ``ESS = (sum w)^2 / sum w^2``. Computed with the weights scaled by
    their maximum, so no overflow. NaN in, NaN out.
    """
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 1 or log_weights.shape[0] < 2:
        raise ValueError(f"log_weights must be a 1-D array of at least 2 weights for an error bar, got shape {log_weights.shape}")
    m = log_weights.shape[0]
    top = jax.lax.stop_gradient(jnp.max(log_weights))
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    w = jnp.exp(log_weights - top)
    mean = jnp.mean(w)
    variance = jnp.sum((w - mean) ** 2) / (m - 1)
    stderr = jnp.sqrt(variance / m) / mean
    ess = jnp.sum(w) ** 2 / jnp.sum(w**2)
    return top + jnp.log(mean), stderr, ess


def _check_schedule(betas, *, end_at_one: bool) -> tuple[Array, Array]:
    """Schedule as a float array plus the status for a traced bad one; ``ValueError`` if concrete and bad."""
    betas = jnp.asarray(betas)
    if not jnp.issubdtype(betas.dtype, jnp.floating) and not jnp.issubdtype(betas.dtype, jnp.integer):
        raise TypeError(f"betas must be a real array, got dtype {betas.dtype}")
    betas = betas.astype(float_dtype())
    if betas.ndim != 1 or betas.shape[0] < 2:
        raise ValueError(f"betas must be a 1-D schedule with at least 2 values (0 first), got shape {betas.shape}")
    good = jnp.all(jnp.isfinite(betas)) & (betas[0] == 0) & jnp.all(jnp.diff(betas) >= 0)
    if end_at_one:
        good = good & (betas[-1] == 1)
    if is_concrete(betas) and not bool(good):
        target = "end at 1 (the RBM itself)" if end_at_one else "end at the target beta"
        raise ValueError(
            "betas must be finite, non-decreasing, start at 0 (the base law, whose Z is known) and "
            f"{target}; e.g. jnp.linspace(0, 1, 1000). Got {np.asarray(betas)[:3]}...{np.asarray(betas)[-3:]}"
        )
    return betas, st.flag(st.ok(), st.Status.INVALID_PARAMETER, ~good)


def _finish(log_weights, log_z0, reverse, status, samples, throw) -> AISResult:
    log_mean, stderr, ess = log_mean_exp(log_weights)
    log_z = log_z0 - log_mean if reverse else log_z0 + log_mean
    status = st.flag(status, st.Status.NAN, ~(jnp.isfinite(log_z) & jnp.isfinite(stderr)))
    status = st.flag(status, st.Status.UNRELIABLE_ERROR, ~(ess >= MIN_ESS))
    if throw:
        log_z = st.check(log_z, status)
    return AISResult(log_z, stderr, log_weights, ess, status, samples)


def _anneal(keys, state, log_weights, betas, increment, transition):
    """All chains through ``betas`` (scan over the schedule; chains batched inside each step).

    ``keys``: (K, steps_per_beta, ...) split once up front (every call site of the generator costs
    compile time); ``increment(beta_prev, beta_next, state) -> (M,)``;
    ``transition(key, state, beta) -> state`` with ``key`` one entry ``keys[k, i]``.
    Returns (final state, log w (M,)).
    """

    def body(carry, inputs):
        state, log_weights = carry
        beta_prev, beta_next, step_keys = inputs
        log_weights = log_weights + increment(beta_prev, beta_next, state)
        state = jax.lax.fori_loop(0, step_keys.shape[0], lambda i, s: transition(step_keys[i], s, beta_next), state)
        return (state, log_weights), None

    (state, log_weights), _ = jax.lax.scan(body, (state, log_weights), (betas[:-1], betas[1:], keys))
    return state, log_weights


def ais(
    key,
    sampler: Sampler,
    model,
    betas,
    num_chains: int | None = None,
    *,
    reverse_from=None,
    steps_per_beta: int = 1,
    throw: bool = False,
) -> AISResult:
    """``log Z(beta_K)`` of a spin model by AIS along ``p*_k = exp(-beta_k E)`` (module docstring).

    Forward (default): ``num_chains`` chains start uniformly at random (the exact law at
    ``beta_0 = 0``, ``log Z_0 = N log 2``) and take ``steps_per_beta`` sampler steps at each
    ``beta_k``, ``k >= 1``, accumulating ``log w += -(beta_k - beta_{k-1}) E(x)`` before each.
    Reverse (``reverse_from=x``): the chains start from ``x``, exact draws at ``beta_K``, and run
    the schedule backwards; ``log Z = log Z_0 - log mean w`` is then a stochastic upper bound.

    Args:
        key: ``jax.random.key``.
        sampler: any ``Sampler`` of :mod:`jaxphys.mc` whose ``state.spins`` is the model's
            configuration (``metropolis()``, ``heatbath()``, ``block_gibbs()`` on a binary RBM...).
        model: a spin model with ``energy(spins)``, ``N = num_spins``.
        betas: (K+1,) non-decreasing schedule with ``betas[0] = 0``; the target is ``betas[-1]``.
            The variance falls like ``1/K`` once the steps are small (e.g. ``linspace(0, 1, 1000)``).
        num_chains: M >= 2 independent chains (forward; in reverse it defaults to ``len(reverse_from)``).
        reverse_from: int8 (M, *spin_shape) exact draws from the target, to run reverse AIS.
        steps_per_beta: sampler steps at each intermediate ``beta``.
        throw: raise (also under ``jit``) if the status has a bit other than ``UNRELIABLE_ERROR``.

    Returns:
        :class:`AISResult`; ``samples`` are the final configurations (near the target in forward
        mode, uniform in reverse mode).

    Raises:
        ValueError: bad schedule (not 1-D, not starting at 0, decreasing, NaN), ``num_chains < 2``,
            ``reverse_from`` of the wrong shape or with values other than +-1.
        TypeError: a sampler that is not a ``Sampler``; non-int8 ``reverse_from``.
    """
    if not isinstance(sampler, Sampler):
        raise TypeError(f"sampler must be a jaxphys.mc.Sampler (e.g. jaxphys.mc.heatbath()), got {type(sampler).__name__}")
    betas, status = _check_schedule(betas, end_at_one=False)
    steps_per_beta = as_count(steps_per_beta, "steps_per_beta")
    shape = tuple(model.spin_shape)
    if reverse_from is None:
        if num_chains is None:
            raise ValueError("num_chains is required for forward AIS (the number of independent annealing chains, >= 2)")
        num_chains = as_count(num_chains, "num_chains", 2)
    else:
        given = tuple(getattr(reverse_from, "shape", ()))
        if len(given) != 1 + len(shape) or given[1:] != shape:
            raise ValueError(f"reverse_from must hold configurations stacked as (M, *{shape}), got shape {given}")
        if num_chains is not None and as_count(num_chains, "num_chains", 2) != given[0]:
            raise ValueError(f"num_chains = {num_chains} but reverse_from holds {given[0]} configurations")
        num_chains = as_count(given[0], "the number of configurations in reverse_from", 2)
        check_spins(reverse_from, given)
    key_start, key_run = jax.random.split(key)
    if reverse_from is None:
        start, schedule = random_spins(key_start, (num_chains, *shape)), betas
    else:
        start, schedule = reverse_from, betas[::-1]
    # Forward and reverse runs share one compiled program: they differ only in data.
    spins, chain_status, log_weights = _anneal_chains(key_run, sampler, model, schedule, start, steps_per_beta)
    log_z0 = model.num_spins * math.log(2.0)
    return _finish(log_weights, log_z0, reverse_from is not None, status | chain_status, spins, throw)


@eqx.filter_jit
def _anneal_chains(key, sampler, model, schedule, start, steps_per_beta):
    num_chains = start.shape[0]

    def increment(beta_prev, beta_next, states):
        return -(beta_next - beta_prev) * jax.vmap(model.energy)(states.spins)

    def transition(keys, states, beta):
        return jax.vmap(lambda k, s: sampler.step(k, s, model, beta)[0])(keys, states)

    states = jax.vmap(lambda x: sampler.init(model, x))(start)
    log_weights = jnp.zeros((num_chains,), float_dtype())
    keys = jax.random.split(key, (schedule.shape[0] - 1, steps_per_beta, num_chains))
    states, log_weights = _anneal(keys, states, log_weights, schedule, increment, transition)
    chain_status = jax.lax.reduce(states.status, np.int32(0), jax.lax.bitwise_or, (0,))
    return states.spins, chain_status, log_weights


def _log_hidden_sum(rbm: RBM, beta, x: Array) -> Array:
    """``log sum_h exp(beta h.x)`` (+-1 h) or ``log int dh exp(beta h.x - h^2/2)`` (Gaussian h), x (..., Nh) -> (...)."""
    if rbm.hidden == "binary":
        return jnp.sum(jnp.logaddexp(beta * x, -beta * x), axis=-1)
    return 0.5 * beta**2 * jnp.sum(x**2, axis=-1) + 0.5 * rbm.num_hidden * math.log(2 * math.pi)


def rbm_gibbs_step(key, rbm: RBM, visible, hidden_field, beta=1.0, base_bias=0.0):
    """One block Gibbs step of M chains of ``p_beta(v, h) ~ exp(a0.v + beta ((a - a0).v + v.W.h + b.h))``.

    (times ``exp(-h^2/2)`` for Gaussian hidden units). At ``beta = 1`` this is the RBM's law and the
    step is that of ``mc.block_gibbs`` for a batch of chains; at ``0 <= beta < 1`` it is the AIS
    intermediate law of :func:`rbm_ais`. Draws ``h | v``: ``P(h_j = +1) = sigmoid(2 beta x_j)``
    (Gaussian: ``h ~ N(beta x, 1)``), then ``v | h``: ``P(v_i = +1) = sigmoid(2 f_i)``,
    ``f = a0 + beta (a - a0 + W h)``. Hand-batched, with one uniform draw per step for +-1 units
    (cheap to compile and one matrix product per half-step).

    Args:
        key: ``jax.random.key``.
        rbm: the machine.
        visible: float (M, Nv) +-1 configurations.
        hidden_field: ``x = b + W^T v``, float (M, Nh), as returned by the previous step.
        beta: scalar in [0, 1].
        base_bias: ``a0``, scalar or (Nv,).

    Returns:
        ``(visible, hidden, hidden_field)``: float (M, Nv) +-1, float (M, Nh) (+-1 or real), and
        the new ``x`` (M, Nh). A NaN field draws -1; callers check the fields for finiteness.
    """
    dtype = hidden_field.dtype
    num_chains, num_hidden = hidden_field.shape
    if rbm.hidden == "binary":
        uniform = jax.random.uniform(key, (num_chains, num_hidden + rbm.num_visible), dtype)
        hidden = jnp.where(uniform[:, :num_hidden] < jax.nn.sigmoid(2 * beta * hidden_field), 1.0, -1.0).astype(dtype)
        uniform = uniform[:, num_hidden:]
    else:
        key_hidden, key_visible = jax.random.split(key)
        hidden = beta * hidden_field + jax.random.normal(key_hidden, hidden_field.shape, dtype)
        uniform = jax.random.uniform(key_visible, visible.shape, dtype)
    field = base_bias + beta * (rbm.visible_bias - base_bias + hidden @ rbm.weights.T)
    visible = jnp.where(uniform < jax.nn.sigmoid(2 * field), 1.0, -1.0).astype(dtype)
    return visible, hidden, rbm.hidden_bias + visible @ rbm.weights


def rbm_ais(
    key,
    rbm: RBM,
    betas,
    num_chains: int,
    *,
    base_bias=None,
    throw: bool = False,
) -> AISResult:
    """``log Z`` of an RBM at ``beta = 1`` by AIS on its visible marginal (Salakhutdinov & Murray 2008).

    The path mixes a product law of the visible layer (visible biases ``a0``, no hidden layer
    coupling) with the RBM (:mod:`jaxphys.models.rbm`, ``E = -v.W.h - a.v - b.h``):

        p*_k(v, h) = exp((1 - beta_k) a0.v + beta_k (v.W.h + a.v + b.h))     (times exp(-|h|^2/2), Gaussian h)
        p*_k(v)    = exp((1 - beta_k) a0.v + beta_k a.v) prod_j 2 cosh(beta_k x_j),   x = b + W^T v

    (Gaussian hidden units: ``exp(beta_k^2 |x|^2 / 2) (2 pi)^(Nh/2)`` in place of the product; their
    N(0, 1) prior is not annealed), so
    ``Z_0 = 2^Nh prod_i 2 cosh(a0_i)`` (``(2 pi)^(Nh/2)`` for Gaussian hidden units) and ``Z_K`` is
    the RBM's. The weights use the marginals ``p*_k(v)`` (hidden layer summed out: lower variance);
    the transition at ``beta_k`` is one block Gibbs step of the joint ``p_k(v, h)``:
    ``P(h_j = +1 | v) = sigmoid(2 beta_k x_j)`` (``h ~ N(beta_k x, 1)``), then
    ``P(v_i = +1 | h) = sigmoid(2 ((1 - beta_k) a0_i + beta_k (a + W h)_i))``.

    A base law close to the data (``a0 = learning.rbm.base_rate_bias(data)``, the
    maximum-likelihood product model) makes the early part of the path nearly free.

    Args:
        key: ``jax.random.key``.
        rbm: the machine (binary or Gaussian hidden units).
        betas: (K+1,) non-decreasing schedule from 0 to 1. Salakhutdinov & Murray used ~14500 steps
            denser near 1 for MNIST; small models need hundreds.
        num_chains: M >= 2 independent chains (vectorised: one (M, Nv) x (Nv, Nh) product per step).
        base_bias: ``a0``, (Nv,) or scalar; default 0 (uniform base).
        throw: raise if the status has a bit other than ``UNRELIABLE_ERROR``.

    Returns:
        :class:`AISResult` with ``samples`` the final visible configurations, int8 (M, Nv).

    Raises:
        ValueError: bad schedule (must start at 0 and end at 1), ``num_chains < 2``, a ``base_bias``
            that does not broadcast to (Nv,) or is not finite.
        TypeError: ``rbm`` not an :class:`~jaxphys.models.RBM`.
    """
    if not isinstance(rbm, RBM):
        raise TypeError(f"rbm must be a jaxphys.models.RBM, got {type(rbm).__name__}; use mc.ais for other models")
    betas, status = _check_schedule(betas, end_at_one=True)
    num_chains = as_count(num_chains, "num_chains", 2)
    nv = rbm.num_visible
    base_bias = jnp.broadcast_to(as_parameter(0.0 if base_bias is None else base_bias, "base_bias", (nv,)), (nv,))
    return _rbm_ais(key, rbm, betas, status, num_chains, base_bias, throw)


@eqx.filter_jit
def _rbm_ais(key, rbm, betas, status, num_chains, base_bias, throw):
    dtype = float_dtype()
    shift = rbm.visible_bias - base_bias  # log p*_beta(v) = a0.v + beta (a - a0).v + hidden sum

    # State (v, x = b + W^T v, all fields finite so far): x is carried, as the next increment and
    # the next hidden draw both need it.
    def increment(beta_prev, beta_next, carry):
        v, x, _ = carry
        return (beta_next - beta_prev) * (v @ shift) + _log_hidden_sum(rbm, beta_next, x) - _log_hidden_sum(rbm, beta_prev, x)

    def transition(k, carry, beta):
        v, x, finite = carry
        v, _, x = rbm_gibbs_step(k, rbm, v, x, beta, base_bias)
        return v, x, finite & jnp.all(jnp.isfinite(x))

    key_start, key_run = jax.random.split(key)
    uniform = jax.random.uniform(key_start, (num_chains, rbm.num_visible), dtype)
    v = jnp.where(uniform < jax.nn.sigmoid(2 * base_bias), 1.0, -1.0).astype(dtype)  # exact draws from the base law
    carry = (v, rbm.hidden_bias + v @ rbm.weights, jnp.ones((), bool))
    log_weights = jnp.zeros((num_chains,), dtype)
    keys = jax.random.split(key_run, (betas.shape[0] - 1, 1))
    (visible, _, finite), log_weights = _anneal(keys, carry, log_weights, betas, increment, transition)
    status = st.flag(status, st.Status.NAN, ~finite)
    log_z0 = jnp.sum(jnp.logaddexp(base_bias, -base_bias)) + _log_hidden_sum(rbm, 0.0, rbm.hidden_bias)
    return _finish(log_weights, log_z0, False, status, visible.astype(jnp.int8), throw)
