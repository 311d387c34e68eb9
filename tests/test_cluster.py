"""Wolff cluster sampler (jaxphys.mc.wolff) against exact enumeration and exact cluster laws.

Statistical tests:
- chi-square tests compare the final configurations of thousands of independent chains with the
  exact Boltzmann law (jaxphys.testing.sampler_chi_square); each fails if p < 1e-3, a
  false-failure rate of 0.1% per test for a random seed;
- the improved-estimator test compares <cluster size> with N <m^2> from enumeration and fails
  beyond 4 standard errors (estimated from independent chains): false-failure rate ~6e-5 per
  comparison for Gaussian chain means.
Seeds are fixed, so every outcome is deterministic. Deterministic tests use beta = 0 (no bond
is ever active, p_add = 0) and large beta (every satisfied bond is active, p_add = 1 exactly in
floating point), where the cluster is known exactly.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.exact.enumeration import averages
from jaxphys.models import Ising, PairwiseIsing
from jaxphys.observables.thermodynamic import m2
from jaxphys.testing import sampler_chi_square

ALPHA = 1e-3
WOLFF = mc.wolff(2)


@pytest.mark.parametrize("side", [3, 4])
@pytest.mark.parametrize("beta", [0.2, 0.44, 0.7])
def test_square_lattice_against_enumeration(side, beta):
    """Periodic L x L at high T, near beta_c = 0.4407 and in the ordered phase."""
    model = Ising((side, side))
    result = sampler_chi_square(
        jax.random.key(100 + side), WOLFF, model, beta, num_chains=4096, num_sweeps=100, by="energy_magnetization"
    )
    assert result.p_value > ALPHA, result


def test_periodic_chain_configuration_by_configuration():
    model = Ising((10,))
    result = sampler_chi_square(jax.random.key(7), WOLFF, model, 0.5, num_chains=16384, num_sweeps=60)
    assert result.p_value > ALPHA, result


def test_open_cubic_lattice_against_enumeration():
    """2 x 2 x 3 with open boundaries: no bond may wrap around an edge."""
    model = Ising((2, 2, 3), periodic=False)
    result = sampler_chi_square(
        jax.random.key(8), WOLFF, model, 0.35, num_chains=4096, num_sweeps=60, by="energy_magnetization"
    )
    assert result.p_value > ALPHA, result


def test_frustrated_antiferromagnet_with_double_bonds():
    """J < 0 on a periodic 2 x 3 lattice: the odd side frustrates the antiferromagnet, and the side
    of length 2 makes each of its pairs two bonds (counted twice in the energy)."""
    model = Ising((2, 3), J=-1.0)
    result = sampler_chi_square(jax.random.key(9), WOLFF, model, 0.6, num_chains=8192, num_sweeps=60)
    assert result.p_value > ALPHA, result


def _staggered_m2(model, spins):
    sign = 1 - 2 * (np.indices(model.shape).sum(axis=0) % 2)
    return m2(model, spins * jnp.asarray(sign, jnp.int8))


def test_improved_estimator_equals_n_m2():
    """<|C|> = N <m^2> at h = 0 (N <m_s^2> for J < 0): each Wolff cluster is hit with probability
    |C| / N, so the mean flipped size is sum_C |C|^2 / N = <M^2> / N in the FK representation.

    One compiled chain, vmapped over (J, beta) pairs: this also checks vmap over models and beta.
    """
    shape = (4, 4)
    couplings = jnp.array([1.0, 1.0, 1.0, -1.0])
    betas = jnp.array([0.2, 0.44, 0.7, 0.44])
    num_chains, burn_in, num_steps = 256, 50, 600
    sampler = mc.wolff(1)

    def chain_mean(key, J, beta):
        model = Ising(shape, J=J)
        k0, krun = jax.random.split(key)
        state = sampler.init(model, mc.random_spins(k0, shape))

        def body(state, k):
            state, info = sampler.step(k, state, model, beta)
            return state, info.cluster_size

        state, sizes = jax.lax.scan(body, state, jax.random.split(krun, burn_in + num_steps))
        return jnp.mean(sizes[burn_in:]), state.status

    keys = jax.random.split(jax.random.key(3), (len(betas), num_chains))
    over_chains = jax.vmap(chain_mean, in_axes=(0, None, None))
    means, statuses = jax.jit(jax.vmap(over_chains))(keys, couplings, betas)
    assert np.all(np.asarray(statuses) == 0)
    means = np.asarray(means, np.float64)
    estimate = means.mean(axis=1)
    error = means.std(axis=1, ddof=1) / np.sqrt(num_chains)
    n = np.prod(shape)
    for i, (J, beta) in enumerate(zip(np.asarray(couplings), np.asarray(betas))):
        model = Ising(shape, J=float(J))
        observable = m2 if J > 0 else _staggered_m2
        exact = n * float(averages(model, float(beta), {"x": observable})["x"])
        # A wrong p_add moves the mean by far more than 4 errors (error ~ 0.3% of the mean here).
        assert abs(estimate[i] - exact) < 4 * error[i], (J, beta, estimate[i], error[i], exact)
        assert error[i] < 0.02 * exact


def _flip_once(model, spins, beta, key):
    sampler = mc.wolff(1)
    state, info = jax.jit(sampler.step)(key, sampler.init(model, spins), model, beta)
    return np.asarray(state.spins), info


def _domains(spins, model):
    """Connected components of equal spins (J > 0), computed with a plain Python flood fill."""
    shape = spins.shape
    label = -np.ones(shape, int)
    count = 0
    for start in np.ndindex(shape):
        if label[start] >= 0:
            continue
        label[start] = count
        stack = [start]
        while stack:
            site = stack.pop()
            for axis in range(len(shape)):
                for step in (1, -1):
                    other = list(site)
                    other[axis] += step
                    if not 0 <= other[axis] < shape[axis]:
                        if not model.periodic:
                            continue
                        other[axis] %= shape[axis]
                    other = tuple(other)
                    if label[other] < 0 and spins[other] == spins[site]:
                        label[other] = count
                        stack.append(other)
        count += 1
    return label


@pytest.mark.parametrize("periodic", [True, False])
def test_zero_temperature_limit_flips_the_seed_domain(periodic):
    """At beta = 50, p_add = 1 - exp(-100) = 1 in floating point: the cluster is the whole domain
    of aligned spins that contains the seed (across the edge only if periodic)."""
    # 3 x 3 blocks of alternating sign on a 6 x 9 lattice: 6 domains with open boundaries;
    # periodic boundaries join the first and last block columns (4 domains).
    blocks = np.indices((6, 9)) // 3
    spins = (1 - 2 * (blocks.sum(axis=0) % 2)).astype(np.int8)
    spins[1, 1] = -spins[1, 1]  # the centre of a block: a domain of its own
    model = Ising(spins.shape, periodic=periodic)
    label = _domains(spins, model)
    assert label.max() + 1 == (5 if periodic else 7)
    seen = set()
    for k in range(40):
        new, info = _flip_once(model, jnp.asarray(spins), 50.0, jax.random.key(k))
        flipped = new != spins
        domain = np.unique(label[flipped])
        assert len(domain) == 1, "a cluster must be exactly one domain"
        assert np.array_equal(flipped, label == domain[0])
        assert float(info.cluster_size) == flipped.sum()
        assert float(info.acceptance_rate) == pytest.approx(flipped.sum() / spins.size)
        seen.add(int(domain[0]))
    assert len(seen) > 3  # the seed moves around


def test_zero_temperature_limit_antiferromagnet_flips_the_staggered_domain():
    """For J < 0 the cluster is the domain of the staggered spins s_x (-1)^(x_1 + x_2)."""
    rng = np.random.default_rng(1)
    spins = np.where(rng.random((4, 6)) < 0.5, 1, -1).astype(np.int8)
    sign = (1 - 2 * (np.indices(spins.shape).sum(axis=0) % 2)).astype(np.int8)
    model = Ising(spins.shape, J=-1.0)
    label = _domains(spins * sign, Ising(spins.shape))
    for k in range(20):
        new, _ = _flip_once(model, jnp.asarray(spins), 50.0, jax.random.key(k))
        flipped = new != spins
        domain = np.unique(label[flipped])
        assert len(domain) == 1 and np.array_equal(flipped, label == domain[0])


def test_infinite_temperature_flips_single_spins():
    """At beta = 0 no bond is active: each cluster is one spin, so 3 clusters flip 1 or 3 spins."""
    model = Ising((3, 4))
    sampler = mc.wolff(3)
    spins = mc.random_spins(jax.random.key(0), model.shape)
    state, info = jax.jit(sampler.step)(jax.random.key(1), sampler.init(model, spins), model, 0.0)
    assert float(info.cluster_size) == 1.0
    assert float(info.acceptance_rate) == pytest.approx(1 / 12)
    assert int(np.sum(np.asarray(state.spins) != np.asarray(spins))) in (1, 3)


def test_parity_is_conserved_only_at_infinite_temperature():
    """The documented ergodicity caveat: at beta = 0 every cluster is one spin, so two clusters
    per step never change the parity of the number of down spins; at beta > 0 they do."""
    model = Ising((3, 4))
    sampler = mc.wolff(2)

    @jax.jit
    def down_counts(key, beta):
        def body(state, k):
            state = sampler.step(k, state, model, beta)[0]
            return state, jnp.sum(state.spins < 0)

        start = sampler.init(model, jnp.ones((3, 4), jnp.int8))
        return jax.lax.scan(body, start, jax.random.split(key, 200))[1]

    assert np.all(np.asarray(down_counts(jax.random.key(0), 0.0)) % 2 == 0)
    assert len(np.unique(np.asarray(down_counts(jax.random.key(0), 0.3)) % 2)) == 2


def test_vmap_over_keys_beta_and_models_matches_single_chains():
    model_j = jnp.array([0.5, 1.0, -1.0])
    betas = jnp.array([0.3, 0.44, 1.0])
    keys = jax.random.split(jax.random.key(5), 3)
    spins = jax.vmap(lambda k: mc.random_spins(k, (3, 4)))(keys)
    sampler = mc.wolff(2)

    def one(key, spins, J, beta):
        model = Ising((3, 4), J=J, periodic=False)
        state, info = sampler.step(key, sampler.init(model, spins), model, beta)
        return state.spins, info.cluster_size

    batched = jax.jit(jax.vmap(one))(keys, spins, model_j, betas)
    single = jax.jit(one)
    for i in range(3):
        expected = single(keys[i], spins[i], model_j[i], betas[i])
        np.testing.assert_array_equal(batched[0][i], expected[0])
        assert float(batched[1][i]) == float(expected[1])


def test_float64():
    with jax.enable_x64(True):
        model = Ising((3, 3))
        sampler = mc.wolff(1)
        state, info = jax.jit(sampler.step)(
            jax.random.key(0), sampler.init(model, mc.random_spins(jax.random.key(1), (3, 3))), model, 0.4
        )
        assert info.cluster_size.dtype == jnp.float64
        assert int(state.status) == 0 and 1 <= float(info.cluster_size) <= 9


def test_bad_input_raises():
    spins = jnp.ones((3, 3), jnp.int8)
    sampler = mc.wolff()
    with pytest.raises(ValueError, match="zero external field"):
        sampler.init(Ising((3, 3), h=0.1), spins)
    state = sampler.init(Ising((3, 3)), spins)
    with pytest.raises(ValueError, match="zero external field"):
        sampler.step(jax.random.key(0), state, Ising((3, 3), h=np.full((3, 3), 0.1)), 0.4)
    with pytest.raises(TypeError, match="Ising"):
        sampler.init(PairwiseIsing(np.zeros((9, 9))), jnp.ones((9,), jnp.int8))
    with pytest.raises(TypeError, match="int8"):
        sampler.init(Ising((3, 3)), jnp.ones((3, 3), jnp.int32))
    with pytest.raises(ValueError, match="beta"):
        sampler.step(jax.random.key(0), state, Ising((3, 3)), -0.1)
    with pytest.raises(ValueError, match=">= 1"):
        mc.wolff(0)
    with pytest.raises(TypeError, match="int"):
        mc.wolff(1.5)
    assert mc.wolff(2) is mc.wolff(2)


def test_traced_bad_parameters_set_status_bits():
    """Under jit the field, coupling and beta are tracers: trouble becomes a status bit."""
    sampler = mc.wolff()
    spins = mc.random_spins(jax.random.key(0), (3, 3))

    @jax.jit
    def step(spins, h, J, beta):
        model = Ising((3, 3), J=J, h=h)
        return sampler.step(jax.random.key(1), sampler.init(model, spins), model, beta)[0]

    assert int(step(spins, 0.0, 1.0, 0.4).status) == 0
    field = step(spins, 0.2, 1.0, 0.4)
    assert int(field.status) == status.Status.INVALID_PARAMETER
    np.testing.assert_array_equal(field.spins, spins)  # no move is made in a field
    assert int(step(spins, 0.0, 1.0, -0.4).status) == status.Status.INVALID_PARAMETER
    assert int(step(spins, 0.0, jnp.nan, 0.4).status) == status.Status.NAN
