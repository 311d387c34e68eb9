"""Random-feature ridge regression: simulation (jaxphys.learning.random_features) against the
asymptotic test error of Mei & Montanari (jaxphys.theory.random_features).

Statistical tests (fixed seeds, so deterministic) use 4-sigma tolerances: a false failure rate
of ~6e-5 per Gaussian comparison, ~1e-3 for the whole file. Theory-vs-simulation comparisons add
a finite-size allowance ``2 R / d`` for the O(1/d) corrections (measured: ~0.5% at d = 100 for
tanh, ~0.45% at d = 200 for relu); a 10% error in ``mu_1`` moves the theory by 4% at the
sensitive point (psi1 = psi2 = 2, lambda = 0.5), which the tolerance rejects (asserted).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.learning import random_features as rf
from jaxphys.status import Status
from jaxphys.theory import random_features as rft

TARGET = dict(linear=1.0, nonlinear=0.5, noise=0.3)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def total(psi1, psi2, ridge, **kwargs):
    solution = rft.test_error(psi1, psi2, ridge, **{**TARGET, **kwargs})
    assert int(solution.status) == 0
    return float(solution.value.total)


# --------------------------------------------------------------------------- activation coefficients


def test_activation_coefficients_closed_forms_match_quadrature():
    erf = rft.activation_coefficients("erf")
    erf_quadrature = rft.activation_coefficients(jax.scipy.special.erf)
    np.testing.assert_allclose(np.array(erf), np.array(erf_quadrature), atol=1e-12)
    relu = rft.activation_coefficients("relu")
    np.testing.assert_allclose(np.array(relu), [1 / math.sqrt(2 * math.pi), 0.5, math.sqrt(0.25 - 1 / (2 * math.pi))], rtol=1e-14)
    # The kink makes Gauss-Hermite converge slowly (~num_nodes^-3/2): 1e-3 at 256 nodes.
    relu_quadrature = rft.activation_coefficients(lambda x: jnp.maximum(x, 0.0), num_nodes=256)
    np.testing.assert_allclose(np.array(relu), np.array(relu_quadrature), atol=2e-3)
    tanh = rft.activation_coefficients("tanh")
    assert abs(float(tanh.mu0)) < 1e-15  # odd activation
    c = rf.hermite_coefficients("tanh")
    np.testing.assert_allclose([c[0], c[1]], [tanh.mu0, tanh.mu1], atol=1e-14)
    tail = float(tanh.mu_star**2) - np.sum(c[2:] ** 2)  # Parseval: sum_k c_k^2 = E sigma^2
    assert 0.0 < tail < 1e-8


def test_mehler_kernel_matches_arccosine_kernel():
    """relu: sum_k c_k^2 rho^k = (sqrt(1 - rho^2) + rho (pi - arccos rho)) / (2 pi) (Cho & Saul 2009)."""
    c = rf.hermite_coefficients("relu", 60)
    phi0 = 1 / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(c[:5], [phi0, 0.5, phi0 / math.sqrt(2), 0.0, -phi0 / math.sqrt(24)], atol=1e-15)
    for rho in (0.3, -0.5):
        theta = jnp.array([[1.0, 0.0], [rho, math.sqrt(1 - rho**2)]]) * math.sqrt(2.0)  # rows of norm sqrt d
        kernel = np.asarray(rf._kernel(theta, c, 0.5))
        exact = (math.sqrt(1 - rho**2) + rho * (math.pi - math.acos(rho))) / (2 * math.pi)
        np.testing.assert_allclose(kernel, [[0.5, exact], [exact, 0.5]], atol=1e-12)  # series tail < 0.5^60


# --------------------------------------------------------------------------- simulation pieces


def test_ridge_matches_numpy_lstsq():
    @jax.jit
    def design():
        data, _ = rf.sample_problem(jax.random.key(0), 50, 20, **TARGET)
        return rf.feature_map(rf.features(jax.random.key(1), 80, 20), data.x, activation="tanh"), data.y

    z_all, y = (np.asarray(v) for v in design())
    penalties = [0.0, 1e-3, 1.0]
    for num_features in (30, 80):  # primal (N < n) and dual (N > n) forms
        z = z_all[:, :num_features]
        n = z.shape[0]
        solve = jax.jit(jax.vmap(lambda p: rf.ridge(z, np.stack([y, 2 * y], 1), p)))  # one factorisation
        for penalty, a in zip(penalties, np.asarray(solve(jnp.array(penalties)))):
            if penalty == 0.0:
                reference = np.linalg.lstsq(z, y, rcond=None)[0]  # minimum-norm least squares
            else:
                augmented = np.vstack([z / math.sqrt(n), math.sqrt(penalty) * np.eye(num_features)])
                rhs = np.concatenate([y / math.sqrt(n), np.zeros(num_features)])
                reference = np.linalg.lstsq(augmented, rhs, rcond=None)[0]
            np.testing.assert_allclose(a[:, 0], reference, atol=1e-9 * np.max(np.abs(reference)))
            np.testing.assert_allclose(a[:, 1], 2 * a[:, 0], rtol=1e-12)  # multi-output y


def test_population_test_error_matches_monte_carlo():
    """relu (closed-form Hermite coefficients); the quadrature path (tanh) is checked through the theory."""
    activation = "relu"
    d = 20

    @jax.jit
    def errors():
        data, teacher = rf.sample_problem(jax.random.key(2), 40, d, **TARGET)
        theta = rf.features(jax.random.key(3), 30, d)
        a = rf.fit(theta, data.x, data.y, 0.1, activation=activation)
        assert a.shape == (30,)
        x_test = rf.sample_inputs(jax.random.key(4), 20_000, d)
        squared = (rf.target(teacher, x_test) - rf.predict(theta, a, x_test, activation=activation)) ** 2
        exact = rf.population_test_error(theta, a, teacher, activation=activation)
        return squared, rf.test_error(theta, a, teacher, x_test, activation=activation), exact

    squared, monte_carlo, exact = errors()
    error = float(jnp.std(squared)) / math.sqrt(squared.size)
    assert float(monte_carlo) == pytest.approx(float(jnp.mean(squared)), rel=1e-12)
    assert abs(float(exact) - float(monte_carlo)) < 4 * error, (exact, monte_carlo, error)


def test_averaged_test_error_matches_average_over_teachers():
    """The closed-form average over beta's direction and the noise equals the sample mean over many teachers."""
    d, n, num_features, ridge = 10, 15, 12, 0.05

    @jax.jit
    def run():
        x = rf.sample_inputs(jax.random.key(5), n, d)
        theta = rf.features(jax.random.key(6), num_features, d)
        direction = rf.sample_teacher(jax.random.key(7), d).direction
        keys = jax.random.split(jax.random.key(8), 4000)
        teachers = jax.vmap(lambda k: rf.sample_teacher(k, d, **TARGET)._replace(direction=direction))(keys)
        noise = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 1), (n,)))(keys)
        y = jax.vmap(rf.target, (0, None))(teachers, x) + TARGET["noise"] * noise  # (teachers, n)
        a = rf.fit(theta, x, y.T, ridge, activation="tanh")  # linear in y: all teachers in one solve
        samples = jax.vmap(lambda a, t: rf.population_test_error(theta, a, t, activation="tanh"))(a.T, teachers)
        teacher = rf.sample_teacher(jax.random.key(9), d, **TARGET)._replace(direction=direction)
        return samples, rf.averaged_test_error(theta, x, teacher, ridge, activation="tanh")

    samples, closed = run()
    mean, error = float(samples.mean()), float(samples.std()) / math.sqrt(samples.size)
    assert abs(float(closed) - mean) < 4 * error, (closed, mean, error)


# --------------------------------------------------------------------------- theory vs simulation


def _simulate(d, num_features, num_samples, ridges, seeds, activation="tanh"):
    run = jax.jit(
        jax.vmap(
            jax.vmap(
                lambda key, lam: rf.simulate(key, d, num_features, num_samples, lam, activation=activation, **TARGET), (None, 0)
            ),
            (0, None),
        )
    )
    out = np.asarray(run(jax.random.split(jax.random.key(d + num_features + num_samples), seeds), jnp.asarray(ridges)))
    return out.mean(0), out.std(0, ddof=1) / math.sqrt(seeds)


def test_theory_matches_simulation_and_rejects_wrong_mu1():
    """psi1 = psi2 = 2 at d = 200: the interpolation peak (small ridge), a ridge where the error
    is sensitive to the activation's coefficients, and a large ridge; one compiled simulation."""
    d, seeds = 200, 8
    ridges = [1e-3, 0.5, 100.0]
    means, errors = _simulate(d, 400, 400, ridges, seeds)
    for ridge, mean, error in zip(ridges, means, errors):
        theory = total(2.0, 2.0, ridge, activation="tanh")
        tolerance = 4 * error + 2 * theory / d
        assert abs(mean - theory) < tolerance, (ridge, mean, theory, error)
    assert means[0] > 1.5 * means[1]  # the peak stands above the regularised error
    mu0, mu1, mu_star = rft.activation_coefficients("tanh")
    wrong = total(2.0, 2.0, 0.5, coefficients=(mu0, 1.1 * mu1, mu_star))
    tolerance = 4 * errors[1] + 2 * wrong / d
    assert abs(means[1] - wrong) > tolerance, (means[1], wrong, tolerance)


# --------------------------------------------------------------------------- limits of the theory


def test_large_ridge_gives_null_risk():
    for psi1, psi2 in [(0.5, 2.0), (3.0, 1.0)]:
        assert total(psi1, psi2, 1e10) == pytest.approx(1.0 + 0.5**2, rel=1e-8)


def test_many_features_give_kernel_ridge_regression():
    """psi1 -> infinity: the Marchenko-Pastur closed form of kernel (linear) ridge regression; error O(1/psi1)."""
    for psi2, ridge in [(0.5, 0.01), (2.0, 0.1), (1.5, 0.0)]:
        kernel = float(rft.kernel_limit(psi2, ridge, activation="relu", **TARGET))
        gaps = [abs(total(psi1, psi2, ridge, activation="relu") - kernel) for psi1 in (1e3, 1e4)]
        assert gaps[1] < 1e-3 * kernel
        assert gaps[1] < 0.2 * gaps[0]  # converging like 1/psi1


def test_ridgeless_limit_and_interpolation_peak():
    # lambda -> 0 tends to the closed-form ridgeless chi (M&M Theorem 3) used at ridge = 0.
    for psi1, psi2 in [(0.5, 1.0), (3.0, 1.0)]:
        assert total(psi1, psi2, 1e-10) == pytest.approx(total(psi1, psi2, 0.0), rel=1e-6)
    # The ridgeless test error diverges like 1/|psi1 - psi2| at the interpolation threshold.
    for side in (1.0, -1.0):
        near = [total(1.0 + side * eps, 1.0, 0.0) * eps for eps in (1e-3, 1e-4)]
        assert near[1] == pytest.approx(near[0], rel=0.02)
        assert total(1.0 + side * 1e-4, 1.0, 0.0) > 100 * total(1.0 + side * 0.5, 1.0, 0.0)
    assert rft.test_error(1.0, 1.0, 0.0).value.total == np.inf
    # With a ridge the peak is finite, and it shrinks as the ridge grows.
    peaks = [total(1.0, 1.0, ridge) for ridge in (1e-4, 1e-2, 1.0)]
    assert np.isfinite(peaks[0]) and peaks[0] > peaks[1] > peaks[2]


def test_chi_solves_the_complex_fixed_point_equations():
    """The real root gives nu_1, nu_2 = i a_1, i a_2 solving M&M Definition 1 at xi = i s."""
    psi1, psi2, ridge = 2.0, 0.7, 0.3
    mu0, mu1, mu_star = rft.activation_coefficients("relu")
    zeta = float(mu1 / mu_star)
    chi = float(rft.chi(psi1, psi2, ridge, zeta, mu_star).value)
    s = math.sqrt(psi1 * psi2 * ridge) / float(mu_star)
    q = -chi + zeta**2 * -chi / (1 - zeta**2 * chi)
    nu1, nu2 = 1j * (psi1 - q) / s, 1j * (psi2 - q) / s
    xi = 1j * s
    assert nu1 * nu2 == pytest.approx(chi, rel=1e-10)
    correction = zeta**2 / (1 - zeta**2 * nu1 * nu2)
    assert nu1 == pytest.approx(psi1 / (-xi - nu2 - correction * nu2), rel=1e-10)
    assert nu2 == pytest.approx(psi2 / (-xi - nu1 - correction * nu1), rel=1e-10)


def test_test_error_vmaps_and_flags_traced_bad_parameters():
    grid = jnp.concatenate([jnp.array([-1.0]), jnp.linspace(0.5, 2.0, 31)])
    out = jax.jit(jax.vmap(lambda p: rft.test_error(p, 1.0, 1e-5, **TARGET)))(grid)
    assert int(out.status[0]) & int(Status.INVALID_PARAMETER) and np.isnan(float(out.value.total[0]))
    assert int(out.status[1:].max()) == 0 and np.all(np.isfinite(out.value.total[1:]))
    assert float(grid[jnp.argmax(out.value.total[1:]) + 1]) == pytest.approx(1.0)  # the peak at psi1 = psi2 (small ridge)


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises():
    for psi1, psi2, ridge in [(0.0, 1.0, 0.1), (1.0, -1.0, 0.1), (1.0, 1.0, -0.1), (float("nan"), 1.0, 0.1)]:
        with pytest.raises(ValueError):
            rft.test_error(psi1, psi2, ridge)
    with pytest.raises(ValueError, match="mu_star"):
        rft.test_error(1.0, 1.0, 0.1, activation="linear")
    with pytest.raises(ValueError, match="not both"):
        rft.test_error(1.0, 1.0, 0.1, activation="relu", coefficients=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="scalar"):
        rft.test_error(jnp.ones(3), 1.0, 0.1)
    theta = jnp.ones((5, 4))
    x = jnp.ones((6, 3))
    with pytest.raises(ValueError, match="same d"):
        rf.feature_map(theta, x)
    with pytest.raises(ValueError, match="non-empty"):
        rf.fit(theta, jnp.zeros((0, 4)), jnp.zeros(0), 0.1)
    with pytest.raises(ValueError, match="y must have shape"):
        rf.ridge(jnp.ones((6, 5)), jnp.ones(7), 0.1)
    with pytest.raises(ValueError, match="ridge"):
        rf.fit(theta, jnp.ones((6, 4)), jnp.ones(6), -1.0)
    with pytest.raises(ValueError, match="coefficients"):
        rf.predict(theta, jnp.ones(4), jnp.ones((6, 4)))
    with pytest.raises(ValueError, match="distribution"):
        rf.sample_inputs(jax.random.key(0), 3, 2, distribution="cube")
    with pytest.raises(TypeError, match="typed PRNG key"):
        rf.features(jax.random.PRNGKey(0), 3, 2)
    with pytest.raises(ValueError):
        rf.sample_problem(jax.random.key(0), 0, 3)
