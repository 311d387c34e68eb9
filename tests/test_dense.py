"""mc.dense (block-wise sequential sweeps of dense couplings) against the plain sequential sampler
and against exact enumeration.

Chi-square tests fail if p < 1e-3: a 0.1 % false-failure rate per test for a random seed (the
seeds are fixed, so the outcome is deterministic).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.mc.dense import block_size_for
from jaxphys.models import SK, Hopfield, Ising, PairwiseIsing
from jaxphys.testing import sampler_chi_square

ALPHA = 1e-3


def _models(n):
    patterns = jax.random.rademacher(jax.random.key(1), (4, n), jnp.int8)
    return {
        "sk-field": PairwiseIsing(SK(n, key=jax.random.key(0)).J, h=0.3 * jax.random.normal(jax.random.key(2), (n,))),
        "hopfield-lowrank": Hopfield(patterns),
        "hopfield-dense": Hopfield.from_couplings(Hopfield(patterns).couplings()),
    }


_REFERENCES = {"metropolis": mc.metropolis("sequential"), "heatbath": mc.heatbath("sequential")}
# Suite time: both rules on SK couplings with a field and Metropolis on the low-rank Hopfield path run by
# default; the dense-Hopfield and low-rank heat-bath combinations (the same block code) with -m slow.
_SAME_CHAIN_CASES = [
    pytest.param(rule, _REFERENCES[rule], name, id=f"{name}-{rule}", marks=() if default else pytest.mark.slow)
    for name, rule, default in [
        ("sk-field", "metropolis", True), ("sk-field", "heatbath", True),
        ("hopfield-lowrank", "metropolis", True), ("hopfield-lowrank", "heatbath", False),
        ("hopfield-dense", "metropolis", False), ("hopfield-dense", "heatbath", False),
    ]
]  # fmt: skip


@pytest.mark.parametrize("rule,reference,name", _SAME_CHAIN_CASES)
def test_same_chain_as_the_sequential_single_site_sampler(rule, reference, name):
    """Same keys -> same moves: the blocks only regroup the arithmetic of the fields."""
    model = _models(48)[name]
    x = mc.random_spins(jax.random.key(3), (48,))
    for block_size in (1, 7, 16, 64):  # 7 -> 6 and 64 -> 48: largest divisors of N = 48
        fast, slow = mc.dense(rule, block_size), reference
        s_fast, s_slow = fast.init(model, x), slow.init(model, x)
        step_fast, step_slow = jax.jit(fast.step), jax.jit(slow.step)
        for t in range(3):
            key = jax.random.key(10 + t)
            s_fast, info_fast = step_fast(key, s_fast, model, 0.8)
            s_slow, info_slow = step_slow(key, s_slow, model, 0.8)
            np.testing.assert_array_equal(s_fast.spins, s_slow.spins)
            assert float(info_fast.acceptance_rate) == pytest.approx(float(info_slow.acceptance_rate))
        assert s_fast.spins.dtype == jnp.int8 and int(s_fast.status) == 0


def test_block_size_is_the_largest_divisor():
    assert block_size_for(48, 7) == 6
    assert block_size_for(48, 64) == 48
    assert block_size_for(13, 8) == 1
    assert block_size_for(1024, 100) == 64


@pytest.mark.parametrize("rule,block_size", [("metropolis", 5), ("heatbath", 4)])
def test_sk_10_spins_against_enumeration(rule, block_size):
    model = _models(10)["sk-field"]
    result = sampler_chi_square(jax.random.key(21), mc.dense(rule, block_size), model, 1.2, num_chains=16384, num_sweeps=40)
    assert result.p_value > ALPHA, result


def test_lowrank_hopfield_10_spins_against_enumeration():
    patterns = jax.random.rademacher(jax.random.key(4), (3, 10), jnp.int8)
    result = sampler_chi_square(jax.random.key(22), mc.dense("metropolis", 5), Hopfield(patterns), 1.5, num_chains=16384, num_sweeps=40)
    assert result.p_value > ALPHA, result


def test_runs_under_mc_run_vmapped_over_replicas_and_disorder():
    """SK paramagnet: e = -beta/2 (N -> inf); the check here is only that everything composes."""
    keys = jax.random.split(jax.random.key(5), 4)
    models = jax.vmap(lambda k: SK(64, key=k))(keys)
    result = jax.vmap(lambda k, m: mc.run(k, mc.dense(), m, 0.5, 200, observables={"e": lambda m, s: m.energy(s) / 64}))(keys, models)
    assert result.mean["e"].shape == (4,)
    assert np.all(np.asarray(result.status) == 0)
    assert abs(float(jnp.mean(result.mean["e"])) + 0.25) < 0.05


def test_nan_couplings_are_flagged_not_hidden():
    model = SK(8, key=jax.random.key(0))
    bad = eqx.tree_at(lambda m: m.J, model, model.J.at[0, 1].set(jnp.nan).at[1, 0].set(jnp.nan))
    sampler = mc.dense()
    state, _ = jax.jit(sampler.step)(jax.random.key(1), sampler.init(model, jnp.ones(8, jnp.int8)), bad, 1.0)
    assert status.Status.NAN in status.Status(int(state.status))


def test_bad_input():
    with pytest.raises(ValueError, match="rule"):
        mc.dense("glauber")
    with pytest.raises(ValueError, match="block_size"):
        mc.dense("metropolis", 0)
    with pytest.raises(TypeError, match="mc.metropolis"):
        mc.dense().init(Ising((4, 4)), jnp.ones((4, 4), jnp.int8))
