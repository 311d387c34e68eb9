"""Annealed importance sampling against exact enumeration (float64).

Every estimate is compared with ``log Z`` from :func:`jaxphys.exact.log_partition_function`
through its own delta-method error bar: ``|z| = |log Zhat - log Z| / stderr < 4``. For a Gaussian
estimator that is a false-failure rate of 6e-5 per comparison; AIS log-weights are skewed and
``log Zhat`` is biased low by ``~stderr^2 / 2`` (negligible here, stderr ~ 0.01), so the true rate is
somewhat higher but still below 1e-3 per test. The keys are fixed, so the outcomes are deterministic.

Honesty of the error bar: the M chains of one run are cut into G = 16 groups; each group gives an
independent estimate with its own error bar, and ``X^2 = sum_g z_g^2`` is compared with
chi-square(16) at p > 1e-3 (false-failure rate 1e-3 for a Gaussian estimator; a delta-method
error that is too small by a factor 2 gives X^2 ~ 64, p ~ 1e-7). Power: the same estimate must
reject the log Z of a machine whose weights are 3 % off.

Runtime: ~15 s of CPU for the file (3x that in wall time when the 2-core machine is shared), almost
all compilation: 3 compiled programs (rbm_ais for +-1 and Gaussian hidden units, generic AIS, whose
forward and reverse runs share one program); one schedule length and chain count for every test, so
each program compiles once.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc, status
from jaxphys.exact import configurations, log_partition_function, probabilities
from jaxphys.models import RBM, SK
from jaxphys.testing import chi_square_p_value

NUM_BETAS = 301  # one schedule length and one chain count for every test: each program compiles once
NUM_CHAINS = 512
NUM_GROUPS = 16
ALPHA = 1e-3


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def betas():
    return jnp.linspace(0.0, 1.0, NUM_BETAS)


def small_rbm(nv, nh, *, seed, scale, hidden="binary"):
    rng = np.random.default_rng(seed)
    return RBM(scale * rng.normal(size=(nv, nh)) / np.sqrt(nv), 0.3 * rng.normal(size=nv), 0.3 * rng.normal(size=nh), hidden=hidden)


def exact_log_z(rbm):
    return float(log_partition_function(rbm.visible_model(1.0), 1.0))


def group_chi_square(log_weights, log_z0, exact, sign=1.0):
    """X^2 of NUM_GROUPS independent sub-estimates against the exact value, and its p-value."""
    groups = np.asarray(log_weights).reshape(NUM_GROUPS, -1)
    z = []
    for group in groups:
        log_mean, stderr, _ = mc.log_mean_exp(jnp.asarray(group))
        z.append((log_z0 + sign * float(log_mean) - exact) / float(stderr))
    statistic = float(np.sum(np.square(z)))
    return statistic, chi_square_p_value(statistic, NUM_GROUPS)


def check_estimate(result, exact, label):
    z = (float(result.log_z) - exact) / float(result.stderr)
    assert int(result.status) == 0, (label, status.describe(int(result.status)))
    assert abs(z) < 4, (label, float(result.log_z), exact, float(result.stderr))
    assert 0 < float(result.stderr) < 0.05, (label, float(result.stderr))  # precise enough to mean something
    assert 1 <= float(result.ess) <= NUM_CHAINS + 1e-6
    return z


# ------------------------------------------------------------------------------ log-mean-exp


def test_log_mean_exp_matches_direct_formula_and_does_not_overflow():
    rng = np.random.default_rng(0)
    log_w = rng.normal(size=50) * 0.7 + 2.0
    w = np.exp(log_w)
    log_mean, stderr, ess = mc.log_mean_exp(jnp.asarray(log_w))
    np.testing.assert_allclose(float(log_mean), np.log(w.mean()), rtol=1e-12)
    np.testing.assert_allclose(float(stderr), w.std(ddof=1) / np.sqrt(50) / w.mean(), rtol=1e-10)
    np.testing.assert_allclose(float(ess), w.sum() ** 2 / np.sum(w**2), rtol=1e-10)
    shifted = mc.log_mean_exp(jnp.asarray(log_w + 5000.0))  # exp(5000) overflows float64
    np.testing.assert_allclose(float(shifted[0]), np.log(w.mean()) + 5000.0, rtol=1e-12)
    np.testing.assert_allclose([float(shifted[1]), float(shifted[2])], [float(stderr), float(ess)], rtol=1e-9)
    equal = mc.log_mean_exp(jnp.full((8,), -3.0))
    assert float(equal[0]) == pytest.approx(-3.0) and float(equal[1]) == 0.0 and float(equal[2]) == pytest.approx(8.0)


# ------------------------------------------------------------------------------ RBM AIS (Salakhutdinov-Murray)


@pytest.mark.parametrize(
    "scale, base, seed",
    [(1.0, False, 0), (3.0, True, 1)],
    ids=["12x6-moderate-uniform-base", "12x6-strong-product-base"],
)
def test_rbm_ais_matches_enumeration_with_honest_error(scale, base, seed):
    """Nv = 12, Nh = 6; scale 3 gives hidden fields of order 3 and a rugged visible marginal."""
    rbm = small_rbm(12, 6, seed=seed, scale=scale)
    exact = exact_log_z(rbm)
    base_bias = 0.5 * np.random.default_rng(seed + 10).normal(size=12) if base else None
    result = mc.rbm_ais(jax.random.key(seed), rbm, betas(), NUM_CHAINS, base_bias=base_bias)
    check_estimate(result, exact, f"scale={scale}")
    assert result.samples.shape == (NUM_CHAINS, 12) and result.samples.dtype == jnp.int8
    a0 = jnp.zeros(12) if base_bias is None else jnp.asarray(base_bias)
    log_z0 = float(jnp.sum(jnp.logaddexp(a0, -a0))) + 6 * np.log(2.0)
    statistic, p = group_chi_square(result.log_weights, log_z0, exact)
    assert p > ALPHA, (statistic, p)
    # Power: a machine with weights 3 % larger has a log Z the estimate must tell apart.
    wrong = exact_log_z(RBM(1.03 * rbm.weights, rbm.visible_bias, rbm.hidden_bias))
    assert abs(float(result.log_z) - wrong) / float(result.stderr) > 4, (float(result.log_z), wrong, exact)
    # The final states weighted by w are consistent draws from the RBM (unweighted they are biased when the
    # annealing lags, as here at scale 3): the weighted magnetisation matches the exact one within 4.5
    # standard errors sqrt((1 - m^2) / ESS) in each of the 12 units (false-failure rate ~1e-4).
    p = np.asarray(probabilities(rbm.visible_model(1.0), 1.0))
    exact_mean = p @ np.asarray(configurations((12,)), np.float64)
    weights = np.exp(np.asarray(result.log_weights) - float(jnp.max(result.log_weights)))
    sample_mean = weights @ np.asarray(result.samples, np.float64) / weights.sum()
    stderr = np.sqrt((1 - exact_mean**2) / float(result.ess))
    assert np.all(np.abs(sample_mean - exact_mean) < 4.5 * stderr), (sample_mean, exact_mean)


def test_rbm_ais_gaussian_hidden_matches_enumeration():
    """Gaussian hidden units: the intermediate laws keep the N(0, 1) prior; log Z_0 = sum log 2cosh a0 + Nh/2 log 2 pi."""
    rbm = small_rbm(12, 3, seed=4, scale=1.5, hidden="gaussian")
    result = mc.rbm_ais(jax.random.key(4), rbm, betas(), NUM_CHAINS)
    check_estimate(result, exact_log_z(rbm), "gaussian")


# ------------------------------------------------------------------------------ generic AIS (temperature path)


def sk_model():
    return SK(12, key=jax.random.key(3))


def test_generic_ais_on_sk_matches_enumeration():
    """SK with N = 12 at beta = 1, Metropolis sweeps along beta in [0, 1]; log Z_0 = N log 2."""
    model = sk_model()
    exact = float(log_partition_function(model, 1.0))
    result = mc.ais(jax.random.key(6), mc.metropolis(), model, betas(), NUM_CHAINS)
    check_estimate(result, exact, "sk forward")
    assert result.samples.shape == (NUM_CHAINS, 12)
    statistic, p = group_chi_square(result.log_weights, 12 * np.log(2.0), exact)
    assert p > ALPHA, (statistic, p)


def test_reverse_ais_from_exact_draws_matches_enumeration():
    """Reverse AIS from exact draws of the SK law: E[w] = Z_0 / Z, log Z = log Z_0 - log mean w."""
    model = sk_model()
    exact = float(log_partition_function(model, 1.0))
    p = np.asarray(probabilities(model, 1.0))
    index = np.random.default_rng(7).choice(p.size, size=NUM_CHAINS, p=p / p.sum())
    draws = np.asarray(configurations((12,)))[index]
    result = mc.ais(jax.random.key(7), mc.metropolis(), model, betas(), reverse_from=jnp.asarray(draws))
    check_estimate(result, exact, "sk reverse")
    statistic, p_value = group_chi_square(result.log_weights, 12 * np.log(2.0), exact, sign=-1.0)
    assert p_value > ALPHA, (statistic, p_value)


# ------------------------------------------------------------------------------ bad input


def test_bad_input_raises_clear_errors():
    rbm = small_rbm(4, 2, seed=0, scale=1.0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="start at 0"):
        mc.rbm_ais(key, rbm, jnp.linspace(0.1, 1.0, 10), 8)
    with pytest.raises(ValueError, match="end at 1"):
        mc.rbm_ais(key, rbm, jnp.linspace(0.0, 0.9, 10), 8)
    with pytest.raises(ValueError, match="non-decreasing"):
        mc.rbm_ais(key, rbm, jnp.array([0.0, 0.6, 0.4, 1.0]), 8)
    with pytest.raises(ValueError, match="1-D"):
        mc.rbm_ais(key, rbm, jnp.zeros((2, 3)), 8)
    with pytest.raises(ValueError, match="finite"):
        mc.rbm_ais(key, rbm, jnp.array([0.0, jnp.nan, 1.0]), 8)
    with pytest.raises(ValueError, match="num_chains"):
        mc.rbm_ais(key, rbm, betas(), 1)
    with pytest.raises(ValueError, match="base_bias"):
        mc.rbm_ais(key, rbm, betas(), 8, base_bias=jnp.zeros(5))
    with pytest.raises(TypeError, match="RBM"):
        mc.rbm_ais(key, sk_model(), betas(), 8)
    with pytest.raises(TypeError, match="Sampler"):
        mc.ais(key, lambda *a: None, sk_model(), betas(), 8)
    with pytest.raises(ValueError, match="num_chains is required"):
        mc.ais(key, mc.heatbath(), sk_model(), betas())
    with pytest.raises(ValueError, match="reverse_from"):
        mc.ais(key, mc.heatbath(), sk_model(), betas(), reverse_from=jnp.ones((8, 5), jnp.int8))
    with pytest.raises(TypeError, match="int8"):
        mc.ais(key, mc.heatbath(), sk_model(), betas(), reverse_from=jnp.ones((8, 12), jnp.float32))
    with pytest.raises(ValueError, match="num_chains = 4"):
        mc.ais(key, mc.heatbath(), sk_model(), betas(), 4, reverse_from=jnp.ones((8, 12), jnp.int8))


# ------------------------------------------------------------------------------ slow (skipped by default)


@pytest.mark.slow
def test_traced_bad_schedule_sets_status_and_rbm_ais_vmaps():
    rbm = small_rbm(12, 6, seed=0, scale=1.0)
    bad = betas().at[1].set(-0.5)
    result = jax.jit(lambda b: mc.rbm_ais(jax.random.key(0), rbm, b, NUM_CHAINS))(bad)
    assert int(result.status) & int(status.Status.INVALID_PARAMETER)
    keys = jax.random.split(jax.random.key(1), 4)
    log_z = jax.vmap(lambda k: mc.rbm_ais(k, rbm, betas(), NUM_CHAINS).log_z)(keys)
    assert np.all(np.abs(np.asarray(log_z) - exact_log_z(rbm)) < 0.1)


@pytest.mark.slow
def test_rbm_ais_larger_machine_matches_enumeration():
    """Nv = 20, Nh = 16 at scale 2: a 2^16-state exact sum over the hidden layer."""
    from jaxphys.learning import rbm as learn

    rbm = small_rbm(20, 16, seed=2, scale=2.0)
    exact = float(learn.exact_log_partition_function(rbm))
    result = mc.rbm_ais(jax.random.key(2), rbm, jnp.linspace(0, 1, 3001), 1024)
    assert abs(float(result.log_z) - exact) < 4 * float(result.stderr), (float(result.log_z), exact, float(result.stderr))
