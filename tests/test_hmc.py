"""Continuous-variable samplers jaxphys.mc.hmc / mala / langevin against exact laws.

References: a correlated Gaussian in d = 5 (exact mean and covariance, at beta = 0.5 and 2, chains
vmapped over beta, traced step sizes and chains); the exact stationary covariance of the discretised
Ornstein-Uhlenbeck chain (ULA), which the test tells apart from the continuous one (> 20 sigma); a 1D
double well by quadrature; separable Gaussian with a dict position under mc.run.

Fixed seeds. False-failure rates: the moment tests compare 20 moments per beta within 5 binning error
bars (error bars from >= 16 bins, known to ~20%, so 5 sigma acts like >= 4.2 sigma: < 1e-3 per test);
the double-well histogram uses the chi-square quantile at 1 - 1e-3 on independent chains (1e-3).
Over seeds 1-6 the largest |z| was 3.1 (HMC), 3.7 (MALA), 3.1 (ULA), the double-well chi-square
8.7-30 (threshold 40.8, 17 dof), and the "wrong law" checks were passed by > 2x their thresholds.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxphys import mc
from jaxphys.observables import stats
from jaxphys.status import Status

D = 5


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


class Gaussian(eqx.Module):
    """E(x) = (x - mean)^T A (x - mean) / 2: exp(-beta E) has covariance (beta A)^-1."""

    mean: jax.Array
    precision: jax.Array

    def energy(self, x):
        r = x - self.mean
        return 0.5 * r @ self.precision @ r


def _gaussian():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    precision = q @ np.diag(np.linspace(1.0, 5.0, D)) @ q.T
    return Gaussian(jnp.asarray(rng.standard_normal(D)), jnp.asarray(precision))


_UPPER = np.triu_indices(D)
_OBSERVABLES = {"x": lambda model, x: x, "xx": lambda model, x: jnp.outer(x, x)[_UPPER]}


def _exact_moments(model, covariance):
    mean = np.asarray(model.mean)
    return {"x": mean, "xx": (covariance + np.outer(mean, mean))[_UPPER]}


NUM_CHAINS, NUM_STEPS, BURN_IN = 4, 4000, 400
BETAS = jnp.array([0.5, 2.0])


def _chains(key, make_sampler, model, step_scale):
    """Traces of x and x x^T of NUM_CHAINS chains at each beta in BETAS (one flat vmap), step size step_scale(beta).

    The sampler is built inside the vmapped function, so its step size is a tracer.
    """

    def chain(key, beta):
        sampler = make_sampler(step_scale(beta))

        def body(state, key):
            state, info = sampler.step(key, state, model, beta)
            return state, ({name: fn(model, state.position) for name, fn in _OBSERVABLES.items()}, info.acceptance_rate)

        state, (series, acceptance) = jax.lax.scan(body, sampler.init(model, jnp.zeros(D)), jax.random.split(key, NUM_STEPS))
        return series, jnp.mean(acceptance), state.status

    betas = jnp.repeat(BETAS, NUM_CHAINS)
    return jax.jit(jax.vmap(chain))(jax.random.split(key, len(betas)), betas)


@jax.jit
def _estimates(series):
    """Per beta: mean over chains and its error (binning error of each chain's mean, combined over chains)."""

    def one(s):
        result = stats.binning(s[BURN_IN:], min_bins=16)
        return result.mean, result.stderr

    means, errors = jax.vmap(jax.vmap(one))(series.reshape((len(BETAS), NUM_CHAINS, *series.shape[1:])))
    return jnp.mean(means, axis=1), jnp.sqrt(jnp.sum(errors**2, axis=1)) / NUM_CHAINS


def _z_scores(estimates, index, exact):
    return {name: (np.asarray(estimates[name][0][index]) - exact[name]) / np.asarray(estimates[name][1][index]) for name in exact}


def _run_chains(key, make_sampler, model, step_scale):
    series, acceptance, status = _chains(key, make_sampler, model, step_scale)
    assert np.all(np.asarray(status) == 0)
    return {name: _estimates(s) for name, s in series.items()}, np.asarray(acceptance)


@pytest.mark.parametrize(
    "name, make_sampler, step_scale",
    [
        ("hmc", lambda eps: mc.hmc(eps, 6, jitter=0.2), lambda beta: 0.3 / jnp.sqrt(beta)),
        ("mala", mc.mala, lambda beta: 0.06 / beta),
    ],
)
def test_exact_samplers_match_gaussian_moments(name, make_sampler, step_scale):
    """Mean and second moments at beta = 0.5 and 2 (vmapped over beta, step size and chains) vs exact."""
    model = _gaussian()
    estimates, acceptance = _run_chains(jax.random.key(1), make_sampler, model, step_scale)
    assert np.all(acceptance > 0.6), acceptance
    covariance = np.linalg.inv(np.asarray(model.precision))
    for i, beta in enumerate(np.asarray(BETAS)):
        z = _z_scores(estimates, i, _exact_moments(model, covariance / beta))
        assert all(np.max(np.abs(v)) < 5.0 for v in z.values()), (name, beta, z)
        # the test sees a wrong temperature: the covariance at the other beta is far outside the error bars
        wrong = _z_scores(estimates, i, _exact_moments(model, covariance / float(BETAS[1 - i])))
        assert np.max(np.abs(wrong["xx"])) > 20.0, (name, beta, wrong)


def test_langevin_has_the_discretised_ou_covariance():
    """ULA on a quadratic energy: Sigma = (beta A)^-1 (1 - eps beta A / 2)^-1 exactly, not (beta A)^-1."""
    model = _gaussian()
    scaled_step = 0.15  # eps beta: eps beta lambda_max = 0.75, bias factors 1.08 ... 1.6
    estimates, _ = _run_chains(jax.random.key(2), mc.langevin, model, lambda beta: scaled_step / beta)
    for i, beta in enumerate(np.asarray(BETAS)):
        A = beta * np.asarray(model.precision)
        discretised = np.linalg.inv(A @ (np.eye(D) - scaled_step / beta * A / 2))
        z = _z_scores(estimates, i, _exact_moments(model, discretised))
        assert all(np.max(np.abs(v)) < 5.0 for v in z.values()), (beta, z)
        continuous = _z_scores(estimates, i, _exact_moments(model, np.linalg.inv(A)))
        assert np.max(np.abs(continuous["xx"])) > 10.0, (beta, continuous)  # the O(eps) bias is resolved


def _double_well(x):
    return x**4 - 2 * x**2


def _double_well_histogram(sampler, beta, num_chains, num_steps, edges):
    def chain(key):
        k0, k = jax.random.split(key)
        state = sampler.init(_double_well, jax.random.uniform(k0, (), minval=-2.0, maxval=2.0))

        def body(state, key):
            return sampler.step(key, state, _double_well, beta)[0], None

        return jax.lax.scan(body, state, jax.random.split(k, num_steps))[0]

    final = jax.jit(jax.vmap(chain))(jax.random.split(jax.random.key(3), num_chains))
    assert int(jnp.max(final.status)) == 0
    return np.histogram(np.asarray(final.position), bins=edges)[0]


def _bin_probabilities(beta, edges):
    grid = np.linspace(-4.0, 4.0, 400_001)
    density = np.exp(-beta * _double_well(grid))
    cumulative = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
    return np.diff(np.interp(edges, grid, cumulative)) / cumulative[-1]


@pytest.mark.slow  # suite time (12 s); the Gaussian-moment tests check HMC exactly by default
def test_hmc_double_well_histogram_matches_quadrature():
    """exp(-beta (x^4 - 2x^2)) at beta = 2 (barrier 2 kT): final positions of independent chains vs quadrature."""
    beta, num_chains = 2.0, 4000
    edges = np.concatenate([[-np.inf], np.linspace(-1.6, 1.6, 17), [np.inf]])
    counts = _double_well_histogram(mc.hmc(0.15, 8, jitter=0.2), beta, num_chains, 60, edges)
    threshold = scipy.stats.chi2.ppf(1 - 1e-3, len(counts) - 1)
    chi2 = np.sum((counts - num_chains * _bin_probabilities(beta, edges)) ** 2 / (num_chains * _bin_probabilities(beta, edges)))
    assert chi2 < threshold, (chi2, threshold)
    wrong = _bin_probabilities(1.5, edges) * num_chains
    assert np.sum((counts - wrong) ** 2 / wrong) > threshold  # a 25% error in beta is seen


def test_huge_step_rejects_but_keeps_a_consistent_state():
    """eps = 10 on the Gaussian: Delta H ~ 1e16, every proposal rejected, the state stays exact and finite."""
    model = _gaussian()
    sampler = mc.hmc(10.0, 3)
    x0 = jnp.arange(D) / D

    def body(state, key):
        state, info = sampler.step(key, state, model, 1.0)
        return state, info

    state, info = jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.key(4), 200)))(sampler.init(model, x0))
    assert float(jnp.mean(info.acceptance_rate)) < 1e-3 and not bool(jnp.any(info.accepted))
    assert bool(jnp.all(info.energy_error > 1e3))
    assert int(state.status) == 0
    np.testing.assert_array_equal(state.position, x0)
    energy, gradient = jax.value_and_grad(model.energy)(x0)
    assert float(state.energy) == float(energy)
    np.testing.assert_array_equal(state.gradient, gradient)


@pytest.mark.parametrize("make_sampler", [lambda: mc.hmc(0.4, 4), lambda: mc.mala(0.3), lambda: mc.langevin(0.3)])
def test_nan_energy_is_rejected_and_flagged(make_sampler):
    """E = x^2/2 with NaN beyond |x| > 0.5: moves there are refused, the chain stays finite, Status.NAN is set."""

    def energy(x):
        return jnp.where(jnp.abs(x) > 0.5, jnp.nan, 0.5 * x**2)

    sampler = make_sampler()

    def body(state, key):
        state = sampler.step(key, state, energy, 1.0)[0]
        return state, state.position

    state, xs = jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(jax.random.key(5), 300)))(
        sampler.init(energy, jnp.array(0.0))
    )
    assert int(state.status) & int(Status.NAN)
    assert bool(jnp.all(jnp.abs(xs) <= 0.5)) and float(jnp.std(xs)) > 0.05  # it moved, but never into the NaN region


def test_pytree_position_with_mass_under_run():
    """Position = dict of arrays (float32 kept), energy = callable Partial, per-leaf mass: exact variances."""
    scales = {"w": jnp.array([[0.5, 1.0], [2.0, 1.5]]), "b": jnp.array([0.3, 1.0, 3.0])}
    energy = jax.tree_util.Partial(lambda s, x: sum(0.5 * jnp.sum((x[k] / s[k]) ** 2) for k in x), scales)
    mass = jax.tree.map(lambda s: 1.0 / s**2, scales)  # M = inverse variance: every coordinate has the same frequency
    x0 = jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.float32), scales)
    observables = {"w2": lambda m, x: x["w"].ravel() ** 2, "b2": lambda m, x: x["b"] ** 2}
    sampler = mc.hmc(0.3, 5, mass=mass, jitter=0.2)
    beta = 2.0
    result = mc.run(jax.random.key(6), sampler, energy, beta, 4000, x0=x0, observables=observables, num_bins=32)
    assert result.state.position["w"].dtype == jnp.float32
    assert int(result.status) & ~int(Status.UNRELIABLE_ERROR) == 0
    for name, key in (("w2", "w"), ("b2", "b")):
        exact = np.asarray(scales[key]).ravel() ** 2 / beta
        z = (np.asarray(result.mean[name]) - exact) / np.asarray(result.stderr[name])
        assert np.max(np.abs(z)) < 5.0, (name, z)


def test_traced_invalid_step_size_sets_status():
    model = _gaussian()

    def final_status(step_size):
        sampler = mc.mala(step_size)
        return sampler.step(jax.random.key(0), sampler.init(model, jnp.zeros(D)), model, 1.0)[0].status

    status = jax.jit(jax.vmap(final_status))(jnp.array([0.1, -0.1]))
    assert int(status[0]) == 0 and int(status[1]) & int(Status.INVALID_PARAMETER)


def test_bad_input_errors():
    model = _gaussian()
    with pytest.raises(ValueError, match="step_size"):
        mc.hmc(-0.1, 5)
    with pytest.raises(ValueError, match="step_size"):
        mc.mala(math.nan)
    with pytest.raises(ValueError, match="step_size"):
        mc.langevin(0.0)
    with pytest.raises(ValueError, match="num_leapfrog"):
        mc.hmc(0.1, 0)
    with pytest.raises(ValueError, match="jitter"):
        mc.hmc(0.1, 3, jitter=1.5)
    with pytest.raises(ValueError, match="mass"):
        mc.hmc(0.1, 3, mass=-1.0)
    with pytest.raises(ValueError, match="scalar"):
        mc.hmc(0.1, 3).init(lambda x: 0.5 * x**2, jnp.zeros(3))  # energy not summed
    with pytest.raises(TypeError, match="float"):
        mc.mala(0.1).init(model, jnp.zeros(D, jnp.int32))
    with pytest.raises(TypeError, match="energy"):
        mc.langevin(0.1).init(object(), jnp.zeros(D))
    with pytest.raises(ValueError, match="mass"):
        sampler = mc.hmc(0.1, 3, mass={"a": jnp.ones(2)})
        sampler.step(jax.random.key(0), sampler.init(model, jnp.zeros(D)), model, 1.0)
    with pytest.raises(ValueError, match="step_size"):
        mc.adapt_step_size(jax.random.key(0), mc.mala, model, 1.0, jnp.zeros(D), initial_step_size=-1.0)
    with pytest.raises(ValueError, match="target"):
        mc.adapt_step_size(jax.random.key(0), mc.mala, model, 1.0, jnp.zeros(D), initial_step_size=0.1, target=1.0)
    with pytest.raises(TypeError, match="x0"):
        mc.run(jax.random.key(0), mc.hmc(0.1, 3), model, 1.0, 10, observables=_OBSERVABLES)
    with pytest.raises(ValueError, match="beta"):
        mc.run(jax.random.key(0), mc.hmc(0.1, 3), model, -1.0, 10, x0=jnp.zeros(D), observables=_OBSERVABLES)


def test_dual_averaging_reaches_the_target_acceptance():
    """From a too-large and a too-small guess (vmapped), MALA's adapted step gives acceptance 0.7 +- 0.08."""
    model = _gaussian()

    def adapt_then_measure(key, initial):
        k_adapt, k_run = jax.random.split(key)
        eps, state = mc.adapt_step_size(
            k_adapt, mc.mala, model, 1.0, jnp.zeros(D), initial_step_size=initial, target=0.7, num_steps=1000
        )
        sampler = mc.mala(eps)
        _, info = jax.lax.scan(lambda s, k: sampler.step(k, s, model, 1.0), state, jax.random.split(k_run, 2000))
        return eps, jnp.mean(info.acceptance_rate)

    keys = jax.random.split(jax.random.key(7), 2)
    eps, acceptance = jax.jit(jax.vmap(adapt_then_measure))(keys, jnp.array([2.0, 1e-3]))
    assert np.all(np.abs(np.asarray(acceptance) - 0.7) < 0.08), (eps, acceptance)  # seeds 7-11: 0.70-0.75
    assert abs(float(eps[0]) / float(eps[1]) - 1) < 0.3, eps
