"""Single-site Metropolis and heat-bath samplers against exact enumeration (chi-square).

Each test draws the final configurations of thousands of independent chains and compares their
histogram with exact Boltzmann probabilities; it fails if p < 1e-3, so for a random seed the
false-failure rate is 0.1% per test (the seeds are fixed, so the outcome is deterministic).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.models import Ising, PairwiseIsing
from jaxphys.testing import sampler_chi_square

ALPHA = 1e-3
SAMPLERS = {
    "metropolis-random": mc.metropolis("random"),
    "metropolis-sequential": mc.metropolis("sequential"),
    "heatbath-random": mc.heatbath("random"),
    "heatbath-sequential": mc.heatbath("sequential"),
}


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("beta,h", [(0.3, 0.0), (0.45, 0.2)])
def test_ising_3x3_converges_to_boltzmann(name, beta, h):
    model = Ising((3, 3), h=h)
    result = sampler_chi_square(jax.random.key(11), SAMPLERS[name], model, beta, num_chains=8192, num_sweeps=250, by="energy_magnetization")
    assert result.p_value > ALPHA, result


@pytest.mark.parametrize("name", SAMPLERS)
def test_ising_3x3_low_temperature_leaves_boltzmann_invariant(name):
    """At beta = 0.8 tunnelling between +-M takes thousands of sweeps; start from exact draws instead."""
    model = Ising((3, 3), h=0.1)
    result = sampler_chi_square(jax.random.key(15), SAMPLERS[name], model, 0.8, num_chains=8192, num_sweeps=5, by="energy_magnetization", start="exact")
    assert result.p_value > ALPHA, result


@pytest.mark.parametrize("name", ["metropolis-random", "heatbath-sequential"])
def test_random_couplings_10_spins_against_enumeration(name):
    """A frustrated random-coupling model, compared configuration by configuration (1024 states)."""
    rng = np.random.default_rng(5)
    a = rng.normal(size=(10, 10)) / np.sqrt(10)
    model = PairwiseIsing(np.triu(a, 1) + np.triu(a, 1).T, h=0.1 * rng.normal(size=10))
    result = sampler_chi_square(jax.random.key(12), SAMPLERS[name], model, 1.0, num_chains=16384, num_sweeps=60)
    assert result.p_value > ALPHA, result


def test_chain_1d_open_boundaries_against_enumeration():
    model = Ising((8,), J=1.0, h=-0.3, periodic=False)
    result = sampler_chi_square(jax.random.key(13), mc.metropolis(), model, 0.8, num_chains=8192, num_sweeps=40)
    assert result.p_value > ALPHA, result


def test_chi_square_detects_a_wrong_temperature():
    """The check has power: a sampler run at beta = 0.5 fails against the law at beta = 0.4."""
    model = Ising((3, 3))
    wrong = mc.Sampler(mc.metropolis().init, lambda k, s, m, b: mc.metropolis().step(k, s, m, 1.25 * b))
    result = sampler_chi_square(jax.random.key(14), wrong, model, 0.4, num_chains=8192, num_sweeps=40, by="energy_magnetization")
    assert result.p_value < ALPHA, result


def test_traced_negative_or_nan_beta_sets_status():
    model = Ising((3, 3))
    sampler = mc.metropolis()
    state = sampler.init(model, jnp.ones((3, 3), jnp.int8))
    step = jax.jit(sampler.step)
    for beta in (-0.5, float("nan")):
        new, _ = step(jax.random.key(0), state, model, beta)
        assert int(new.status) & status.Status.INVALID_PARAMETER
    good, info = step(jax.random.key(0), state, model, 0.5)
    assert int(good.status) == 0 and 0 <= float(info.acceptance_rate) <= 1


def test_bad_scan_and_spins():
    with pytest.raises(ValueError, match="scan"):
        mc.metropolis("diagonal")
    with pytest.raises(TypeError, match="int8"):
        mc.heatbath().init(Ising((3, 3)), jnp.ones((3, 3)))
