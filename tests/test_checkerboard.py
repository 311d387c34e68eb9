"""Checkerboard Metropolis and heat bath (jaxphys.mc.checkerboard) against exact references.

- Chi-square of thousands of independent chains' final configurations against exact enumeration
  (``jaxphys.testing.sampler_chi_square``) on a 4 x 4 square, a chain of 8, a 2 x 2 x 4 cube
  and a 2 x 8 strip (the packed kernel), for both rules and every generator, with and without a
  field. Each fails if p < 1e-3: a 0.1% false-failure rate per test for a random seed (seeds are
  fixed, so the outcome is deterministic).
- One sweep equals an independent numpy sweep (float64 Boltzmann factors, the documented
  site -> random word assignment) exactly, float32 and float64, packed and per-site kernels.
- The packed and per-site kernels give identical chains; a 16 x 8 lattice (beyond enumeration)
  reproduces the transfer-matrix energy within 5 error bars.
- Layout round trip, vmap over chains, betas and models, errors and status bits.
"""

import importlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.exact.transfer_matrix import ising_2d
from jaxphys.mc.random import key_words, philox4x32, threefry2x32
from jaxphys.models import Ising, PairwiseIsing
from jaxphys.testing import sampler_chi_square

cb = importlib.import_module("jaxphys.mc.checkerboard")  # the module (mc.checkerboard is the factory)

ALPHA = 1e-3
RULES = ("metropolis", "heatbath")
GENERATORS = ("threefry", "philox", "threefry_fused")
BOTH = [(r, g) for r in RULES for g in ("threefry", "philox")]


def _random_spins(seed, shape):
    return jnp.asarray(np.where(np.random.default_rng(seed).random(shape) < 0.5, 1, -1).astype(np.int8))


# ---------------------------------------------------------------------------------------------
# Chi-square against exact enumeration
# ---------------------------------------------------------------------------------------------

# (shape, beta, h, by): betas where 50 sweeps from a random start reach equilibrium. The chain
# has a field in both cases because checkerboard Metropolis on a chain at h = 0 is not ergodic
# (see test_metropolis_chain_at_zero_field_is_invariant_but_not_ergodic).
CASES = {
    "4x4": ((4, 4), 0.3, 0.0, "energy_magnetization"),
    "4x4-field": ((4, 4), 0.35, 0.2, "energy_magnetization"),
    "chain8-field": ((8,), 0.5, 0.3, "configuration"),
    "chain8-cold-field": ((8,), 0.8, 0.3, "configuration"),
    "cube2x2x4": ((2, 2, 4), 0.1, 0.0, "energy_magnetization"),
    "cube2x2x4-field": ((2, 2, 4), 0.2, 0.15, "energy_magnetization"),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("rule,generator", BOTH)
def test_chi_square_against_enumeration(rule, generator, case):
    shape, beta, h, by = CASES[case]
    result = sampler_chi_square(jax.random.key(21), mc.checkerboard(rule, generator), Ising(shape, h=h), beta, by=by)
    assert result.p_value > ALPHA, result


FUSED_CASES = [("metropolis", "4x4-field"), ("heatbath", "chain8-field"), ("metropolis", "cube2x2x4-field")]


@pytest.mark.parametrize("rule,case", FUSED_CASES)
def test_chi_square_fused_threefry(rule, case):
    shape, beta, h, by = CASES[case]
    sampler = mc.checkerboard(rule, "threefry_fused")
    result = sampler_chi_square(jax.random.key(22), sampler, Ising(shape, h=h), beta, by=by)
    assert result.p_value > ALPHA, result


def test_chi_square_packed_strip_with_site_field():
    """2 x 8 (packed words, 2D), a site-dependent field and an antiferromagnetic coupling."""
    h = 0.3 * np.random.default_rng(3).normal(size=(2, 8))
    model = Ising((2, 8), J=-0.7, h=h)
    sampler = mc.checkerboard("metropolis", "philox")
    result = sampler_chi_square(jax.random.key(23), sampler, model, 0.5, by="energy_magnetization")
    assert result.p_value > ALPHA, result


@pytest.mark.parametrize("rule,shape,beta", [("metropolis", (2, 4), 0.8), ("heatbath", (2, 2, 2), 0.4)])
def test_low_temperature_leaves_boltzmann_invariant(rule, shape, beta):
    """Below T_c tunnelling takes thousands of sweeps: start from exact draws instead (invariance)."""
    sampler = mc.checkerboard(rule, "philox")
    result = sampler_chi_square(jax.random.key(24), sampler, Ising(shape, h=0.1), beta, num_sweeps=5, start="exact")
    assert result.p_value > ALPHA, result


def test_metropolis_chain_at_zero_field_is_invariant_but_not_ergodic():
    """At h = 0 every zero-cost flip on a chain is accepted with certainty and all sites of a colour
    move together, so domain walls travel deterministically: the exact one-sweep transition matrix
    of the 8-site ring has eigenvalue 1 five times and -1 twice (computed by enumeration when this
    test was written). The Boltzmann law is still invariant (tested here from exact draws), but
    chains from random starts do not converge to it; the same test from random starts fails
    with p ~ 1e-7 at 50 and 200 sweeps."""
    sampler = mc.checkerboard("metropolis", "philox")
    result = sampler_chi_square(jax.random.key(25), sampler, Ising((8,)), 0.5, num_sweeps=7, start="exact")
    assert result.p_value > ALPHA, result


# ---------------------------------------------------------------------------------------------
# One sweep against an independent numpy sweep
# ---------------------------------------------------------------------------------------------


def _reference_words(generator, key, colour, num_sites):
    """Random word of every compact site of a colour: site i gets word i % 4 of counter i // 4."""
    num_counters = -(-num_sites // 4)
    index = jnp.arange(num_counters, dtype=jnp.uint32)
    if generator == "threefry":
        return np.asarray(jax.random.bits(jax.random.split(key)[colour], (num_sites,), jnp.uint32))
    k = key_words(key)
    zero = jnp.zeros((), jnp.uint32)
    if generator == "philox":
        words = philox4x32((index, jnp.uint32(colour), zero, zero), k)
    else:
        first = threefry2x32((index, jnp.uint32(2 * colour)), k)
        words = (*first, *threefry2x32((index, jnp.uint32(2 * colour + 1)), k))
    return np.stack([np.asarray(w) for w in words], axis=-1).reshape(-1)[:num_sites]


def _reference_sweep(spins, key, rule, generator, beta, J, h):
    """Colour 0 then colour 1 on the full lattice, float64, thresholds round(P 2^32) saturated."""
    s = np.asarray(spins).astype(np.int64)
    shape = s.shape
    coords = np.indices(shape)
    colour = coords.sum(axis=0) % 2
    row = np.ravel_multi_index(tuple(coords[:-1]), shape[:-1]) if len(shape) > 1 else np.zeros(shape, np.int64)
    compact_index = row * (shape[-1] // 2) + coords[-1] // 2
    borderline = 0
    for c in (0, 1):
        nn = sum(np.roll(s, step, axis) for axis in range(len(shape)) for step in (1, -1))
        field = J * nn + h
        if rule == "metropolis":
            p = np.minimum(1.0, np.exp(-2.0 * beta * s * field))
        else:
            p = 1.0 / (1.0 + np.exp(-2.0 * beta * field))
        x = p * 2.0**32
        threshold = np.where(x >= 2.0**32 - 0.5, 2.0**32 - 1, np.floor(x + 0.5))
        words = _reference_words(generator, key, c, s.size // 2)[compact_index].astype(np.float64)
        hit = words < threshold
        mine = colour == c
        # float32 thresholds may round differently within ~1e-7 relative: count such sites.
        borderline += int(np.sum(mine & (np.abs(words - threshold) < 4096)))
        if rule == "metropolis":
            s = np.where(mine & hit, -s, s)
        else:
            s = np.where(mine, np.where(hit, 1, -1), s)
    return s.astype(np.int8), borderline


# Packed words when L_d % 8 == 0, int8 sites otherwise; a site field on the shapes with 4 rows.
# Rows of >= 3 words (L_d >= 24) tell the previous word from the next one across a word boundary.
SWEEP_CASES = [
    ((40,), "metropolis", "philox"),
    ((2, 32), "metropolis", "threefry_fused"),
    ((2, 2, 24), "heatbath", "philox"),
    ((8,), "heatbath", "threefry"),
    ((4, 6), "metropolis", "threefry_fused"),
    ((4, 6), "heatbath", "philox"),
    ((4, 8), "metropolis", "threefry"),
    ((4, 8), "heatbath", "threefry_fused"),
    ((4, 8), "metropolis", "philox"),
    ((2, 4, 8), "heatbath", "philox"),
    ((4, 2, 6), "metropolis", "threefry"),
]


@pytest.mark.parametrize("shape,rule,generator", SWEEP_CASES)
def test_sweep_equals_independent_reference(shape, rule, generator):
    """One sweep against a direct numpy sweep of the full lattice with the same random words."""
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    J, h = 0.9, 0.25 * rng.normal(size=shape) if shape[0] == 4 else 0.15
    model = Ising(shape, J=J, h=h)
    spins = _random_spins(7, shape)
    key, beta = jax.random.key(100 + shape[-1]), 0.35
    sampler = mc.checkerboard(rule, generator)
    state, info = jax.jit(sampler.step)(key, sampler.init(model, spins), model, beta)
    expected, borderline = _reference_sweep(spins, key, rule, generator, beta, J, h)
    assert borderline == 0  # no site within float32 rounding of its threshold: exact match expected
    np.testing.assert_array_equal(np.asarray(state.spins), expected)
    assert float(info.acceptance_rate) == pytest.approx(np.mean(expected != np.asarray(spins)), abs=1e-7)


@pytest.mark.slow  # suite time (23 s: a Python reference sweep); the float32 sweeps above check the same kernel
def test_sweep_equals_reference_with_x64():
    with jax.enable_x64(True):
        for shape, rule in [((4, 8), "metropolis"), ((2, 2, 6), "heatbath")]:
            model = Ising(shape, J=1.1, h=0.2)
            spins = _random_spins(8, shape)
            sampler = mc.checkerboard(rule, "philox")
            key = jax.random.key(5)
            state, info = jax.jit(sampler.step)(key, sampler.init(model, spins), model, 0.3)
            assert info.acceptance_rate.dtype == jnp.float64
            expected, _ = _reference_sweep(spins, key, rule, "philox", 0.3, 1.1, 0.2)
            np.testing.assert_array_equal(np.asarray(state.spins), expected)


# ---------------------------------------------------------------------------------------------
# Packed kernel: agreement with the per-site kernel, and physics beyond enumeration
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,rule,generator,site_field",
    [
        ((16,), "metropolis", "philox", False),
        ((4, 32), "heatbath", "threefry_fused", True),
        ((2, 4, 8), "metropolis", "threefry", True),
    ],
)
def test_packed_and_site_kernels_agree(shape, rule, generator, site_field):
    h = 0.4 * np.random.default_rng(4).normal(size=shape) if site_field else 0.1
    model = Ising(shape, J=0.8, h=h)
    sampler = mc.checkerboard(rule, generator)

    def chain(packed):
        def run(key, state):
            def body(state, k):
                state, info = cb._sweep(k, state, model, 0.45, rule=rule, generator=generator, packed=packed)
                return state, info.acceptance_rate

            return jax.lax.scan(body, state, jax.random.split(key, 5))

        return jax.jit(run)

    state = sampler.init(model, _random_spins(9, shape))
    assert state.even.dtype == jnp.uint32  # L_d % 8 == 0: words
    packed_state, packed_rates = chain(True)(jax.random.key(3), state)
    site_state, site_rates = chain(False)(jax.random.key(3), state)
    np.testing.assert_array_equal(np.asarray(packed_state.spins), np.asarray(site_state.spins))
    np.testing.assert_array_equal(np.asarray(packed_rates), np.asarray(site_rates))
    assert np.all(np.asarray(packed_rates) > 0)


def test_energy_of_16x8_matches_transfer_matrix():
    """Packed kernel on 128 spins at beta = 0.35, h = 0.05: <e>, <m> within 5 error bars of exact
    (binning error bars, autocorrelation included; a 5-sigma miss has probability ~6e-7)."""
    model = Ising((16, 8), h=0.05)
    exact = ising_2d((16, 8), 0.35, h=0.05)
    result = mc.run(jax.random.key(31), mc.checkerboard("metropolis", "philox"), model, 0.35, 3000, burn_in=200)
    for name, value in [("energy", exact.energy), ("magnetization", exact.magnetization)]:
        mean, err = float(result.mean[name]), float(result.stderr[name])
        assert abs(mean - value) < 5 * err, (name, mean, value, err)
        assert err < (0.01 if name == "energy" else 0.05)  # the test has power


# ---------------------------------------------------------------------------------------------
# Layout, transformations, errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (2,), (2, 2, 4), (4, 16), (2, 4, 8)])
def test_spins_round_trip(shape):
    sampler = mc.checkerboard()
    model = Ising(shape)
    spins = _random_spins(1, shape)
    state = sampler.init(model, spins)
    np.testing.assert_array_equal(np.asarray(state.spins), np.asarray(spins))
    assert state.spins.dtype == jnp.int8 and state.status.dtype == jnp.int32
    # Compact: one byte per spin, colour 0 = even coordinate sum.
    assert state.even.nbytes == state.odd.nbytes == spins.size // 2
    even_sites = np.indices(shape).sum(axis=0) % 2 == 0
    stored_even = np.asarray(cb._from_storage(state.even)).ravel()
    np.testing.assert_array_equal(np.sort(stored_even), np.sort(np.asarray(spins)[even_sites]))
    batch = jnp.stack([spins, -spins, jnp.roll(spins, 1, axis=0)])
    states = jax.vmap(sampler.init, in_axes=(None, 0))(model, batch)
    np.testing.assert_array_equal(np.asarray(states.spins), np.asarray(batch))


def test_vmap_over_chains_betas_and_models():
    shape = (4, 8)
    sampler = mc.checkerboard("heatbath", "philox")
    model = Ising(shape, h=0.1)
    state = sampler.init(model, _random_spins(2, shape))
    keys = jax.random.split(jax.random.key(0), 3)
    step = jax.jit(sampler.step)

    chains, _ = jax.jit(jax.vmap(sampler.step, in_axes=(0, None, None, None)))(keys, state, model, 0.4)
    for i in range(3):
        single = step(keys[i], state, model, 0.4)[0]
        np.testing.assert_array_equal(np.asarray(chains.spins[i]), np.asarray(single.spins))

    betas = jnp.array([0.0, 0.4, 2.0])
    by_beta, info = jax.jit(jax.vmap(sampler.step, in_axes=(None, None, None, 0)))(keys[0], state, model, betas)
    for i, beta in enumerate([0.0, 0.4, 2.0]):
        single = step(keys[0], state, model, beta)[0]
        np.testing.assert_array_equal(np.asarray(by_beta.spins[i]), np.asarray(single.spins))
    assert by_beta.status.shape == (3,) and not np.any(np.asarray(by_beta.status))

    models = eqx.filter_vmap(lambda J: Ising(shape, J=J, h=0.1))(jnp.array([0.5, -1.0]))
    by_model, _ = eqx.filter_jit(eqx.filter_vmap(lambda m: sampler.step(keys[0], state, m, 0.4)))(models)
    for i, J in enumerate([0.5, -1.0]):
        single = step(keys[0], state, Ising(shape, J=J, h=0.1), 0.4)[0]
        np.testing.assert_array_equal(np.asarray(by_model.spins[i]), np.asarray(single.spins))


def test_acceptance_rates_at_infinite_temperature():
    """beta = 0: Metropolis accepts every flip (P = 1, refused only if the word is 2^32 - 1);
    heat bath sets each spin up with probability 1/2, so half the spins change (5 sigma bound)."""
    model = Ising((64, 64))
    spins = _random_spins(3, (64, 64))
    for rule, expected, tolerance in [("metropolis", 1.0, 0.0), ("heatbath", 0.5, 5 * 0.5 / 64)]:
        sampler = mc.checkerboard(rule, "philox")
        state, info = jax.jit(sampler.step)(jax.random.key(1), sampler.init(model, spins), model, 0.0)
        assert abs(float(info.acceptance_rate) - expected) <= tolerance, (rule, float(info.acceptance_rate))


def test_errors():
    sampler = mc.checkerboard()
    spins = jnp.ones((4, 4), jnp.int8)
    with pytest.raises(ValueError, match="rule"):
        mc.checkerboard("glauber")
    with pytest.raises(ValueError, match="generator"):
        mc.checkerboard("metropolis", "mt19937")
    with pytest.raises(ValueError, match="even"):
        sampler.init(Ising((4, 3)), jnp.ones((4, 3), jnp.int8))
    with pytest.raises(ValueError, match="even"):
        sampler.init(Ising((5,)), jnp.ones((5,), jnp.int8))
    with pytest.raises(ValueError, match="periodic"):
        sampler.init(Ising((4, 4), periodic=False), spins)
    with pytest.raises(ValueError, match="Ising only"):
        sampler.init(PairwiseIsing(jnp.zeros((4, 4))), jnp.ones((4,), jnp.int8))
    with pytest.raises(TypeError, match="int8"):
        sampler.init(Ising((4, 4)), jnp.ones((4, 4), jnp.int32))
    with pytest.raises(ValueError, match="shape"):
        sampler.init(Ising((4, 4)), jnp.ones((4, 8), jnp.int8))
    state = sampler.init(Ising((4, 4)), spins)
    with pytest.raises(ValueError, match="beta"):
        sampler.step(jax.random.key(0), state, Ising((4, 4)), -1.0)
    with pytest.raises(ValueError, match="beta"):
        sampler.step(jax.random.key(0), state, Ising((4, 4)), float("nan"))
    with pytest.raises(ValueError, match="scalar"):
        sampler.step(jax.random.key(0), state, Ising((4, 4)), jnp.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="state.even"):
        sampler.step(jax.random.key(0), state, Ising((4, 8)), 0.3)


def test_traced_bad_parameters_set_status_bits():
    sampler = mc.checkerboard()
    model = Ising((4, 8))
    state = sampler.init(model, _random_spins(4, (4, 8)))
    step = jax.jit(sampler.step)
    for beta in (-0.5, float("nan")):
        new, _ = step(jax.random.key(0), state, model, beta)
        assert int(new.status) & status.Status.INVALID_PARAMETER, beta
    nan_coupling = eqx.tree_at(lambda m: m.J, model, jnp.array(jnp.nan))
    assert int(step(jax.random.key(0), state, nan_coupling, 0.3)[0].status) & status.Status.NAN
    nan_field = eqx.tree_at(lambda m: m.h, model, jnp.zeros((4, 8)).at[1, 2].set(jnp.nan))
    assert int(step(jax.random.key(0), state, nan_field, 0.3)[0].status) & status.Status.NAN
    assert int(step(jax.random.key(0), state, model, 0.3)[0].status) == 0


def test_factory_is_cached():
    assert mc.checkerboard("heatbath", "philox") is mc.checkerboard("heatbath", "philox")
