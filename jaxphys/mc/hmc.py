"""Samplers of continuous variables: Hybrid Monte Carlo, MALA and unadjusted Langevin.

The target is ``p(x) ~ exp(-beta E(x))`` for a position ``x`` that is any pytree of float arrays
(a vector, or the weights of a network), with the "model" either an object with an
``energy(x) -> scalar`` method (an ``eqx.Module``) or a callable pytree ``energy(x) -> scalar``
(e.g. ``jax.tree_util.Partial(fn, data)``). The samplers speak the :class:`~jaxphys.mc.Sampler`
protocol (after BlackJAX's ``init``/``step`` kernels, with model and beta as step arguments):

    state = sampler.init(model, x0)
    state, info = sampler.step(key, state, model, beta)

so they run under :func:`jaxphys.mc.run` (pass ``x0``; observables are ``(model, position) -> scalar``;
``state.spins`` is an alias of ``state.position`` for the driver) and vmap over chains, beta and
the step size (which may be a tracer: build the sampler inside the vmapped function).

* :func:`hmc`: Metropolis-corrected leapfrog (Duane, Kennedy, Pendleton & Roweth 1987; Neal 2011),
  exact for any step size; optional diagonal mass and step-size jitter.
* :func:`mala`: Metropolis-adjusted Langevin (Roberts & Tweedie 1996),
  ``x' = x - eps beta grad E(x) + sqrt(2 eps) xi`` then accept/reject, which is one leapfrog step
  of HMC with step ``h = sqrt(2 eps)`` (the two acceptance ratios are identical), implemented so.
* :func:`langevin`: the unadjusted Euler-Maruyama chain (ULA) with the same proposal, always
  accepted: biased at ``O(eps)``.

Runtime trouble: a proposal with a NaN/inf energy or gradient is rejected and sets ``Status.NAN``;
a traced negative beta or non-positive step size sets ``Status.INVALID_PARAMETER``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .. import status as st
from .._validate import as_count, real_scalar
from .base import Sampler, beta_status, check_beta

__all__ = ["ContinuousState", "HMCInfo", "LangevinInfo", "adapt_step_size", "energy_function", "hmc", "langevin", "mala"]


class ContinuousState(NamedTuple):
    """State of :func:`hmc`, :func:`mala`, :func:`langevin`.

    Attributes:
        position: the configuration ``x`` (pytree of float arrays, as given to ``init``).
        energy: ``E(x)`` (scalar; beta not included, so beta may change between steps).
        gradient: ``grad E(x)`` (pytree like ``position``).
        status: int32 bitmask (:class:`jaxphys.status.Status`).
    """

    position: Any
    energy: Float[Array, ""]
    gradient: Any
    status: Int[Array, ""]

    @property
    def spins(self):
        """Alias of ``position``: the name the chain driver :func:`jaxphys.mc.run` measures on."""
        return self.position


class HMCInfo(NamedTuple):
    """Per-step information of :func:`hmc` and :func:`mala`.

    Attributes:
        acceptance_rate: Metropolis acceptance probability ``min(1, exp(-Delta H))`` of the proposal
            (0 for a non-finite one); its average over a run is the acceptance rate.
        accepted: whether the proposal was accepted (bool).
        energy_error: ``Delta H = beta (E(x') - E(x)) + K(p') - K(p)``, the leapfrog error of the
            Hamiltonian (dimensionless; ``<exp(-Delta H)> = 1`` in equilibrium).
    """

    acceptance_rate: Float[Array, ""]
    accepted: Bool[Array, ""]
    energy_error: Float[Array, ""]


class LangevinInfo(NamedTuple):
    """Per-step information of :func:`langevin`: ``acceptance_rate`` is 1 (0 if the move hit a NaN and was refused)."""

    acceptance_rate: Float[Array, ""]


def energy_function(model) -> Callable[[Any], Array]:
    """``x -> E(x)`` of a model: its ``energy`` method if it has one, else the model itself if callable."""
    energy = getattr(model, "energy", None)
    if callable(energy):
        return energy
    if callable(model):
        return model
    raise TypeError(
        f"model must have an energy(x) -> scalar method or be a callable energy(x) -> scalar "
        f"(e.g. jax.tree_util.Partial(fn, data)), got {type(model).__name__}"
    )


def _check_position(position) -> None:
    leaves = jax.tree.leaves(position)
    if not leaves:
        raise ValueError("position is an empty pytree; pass the initial configuration (float arrays)")
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"position leaves must be real float arrays, got dtype {dtype}; cast with .astype(float)")


def _value_and_grad(energy, position):
    out = jax.eval_shape(energy, position)
    if not hasattr(out, "shape") or out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
        got = f"shape {out.shape}, dtype {out.dtype}" if hasattr(out, "shape") else type(out).__name__
        raise ValueError(
            f"energy(x) must return a real float scalar, got {got}; sum or reduce it to one number per configuration"
        )
    return jax.value_and_grad(energy)(position)


def _all_finite(tree) -> Bool[Array, ""]:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _init(model, position) -> ContinuousState:
    _check_position(position)
    position = jax.tree.map(jnp.asarray, position)
    energy, gradient = _value_and_grad(energy_function(model), position)
    status = st.flag(st.ok(), st.Status.NAN, ~(jnp.isfinite(energy) & _all_finite(gradient)))
    return ContinuousState(position, energy, gradient, status)


def _normal_like(key, tree):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    noise = [jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)]
    return jax.tree.unflatten(treedef, noise)


def _check_step_size(step_size):
    return real_scalar(step_size, "step_size", low=0.0, low_open=True, high_open=True)


def _check_jitter(jitter) -> float:
    if isinstance(jitter, (bool, np.bool_)) or not isinstance(jitter, (int, float, np.integer, np.floating)):
        raise TypeError(f"jitter must be a Python float in [0, 1), got {jitter!r}")
    if not 0.0 <= float(jitter) < 1.0:
        raise ValueError(f"jitter must lie in [0, 1) (step size drawn in eps (1 +- jitter)), got {jitter!r}")
    return float(jitter)


def _check_mass(mass):
    """``None`` (unit mass), a positive scalar, or a pytree of positive arrays matching the position."""
    if mass is None:
        return None
    mass = jax.tree.map(jnp.asarray, mass)
    for leaf in jax.tree.leaves(mass):
        if not jnp.issubdtype(leaf.dtype, jnp.floating) and not jnp.issubdtype(leaf.dtype, jnp.integer):
            raise TypeError(f"mass must be real, got dtype {leaf.dtype}")
        if not isinstance(leaf, jax.core.Tracer) and not np.all(np.asarray(leaf) > 0):
            raise ValueError("mass must be > 0 (a diagonal mass matrix: a scalar or one positive array per position leaf)")
    return mass


def _mass_like(mass, position):
    if mass is None:
        return jax.tree.map(lambda x: jnp.ones((), jnp.result_type(x)), position)
    if jax.tree.structure(mass).num_leaves == 1 and jnp.ndim(jax.tree.leaves(mass)[0]) == 0:
        scalar = jax.tree.leaves(mass)[0]
        return jax.tree.map(lambda x: scalar.astype(jnp.result_type(x)), position)
    if jax.tree.structure(mass) != jax.tree.structure(position):
        raise ValueError(
            f"mass must be a scalar or a pytree like the position ({jax.tree.structure(position)}), got {jax.tree.structure(mass)}"
        )
    return jax.tree.map(lambda m, x: jnp.broadcast_to(m, jnp.shape(x)).astype(jnp.result_type(x)), mass, position)


def _kinetic(momentum, mass):
    return sum(0.5 * jnp.sum(p**2 / m) for p, m in zip(jax.tree.leaves(momentum), jax.tree.leaves(mass)))


def _where(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def _hmc_step(key, state: ContinuousState, model, beta, h, num_leapfrog, jitter, mass, valid):
    """One Metropolis-corrected leapfrog trajectory of ``H = beta E(q) + p M^-1 p / 2`` with step ``h``."""
    beta = check_beta(beta)
    energy = energy_function(model)
    dtype = jnp.result_type(state.energy)
    k_momentum, k_jitter, k_accept = jax.random.split(key, 3)
    if jitter:
        h = h * (1.0 + jitter * jax.random.uniform(k_jitter, (), minval=-1.0, maxval=1.0))
    mass = _mass_like(mass, state.position)
    momentum = jax.tree.map(lambda z, m: z * jnp.sqrt(m), _normal_like(k_momentum, state.position), mass)

    def kick(p, g, size):
        return jax.tree.map(lambda pi, gi: pi - (size * beta).astype(pi.dtype) * gi, p, g)

    def leapfrog(carry, _):
        q, p, _, g = carry
        p = kick(p, g, h / 2)
        q = jax.tree.map(lambda qi, pi, mi: qi + h.astype(qi.dtype) * pi / mi, q, p, mass)
        e, g = _value_and_grad(energy, q)
        return (q, kick(p, g, h / 2), e, g), None

    carry = (state.position, momentum, state.energy, state.gradient)
    (q, p, e, g), _ = jax.lax.scan(leapfrog, carry, None, length=num_leapfrog)
    delta = beta * (e - state.energy) + _kinetic(p, mass) - _kinetic(momentum, mass)
    finite = jnp.isfinite(delta) & _all_finite(g) & _all_finite(q)
    log_u = jnp.log(jax.random.uniform(k_accept, (), dtype))
    accepted = finite & (log_u < -delta)
    acceptance = jnp.where(finite, jnp.exp(jnp.minimum(0.0, -jnp.where(finite, delta, 0.0))), 0.0).astype(dtype)
    status = state.status | beta_status(beta)
    status = st.flag(status, st.Status.NAN, ~finite)
    status = st.flag(status, st.Status.INVALID_PARAMETER, ~valid)
    new = ContinuousState(
        _where(accepted, q, state.position), jnp.where(accepted, e, state.energy), _where(accepted, g, state.gradient), status
    )
    return new, HMCInfo(acceptance, accepted, jnp.asarray(delta, dtype))


def _valid_step(step_size):
    return jnp.isfinite(step_size) & (step_size > 0)


def hmc(step_size, num_leapfrog: int, *, mass=None, jitter: float = 0.0) -> Sampler:
    """Hybrid (Hamiltonian) Monte Carlo: exact sampling of ``exp(-beta E(x))`` by Metropolis-corrected leapfrog.

    Each step draws a momentum ``p ~ N(0, M)``, integrates ``H(x, p) = beta E(x) + p^T M^-1 p / 2`` with
    ``num_leapfrog`` leapfrog steps of size ``eps``,

        p <- p - (eps/2) beta grad E(x),   x <- x + eps M^-1 p,   p <- p - (eps/2) beta grad E(x),

    and accepts the end point with probability ``min(1, exp(-Delta H))`` (Duane et al., Phys. Lett. B
    195, 216 (1987); Neal, "MCMC using Hamiltonian dynamics", 2011). Leapfrog is volume-preserving and
    reversible, so the chain satisfies detailed balance for any ``eps``; ``eps`` sets the acceptance
    (``Delta H = O(eps^2)`` per trajectory). One step costs ``num_leapfrog`` gradient evaluations.

    Args:
        step_size: leapfrog step ``eps > 0`` (float; may be traced, e.g. vmapped; a traced
            non-positive value sets ``Status.INVALID_PARAMETER``).
        num_leapfrog: leapfrog steps per trajectory, static int >= 1.
        mass: diagonal mass matrix ``M``: ``None`` (identity), a positive scalar, or a pytree like the
            position with positive arrays broadcastable to its leaves. Choose ``M ~`` the inverse
            posterior covariance of each coordinate (stiff directions heavier).
        jitter: draw the step size uniformly in ``eps (1 +- jitter)`` each trajectory, ``0 <= jitter < 1``;
            ``~0.2`` avoids periodic (resonant) trajectories that stall a chain when
            ``num_leapfrog * eps`` matches a period of the dynamics.

    Returns:
        ``Sampler(init, step)``: ``init(model, x0) -> ContinuousState``,
        ``step(key, state, model, beta) -> (ContinuousState, HMCInfo)``. ``model`` has ``energy(x)``
        or is a callable pytree; ``x`` any pytree of float arrays (dtypes kept).

    Raises:
        ValueError/TypeError: ``step_size <= 0`` or NaN (when concrete), ``num_leapfrog < 1``, bad
        ``jitter`` or ``mass``; at ``init``/``step``: a non-float position or an energy that is not a scalar.
    """
    step_size = _check_step_size(step_size)
    num_leapfrog = as_count(num_leapfrog, "num_leapfrog")
    jitter = _check_jitter(jitter)
    mass = _check_mass(mass)

    def step(key, state: ContinuousState, model, beta):
        h = step_size.astype(jnp.result_type(state.energy))
        return _hmc_step(key, state, model, beta, h, num_leapfrog, jitter, mass, _valid_step(step_size))

    return Sampler(_init, step)


def mala(step_size) -> Sampler:
    """Metropolis-adjusted Langevin algorithm (MALA; Roberts & Tweedie, Bernoulli 2, 341 (1996)).

    Proposal ``x' = x - eps beta grad E(x) + sqrt(2 eps) xi``, ``xi ~ N(0, 1)``, accepted with the
    Metropolis-Hastings probability ``min(1, p(x') q(x|x') / (p(x) q(x'|x)))``: exact sampling of
    ``exp(-beta E)``. This is one leapfrog step of :func:`hmc` with ``h = sqrt(2 eps)`` (identical
    acceptance ratio), which is how it is computed; ``HMCInfo.energy_error`` is that of the step.

    Args:
        step_size: ``eps > 0`` (time step of the Langevin dynamics ``dx = -beta grad E dt + sqrt(2) dW``;
            may be traced). It is ``beta * lr`` of :func:`jaxphys.learning.train.langevin`.

    Returns:
        ``Sampler(init, step)`` with ``ContinuousState`` and ``HMCInfo`` (see :func:`hmc`).

    Raises:
        ValueError/TypeError: ``step_size <= 0`` or NaN when concrete.
    """
    step_size = _check_step_size(step_size)

    def step(key, state: ContinuousState, model, beta):
        eps = step_size.astype(jnp.result_type(state.energy))
        h = jnp.sqrt(2.0 * jnp.maximum(eps, 0.0))
        return _hmc_step(key, state, model, beta, h, 1, 0.0, None, _valid_step(step_size))

    return Sampler(_init, step)


def langevin(step_size) -> Sampler:
    """Unadjusted Langevin algorithm (ULA): Euler-Maruyama steps of ``dx = -beta grad E dt + sqrt(2) dW``.

    ``x' = x - eps beta grad E(x) + sqrt(2 eps) xi``, always accepted. The chain does *not* sample
    ``exp(-beta E)`` exactly: its stationary law is biased at ``O(eps)``. For a quadratic
    ``E = (x - m)^T A (x - m) / 2`` it is Gaussian with mean ``m`` and covariance

        (beta A)^-1 (1 - eps beta A / 2)^-1      instead of (beta A)^-1,

    stable for ``eps < 2 / (beta lambda_max(A))``. Use :func:`mala` or :func:`hmc` for unbiased
    samples; ULA is the ``eps -> 0`` dynamics itself (and :func:`jaxphys.learning.train.langevin`
    with ``lr = beta eps``, ``T = 1 / beta`` as an optax transformation). A move to a NaN/inf energy or
    gradient is refused (the chain stays) and sets ``Status.NAN``.

    Args:
        step_size: ``eps > 0`` (may be traced).

    Returns:
        ``Sampler(init, step)``: ``ContinuousState`` and :class:`LangevinInfo`.

    Raises:
        ValueError/TypeError: ``step_size <= 0`` or NaN when concrete.
    """
    step_size = _check_step_size(step_size)

    def step(key, state: ContinuousState, model, beta):
        beta = check_beta(beta)
        dtype = jnp.result_type(state.energy)
        eps = step_size.astype(dtype)
        noise = _normal_like(key, state.position)
        drift = (eps * beta).astype(dtype)
        scale = jnp.sqrt(2.0 * jnp.maximum(eps, 0.0))
        x = jax.tree.map(
            lambda xi, gi, zi: xi - drift.astype(xi.dtype) * gi + scale.astype(xi.dtype) * zi,
            state.position,
            state.gradient,
            noise,
        )
        e, g = _value_and_grad(energy_function(model), x)
        finite = jnp.isfinite(e) & _all_finite(g) & _all_finite(x)
        status = state.status | beta_status(beta)
        status = st.flag(status, st.Status.NAN, ~finite)
        status = st.flag(status, st.Status.INVALID_PARAMETER, ~_valid_step(step_size))
        new = ContinuousState(
            _where(finite, x, state.position), jnp.where(finite, e, state.energy), _where(finite, g, state.gradient), status
        )
        return new, LangevinInfo(finite.astype(dtype))

    return Sampler(_init, step)


def adapt_step_size(
    key,
    make_sampler: Callable[[Any], Sampler],
    model,
    beta,
    x0,
    *,
    initial_step_size,
    num_steps: int = 500,
    target: float = 0.8,
) -> tuple[Float[Array, ""], ContinuousState]:
    """Tune a step size by dual averaging (Nesterov 2009; Hoffman & Gelman, JMLR 15, 1593 (2014), Alg. 5).

    Runs ``num_steps`` steps of ``make_sampler(eps_t)`` from ``x0`` while

        Hbar_t = (1 - 1/(t + t0)) Hbar_{t-1} + (target - a_t) / (t + t0),
        log eps_t = mu - sqrt(t) Hbar_t / gamma,   log epsbar_t = t^-kappa log eps_t + (1 - t^-kappa) log epsbar_{t-1},

    with ``a_t`` the acceptance probability of step ``t``, ``mu = log(10 eps_0)``, ``gamma = 0.05``,
    ``t0 = 10``, ``kappa = 0.75``, and returns ``epsbar`` (whose acceptance rate is close to ``target``)
    and the final state (a burnt-in start). The adaptation steps are not a reversible chain: discard them.

    Args:
        key: ``jax.random.key``.
        make_sampler: ``step_size -> Sampler`` with a traced step size, e.g. ``lambda eps: mc.hmc(eps, 10)``
            or ``mc.mala``; its Info must have ``acceptance_rate``.
        model, beta, x0: as for ``sampler.init`` / ``sampler.step``.
        initial_step_size: ``eps_0 > 0``, a guess.
        num_steps: adaptation steps, int >= 1.
        target: acceptance rate to reach, in (0, 1) (0.65-0.8 for HMC, ~0.57 optimal for MALA in high d).

    Returns:
        ``(step_size, state)``: the scalar step size (default float dtype) and the last ``ContinuousState``.
    """
    initial = _check_step_size(initial_step_size)
    num_steps = as_count(num_steps, "num_steps")
    target = real_scalar(target, "target", low=0.0, high=1.0, low_open=True, high_open=True)
    gamma, t0, kappa = 0.05, 10.0, 0.75
    mu = jnp.log(10.0 * initial)
    state = make_sampler(initial).init(model, x0)

    def body(carry, inputs):
        state, log_eps, log_eps_bar, h_bar = carry
        key, t = inputs
        state, info = make_sampler(jnp.exp(log_eps)).step(key, state, model, beta)
        h_bar = (1.0 - 1.0 / (t + t0)) * h_bar + (target - info.acceptance_rate) / (t + t0)
        log_eps = mu - jnp.sqrt(t) / gamma * h_bar
        weight = t**-kappa
        log_eps_bar = weight * log_eps + (1.0 - weight) * log_eps_bar
        return (state, log_eps, log_eps_bar, h_bar), None

    dtype = initial.dtype
    carry = (state, jnp.log(initial), jnp.zeros((), dtype), jnp.zeros((), dtype))
    steps = jnp.arange(1, num_steps + 1, dtype=dtype)
    (state, _, log_eps_bar, _), _ = jax.lax.scan(body, carry, (jax.random.split(key, num_steps), steps))
    return jnp.exp(log_eps_bar), state
