"""Parallel tempering (replica exchange) over a ladder of inverse temperatures, and ladder adaptation.

Parallel tempering (Swendsen & Wang 1986; Geyer 1991; Hukushima & Nemoto, J. Phys. Soc. Jpn. 65,
1604 (1996)) samples the product law ``prod_k exp(-beta_k E(x_k)) / Z(beta_k)`` of ``R`` copies of
one model at the ladder ``beta_0, ..., beta_{R-1}``. One step is

1. one step of an inner sampler (any ``Sampler``: ``mc.metropolis()``, ``mc.checkerboard()``,
   ...) for every copy at its own temperature (vmapped over copies); each leaves its own factor
   of the product law invariant, hence the product;
2. exchange attempts between neighbouring temperatures ``(k, k + 1)``: the even pairs
   ``(0, 1), (2, 3), ...`` at even exchange rounds, the odd pairs ``(1, 2), (3, 4), ...`` at odd
   ones, so every pair is tried every second round and the pairs of one round are disjoint
   (attempted at once). The exchange of the configurations ``x_a`` at ``beta_k`` and ``x_b`` at
   ``beta_{k+1}`` is accepted with the Metropolis probability

       min(1, exp((beta_k - beta_{k+1}) (E(x_a) - E(x_b)))),

   which satisfies detailed balance for the product law.

Configurations are never copied: each *walker* (a configuration with its inner-sampler state)
keeps its place in the stacked inner state, and the state holds the permutation between walkers
and temperature slots (``walker_at[k]``: the walker at slot ``k``; ``slot_of[w]``: the slot of
walker ``w``). ``state.spins`` gives the configurations ordered by temperature, ``(R, *shape)``.

Ladder order: slot ``k`` is ``betas[k]``; the ladder must be monotone (non-decreasing: hot to
cold, the usual choice, or non-increasing); equal neighbours are allowed (their exchanges are
always accepted). Round trips are counted between the two ends, slot 0 and slot ``R - 1``,
whichever is hot: a walker completes a round trip when it comes back to slot 0 after having
reached slot ``R - 1`` since its previous visit to slot 0 (Katzgraber et al. 2006).

:func:`adapt_ladder` moves the interior temperatures so that the swap acceptances become equal
(see its docstring). :func:`tempering_statistics` reduces the counters of a state to rates.

References: K. Hukushima and K. Nemoto, J. Phys. Soc. Jpn. 65, 1604 (1996); H. G. Katzgraber,
S. Trebst, D. A. Huse and M. Troyer, J. Stat. Mech. P03018 (2006); D. A. Kofke, J. Chem. Phys.
117, 6911 (2002) (acceptance of Gaussian energy overlaps).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .. import status as st
from ..models.base import float_dtype, is_concrete
from .base import Sampler, beta_status, check_beta


class TemperingState(NamedTuple):
    """State of a tempering chain over ``R`` temperatures.

    Walkers ``w = 0 .. R-1`` are the slots of the stacked inner state; slots ``k = 0 .. R-1``
    are the positions on the ladder (``betas[k]``).

    Fields:
        walkers: inner sampler states stacked over walkers (leading axis ``R``).
        energies: ``E`` of each walker's configuration, float ``(R,)`` (walker order).
        walker_at: int32 ``(R,)``, the walker at slot ``k`` (a permutation).
        slot_of: int32 ``(R,)``, the slot of walker ``w`` (the inverse permutation).
        direction: int32 ``(R,)`` per walker: ``+1`` if the last ladder end it visited is slot 0,
            ``-1`` if it is slot ``R - 1``, ``0`` if neither yet.
        trip_start: int32 ``(R,)`` per walker: the step of its last arrival at slot 0 coming from
            slot ``R - 1`` (or of its first arrival at slot 0); ``-1`` before that.
        round_trips: int32 ``(R,)`` per walker: completed round trips 0 -> R-1 -> 0.
        round_trip_steps: int32 ``(R,)`` per walker: total duration (in steps) of those trips.
        accepted: int32 ``(R - 1,)`` accepted exchanges of pair ``(k, k + 1)``.
        attempted: int32 ``(R - 1,)`` attempted exchanges of pair ``(k, k + 1)``.
        num_steps: int32 ``()``, steps done since ``init``.
        status: int32 ``()``, :class:`jaxphys.status.Status` bits of the ladder, OR-ed with those
            of every walker.

    ``spins`` (property): the configurations ordered by temperature, ``(R, *shape)`` (leading
    batch axes, from ``vmap`` over chains, are kept).
    """

    walkers: Any
    energies: Float[Array, "... R"]
    walker_at: Int[Array, "... R"]
    slot_of: Int[Array, "... R"]
    direction: Int[Array, "... R"]
    trip_start: Int[Array, "... R"]
    round_trips: Int[Array, "... R"]
    round_trip_steps: Int[Array, "... R"]
    accepted: Int[Array, "... Rm1"]
    attempted: Int[Array, "... Rm1"]
    num_steps: Int[Array, "..."]
    status: Int[Array, "..."]

    @property
    def spins(self) -> Array:
        spins = self.walkers.spins  # (*batch, R, *shape), walker order
        batch_ndim = self.walker_at.ndim - 1
        index = self.walker_at.reshape(self.walker_at.shape + (1,) * (spins.ndim - batch_ndim - 1))
        return jnp.take_along_axis(spins, index, axis=batch_ndim)


class TemperingInfo(NamedTuple):
    """What one tempering step did.

    Fields:
        inner: the inner sampler's info, stacked and ordered by temperature slot (e.g.
            ``inner.acceptance_rate`` of shape ``(R,)``).
        swap_attempted: bool ``(R - 1,)``, pairs ``(k, k + 1)`` tried this step.
        swap_accepted: bool ``(R - 1,)``, pairs exchanged this step.
        swap_probability: float ``(R - 1,)``, the Metropolis exchange probability of each pair
            (a lower-variance estimator of the acceptance than ``swap_accepted``); 0 where not
            attempted.
    """

    inner: Any
    swap_attempted: Bool[Array, "... Rm1"]
    swap_accepted: Bool[Array, "... Rm1"]
    swap_probability: Float[Array, "... Rm1"]


class TemperingStatistics(NamedTuple):
    """Summary of a tempering run, from :func:`tempering_statistics`.

    Fields:
        swap_acceptance: float ``(R - 1,)``, accepted / attempted exchanges per pair ``(k, k+1)``
            (NaN for a pair never attempted).
        round_trips: int32 ``(R,)``, completed round trips per walker.
        total_round_trips: int32 ``()``.
        mean_round_trip_time: float ``()``, mean duration of completed round trips in steps
            (NaN if none completed).
        num_steps: int32 ``()``.
    """

    swap_acceptance: Float[Array, "... Rm1"]
    round_trips: Int[Array, "... R"]
    total_round_trips: Int[Array, "..."]
    mean_round_trip_time: Float[Array, "..."]
    num_steps: Int[Array, "..."]


def check_ladder(betas, num_replicas: int | None = None) -> Float[Array, " R"]:
    """Validate a ladder: a 1-D monotone array of ``R >= 2`` finite, non-negative betas.

    Returns the ladder as a float array (default float dtype). Concrete values are checked here;
    traced ones are flagged at run time by :func:`ladder_status`.

    Raises:
        TypeError: non-real betas. ValueError: not 1-D, fewer than 2 temperatures, a length
        other than ``num_replicas``, negative/NaN/inf values, or a ladder that is neither
        non-decreasing nor non-increasing.
    """
    b = check_beta(betas)
    if b.ndim != 1:
        raise ValueError(
            f"betas must be a 1-D ladder (R,), got shape {b.shape}; vmap over step for several ladders"
        )
    if b.shape[0] < 2:
        raise ValueError(f"parallel tempering needs at least 2 temperatures, got {b.shape[0]}")
    if num_replicas is not None and b.shape[0] != num_replicas:
        raise ValueError(f"betas has {b.shape[0]} temperatures but the state has {num_replicas} replicas")
    if is_concrete(b):
        d = np.diff(np.asarray(b))
        if not (np.all(d >= 0) or np.all(d <= 0)):
            raise ValueError(
                f"betas must be monotone (non-decreasing, hot to cold, or non-increasing), got {np.asarray(b)}; sort them"
            )
    return b


def ladder_status(betas: Array) -> Int[Array, ""]:
    """``INVALID_PARAMETER`` if a traced ladder has a negative/NaN beta or is not monotone."""
    d = jnp.diff(betas)
    monotone = jnp.all(d >= 0) | jnp.all(d <= 0)
    return st.flag(beta_status(betas), st.Status.INVALID_PARAMETER, ~monotone)


def _any_status(statuses: Int[Array, "..."]) -> Int[Array, ""]:
    """Bitwise OR of the walkers' status words: a bit set in any walker is set for the chain."""
    return jax.lax.reduce(statuses.reshape(-1).astype(jnp.int32), jnp.int32(0), jax.lax.bitwise_or, (0,))


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def tempering(sampler: Sampler, num_replicas=None, *, swap_every: int = 1) -> Sampler:
    """Parallel tempering over a ladder of inverse temperatures, around any inner sampler.

    Two forms:

    - ``tempering(sampler, num_replicas=None, *, swap_every=1)`` (preferred, as in DESIGN.md):
      the ladder is the ``beta`` argument of ``step``, a float array ``(R,)``, so it can be
      vmapped, swept and adapted (:func:`adapt_ladder`). ``num_replicas``, if given, is checked
      against the state; otherwise ``R`` is taken from ``init``'s stack.
    - ``tempering(sampler, betas, *, swap_every=1)`` with ``betas`` an array/list of floats:
      the ladder is closed over. ``step(key, state, model, beta=None)`` then uses it; a ``beta``
      passed anyway must equal it (``ValueError`` if concrete and different; if traced and
      different, the closed ladder is used and ``Status.INVALID_PARAMETER`` is set).

    One step = one inner step of every replica at its own temperature, then (every
    ``swap_every``-th step) one round of exchange attempts between neighbouring slots, even and
    odd pairs alternately; see the module docstring for the acceptance rule and bookkeeping.

    Args:
        sampler: inner ``Sampler(init, step)``; its ``step(key, state, model, beta)`` must take a
            scalar ``beta`` and its state must have ``spins`` and ``status``.
        num_replicas: ``None``, an int ``R >= 2``, or a ladder ``betas`` (see above).
        swap_every: exchange rounds happen after every ``swap_every``-th inner step (>= 1).

    Returns:
        ``Sampler(init, step)``:

        - ``init(model, spins) -> TemperingState``: ``spins`` int8 ``(R, *model.spin_shape)``
          (or one configuration of ``model.spin_shape``, copied to every slot, when ``R`` is
          known from ``num_replicas`` or the closed ladder: this is how ``mc.run`` starts it),
          one start per temperature slot (walker ``w`` starts at slot ``w``).
        - ``step(key, state, model, betas) -> (TemperingState, TemperingInfo)``: ``betas`` float
          ``(R,)`` monotone, >= 0. ``state.spins`` is ordered by temperature. Works under
          ``jit``, ``vmap`` over keys/states (chains), ladders, and models (``eqx.filter_vmap``).

    Raises:
        ValueError: ``R < 2``, ``swap_every < 1``, a ladder that is not 1-D/monotone or has a
        negative/NaN beta (when concrete), a spin stack of the wrong shape or length.
        TypeError: spins that are not int8 (from the inner ``init``), a state that is not a
        ``TemperingState``. At run time, traced bad betas set ``Status.INVALID_PARAMETER`` and
        NaN energies ``Status.NAN``.
    """
    swap_every = _check_count("swap_every", swap_every, 1)
    if num_replicas is None or isinstance(num_replicas, (int, np.integer)) and not isinstance(num_replicas, bool):
        if num_replicas is not None:
            _check_count("num_replicas", num_replicas, 2)
        return _tempering(sampler, num_replicas, swap_every)
    betas = check_ladder(num_replicas)
    return _closed_ladder(_tempering(sampler, int(betas.shape[0]), swap_every), betas)


def _closed_ladder(inner: Sampler, betas: Array) -> Sampler:
    def step(key, state, model, beta=None):
        ladder = betas.astype(float_dtype())
        if beta is None:
            return inner.step(key, state, model, ladder)
        given = check_ladder(beta, ladder.shape[0])
        if is_concrete(given):
            if not np.array_equal(np.asarray(given), np.asarray(ladder)):
                raise ValueError(
                    f"this sampler closes over the ladder {np.asarray(ladder)} and got another {np.asarray(given)}; "
                    "pass beta=None, or build it with tempering(sampler, num_replicas) to pass the ladder to step"
                )
            return inner.step(key, state, model, ladder)
        new, info = inner.step(key, state, model, ladder)
        mismatch = jnp.any(given != ladder)
        return new._replace(status=st.flag(new.status, st.Status.INVALID_PARAMETER, mismatch)), info

    return Sampler(init=inner.init, step=step)


@functools.cache
def _tempering(sampler: Sampler, num_replicas: int | None, swap_every: int) -> Sampler:
    def init(model, spins) -> TemperingState:
        shape = tuple(getattr(spins, "shape", ()))
        if shape == tuple(model.spin_shape) and num_replicas is not None:
            # One configuration (what mc.run passes as x0): every temperature starts from it.
            spins = jnp.broadcast_to(spins, (num_replicas, *shape))
            shape = tuple(spins.shape)
        if len(shape) != 1 + len(model.spin_shape) or shape[1:] != tuple(model.spin_shape):
            raise ValueError(
                f"spins must be a stack (R, *{tuple(model.spin_shape)}) of one configuration per temperature, got shape {shape}"
            )
        r = shape[0]
        if r < 2:
            raise ValueError(f"parallel tempering needs at least 2 replicas, got a stack of {r}")
        if num_replicas is not None and r != num_replicas:
            raise ValueError(f"this sampler has {num_replicas} replicas but spins stacks {r} configurations")
        if is_concrete(spins) and getattr(spins, "dtype", None) == jnp.int8 and not np.all(np.abs(np.asarray(spins)) == 1):
            raise ValueError("spins must take the values +1 and -1 only (got other values, e.g. 0)")
        walkers = jax.vmap(sampler.init, in_axes=(None, 0))(model, spins)
        energies = jax.vmap(model.energy)(spins).astype(float_dtype())
        walker = jnp.arange(r, dtype=jnp.int32)
        # Walker 0 starts at slot 0 (a trip may start there), walker R-1 at the other end.
        direction = jnp.where(walker == 0, 1, jnp.where(walker == r - 1, -1, 0)).astype(jnp.int32)
        status = st.flag(st.ok(), st.Status.NAN, ~jnp.all(jnp.isfinite(energies)))
        return TemperingState(
            walkers=walkers,
            energies=energies,
            walker_at=walker,
            slot_of=walker,
            direction=direction,
            trip_start=jnp.where(walker == 0, 0, -1).astype(jnp.int32),
            round_trips=jnp.zeros(r, jnp.int32),
            round_trip_steps=jnp.zeros(r, jnp.int32),
            accepted=jnp.zeros(r - 1, jnp.int32),
            attempted=jnp.zeros(r - 1, jnp.int32),
            num_steps=jnp.zeros((), jnp.int32),
            status=status | _any_status(walkers.status),
        )

    def step(key, state: TemperingState, model, betas) -> tuple[TemperingState, TemperingInfo]:
        if not isinstance(state, TemperingState):
            raise TypeError(f"state must be a TemperingState from this sampler's init, got {type(state).__name__}")
        r = state.walker_at.shape[-1]
        if state.walker_at.ndim != 1:
            raise ValueError(f"state has batch shape {state.walker_at.shape[:-1]}; vmap step over chains")
        betas = check_ladder(betas, r)
        dtype = float_dtype()
        key_inner, key_swap = jax.random.split(key)

        # 1. Inner step of every walker at the temperature of its slot.
        walker_betas = betas[state.slot_of]
        walkers, inner_info = jax.vmap(sampler.step, in_axes=(0, 0, None, 0))(
            jax.random.split(key_inner, r), state.walkers, model, walker_betas
        )
        inner_info = jax.tree.map(lambda x: x[state.walker_at], inner_info)
        energies = jax.vmap(model.energy)(walkers.spins).astype(dtype)

        # 2. Exchange round: pair (k, k+1) holds walkers a = walker_at[k], b = walker_at[k+1].
        num_steps = state.num_steps + 1
        swap_round = (num_steps % swap_every) == 0
        parity = (num_steps // swap_every - 1) % 2  # first round: even pairs
        pair = jnp.arange(r - 1)
        attempted = swap_round & (pair % 2 == parity)
        e_slot = energies[state.walker_at]
        log_ratio = (betas[:-1] - betas[1:]) * (e_slot[:-1] - e_slot[1:])
        probability = jnp.where(attempted, jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0).astype(dtype)
        uniforms = jax.random.uniform(key_swap, (r - 1,), dtype)
        # NaN energies give a NaN ratio, and NaN comparisons refuse the exchange.
        accepted = attempted & (uniforms < probability)
        left = jnp.concatenate([accepted, jnp.zeros(1, bool)])
        right = jnp.concatenate([jnp.zeros(1, bool), accepted])
        walker_at = jnp.where(left, jnp.roll(state.walker_at, -1), jnp.where(right, jnp.roll(state.walker_at, 1), state.walker_at))
        slot_of = jnp.zeros(r, jnp.int32).at[walker_at].set(jnp.arange(r, dtype=jnp.int32))

        # 3. Round trips 0 -> R-1 -> 0, per walker.
        at_bottom = slot_of == 0
        at_top = slot_of == r - 1
        completes = at_bottom & (state.direction == -1) & (state.trip_start >= 0)
        round_trips = state.round_trips + completes
        round_trip_steps = state.round_trip_steps + jnp.where(completes, num_steps - state.trip_start, 0)
        trip_start = jnp.where(at_bottom & (state.direction != 1), num_steps, state.trip_start)
        direction = jnp.where(at_bottom, 1, jnp.where(at_top, -1, state.direction)).astype(jnp.int32)

        status = state.status | ladder_status(betas) | _any_status(walkers.status)
        status = st.flag(status, st.Status.NAN, ~jnp.all(jnp.isfinite(energies)))
        new = TemperingState(
            walkers=walkers,
            energies=energies,
            walker_at=walker_at,
            slot_of=slot_of,
            direction=direction,
            trip_start=trip_start,
            round_trips=round_trips,
            round_trip_steps=round_trip_steps,
            accepted=state.accepted + accepted,
            attempted=state.attempted + attempted,
            num_steps=num_steps,
            status=status,
        )
        info = TemperingInfo(inner=inner_info, swap_attempted=attempted, swap_accepted=accepted, swap_probability=probability)
        return new, info

    return Sampler(init=init, step=step)


def tempering_statistics(state: TemperingState) -> TemperingStatistics:
    """Swap acceptance per pair and round-trip counts and times of a tempering state.

    ``swap_acceptance[k] = accepted[k] / attempted[k]`` for the pair of slots ``(k, k + 1)``
    (NaN if never attempted); ``mean_round_trip_time = sum(round_trip_steps) / sum(round_trips)``
    in steps (NaN if no trip completed). Works on batched states (leading axes kept).

    Raises:
        TypeError: ``state`` is not a :class:`TemperingState`.
    """
    if not isinstance(state, TemperingState):
        raise TypeError(f"expected a TemperingState, got {type(state).__name__}")
    dtype = float_dtype()
    attempted = state.attempted.astype(dtype)
    acceptance = jnp.where(state.attempted > 0, state.accepted.astype(dtype) / jnp.maximum(attempted, 1), jnp.nan)
    total = jnp.sum(state.round_trips, axis=-1)
    steps = jnp.sum(state.round_trip_steps, axis=-1).astype(dtype)
    mean_time = jnp.where(total > 0, steps / jnp.maximum(total, 1).astype(dtype), jnp.nan)
    return TemperingStatistics(
        swap_acceptance=acceptance,
        round_trips=state.round_trips,
        total_round_trips=total,
        mean_round_trip_time=mean_time,
        num_steps=state.num_steps,
    )


# Acceptances are clipped to [_MIN_ACCEPTANCE, 1 - float eps] before erfc^{-1}: a pair that never
# swapped (A = 0) would have infinite length and freeze the ladder, A = 1 zero length.
_MIN_ACCEPTANCE = 1e-6


def adapt_ladder(betas, acceptance, *, damping: float = 1.0) -> Float[Array, " R"]:
    """Move the interior temperatures of a ladder so that all exchange acceptances become equal.

    Model: for energy distributions close to Gaussian with width ``sigma(beta)`` (``sigma^2 =
    beta^-2 C``), the exchange acceptance of two neighbours is ``A = erfc(|dbeta| sigma / 2)``
    (Kofke 2002). So ``lambda_k = erfc^{-1}(A_k)`` is a length along the
    ladder, additive over intervals, with a density ``sigma(beta) / 2`` taken constant inside
    each interval. The new ladder puts the points at equal lengths ``j Lambda / (R - 1)`` of the
    piecewise-linear cumulative length ``Lambda(beta)`` through ``(beta_k, sum_{i<k} lambda_i)``;
    the end points stay fixed and the order is kept. This is one step of an acceptance-
    equalising feedback in the spirit of Katzgraber et al., J. Stat. Mech. P03018 (2006), with
    the acceptance as the feedback signal; measure the acceptances again on the new ladder and
    repeat (a few rounds usually suffice; at a fixed point all ``A_k`` are equal).

    Args:
        betas: monotone ladder, float ``(R,)``, ``R >= 2`` (see :func:`check_ladder`).
        acceptance: measured exchange acceptance of each pair ``(k, k + 1)``, float ``(R - 1,)``
            in ``[0, 1]`` (e.g. ``tempering_statistics(state).swap_acceptance``).
        damping: ``beta_new = beta + damping (beta_target - beta)``, in ``(0, 1]``; < 1 slows
            the feedback down when acceptances are noisy.

    Returns:
        The new ladder, float ``(R,)``, same order and end points. Pure jnp: works under ``jit``
        and ``vmap`` (over disorder samples, ladders). A traced NaN acceptance gives NaN betas,
        which ``step`` then flags as ``Status.INVALID_PARAMETER``.

    Raises:
        ValueError: a bad ladder (see :func:`check_ladder`), ``acceptance`` not of shape
        ``(R - 1,)``, concrete acceptances outside ``[0, 1]`` or NaN, ``damping`` outside (0, 1].
    """
    betas = check_ladder(betas)
    acceptance = jnp.asarray(acceptance, float_dtype())
    r = betas.shape[0]
    if acceptance.shape != (r - 1,):
        raise ValueError(f"acceptance must have shape ({r - 1},) (one per neighbouring pair), got {acceptance.shape}")
    if is_concrete(acceptance):
        a = np.asarray(acceptance)
        if not np.all((a >= 0) & (a <= 1)):
            raise ValueError(f"acceptance must lie in [0, 1] (no NaN), got {a}; pairs never attempted have no acceptance")
    if not (isinstance(damping, (int, float)) and 0 < damping <= 1):
        raise ValueError(f"damping must be a number in (0, 1], got {damping!r}")
    eps = jnp.finfo(acceptance.dtype).eps
    clipped = jnp.clip(acceptance, _MIN_ACCEPTANCE, 1 - eps)
    length = jax.scipy.special.erfinv(1 - clipped)  # erfc^{-1}(A) > 0
    cumulative = jnp.concatenate([jnp.zeros(1, length.dtype), jnp.cumsum(length)])
    targets = cumulative[-1] * jnp.arange(r, dtype=length.dtype) / (r - 1)
    new = jnp.interp(targets, cumulative, betas)
    new = betas + damping * (new - betas)
    # Keep the end points exact (interp of the last target can be off by one ulp).
    return new.at[0].set(betas[0]).at[-1].set(betas[-1])
