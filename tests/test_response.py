"""Derivative estimators and histogram reweighting against exact enumeration.

References are exact: ``jax.grad`` / ``jax.jacrev`` of ``exact.enumeration.averages`` (itself
checked against finite differences below). Monte Carlo comparisons ask for agreement within
``Z`` error bars plus a float32 rounding floor; with error bars from 64 jackknife bins the
per-comparison false-failure rate for a random seed is about P(|t_63| > 4.5) = 3e-5 at Z = 4.5
and P(|t_63| > 5) = 5e-6 at Z = 5 (the SK test makes ~150 comparisons: < 1e-3 in all). Seeds
are fixed, so outcomes are deterministic.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.exact import enumeration
from jaxphys.models import SK, Ising
from jaxphys.observables import response
from jaxphys.observables import thermodynamic as th

ISING = Ising((3, 3), J=1.0, h=0.1)
BETA = 0.4
OBSERVABLES = {"e": th.energy, "m": th.magnetization, "m2": th.m2}
SK_MODEL = SK(8, key=jax.random.key(3), J0=0.3)
SK_BETA = 0.7
FLOOR = 1e-5  # float32 rounding floor on derivatives of O(1) averages


exact_averages = jax.jit(lambda m, b: enumeration.averages(m, b, OBSERVABLES))
_exact_jacobian = jax.jit(jax.jacrev(lambda m, b: enumeration.averages(m, b, OBSERVABLES), argnums=(0, 1)))


def exact_derivatives(model, beta):
    """(means, d/dmodel, d/dbeta) dicts by name from jax differentiation of enumeration."""
    jac = _exact_jacobian(model, beta)
    return exact_averages(model, beta), {k: v[0] for k, v in jac.items()}, {k: v[1] for k, v in jac.items()}


def assert_within(value, error, reference, z, name):
    value, error, reference = (np.asarray(x, np.float64) for x in (value, error, reference))
    bad = np.abs(value - reference) > z * error + FLOOR
    assert not np.any(bad), f"{name}: {value[bad]} +- {error[bad]} vs exact {reference[bad]}"


# --------------------------------------------------------------------------- exact references


def test_finite_differences_of_exact_averages_match_grad():
    means, d_model, d_beta = exact_derivatives(ISING, BETA)
    step = 1e-2  # central differences: truncation O(step^2 <O'''>) ~ 1e-4, rounding ~ 1e-5

    def central(fn):
        return {k: (fn(step)[k] - fn(-step)[k]) / (2 * step) for k in OBSERVABLES}

    fd_beta = central(lambda d: exact_averages(ISING, BETA + d))
    fd_h = central(lambda d: exact_averages(Ising((3, 3), J=1.0, h=0.1 + d), BETA))
    fd_j = central(lambda d: exact_averages(Ising((3, 3), J=1.0 + d, h=0.1), BETA))
    for k in OBSERVABLES:
        np.testing.assert_allclose(fd_beta[k], d_beta[k], rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose(fd_h[k], d_model[k].h, rtol=2e-3, atol=2e-4)
        np.testing.assert_allclose(fd_j[k], d_model[k].J, rtol=2e-3, atol=2e-4)
    # and d<O>/dbeta = -Cov(O, E) in enumeration's own closed form
    np.testing.assert_allclose(enumeration.beta_derivative(ISING, BETA, th.m2), d_beta["m2"], rtol=1e-4)


@pytest.mark.parametrize("case", ["ising", "sk"])
def test_estimator_on_exact_weights_is_exact(case):
    model, beta = (ISING, BETA) if case == "ising" else (SK_MODEL, SK_BETA)
    means, d_model, d_beta = exact_derivatives(model, beta)
    spins = enumeration.configurations(model.spin_shape)
    weights = enumeration.probabilities(model, beta)
    got = response.from_samples(model, beta, OBSERVABLES, spins, weights=weights)
    for k in OBSERVABLES:
        np.testing.assert_allclose(got.mean[k], means[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.beta[k], d_beta[k], rtol=1e-5, atol=2e-6)
        for leaf, ref in zip(jax.tree.leaves(got.model[k]), jax.tree.leaves(d_model[k])):
            np.testing.assert_allclose(leaf, ref, rtol=1e-4, atol=2e-6)
    # a single observable function gives bare values, not dicts
    single = response.from_samples(model, beta, th.m2, spins, weights=weights)
    np.testing.assert_allclose(single.beta, got.beta["m2"], rtol=1e-6)


# --------------------------------------------------------------------------- Monte Carlo estimators


def test_mc_derivatives_of_ising_match_exact():
    means, d_model, d_beta = exact_derivatives(ISING, BETA)
    key, num_sweeps = jax.random.key(0), 20000
    r = response.average_and_derivative(key, mc.metropolis(), ISING, BETA, OBSERVABLES, num_sweeps)
    assert int(r.status) & ~int(status.Status.UNRELIABLE_ERROR) == 0
    for k in OBSERVABLES:
        assert_within(r.value.mean[k], r.stderr.mean[k], means[k], 4.5, f"<{k}>")
        assert_within(r.value.beta[k], r.stderr.beta[k], d_beta[k], 4.5, f"d<{k}>/dbeta")
        assert_within(r.value.model[k].J, r.stderr.model[k].J, d_model[k].J, 4.5, f"d<{k}>/dJ")
        assert_within(r.value.model[k].h, r.stderr.model[k].h, d_model[k].h, 4.5, f"d<{k}>/dh")
        assert float(r.stderr.beta[k]) > 0 and float(r.stderr.model[k].J) > 0
    # the errors are informative: the derivatives are resolved (several sigma away from zero)
    assert abs(float(r.value.beta["e"])) > 10 * float(r.stderr.beta["e"])


def test_mc_coupling_gradient_of_sk_matches_exact_and_jax_grad():
    means, d_model, d_beta = exact_derivatives(SK_MODEL, SK_BETA)
    key, num_sweeps = jax.random.key(1), 20000
    r = response.average_and_derivative(key, mc.metropolis(), SK_MODEL, SK_BETA, OBSERVABLES, num_sweeps)
    for k in OBSERVABLES:
        assert_within(r.value.beta[k], r.stderr.beta[k], d_beta[k], 5.0, f"d<{k}>/dbeta")
        assert_within(r.value.model[k].J, r.stderr.model[k].J, d_model[k].J, 5.0, f"d<{k}>/dJ_ij")
        assert_within(r.value.model[k].h, r.stderr.model[k].h, d_model[k].h, 5.0, f"d<{k}>/dh_i")
    # reverse mode through the custom_jvp rule: same chain, so the same numbers
    grad = jax.grad(lambda m: response.average(key, mc.metropolis(), m, SK_BETA, OBSERVABLES, num_sweeps)["m2"])(SK_MODEL)
    np.testing.assert_allclose(grad.J, r.value.model["m2"].J, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad.h, r.value.model["m2"].h, rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # suite time budget (2 cores, 15 min)
def test_jacfwd_of_average_under_jit_and_vmap_over_beta():
    betas = jnp.array([0.3, 0.5])
    key, num_sweeps = jax.random.key(2), 8000

    def mean_m2(beta):
        return response.average(key, mc.metropolis(), ISING, beta, th.m2, num_sweeps)

    value = jax.jit(jax.vmap(mean_m2))(betas)
    # forward mode here; reverse mode (jax.grad) is checked on SK couplings above
    grad = jax.jit(jax.vmap(jax.jacfwd(mean_m2)))(betas)
    r = jax.vmap(lambda b: response.average_and_derivative(key, mc.metropolis(), ISING, b, th.m2, num_sweeps))(betas)
    np.testing.assert_allclose(value, r.value.mean, rtol=1e-5)
    np.testing.assert_allclose(grad, r.value.beta, rtol=1e-4, atol=1e-6)
    exact = jax.vmap(lambda b: exact_derivatives(ISING, b)[2]["m2"])(betas)
    assert_within(grad, r.stderr.beta, exact, 4.5, "d<m2>/dbeta under vmap")


# --------------------------------------------------------------------------- reweighting


REWEIGHT_BETAS = (0.2, 0.3, 0.4, 0.5)


@pytest.fixture(scope="module")
def series():
    """Energy and m^2 traces of 4096 Metropolis sweeps of the 3x3 Ising model at each beta."""
    model = Ising((3, 3))
    observables = {"E": lambda m, s: m.energy(s), "m2": th.m2}

    def one(key, beta):
        result = mc.run(key, mc.metropolis(), model, beta, 4096, burn_in=256, observables=observables, trace=True)
        return result.trace["E"], result.trace["m2"]

    keys = jax.random.split(jax.random.key(4), len(REWEIGHT_BETAS))
    energies, m2 = jax.vmap(one)(keys, jnp.array(REWEIGHT_BETAS))
    return model, energies, m2


def exact_m2(model, betas):
    return np.asarray(jax.vmap(lambda b: exact_averages(model, b)["m2"])(jnp.asarray(betas, jnp.float32)))


@jax.jit
def _log_z(model, betas):
    return jax.vmap(lambda b: enumeration.log_partition_function(model, b))(betas)


def exact_log_z(model, betas, beta_ref):
    return np.asarray(_log_z(model, jnp.asarray(betas, jnp.float32)) - _log_z(model, jnp.full(1, beta_ref, jnp.float32)))


def test_single_histogram_matches_enumeration(series):
    model, energies, m2 = series
    beta0, targets = REWEIGHT_BETAS[2], np.array([0.35, 0.4, 0.45])
    r = response.reweight(energies[2], m2[2], beta0, targets)
    assert_within(r.mean, r.stderr, exact_m2(model, targets), 4.5, "reweighted <m2>")
    assert_within(r.log_partition, r.log_partition_stderr, exact_log_z(model, targets, beta0), 4.5, "ln Z ratio")
    assert np.all(np.asarray(r.effective_samples) > 500)  # 4096 samples, mild reweighting
    # reweighting to beta0 itself is the plain average; the derivative estimator agrees with exact
    np.testing.assert_allclose(r.mean[1], np.mean(np.asarray(m2[2])), rtol=1e-5)
    d, d_err = response.beta_derivative(energies[2], m2[2])
    assert_within(d, d_err, exact_derivatives(model, beta0)[2]["m2"], 4.5, "-Cov(m2, E)")


def test_reweighting_exact_samples_is_exact():
    model = Ising((3, 3))
    energies = enumeration.energies(model)
    m2 = jax.vmap(lambda s: th.m2(model, s))(enumeration.configurations(model.spin_shape))
    targets = np.array([0.25, 0.35, 0.45, 0.55])
    r = response.reweight(energies, m2, 0.4, targets, weights=enumeration.probabilities(model, 0.4))
    np.testing.assert_allclose(r.mean, exact_m2(model, targets), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(r.log_partition, exact_log_z(model, targets, 0.4), atol=2e-5)

    betas = np.array([0.2, 0.35, 0.5])
    weights = [enumeration.probabilities(model, b) for b in betas]
    mh = response.multiple_histogram([energies] * 3, [m2] * 3, betas, targets, weights=weights)
    assert int(mh.status) == 0
    np.testing.assert_allclose(mh.mean, exact_m2(model, targets), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(mh.log_partition, exact_log_z(model, targets, betas[0]), atol=5e-5)
    np.testing.assert_allclose(mh.free_energies, -exact_log_z(model, betas, betas[0]), atol=5e-5)

    target = float(exact_m2(model, [0.37])[0])
    root = response.newton_root(energies, m2, 0.4, target, weights=enumeration.probabilities(model, 0.4))
    assert int(root.status) == 0
    np.testing.assert_allclose(root.beta, 0.37, atol=1e-4)


def test_multiple_histogram_matches_enumeration(series):
    model, energies, m2 = series
    grid = np.linspace(0.2, 0.5, 7)
    mh = response.multiple_histogram(energies, m2, np.array(REWEIGHT_BETAS), grid)
    assert int(mh.status) == 0
    assert_within(mh.mean, mh.stderr, exact_m2(model, grid), 4.5, "multiple-histogram <m2>")
    assert_within(mh.log_partition, mh.log_partition_stderr, exact_log_z(model, grid, REWEIGHT_BETAS[0]), 4.5, "ln Z")
    # combining runs beats the single run it contains at that run's own beta
    single = response.reweight(energies[2], m2[2], REWEIGHT_BETAS[2], REWEIGHT_BETAS[2])
    assert float(mh.stderr[4]) < float(single.stderr)


def test_newton_root_on_mc_series(series):
    model, energies, m2 = series
    target = float(exact_m2(model, [0.42])[0])
    root = response.newton_root(energies[2], m2[2], REWEIGHT_BETAS[2], target)
    assert int(root.status) == 0
    # error of the root = error of <m2> there / slope
    r = response.reweight(energies[2], m2[2], REWEIGHT_BETAS[2], root.beta)
    slope = float(exact_derivatives(model, 0.42)[2]["m2"])
    assert abs(float(root.beta) - 0.42) < 4.5 * float(r.stderr) / abs(slope)


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises_clear_errors():
    e, o = jnp.arange(10.0), jnp.ones(10)
    with pytest.raises(ValueError, match="same length"):
        response.reweight(e, o[:9], 0.4, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        response.reweight(e.at[3].set(jnp.nan), o, 0.4, 0.5)
    with pytest.raises(ValueError, match="finite"):
        response.reweight(e, o, 0.4, jnp.inf)
    with pytest.raises(ValueError, match="finite"):
        response.reweight(e, o, jnp.nan, 0.5)
    with pytest.raises(ValueError, match="empty"):
        response.reweight(jnp.zeros(0), jnp.zeros(0), 0.4, 0.5)
    with pytest.raises(ValueError, match="num_blocks"):
        response.reweight(e, o, 0.4, 0.5, num_blocks=11)
    with pytest.raises(ValueError, match="weights"):
        response.reweight(e, o, 0.4, 0.5, weights=jnp.ones(9), num_blocks=2)
    with pytest.raises(ValueError, match="same length"):
        response.beta_derivative(e, o[:5])
    with pytest.raises(ValueError, match=">= 2 betas"):
        response.multiple_histogram([e], [o], [0.4], [0.4])
    with pytest.raises(ValueError, match="distinct"):
        response.multiple_histogram([e, e], [o, o], [0.4, 0.4], [0.4])
    with pytest.raises(ValueError, match="one series per run"):
        response.multiple_histogram([e, e], [o], [0.4, 0.5], [0.4])
    with pytest.raises(ValueError, match="NaN"):
        response.multiple_histogram([e, e.at[0].set(jnp.nan)], [o, o], [0.4, 0.5], [0.4])
    spins = enumeration.configurations(ISING.spin_shape, count=4)
    with pytest.raises(ValueError, match="finite"):
        response.from_samples(ISING, jnp.nan, th.m2, spins)
    with pytest.raises(ValueError, match="shape"):
        response.from_samples(ISING, 0.4, th.m2, spins[:, :2])
    with pytest.raises(ValueError, match="scalar"):
        response.from_samples(ISING, 0.4, lambda m, s: s.astype(float), spins)
    with pytest.raises(TypeError, match="observable"):
        response.from_samples(ISING, 0.4, 3.0, spins)
    with pytest.raises(TypeError, match="Sampler"):
        response.average(jax.random.key(0), "metropolis", ISING, 0.4, th.m2, 100)
    with pytest.raises(ValueError, match="finite"):
        response.average(jax.random.key(0), mc.metropolis(), ISING, float("nan"), th.m2, 100)
    with pytest.raises(ValueError, match="num_sweeps"):
        response.average_and_derivative(jax.random.key(0), mc.metropolis(), ISING, 0.4, th.m2, 1)


def test_model_without_float_leaves_in_the_gradient_is_none():
    # eqx.filter_grad style: non-float leaves get None, float leaves a derivative
    spins = enumeration.configurations(ISING.spin_shape)
    got = response.from_samples(ISING, BETA, th.m2, spins, weights=enumeration.probabilities(ISING, BETA))
    assert jax.tree.structure(got.model) == jax.tree.structure(eqx.filter(ISING, eqx.is_inexact_array))
