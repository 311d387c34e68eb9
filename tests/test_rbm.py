"""RBM energies and block Gibbs sampling against exact sums, Gaussian quadrature and enumeration.

Exact tests (run under ``jax.enable_x64``, tolerances 1e-9 relative):
- ``free_energy`` against explicit summation over the +-1 hidden layer and against a tensor
  Gauss-Hermite quadrature of the Gaussian hidden layer (numpy, float64, independent code);
- the flip-cost contract ``E(flip_i s) - E(s) = 2 s_i f_i`` for the joint model and the visible
  models, on every configuration and site;
- ``log Z`` of the joint (v, h) law equals ``log Z`` of the visible model;
- the Hopfield mapping of Gaussian hidden units (``to_pairwise`` + ``pairwise_offset``).

Statistical tests: chi-square of the final configurations of thousands of independent chains
against exact enumeration; each fails if p < 1e-3, a false-failure rate of 0.1% per test for a
random seed (the seeds are fixed, so outcomes are deterministic). One test checks the power:
a sampler run at the wrong beta must fail.

Runtime: ~47 s of CPU for the whole file on this machine (one ``slow`` test of ~3 s is skipped by
default); the chi-square tests (8192-16384 chains, 30-60 steps) take 2-4 s each, mostly compilation.
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.exact.enumeration import configurations, log_partition_function, probabilities
from jaxphys.models import Ising, PairwiseIsing, RBM
from jaxphys.models.base import SpinModel
from jaxphys.testing import chi_square, sampler_chi_square

ALPHA = 1e-3


def small_rbm(nv, nh, hidden="binary", seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return RBM(
        scale * rng.normal(size=(nv, nh)) / np.sqrt(nv),
        0.3 * rng.normal(size=nv),
        0.3 * rng.normal(size=nh),
        hidden=hidden,
    )


def all_spins(n):
    return np.array(list(itertools.product([1, -1], repeat=n)), np.int8)


# ------------------------------------------------------------------------------ exact identities


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_binary_free_energy_equals_sum_over_hidden_layer(beta):
    with jax.enable_x64(True):
        rbm = small_rbm(4, 3, seed=1, scale=1.5)
        W, a, b = (np.asarray(x) for x in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
        vs, hs = all_spins(4).astype(float), all_spins(3).astype(float)
        for v in vs:
            energies = -(v @ W @ hs.T) - a @ v - hs @ b  # (8,) over hidden configurations
            reference = -np.log(np.sum(np.exp(-beta * energies))) / beta
            np.testing.assert_allclose(float(rbm.free_energy(jnp.asarray(v, jnp.int8), beta)), reference, rtol=1e-10)
            joint = [float(rbm.joint_energy(jnp.asarray(v), jnp.asarray(h))) for h in hs]
            np.testing.assert_allclose(joint, energies, rtol=1e-12, atol=1e-12)


def gauss_hermite_free_energy(rbm, v, beta, nodes=60):
    """-(1/beta) log int d^Nh h exp(-beta E(v, h)) by tensor Gauss-Hermite quadrature (float64 numpy)."""
    W, a, b = (np.asarray(x, np.float64) for x in (rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    u, w = np.polynomial.hermite_e.hermegauss(nodes)  # int e^{-u^2/2} g(u) du ~ sum w g(u)
    nh = W.shape[1]
    grid = np.array(list(itertools.product(u, repeat=nh))) / np.sqrt(beta)  # h = u / sqrt(beta)
    weight = np.prod(np.array(list(itertools.product(w, repeat=nh))), axis=1) / np.sqrt(beta) ** nh
    # exp(-beta E) = exp(-beta h^2/2) exp(beta (v.W.h + a.v + b.h)); the Gaussian factor is the GH weight.
    exponent = beta * (grid @ (W.T @ v) + a @ v + grid @ b)
    shift = exponent.max()
    return -(shift + np.log(np.sum(weight * np.exp(exponent - shift)))) / beta


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_gaussian_free_energy_equals_gauss_hermite_integral(beta):
    with jax.enable_x64(True):
        rbm = small_rbm(4, 2, hidden="gaussian", seed=2)
        for v in all_spins(4):
            reference = gauss_hermite_free_energy(rbm, v.astype(float), beta)
            np.testing.assert_allclose(float(rbm.free_energy(jnp.asarray(v), beta)), reference, rtol=1e-9)


@eqx.filter_jit
def flip_cost_residual(model, spins):
    """max over configurations and sites of |E(flip_i s) - E(s) - 2 s_i f_i| and |site_field - local_field|."""
    n = spins.shape[1]
    energy = jax.vmap(model.energy)(spins)
    field = jax.vmap(model.local_field)(spins)
    flipped = spins[:, None, :] * (1 - 2 * jnp.eye(n, dtype=jnp.int8))[None]  # (configs, site, n)
    cost = jax.vmap(jax.vmap(model.energy))(flipped) - energy[:, None]
    site = jax.vmap(lambda s: jax.vmap(lambda i: model.site_field(s, i))(jnp.arange(n)))(spins)
    return jnp.max(jnp.abs(cost - 2 * spins * field)), jnp.max(jnp.abs(site - field))


def test_flip_cost_contract_of_joint_and_visible_models():
    with jax.enable_x64(True):
        joint = small_rbm(5, 4, seed=3)
        cost, site = flip_cost_residual(joint, configurations((9,)))
        assert cost < 1e-12 and site < 1e-12, (cost, site)
        for hidden in ("binary", "gaussian"):
            for beta in (0.5, 3.0):
                visible = small_rbm(5, 4, hidden=hidden, seed=4, scale=2.0).visible_model(beta)
                cost, site = flip_cost_residual(visible, configurations((5,)))
                assert cost < 1e-12 and site < 1e-12, (hidden, beta, cost, site)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_joint_law_marginal_is_visible_model(beta):
    """ln Z of the (v, h) law (2^9 states) = ln Z of the visible model at the same beta, and the
    visible marginals agree state by state; the binary visible model at beta = 1 is *wrong* at
    another beta (the reason visible_model takes beta)."""
    with jax.enable_x64(True):
        rbm = small_rbm(5, 4, seed=5, scale=1.5)
        visible = rbm.visible_model(beta)
        np.testing.assert_allclose(
            float(log_partition_function(rbm, beta)), float(log_partition_function(visible, beta)), rtol=1e-12
        )
        joint = np.asarray(probabilities(rbm, beta)).reshape(16, 32)  # index = v bits + 32 * h bits
        np.testing.assert_allclose(joint.sum(axis=0), np.asarray(probabilities(visible, beta)), rtol=1e-10)
        if beta != 1.0:
            wrong = np.asarray(probabilities(rbm.visible_model(1.0), beta))
            assert np.max(np.abs(wrong - joint.sum(axis=0))) > 1e-3


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_gaussian_hidden_layer_is_a_hopfield_model(beta):
    with jax.enable_x64(True):
        rbm = small_rbm(4, 2, hidden="gaussian", seed=6, scale=1.5)
        pairwise = rbm.to_pairwise()
        assert isinstance(pairwise, PairwiseIsing)
        offset = float(rbm.pairwise_offset(beta))
        for v in all_spins(4):
            reference = gauss_hermite_free_energy(rbm, v.astype(float), beta)
            np.testing.assert_allclose(float(pairwise.energy(jnp.asarray(v))) + offset, reference, rtol=1e-9)
        np.testing.assert_allclose(probabilities(pairwise, beta), probabilities(rbm.visible_model(beta), beta), rtol=1e-10)
        # Hebb's rule: W = xi^T / sqrt(N) for +-1 patterns xi (P, N) gives J = xi^T xi / N off the diagonal.
        xi = np.where(np.random.default_rng(7).random((3, 6)) < 0.5, 1.0, -1.0)
        hebb = RBM(xi.T / np.sqrt(6), hidden="gaussian").to_pairwise()
        np.testing.assert_allclose(hebb.J, (xi.T @ xi - 3 * np.eye(6)) / 6, atol=1e-14)


# ------------------------------------------------------------------------------ sampling


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_block_gibbs_joint_law_matches_enumeration(beta):
    """Nv = 5, Nh = 4 with biases: 512 joint configurations, from uniformly random starts."""
    rbm = small_rbm(5, 4, seed=8)
    result = sampler_chi_square(jax.random.key(20), mc.block_gibbs(), rbm, beta, num_chains=8192, num_sweeps=50)
    assert result.p_value > ALPHA, result


@pytest.mark.slow
def test_block_gibbs_strong_coupling_leaves_joint_law_invariant():
    """At scale 1.5 the two near-degenerate modes take ~100 steps to equilibrate from random
    starts; start from exact draws instead (invariance; the random-start test covers convergence)."""
    rbm = small_rbm(5, 4, seed=8, scale=1.5)
    result = sampler_chi_square(jax.random.key(25), mc.block_gibbs(), rbm, 1.0, num_chains=8192, num_sweeps=5, start="exact")
    assert result.p_value > ALPHA, result


def test_metropolis_on_joint_rbm_matches_enumeration():
    """The joint RBM is an ordinary SpinModel: generic single-site samplers work on it."""
    rbm = small_rbm(5, 4, seed=8)
    result = sampler_chi_square(jax.random.key(21), mc.metropolis(), rbm, 1.0, num_chains=8192, num_sweeps=60)
    assert result.p_value > ALPHA, result


def test_block_gibbs_at_wrong_beta_fails():
    rbm = small_rbm(5, 4, seed=8)
    base = mc.block_gibbs()
    wrong = mc.Sampler(base.init, lambda k, s, m, b: base.step(k, s, m, 1.3 * b))
    result = sampler_chi_square(jax.random.key(22), wrong, rbm, 1.0, num_chains=8192, num_sweeps=50)
    assert result.p_value < ALPHA, result


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_block_gibbs_gaussian_hidden_matches_hopfield_enumeration(beta):
    """Visible marginal of the Gaussian-hidden chain vs the exact law of to_pairwise() (64 states)."""
    rbm = small_rbm(6, 3, hidden="gaussian", seed=9, scale=0.8)
    sampler = mc.block_gibbs()
    num_chains, num_sweeps = 8192, 30

    @jax.jit
    def final(key):
        k_start, k_run = jax.random.split(key)

        def chain(k0, k1):
            state = sampler.init(rbm, mc.random_spins(k0, (6,)))
            state, _ = jax.lax.scan(
                lambda s, k: (sampler.step(k, s, rbm, beta)[0], None), state, jax.random.split(k1, num_sweeps)
            )
            return state

        return jax.vmap(chain)(jax.random.split(k_start, num_chains), jax.random.split(k_run, num_chains))

    state = final(jax.random.key(23))
    assert np.all(np.asarray(state.status) == 0) and state.hidden.shape == (num_chains, 3)
    index = ((1 - np.asarray(state.spins, np.int64)) // 2) @ (1 << np.arange(6))
    result = chi_square(np.bincount(index, minlength=64), np.asarray(probabilities(rbm.to_pairwise(), beta), np.float64))
    assert result.p_value > ALPHA, result


class BlockCoupled(SpinModel):
    """Stand-in for a bipartite SK model: E = -s1.W.s2 - h.s, spins concat(s1, s2), via PairwiseIsing."""

    W: jax.Array
    pairwise: PairwiseIsing

    def __init__(self, W, h):
        n1, n2 = W.shape
        J = np.zeros((n1 + n2, n1 + n2))
        J[:n1, n1:], J[n1:, :n1] = W, W.T
        self.W = jnp.asarray(W)
        self.pairwise = PairwiseIsing(J, h)

    @property
    def spin_shape(self):
        return self.pairwise.spin_shape

    def energy(self, spins):
        return self.pairwise.energy(spins)

    def local_field(self, spins):
        return self.pairwise.local_field(spins)


def test_block_gibbs_on_a_generic_bipartite_spin_model():
    rng = np.random.default_rng(10)
    model = BlockCoupled(rng.normal(size=(4, 5)) / 2, 0.3 * rng.normal(size=9))
    result = sampler_chi_square(jax.random.key(24), mc.block_gibbs(), model, 0.8, num_chains=16384, num_sweeps=30)
    assert result.p_value > ALPHA, result


def test_block_gibbs_on_bipartite_sk():
    """models.BipartiteSK (issue 3, written in parallel) uses its own fast path: fields W^T v and W h."""
    spin_glass = pytest.importorskip("jaxphys.models.spin_glass")
    if not hasattr(spin_glass, "BipartiteSK"):
        pytest.skip("models.BipartiteSK not available")
    model = spin_glass.BipartiteSK(5, 4, key=jax.random.key(3))
    result = sampler_chi_square(jax.random.key(26), mc.block_gibbs(), model, 1.5, num_chains=8192, num_sweeps=30)
    assert result.p_value > ALPHA, result


def test_vmap_over_replicas_keys_models_and_betas():
    """A vmapped step (matrix products over replicas) equals the per-replica steps, for stacked
    disorder replicas built with eqx.filter_vmap and one beta per replica."""
    sampler = mc.block_gibbs()
    replicas = 4
    keys = jax.random.split(jax.random.key(30), replicas)
    models = eqx.filter_vmap(lambda k: RBM.random(16, 8, key=k, scale=1.0, bias_scale=0.2))(keys)
    betas = jnp.linspace(0.2, 2.0, replicas)
    spins = jax.vmap(lambda k: mc.random_spins(k, (24,)))(jax.random.split(jax.random.key(31), replicas))
    step_keys = jax.random.split(jax.random.key(32), replicas)
    one = eqx.filter_jit(lambda k, s, m, b: sampler.step(k, sampler.init(m, s), m, b))
    batched = eqx.filter_jit(eqx.filter_vmap(one))(step_keys, spins, models, betas)
    for r in range(replicas):
        single = one(step_keys[r], spins[r], jax.tree.map(lambda x: x[r], models), betas[r])
        np.testing.assert_array_equal(batched[0].spins[r], single[0].spins)
        np.testing.assert_allclose(batched[1].acceptance_rate[r], single[1].acceptance_rate, rtol=1e-6)
    assert np.all(np.asarray(batched[0].status) == 0)
    assert len(np.unique(np.asarray(batched[0].spins), axis=0)) == replicas


def test_run_driver_and_x64():
    """mc.run works with block_gibbs on the joint RBM; under x64 the state stays int8 and fields float64."""
    rbm = small_rbm(5, 4, seed=8)
    result = mc.run(jax.random.key(40), mc.block_gibbs(), rbm, 1.0, 512, burn_in=64)
    assert int(result.status) & ~int(status.Status.UNRELIABLE_ERROR) == 0
    assert result.state.spins.dtype == jnp.int8 and result.state.spins.shape == (9,)
    with jax.enable_x64(True):
        rbm = small_rbm(5, 4, hidden="gaussian", seed=8)
        state = mc.block_gibbs().init(rbm, jnp.ones(5, jnp.int8))
        new, _ = jax.jit(mc.block_gibbs().step)(jax.random.key(0), state, rbm, 1.0)
        assert new.hidden.dtype == jnp.float64 and new.spins.dtype == jnp.int8


# ------------------------------------------------------------------------------ bad input and status


def test_traced_bad_beta_and_nan_weights_set_status():
    sampler = mc.block_gibbs()
    step = jax.jit(sampler.step)
    rbm = small_rbm(5, 4)
    state = sampler.init(rbm, jnp.ones(9, jnp.int8))
    for beta in (-0.5, float("nan")):
        assert int(step(jax.random.key(0), state, rbm, beta)[0].status) & status.Status.INVALID_PARAMETER
    nan_rbm = eqx.tree_at(lambda m: m.weights, rbm, rbm.weights.at[0, 0].set(jnp.nan))
    assert int(step(jax.random.key(0), state, nan_rbm, 1.0)[0].status) & status.Status.NAN
    gaussian = small_rbm(5, 4, hidden="gaussian")
    g_state = sampler.init(gaussian, jnp.ones(5, jnp.int8))
    assert int(step(jax.random.key(0), g_state, gaussian, 0.0)[0].status) & status.Status.INVALID_PARAMETER
    assert int(step(jax.random.key(0), g_state, gaussian, 0.7)[0].status) == 0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="hidden"):
        RBM(np.ones((3, 2)), hidden="bernoulli")
    with pytest.raises(ValueError, match="matrix"):
        RBM(np.ones(3))
    with pytest.raises(ValueError, match="broadcast"):
        RBM(np.ones((3, 2)), visible_bias=np.ones(2))
    with pytest.raises(ValueError, match="broadcast"):
        RBM(np.ones((3, 2)), hidden_bias=np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        RBM(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="num_visible"):
        RBM.random(0, 2, key=jax.random.key(0))
    rbm = small_rbm(3, 2)
    gaussian = small_rbm(3, 2, hidden="gaussian")
    with pytest.raises(TypeError, match="binary"):
        gaussian.energy(jnp.ones(5, jnp.int8))
    with pytest.raises(TypeError, match="binary"):
        gaussian.spin_shape
    with pytest.raises(TypeError, match="gaussian"):
        rbm.to_pairwise()
    with pytest.raises(ValueError, match="beta"):
        rbm.free_energy(jnp.ones(3, jnp.int8), 0.0)
    with pytest.raises(ValueError, match="beta"):
        rbm.visible_model(float("nan"))
    with pytest.raises(ValueError, match="shape"):
        rbm.free_energy(jnp.ones(4, jnp.int8))
    with pytest.raises(ValueError, match="hidden"):
        rbm.joint_energy(jnp.ones(3), jnp.ones(3))
    sampler = mc.block_gibbs()
    assert sampler is mc.block_gibbs()
    with pytest.raises(TypeError, match="bipartite"):
        sampler.init(Ising((3, 3)), jnp.ones((3, 3), jnp.int8))
    with pytest.raises(ValueError, match="shape"):
        sampler.init(rbm, jnp.ones(3, jnp.int8))
    with pytest.raises(TypeError, match="int8"):
        sampler.init(rbm, jnp.ones(5))
    with pytest.raises(ValueError, match="shape"):
        sampler.init(gaussian, jnp.ones(5, jnp.int8))
