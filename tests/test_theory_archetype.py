"""Low-load archetype theory (jaxphys.theory.archetype) against closed forms and simulations.

References: the T = 0 closed forms m = erf(1/sqrt(2 rho)), p = E|v| and the exact binomial
E sign(v); an independent numpy solution of p = E[v tanh(beta p v / R)] on a dense z grid;
the T -> 0 limit; the rule identity unsupervised(T) = supervised(T / (1 + rho)); M* =
2 (1 - r^2) erfinv(m)^2 / r^2 and its derivatives; implicit derivatives against central
differences; and N = 2000 networks built by jaxphys.learning (zero-temperature dynamics and a
Monte Carlo run with mc.dense()). Simulation tolerances are 5 standard deviations of the
finite-N overlap (false-failure rate < 1e-5 per comparison, Gaussian tails), plus the stated
O(1/sqrt N) cross-talk allowance where K = 3 classes are stored.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc
from jaxphys.learning import archetype_dataset, supervised_hebbian
from jaxphys.models import mattis_overlaps, zero_temperature_dynamics
from jaxphys.status import Status
from jaxphys.theory import archetype


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _binomial_sign_mean(r: float, M: int) -> float:
    """``E sign(v) = P(k > M/2) - P(k < M/2)``, ``k ~ Binomial(M, (1 + r)/2)``, in exact arithmetic."""
    p = (1 + r) / 2
    pmf = [math.comb(M, k) * p**k * (1 - p) ** (M - k) for k in range(M + 1)]
    return sum(w * np.sign(2 * k - M) for k, w in enumerate(pmf))


def _numpy_overlap(r: float, M: float, T: float) -> float:
    """Supervised Gaussian-law m at T > 0 by plain iteration on a dense z grid (independent of the module)."""
    z = np.linspace(-12, 12, 200_001)
    w = np.exp(-0.5 * z**2)
    w /= w.sum()
    v = r + math.sqrt((1 - r**2) / M) * z
    R = r**2 + (1 - r**2) / M
    p = np.sum(w * np.abs(v))
    for _ in range(5000):
        p_new = np.sum(w * v * np.tanh(p * v / (T * R)))
        if abs(p_new - p) < 1e-14:
            break
        p = p_new
    return float(np.sum(w * np.tanh(p * v / (T * R))))


def test_zero_temperature_closed_forms():
    r = jnp.array([0.2, 0.5, 0.9])
    M = jnp.array([25.0, 7.0, 3.0])
    state = archetype.solve(r, M).value
    rho = (1 - r**2) / (M * r**2)
    np.testing.assert_allclose(state.rho, rho, rtol=1e-14)
    np.testing.assert_allclose(archetype.dataset_entropy(r, M), rho, rtol=1e-14)
    np.testing.assert_allclose(state.m, jax.scipy.special.erf(1 / jnp.sqrt(2 * rho)), rtol=1e-12)
    # p = E|v| by 200-node Gauss-Hermite on the (smooth enough) |v| is not exact: use a dense grid
    z = np.linspace(-12, 12, 400_001)
    w = np.exp(-0.5 * z**2) / np.exp(-0.5 * z**2).sum()
    for i in range(3):
        v = float(r[i]) + math.sqrt((1 - float(r[i]) ** 2) / float(M[i])) * z
        assert float(state.p[i]) == pytest.approx(np.sum(w * np.abs(v)), abs=1e-9)
    # exact finite-M law; odd and even M (v = 0 has weight at even M and contributes 0)
    for r_, M_ in ((0.3, 41), (0.4, 20), (1.0, 5)):
        m = archetype.retrieval_overlap(r_, M_, examples="binomial")
        assert float(m) == pytest.approx(_binomial_sign_mean(r_, M_), abs=1e-12)
    # r = 1: the examples are the archetype
    assert float(archetype.retrieval_overlap(1.0, 5.0)) == 1.0
    np.testing.assert_allclose(archetype.critical_temperature(0.5, 4.0, "unsupervised"), 1 + 0.75 / 1.0)
    assert float(archetype.critical_temperature(0.5, 4.0)) == 1.0


# Finite-T calls share one signature (scalar r, scalar M, T of shape (2,)) so that each law and
# rule compiles once.
def test_positive_temperature_against_numpy_and_limits():
    sol = archetype.solve(0.3, 20.0, jnp.array([1e-3, 0.4]))
    sol_hot = archetype.solve(0.3, 20.0, jnp.array([0.9, 1.05]))
    assert np.all(np.asarray(sol.status) == 0) and np.all(np.asarray(sol_hot.status) == 0)
    m = np.concatenate([np.asarray(sol.value.m), np.asarray(sol_hot.value.m)])
    m0 = float(archetype.retrieval_overlap(0.3, 20.0))
    assert m[0] == pytest.approx(m0, abs=1e-6)  # T -> 0 limit
    assert m[1] == pytest.approx(_numpy_overlap(0.3, 20.0, 0.4), abs=1e-9)
    assert m[2] == pytest.approx(_numpy_overlap(0.3, 20.0, 0.9), abs=1e-8)
    assert abs(m[3]) < 1e-8  # above T_c = 1
    assert m0 > m[1] > m[2] > 0
    # binomial law: T -> 0 limit of the finite-T solver
    mb = archetype.solve(0.3, 20, jnp.array([1e-3, 0.4]), examples="binomial").value.m
    assert float(mb[0]) == pytest.approx(float(archetype.retrieval_overlap(0.3, 20, examples="binomial")), abs=1e-8)
    # unsupervised at T is supervised at T / (1 + rho) (Gaussian law)
    rho = float(archetype.dataset_entropy(0.3, 20.0))
    uns = archetype.retrieval_overlap(0.3, 20.0, jnp.array([0.4, 0.9]), "unsupervised")
    sup = archetype.retrieval_overlap(0.3, 20.0, jnp.array([0.4, 0.9]) / (1 + rho))
    np.testing.assert_allclose(uns, sup, atol=1e-10)


def test_implicit_derivatives_against_finite_differences():
    def m_of(r, M, T, examples="gaussian"):
        return archetype.solve(r, M, T, examples=examples).value.m

    point = (0.35, 15.0, jnp.array([0.6, 0.0]))  # T = 0.6 (fixed point) and T = 0 (closed form)
    jac = jax.jacfwd(m_of, argnums=(0, 1, 2))(*point)
    grads = (jac[0], jac[1], jnp.diagonal(jac[2]))
    h = 1e-5
    for i, step in enumerate((h, h, jnp.array([h, 0.0]))):
        up = list(point)
        dn = list(point)
        up[i] = up[i] + step
        dn[i] = dn[i] - step
        fd = (np.asarray(m_of(*up)) - np.asarray(m_of(*dn))) / (2 * h)
        k = 1 if i == 2 else 2  # T = 0 has no T-derivative check (T >= 0 only)
        np.testing.assert_allclose(np.asarray(grads[i])[:k], fd[:k], rtol=1e-5, atol=1e-8)
    # binomial law, derivative in r at fixed integer M
    T = jnp.array([1e-3, 0.4])
    d_binomial = jax.jacfwd(lambda r: m_of(r, 20, T, "binomial"))(0.3)
    fd = (np.asarray(m_of(0.3 + h, 20, T, "binomial")) - np.asarray(m_of(0.3 - h, 20, T, "binomial"))) / (2 * h)
    np.testing.assert_allclose(d_binomial, fd, rtol=1e-5)


def test_critical_sample_size():
    r = jnp.array([0.2, 0.5])
    target = 0.9
    sol = archetype.critical_sample_size(r, target)
    assert np.all(np.asarray(sol.status) == 0)
    e = jax.scipy.special.erfinv(target)
    np.testing.assert_allclose(sol.value, 2 * (1 - r**2) * e**2 / r**2, rtol=1e-9)
    # derivatives: dM/dr = -4 erfinv(m)^2 / r^3; dM/dm = 2 (1 - r^2)/r^2 * 2 erfinv(m) erfinv'(m)
    dr = jax.grad(lambda x: archetype.critical_sample_size(x, target).value)(0.3)
    assert float(dr) == pytest.approx(float(-4 * e**2 / 0.3**3), rel=1e-8)
    dm = jax.grad(lambda t: archetype.critical_sample_size(0.3, t).value)(target)
    derf = math.sqrt(math.pi) / 2 * math.exp(float(e) ** 2)
    assert float(dm) == pytest.approx(2 * (1 - 0.09) / 0.09 * 2 * float(e) * derf, rel=1e-7)


@pytest.mark.slow  # ~20 s of compilation (Brent over a nested fixed point, and its gradient)
def test_critical_sample_size_positive_temperature():
    # T > 0: the overlap at M* is the target; an unreachable target (above the Curie-Weiss
    # value m = tanh(m / T) = 0.957 at T = 0.5) flags; dM*/dT against central differences
    h = 1e-5
    size_at = jax.jit(lambda T: archetype.critical_sample_size(0.3, jnp.array([0.7, 0.999]), T))
    sol_t = size_at(0.5)
    assert int(sol_t.status[0]) == 0
    assert int(sol_t.status[1]) & Status.INVALID_PARAMETER and np.isnan(float(sol_t.value[1]))
    m_check = archetype.retrieval_overlap(0.3, sol_t.value[0], jnp.array([0.5, 0.5]))
    assert float(m_check[0]) == pytest.approx(0.7, abs=1e-9)
    fd = (float(size_at(0.5 + h).value[0]) - float(size_at(0.5 - h).value[0])) / (2 * h)
    assert float(jax.grad(lambda T: size_at(T).value[0])(0.5)) == pytest.approx(fd, rel=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="r must"):
        archetype.solve(1.5, 10.0)
    with pytest.raises(ValueError, match="M must"):
        archetype.solve(0.5, 0.0)
    with pytest.raises(ValueError, match="T must"):
        archetype.solve(0.5, 10.0, -1.0)
    with pytest.raises(ValueError, match="rule"):
        archetype.solve(0.5, 10.0, rule="hebb")
    with pytest.raises(ValueError, match="examples"):
        archetype.solve(0.5, 10.0, examples="poisson")
    with pytest.raises(ValueError, match="Python int"):
        archetype.solve(0.5, 10.5, examples="binomial")
    with pytest.raises(ValueError, match="r > 0"):
        archetype.solve(0.0, 10.0, rule="unsupervised")
    with pytest.raises(ValueError, match="m_target must be < 1"):
        archetype.critical_sample_size(0.5, 1.0)
    with pytest.raises(TypeError):
        archetype.solve(True, 10.0)
    # traced out-of-domain values: a status bit and NaN, no exception
    sol = jax.jit(lambda r: archetype.solve(r, 10.0, 0.5))(1.5)
    assert int(sol.status) & Status.INVALID_PARAMETER and np.isnan(float(sol.value.m))


def _network(seed, K, r, M, N=2000):
    key_data, key_run = jax.random.split(jax.random.key(seed))
    xi, eta = archetype_dataset(key_data, K, M, N, r)
    return key_run, xi, eta, supervised_hebbian(eta, r, xi)


@functools.partial(jax.jit, static_argnums=(1, 3))
def _zero_temperature_run(seed, K, r, M):
    """Supervised network of K classes, T = 0 dynamics from archetype 0: (spins, eta_bar^0, m, converged)."""
    key, xi, eta, model = _network(seed, K, r, M)
    out = zero_temperature_dynamics(key, model, xi[0])
    return out.spins, jnp.mean(eta[0].astype(float), axis=0), mattis_overlaps(model, out.spins)[0], out.converged


def test_zero_temperature_simulation():
    N, M = 2000, 41
    # K = 1: the T = 0 fixed point reached from the archetype is exactly sign(eta_bar) (the
    # premise of the theory: the field on site i is eta_bar_i times a positive sum).
    spins, eta_bar, _, converged = _zero_temperature_run(0, 1, 0.3, M)
    assert bool(converged)
    np.testing.assert_array_equal(spins, jnp.sign(eta_bar).astype(jnp.int8))
    # K = 3 stored classes, three qualities (rho = 0.37, 0.25, 0.18): overlap with archetype 0
    # against erf(1/sqrt(2 rho)). sigma = sqrt((1 - m^2)/N) is the sample-to-sample spread of
    # (1/N) sum_i sign(v_i); the cross-talk of the 2 other classes flips O(sqrt(K/N)) of the
    # weakest sites (allowance 0.02; 0.007-0.024 seen over seeds), and |erf - binomial| is the
    # CLT error at this M (< 0.005).
    for seed, r in enumerate((0.25, 0.3, 0.35)):
        _, _, m_sim, converged = _zero_temperature_run(seed, 3, r, M)
        assert bool(converged)
        m_clt = float(archetype.retrieval_overlap(r, M))
        m_exact = _binomial_sign_mean(r, M)
        sigma = math.sqrt((1 - m_exact**2) / N)
        assert abs(float(m_sim) - m_clt) < 5 * sigma + 0.02 + abs(m_clt - m_exact), (r, float(m_sim), m_clt)
        assert m_clt == pytest.approx(math.erf(1 / math.sqrt(2 * (1 - r**2) / (M * r**2))), abs=1e-12)


@pytest.mark.slow  # suite time budget (2 cores, 15 min)
def test_positive_temperature_monte_carlo():
    N, r, M, T = 2000, 0.3, 41, 0.5
    key, xi, _, model = _network(1, 3, r, M, N)
    res = mc.run(
        key, mc.dense(), model, 1.0 / T, 200, burn_in=50, x0=xi[0],
        observables={"m": lambda mdl, s: mattis_overlaps(mdl, s)[0]},
    )  # fmt: skip
    assert int(res.status) == 0
    state = archetype.solve(r, M, T, examples="binomial").value
    # sample-to-sample spread of (1/N) sum_i tanh(beta p v_i / R) plus the MC error bar
    atoms = (2 * np.arange(M + 1) - M) / M
    weights = np.array([math.comb(M, k) * ((1 + r) / 2) ** k * ((1 - r) / 2) ** (M - k) for k in range(M + 1)])
    R = r**2 + (1 - r**2) / M
    t = np.tanh(float(state.p) * atoms / (T * R))
    sigma = math.sqrt((weights @ t**2 - (weights @ t) ** 2) / N + float(res.stderr["m"]) ** 2)
    assert abs(float(res.mean["m"]) - float(state.m)) < 5 * sigma + 0.01, (float(res.mean["m"]), float(state.m), sigma)
