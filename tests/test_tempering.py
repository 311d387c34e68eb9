"""Parallel tempering against exact enumeration, and its bookkeeping.

Statistical tests run many independent tempering chains from random starts and compare the
histogram of the configurations found at each temperature slot after ``num_steps`` steps with the
exact Boltzmann law at that slot's beta (Pearson chi-square, :func:`jaxphys.testing.chi_square`).
Each chi-square fails if p < 1e-3: for a random seed a false-failure rate of 0.1% per slot, so at
most 0.4% for a 4-temperature ladder (union bound); the seeds are fixed, so the outcome is
deterministic. Counting and ladder tests are exact.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.exact.enumeration import _map_configurations, probabilities
from jaxphys.mc.base import SpinState, SweepInfo
from jaxphys.models import Ising, PairwiseIsing
from jaxphys.models.base import float_dtype
from jaxphys.testing import chi_square

ALPHA = 1e-3


@functools.partial(jax.jit, static_argnames=("sampler", "num_steps"))
def _run_chains(keys, starts, model, betas, *, sampler, num_steps):
    """Final ``(spins by temperature, status)`` of independent tempering chains; model and ladder are
    arguments, so tests on the same sampler and shapes share one compilation."""

    def one(key, x0):
        state = sampler.init(model, x0)
        state, _ = jax.lax.scan(lambda s, k: (sampler.step(k, s, model, betas)[0], None), state, jax.random.split(key, num_steps))
        return state.spins, state.status

    return jax.vmap(one)(keys, starts)


def final_stacks(key, sampler, model, betas, *, num_chains, num_steps, starts=None):
    """``state.spins`` (chains, R, *shape) after ``num_steps`` steps of independent tempering chains."""
    r = len(betas)
    key_start, key_run = jax.random.split(key)
    if starts is None:
        starts = jax.vmap(lambda k: mc.random_spins(k, (r, *model.spin_shape)))(jax.random.split(key_start, num_chains))
    keys = jax.random.split(key_run, num_chains)
    # From numpy: never weakly typed, so equal shapes always reuse the compiled chains.
    betas = jnp.asarray(np.asarray(betas, np.float64), float_dtype())
    spins, stat = _run_chains(keys, starts, model, betas, sampler=sampler, num_steps=num_steps)
    assert np.all(np.asarray(stat) == 0), np.unique(np.asarray(stat))
    return np.asarray(spins)


def configuration_index(spins):
    """Index of each configuration in enumeration order (bit i set iff spin i is -1)."""
    flat = spins.reshape(spins.shape[0], -1)
    return ((1 - flat.astype(np.int64)) // 2) @ (1 << np.arange(flat.shape[1], dtype=np.int64))


def slot_chi_squares(model, betas, spins, by):
    """Chi-square of the configurations at each slot against the exact law at that slot's beta."""
    index = np.stack([configuration_index(spins[:, k]) for k in range(len(betas))], axis=1)
    if by == "energy_magnetization":
        e, m = _map_configurations(lambda s: (model.energy(s), jnp.sum(s, dtype=jnp.int32)), model)
        _, level = np.unique(np.stack([np.round(np.asarray(e, np.float64), 4), np.asarray(m)], 1), axis=0, return_inverse=True)
        level = level.reshape(-1)
    else:
        level = np.arange(1 << model.num_spins)
    results = []
    for k, beta in enumerate(np.asarray(betas)):
        probs = np.bincount(level, weights=np.asarray(probabilities(model, float(beta)), np.float64))
        results.append(chi_square(np.bincount(level[index[:, k]], minlength=len(probs)), probs))
    return results


# A 3x3 Ising model with a small field: at beta = 1, P(all up) / P(all down) = exp(2 beta h N) =
# exp(1.8) ~ 6, but Metropolis from random starts stays in the basin it fell into (checked below),
# so only exchange with the hot end of the ladder brings the cold slot to equilibrium.
ISING = Ising((3, 3), h=0.1)
LADDER = jnp.array([0.2, 0.4, 0.65, 1.0])


def test_ising_3x3_every_slot_matches_enumeration_with_metropolis():
    spins = final_stacks(jax.random.key(0), mc.tempering(mc.metropolis()), ISING, LADDER, num_chains=4096, num_steps=100)
    results = slot_chi_squares(ISING, LADDER, spins, "configuration")
    assert all(r.p_value > ALPHA for r in results), results


@pytest.mark.slow  # suite time budget (2 cores, 15 min)
def test_plain_metropolis_at_the_cold_end_fails_the_same_check():
    """Power of the check above: with every beta = 1 (exchanges then change no slot's law) the
    chains keep the basin their random start fell into, and the same budget fails the chi-square
    at every slot (same shapes as above, so the compiled chains are reused)."""
    betas = jnp.full(4, 1.0)
    spins = final_stacks(jax.random.key(0), mc.tempering(mc.metropolis()), ISING, betas, num_chains=4096, num_steps=100)
    results = slot_chi_squares(ISING, betas, spins, "configuration")
    assert all(r.p_value < ALPHA for r in results), results


def test_ising_4x4_every_slot_matches_enumeration_with_checkerboard():
    model = Ising((4, 4), h=0.1)
    betas = jnp.array([0.2, 0.4, 0.6, 0.85])
    sampler = mc.tempering(mc.checkerboard())
    spins = final_stacks(jax.random.key(1), sampler, model, betas, num_chains=4096, num_steps=100)
    results = slot_chi_squares(model, betas, spins, "energy_magnetization")
    assert all(r.p_value > ALPHA for r in results), results


def random_pairwise(seed, n=8):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    return PairwiseIsing(np.triu(a, 1) + np.triu(a, 1).T, h=0.1 * rng.normal(size=n))


def test_random_couplings_8_spins_every_slot_matches_enumeration():
    """Decreasing ladder (cold first) to cover both orders; configuration by configuration (256 states)."""
    model = random_pairwise(3)
    betas = jnp.array([2.0, 1.2, 0.7, 0.3])
    spins = final_stacks(jax.random.key(2), mc.tempering(mc.metropolis()), model, betas, num_chains=4096, num_steps=60)
    results = slot_chi_squares(model, betas, spins, "configuration")
    assert all(r.p_value > ALPHA for r in results), results


def _frozen() -> mc.Sampler:
    """An inner sampler that never moves: tempering with it is the exchange step alone."""
    return mc.Sampler(
        init=lambda model, spins: SpinState(spins=spins, status=status.ok()),
        step=lambda key, state, model, beta: (state, SweepInfo(acceptance_rate=jnp.zeros((), jnp.float32))),
    )


def _exact_draws(key, model, beta, num):
    cdf = np.cumsum(np.asarray(probabilities(model, beta), np.float64))
    index = np.minimum(np.searchsorted(cdf, np.asarray(jax.random.uniform(key, (num,))) * cdf[-1], side="right"), len(cdf) - 1)
    bits = (index[:, None] >> np.arange(model.num_spins)[None, :]) & 1
    return (1 - 2 * bits).astype(np.int8).reshape(num, *model.spin_shape)


def test_exchange_alone_leaves_the_product_law_invariant():
    """Start the 2-temperature ladder from exact product draws; after exchanges the joint law of the
    (slot 0, slot 1) configuration pair (8 x 8 = 64 categories) must still be the product law."""
    model = random_pairwise(7, n=3)
    betas = jnp.array([0.2, 1.5])
    num = 16384
    k0, k1, k2 = jax.random.split(jax.random.key(3), 3)
    starts = jnp.asarray(np.stack([_exact_draws(k0, model, 0.2, num), _exact_draws(k1, model, 1.5, num)], axis=1))
    sampler = mc.tempering(_frozen())
    spins = final_stacks(k2, sampler, model, betas, num_chains=num, num_steps=3, starts=starts)
    joint = configuration_index(spins[:, 0]) * 8 + configuration_index(spins[:, 1])
    p0, p1 = (np.asarray(probabilities(model, b), np.float64) for b in (0.2, 1.5))
    result = chi_square(np.bincount(joint, minlength=64), np.outer(p0, p1).reshape(-1))
    assert result.p_value > ALPHA, result
    # The check has power: exchanges did happen (some pairs came back different from the start).
    assert np.mean(np.any(spins != np.asarray(starts), axis=(1, 2))) > 0.05


def test_identical_betas_always_swap_and_round_trips_follow_odd_even_transposition():
    """Equal betas: every attempted exchange is accepted, so the walkers move deterministically
    (odd-even transposition: each walker bounces between the ends, waiting one step at each).
    Round trips are compared with a plain-Python replay of that permutation."""
    r, num_steps = 4, 37
    model = Ising((2, 4))
    sampler = mc.tempering(_frozen())
    state = sampler.init(model, jnp.ones((r, 2, 4), jnp.int8))
    step = jax.jit(sampler.step)
    for t in range(num_steps):
        state, info = step(jax.random.key(t), state, model, jnp.full(r, 0.7))
        assert np.all(np.asarray(info.swap_accepted) == np.asarray(info.swap_attempted))
    stats = mc.tempering_statistics(state)
    np.testing.assert_array_equal(stats.swap_acceptance, np.ones(r - 1))

    walker_at, trips, steps, last_end, start = list(range(r)), [0] * r, [0] * r, [1, 0, 0, -1], [0, -1, -1, -1]
    for t in range(1, num_steps + 1):
        for k in range((t - 1) % 2, r - 1, 2):
            walker_at[k], walker_at[k + 1] = walker_at[k + 1], walker_at[k]
        for w in range(r):
            slot = walker_at.index(w)
            if slot == 0 and last_end[w] != 1:
                if last_end[w] == -1 and start[w] >= 0:
                    trips[w] += 1
                    steps[w] += t - start[w]
                start[w], last_end[w] = t, 1
            elif slot == r - 1:
                last_end[w] = -1
    np.testing.assert_array_equal(state.walker_at, walker_at)
    np.testing.assert_array_equal(state.round_trips, trips)
    np.testing.assert_array_equal(state.round_trip_steps, steps)
    assert sum(trips) > 0
    # Every trip lasts 2R steps (a wait of one step at each end), except walker 0's first: it starts
    # at t = 0 and leaves slot 0 at once.
    np.testing.assert_array_equal(state.round_trip_steps, 2 * r * np.asarray(trips) - np.array([1, 0, 0, 0]))
    assert float(stats.mean_round_trip_time) == pytest.approx((2 * r * sum(trips) - 1) / sum(trips))


# One compiled step shared by the tests below (same sampler, same shapes: 8 spins, 4 replicas).
PT_METROPOLIS = mc.tempering(mc.metropolis())
STEP = jax.jit(PT_METROPOLIS.step)


def random_stack(key, r=4, n=8):
    return jax.vmap(lambda k: mc.random_spins(k, (n,)))(jax.random.split(key, r))


def test_identical_betas_with_metropolis_accept_every_swap():
    model = random_pairwise(4)
    state = PT_METROPOLIS.init(model, random_stack(jax.random.key(4)))
    for t in range(10):
        state, info = STEP(jax.random.key(t), state, model, jnp.full(4, 0.7))
        np.testing.assert_array_equal(info.swap_probability, np.where(info.swap_attempted, 1.0, 0.0))
    assert len(np.unique(np.asarray(state.energies))) > 1  # the exchanged configurations differ
    np.testing.assert_array_equal(mc.tempering_statistics(state).swap_acceptance, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(state.accepted, [5, 5, 5])


def test_spins_are_ordered_by_temperature_and_energies_match():
    model = random_pairwise(1)
    betas = jnp.array([0.1, 0.5, 1.0, 3.0])
    state = PT_METROPOLIS.init(model, random_stack(jax.random.key(5)))
    for t in range(30):
        state, _ = STEP(jax.random.key(t), state, model, betas)
    np.testing.assert_array_equal(np.sort(np.asarray(state.walker_at)), np.arange(4))
    np.testing.assert_array_equal(np.asarray(state.slot_of)[np.asarray(state.walker_at)], np.arange(4))
    np.testing.assert_array_equal(state.spins, np.asarray(state.walkers.spins)[np.asarray(state.walker_at)])
    np.testing.assert_allclose(state.energies, jax.vmap(model.energy)(state.walkers.spins), rtol=1e-6)
    assert int(state.accepted.sum()) > 0
    # Pairs (0, 1), (2, 3) at odd-numbered steps, (1, 2) at even-numbered ones: each tried 15 times.
    np.testing.assert_array_equal(state.attempted, [15, 15, 15])
    # swap_every = 3: exchanges only after steps 3, 6, 9 (a frozen inner sampler: fast to compile).
    slow = mc.tempering(_frozen(), swap_every=3)
    s, slow_step = slow.init(model, state.spins), jax.jit(slow.step)
    for t in range(10):
        s, info = slow_step(jax.random.key(t), s, model, betas)
        assert bool(np.any(info.swap_attempted)) == ((t + 1) % 3 == 0)


def test_closed_ladder_form_matches_the_ladder_argument_form():
    model = random_pairwise(2)
    betas = jnp.array([0.3, 0.8, 1.4, 2.0])
    closed = mc.tempering(mc.metropolis(), betas)
    x = random_stack(jax.random.key(6))
    a, _ = STEP(jax.random.key(0), PT_METROPOLIS.init(model, x), model, betas)
    b, _ = jax.jit(lambda k, s, m: closed.step(k, s, m, None))(jax.random.key(0), closed.init(model, x), model)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(u, v)
    # A concrete ladder passed anyway is checked at trace time (eval_shape: no compilation needed).
    jax.eval_shape(lambda k, s: closed.step(k, s, model, betas), jax.random.key(0), b)
    other = betas.at[-1].set(2.5)
    with pytest.raises(ValueError, match="closes over"):
        jax.eval_shape(lambda k, s: closed.step(k, s, model, other), jax.random.key(0), b)
    # A traced one cannot be compared at trace time: the closed ladder is used and a status bit set
    # (checked with the frozen inner sampler, which compiles in no time).
    frozen = mc.tempering(_frozen(), betas)
    start = frozen.init(model, x)
    traced, _ = jax.jit(frozen.step)(jax.random.key(0), start, model, other)
    assert int(traced.status) & status.Status.INVALID_PARAMETER
    same, _ = jax.jit(frozen.step)(jax.random.key(0), start, model, betas)
    assert int(same.status) == 0


def test_vmap_over_disorder_samples_matches_a_loop():
    """eqx.filter_vmap over 3 random-coupling models (and their ladders) equals running each alone."""

    def make(key):
        a = jax.random.normal(key, (8, 8)) / jnp.sqrt(8.0)
        return PairwiseIsing(jnp.triu(a, 1) + jnp.triu(a, 1).T)

    keys = jax.random.split(jax.random.key(7), 3)
    models = eqx.filter_vmap(make)(keys)
    assert models.J.shape == (3, 8, 8)
    ladders = jnp.array([[0.2, 0.6, 1.0, 1.6], [0.3, 0.7, 1.1, 1.5], [0.1, 0.5, 0.9, 2.0]])
    x = jax.vmap(random_stack)(jax.random.split(jax.random.key(8), 3))
    num_steps = 6

    @eqx.filter_jit
    @eqx.filter_vmap
    def batched(key, model, betas, x0):
        state = PT_METROPOLIS.init(model, x0)
        return jax.lax.scan(lambda s, k: (PT_METROPOLIS.step(k, s, model, betas)[0], None), state, jax.random.split(key, num_steps))[0]

    out = batched(keys, models, ladders, x)
    for i in range(3):
        model_i = make(keys[i])
        alone = PT_METROPOLIS.init(model_i, x[i])
        for k in jax.random.split(keys[i], num_steps):
            alone, _ = STEP(k, alone, model_i, ladders[i])
        np.testing.assert_array_equal(out.spins[i], alone.spins)
        np.testing.assert_array_equal(out.accepted[i], alone.accepted)
        np.testing.assert_allclose(out.energies[i], alone.energies, rtol=1e-6)
    # tempering_statistics keeps the batch axis.
    assert mc.tempering_statistics(out).swap_acceptance.shape == (3, 3)
    # adapt_ladder vmaps over disorder samples too.
    new = jax.vmap(mc.adapt_ladder)(ladders, jnp.full((3, 3), 0.5) + jnp.array([0.3, 0.0, -0.3]))
    np.testing.assert_array_equal(new[:, 0], ladders[:, 0])
    np.testing.assert_array_equal(new[:, -1], ladders[:, -1])
    assert np.all(np.diff(np.asarray(new), axis=1) > 0)


def _gaussian_acceptance(betas, sigma):
    """Exact acceptance of exchanges between Gaussian energy laws of width sigma(beta) taken at the
    interval's midpoint: A = erfc(|dbeta| sigma / 2) (Kofke 2002)."""
    mid = 0.5 * (betas[1:] + betas[:-1])
    return jax.scipy.special.erfc(jnp.abs(jnp.diff(betas)) * sigma(mid) / 2)


def test_adapt_ladder_reaches_equal_acceptance_on_the_gaussian_model():
    """With acceptances from the model adapt_ladder assumes, iterating it equalises them. Here
    sigma(beta) peaks at beta = 0.44 (a specific-heat peak), so the initial linear ladder has a
    bottleneck there."""
    sigma = lambda b: 4.0 + 20.0 * jnp.exp(-(((b - 0.44) / 0.05) ** 2))
    betas = jnp.linspace(0.2, 0.8, 10)
    first = _gaussian_acceptance(betas, sigma)
    for _ in range(30):
        betas = mc.adapt_ladder(betas, _gaussian_acceptance(betas, sigma))
    last = _gaussian_acceptance(betas, sigma)
    assert float(jnp.ptp(first)) > 0.3
    assert float(jnp.ptp(last)) < 0.02, last
    assert float(betas[0]) == pytest.approx(0.2) and float(betas[-1]) == pytest.approx(0.8)
    assert np.all(np.diff(np.asarray(betas)) > 0)
    # Already equal acceptances are a fixed point.
    even = jnp.linspace(0.2, 0.8, 10)
    np.testing.assert_allclose(mc.adapt_ladder(even, jnp.full(9, 0.4)), even, atol=1e-6)


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _final_states(keys, starts, model, betas, *, num_steps):
    sampler = mc.tempering(mc.checkerboard())

    def one(key, x0):
        state = sampler.init(model, x0)
        return jax.lax.scan(lambda s, k: (sampler.step(k, s, model, betas)[0], None), state, jax.random.split(key, num_steps))[0]

    return jax.vmap(one)(keys, starts)


def _measured_acceptance(key, model, betas, num_chains, num_steps):
    starts = jax.vmap(lambda k: mc.random_spins(k, (len(betas), *model.shape)))(jax.random.split(key, num_chains))
    state = _final_states(jax.random.split(jax.random.fold_in(key, 1), num_chains), starts, model, betas, num_steps=num_steps)
    return jnp.sum(state.accepted, 0) / jnp.sum(state.attempted, 0)


def test_adapt_ladder_evens_out_acceptance_of_the_8x8_ising_model_across_tc():
    """Linear ladder beta in [0.25, 0.6] across beta_c = 0.4407: acceptance dips near beta_c. After
    two adaptation rounds the spread (max - min) of the measured acceptances must shrink by half.
    Each acceptance is a mean over 16 chains x 200 steps (1600 attempts per pair, standard error
    <= 0.0125), so the spread is measured to about +-0.035."""
    model = Ising((8, 8))
    betas = jnp.linspace(0.25, 0.6, 6)
    before = _measured_acceptance(jax.random.key(9), model, betas, 16, 200)
    adapted = betas
    acceptance = before
    for round_ in range(2):
        adapted = mc.adapt_ladder(adapted, acceptance)
        acceptance = _measured_acceptance(jax.random.key(10 + round_), model, adapted, 16, 200)
    assert float(jnp.ptp(before)) > 0.15, before
    assert float(jnp.ptp(acceptance)) < 0.5 * float(jnp.ptp(before)), (before, acceptance, adapted)


def test_bad_input():
    model = Ising((3, 3))
    sampler = mc.tempering(mc.metropolis())
    x = jnp.ones((3, 3, 3), jnp.int8)
    state = sampler.init(model, x)
    with pytest.raises(ValueError, match="monotone"):
        sampler.step(jax.random.key(0), state, model, jnp.array([0.2, 0.9, 0.5]))
    with pytest.raises(ValueError, match=">= 0"):
        sampler.step(jax.random.key(0), state, model, jnp.array([-0.1, 0.2, 0.5]))
    with pytest.raises(ValueError, match="finite"):
        sampler.step(jax.random.key(0), state, model, jnp.array([0.1, jnp.nan, 0.5]))
    with pytest.raises(ValueError, match="3 replicas"):
        sampler.step(jax.random.key(0), state, model, jnp.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="1-D"):
        sampler.step(jax.random.key(0), state, model, 0.5)
    with pytest.raises(ValueError, match="at least 2"):
        sampler.init(model, jnp.ones((1, 3, 3), jnp.int8))
    with pytest.raises(ValueError, match="at least 2"):
        mc.tempering(mc.metropolis(), [0.5])
    with pytest.raises(ValueError, match="num_replicas"):
        mc.tempering(mc.metropolis(), 1)
    with pytest.raises(ValueError, match="monotone"):
        mc.tempering(mc.metropolis(), [0.1, 0.5, 0.3])
    with pytest.raises(ValueError, match="stacks 3"):
        mc.tempering(mc.metropolis(), 4).init(model, x)
    with pytest.raises(ValueError, match="stack"):
        sampler.init(model, jnp.ones((3, 3), jnp.int8))
    with pytest.raises(TypeError, match="int8"):
        sampler.init(model, jnp.ones((3, 3, 3), jnp.int32))
    with pytest.raises(ValueError, match="values"):
        sampler.init(model, jnp.zeros((3, 3, 3), jnp.int8))
    with pytest.raises(ValueError, match="swap_every"):
        mc.tempering(mc.metropolis(), swap_every=0)
    with pytest.raises(ValueError, match="shape"):
        mc.adapt_ladder(jnp.array([0.1, 0.2, 0.3]), jnp.array([0.5]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mc.adapt_ladder(jnp.array([0.1, 0.2, 0.3]), jnp.array([0.5, 1.5]))
    with pytest.raises(TypeError, match="TemperingState"):
        mc.tempering_statistics(mc.metropolis().init(model, x[0]))
    # Traced bad ladders set a status bit instead of raising (frozen inner sampler: fast to compile).
    frozen = mc.tempering(_frozen())
    state = frozen.init(model, x)
    step = jax.jit(frozen.step)
    for betas in ([0.2, 0.9, 0.5], [-0.1, 0.2, 0.5], [0.1, float("nan"), 0.5]):
        new, _ = step(jax.random.key(0), state, model, jnp.array(betas))
        assert int(new.status) & status.Status.INVALID_PARAMETER, betas
    good, _ = step(jax.random.key(0), state, model, jnp.array([0.1, 0.2, 0.5]))
    assert int(good.status) == 0
    # A NaN coupling that arrives as a traced value: NaN energies set Status.NAN, and no exchange.
    nan_model = eqx.tree_at(lambda m: m.J, model, jnp.array(jnp.nan))
    bad, info = step(jax.random.key(0), state, nan_model, jnp.array([0.1, 0.2, 0.5]))
    assert int(bad.status) & status.Status.NAN
    assert not np.any(info.swap_accepted)


def test_mc_run_drives_tempering_against_enumeration():
    """mc.run starts the ladder from one configuration and measures per-temperature observables.

    Each of the 4 energies must lie within 3 error bars of enumeration (0.27% each for a random seed).
    """
    import jaxphys
    from jaxphys import exact
    from jaxphys.models import Ising

    model = Ising((3, 3), h=0.1)
    betas = jnp.array([0.2, 0.4, 0.65, 1.0])
    sampler = jaxphys.mc.tempering(jaxphys.mc.metropolis(), betas)
    energies = {"energy": lambda m, s: jax.vmap(m.energy)(s) / m.num_spins}
    runs = jax.vmap(lambda k: jaxphys.mc.run(k, sampler, model, betas, 3000, observables=energies))(jax.random.split(jax.random.key(21), 4))
    result = jaxphys.mc.combine(runs)
    assert result.mean["energy"].shape == (4,)
    for k, beta in enumerate(np.asarray(betas)):
        ref = float(exact.averages(model, float(beta))["energy"])
        assert abs(float(result.mean["energy"][k]) - ref) < 3 * float(result.stderr["energy"][k]), (beta, ref)
