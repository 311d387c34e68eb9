"""Kernel spectra, collective variables and their tracking in training (jaxphys.ntk.spectra), and
kernel regression, the NTK predictor and the spectral learning-curve theory (jaxphys.ntk.regression).

References: kernels with known spectra (identity, rank one, Q diag(lambda) Q^T), numpy linear
algebra, the exact solution of the linear gradient-flow ODE by a matrix exponential
(scipy.linalg.expm) for the NTK predictor, the closed form E_g = (1 - P/N) |a|^2 of isotropic
ridgeless regression, and averaged simulations of kernel regression on the Boolean cube {-1, 1}^8
(the population is the discrete set of 256 points, so its Mercer decomposition is exact).

False-failure rate: the only statistical test (learning curves) uses fixed seeds and a bound of
4.5 standard errors (7e-6 per point) plus a stated 8% finite-P allowance of the theory.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from jaxphys.learning.train import fit
from jaxphys.ntk import analytic, regression, spectra


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _known_spectrum(values, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(values), len(values))))
    return jnp.asarray(q @ np.diag(values) @ q.T)


# --------------------------------------------------------------------------- spectra


def test_formulas_on_kernels_with_known_spectra():
    n = 6
    identity = jnp.eye(n)
    assert math.isclose(float(spectra.spectral_entropy(identity)), math.log(n), rel_tol=1e-12)
    assert math.isclose(float(spectra.spectral_entropy(3.0 * identity, normalize=True)), 1.0, rel_tol=1e-12)
    for kind in ("participation", "entropy"):
        assert math.isclose(float(spectra.effective_rank(identity, kind=kind)), n, rel_tol=1e-12)
    v = jnp.arange(1.0, n + 1)
    rank_one = jnp.outer(v, v)
    assert abs(float(spectra.spectral_entropy(rank_one))) < 1e-6  # rounding leaves ~1e-15 eigenvalues
    assert math.isclose(float(spectra.effective_rank(rank_one)), 1.0, rel_tol=1e-12)
    assert math.isclose(float(spectra.alignment(rank_one, v)), 1.0, rel_tol=1e-12)
    assert math.isclose(float(spectra.alignment(rank_one, -2 * v)), 1.0, rel_tol=1e-12)
    assert abs(float(spectra.alignment(identity, v))) < 1  # not aligned with a rank-one target

    values = np.array([5.0, 2.0, 1.0, 0.5, 0.25, 0.0])
    K = _known_spectrum(values)
    np.testing.assert_allclose(spectra.eigenvalues(K), values, atol=1e-12)
    p = values / values.sum()
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    np.testing.assert_allclose(spectra.spectral_entropy(K), entropy, rtol=1e-10)
    np.testing.assert_allclose(spectra.trace(K), values.sum(), rtol=1e-12)
    np.testing.assert_allclose(spectra.effective_rank(K), values.sum() ** 2 / np.sum(values**2), rtol=1e-10)
    np.testing.assert_allclose(spectra.effective_rank(K, kind="entropy"), np.exp(entropy), rtol=1e-10)
    # multi-output alignment: <K, Y Y^T> / (|K| |Y Y^T|); one-hot labels and their own kernel give 1
    labels = jax.nn.one_hot(jnp.array([0, 1, 0, 2, 1, 0]), 3)
    y_kernel = labels @ labels.T
    np.testing.assert_allclose(spectra.alignment(y_kernel, labels), 1.0, rtol=1e-12)
    expected = float(jnp.sum(K * y_kernel) / (jnp.linalg.norm(K) * jnp.linalg.norm(y_kernel)))
    np.testing.assert_allclose(spectra.alignment(K, labels), expected, rtol=1e-12)

    variables = spectra.collective_variables(K, labels)
    assert set(variables) == {
        "trace",
        "largest_eigenvalue",
        "spectral_entropy",
        "normalized_entropy",
        "effective_rank",
        "alignment",
    }
    np.testing.assert_allclose(variables["largest_eigenvalue"], 5.0, rtol=1e-12)
    np.testing.assert_allclose(variables["normalized_entropy"], entropy / math.log(6), rtol=1e-10)


def test_invariance_and_positivity_of_ntk_spectra():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(12, 3)))
    _, ntk = analytic.mlp(x, depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1)
    spectrum = spectra.eigenvalues(ntk)
    assert float(spectrum[-1]) > -1e-10 * float(spectrum[0])  # PSD up to rounding
    assert np.all(np.diff(np.asarray(spectrum)) <= 0)  # descending
    y = jnp.sin(x[:, 0])
    perm = np.random.default_rng(2).permutation(12)
    before = spectra.collective_variables(ntk, y)
    after = spectra.collective_variables(ntk[perm][:, perm], y[perm])
    for name in before:
        np.testing.assert_allclose(after[name], before[name], rtol=1e-10)
    # the trace is a sum of eigenvalues; scaling K leaves entropy, rank and alignment unchanged
    np.testing.assert_allclose(before["trace"], jnp.sum(spectrum), rtol=1e-12)
    scaled = spectra.collective_variables(7.0 * ntk, y)
    for name in ("spectral_entropy", "effective_rank", "alignment"):
        np.testing.assert_allclose(scaled[name], before[name], rtol=1e-10)


def test_spectra_bad_input():
    with pytest.raises(ValueError, match="square"):
        spectra.eigenvalues(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        spectra.trace(jnp.full((2, 2), jnp.nan))
    with pytest.raises(ValueError, match="y must have shape"):
        spectra.alignment(jnp.eye(3), jnp.ones(4))
    with pytest.raises(ValueError, match="kind"):
        spectra.effective_rank(jnp.eye(3), kind="stable")
    with pytest.raises(TypeError, match="kernel_fn"):
        spectra.tracker(jnp.ones((3, 2)), kernel_fn=3)


def _tangent_kernel(w, x):
    """NTK of the model f(x) = (w . x)^2 / 2: df/dw = (w . x) x."""
    jac = (x @ w)[:, None] * x
    return jac @ jac.T


_LOSS = lambda w, x, y: 0.5 * (0.5 * (w @ x) ** 2 - y) ** 2  # noqa: E731


def test_tracker_logs_the_kernel_of_the_trained_model():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(8, 4)))
    y = jnp.asarray(rng.normal(size=8))
    w0 = jnp.asarray(rng.normal(size=4))
    track = spectra.tracker(x, y, kernel_fn=_tangent_kernel)
    result = fit(jax.random.key(0), w0, _LOSS, (x, y), optax.sgd(0.05), num_steps=20, log_every=10, eval_fn=track)
    history = result.history
    np.testing.assert_array_equal(history["step"], [0, 10, 20])
    for step, model in ((0, w0), (2, result.model)):
        expected = spectra.collective_variables(_tangent_kernel(model, x), y)
        for name, value in expected.items():
            np.testing.assert_allclose(history[name][step], value, rtol=1e-10)
    # the kernel moves in training: this network is far from its lazy regime
    assert abs(float(history["trace"][-1] - history["trace"][0])) > 1e-3 * float(history["trace"][0])
    with pytest.raises(ValueError, match="must return an"):
        spectra.tracker(x, kernel_fn=lambda w, x: jnp.eye(3))(w0)


# --------------------------------------------------------------------------- kernel regression


def test_kernel_regression_against_linear_algebra():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(10, 3)))
    x_test = jnp.asarray(rng.normal(size=(5, 3)))
    k_train, _ = analytic.mlp(x, depth=1)
    k_test, _ = analytic.mlp(x_test, x, depth=1)
    y = jnp.asarray(rng.normal(size=(10, 2)))
    for ridge in (0.0, 0.3):
        expected = np.asarray(k_test) @ np.linalg.solve(np.asarray(k_train) + ridge * np.eye(10), np.asarray(y))
        np.testing.assert_allclose(regression.kernel_regression(k_train, y, k_test, ridge), expected, rtol=1e-8)
    # ridge 0 interpolates the training data
    np.testing.assert_allclose(regression.kernel_regression(k_train, y[:, 0], k_train), y[:, 0], rtol=1e-8, atol=1e-10)
    # singular kernel (a repeated input, same label): pseudo-inverse = interpolant of the distinct points
    xr = jnp.concatenate([x, x[:1]])
    yr = jnp.concatenate([y[:, 0], y[:1, 0]])
    k_rep, _ = analytic.mlp(xr, depth=1)
    k_rep_test, _ = analytic.mlp(x_test, xr, depth=1)
    np.testing.assert_allclose(
        regression.kernel_regression(k_rep, yr, k_rep_test), regression.kernel_regression(k_train, y[:, 0], k_test), rtol=1e-6
    )
    with pytest.raises(ValueError, match="k_test_train"):
        regression.kernel_regression(k_train, y, k_test[:, :3])
    with pytest.raises(ValueError, match="ridge"):
        regression.kernel_regression(k_train, y, k_test, -1.0)


def test_ntk_predictor_solves_the_gradient_flow():
    """f_t = f_0 + A_t (Y - f_0(X)) against the matrix exponential of the linear flow on (f(X), f(x*))."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(6, 3)))
    x_test = jnp.asarray(rng.normal(size=(3, 3)))
    everything = jnp.concatenate([x, x_test])
    nngp, ntk = (np.asarray(k) for k in analytic.mlp(everything, depth=2, activation="erf", sigma_w2=1.5, sigma_b2=0.1))
    y = rng.normal(size=6)
    eta, t = 0.7, 0.9
    # d f / dt = -eta Theta(all, X) (f(X) - Y): affine flow, f_t = E f_0 + (I - E) [Y; Theta_xX Theta^-1 Y] ...
    # solved exactly on the augmented state (f, 1): generator [[-eta Theta_allX P, eta Theta_allX Y], [0, 0]]
    n_all = 9
    select = np.zeros((6, n_all))
    select[:, :6] = np.eye(6)
    generator = np.zeros((n_all + 1, n_all + 1))
    generator[:n_all, :n_all] = -eta * ntk[:, :6] @ select
    generator[:n_all, n_all] = eta * ntk[:, :6] @ y
    flow = scipy.linalg.expm(generator * t)
    linear, shift = flow[:n_all, :n_all], flow[:n_all, n_all]
    mean_exact = shift[6:]  # E f_0 = 0
    cov_exact = (linear @ nngp @ linear.T)[6:, 6:]
    pred = regression.ntk_predictor(
        ntk[:6, :6],
        ntk[6:, :6],
        y,
        t,
        learning_rate=eta,
        nngp_train=nngp[:6, :6],
        nngp_test_train=nngp[6:, :6],
        nngp_test=nngp[6:, 6:],
    )
    np.testing.assert_allclose(pred.mean, mean_exact, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pred.covariance, cov_exact, rtol=1e-9, atol=1e-12)
    # t = 0: the prior; t = inf: kernel regression with the NTK
    start = regression.ntk_predictor(
        ntk[:6, :6], ntk[6:, :6], y, 0.0, nngp_train=nngp[:6, :6], nngp_test_train=nngp[6:, :6], nngp_test=nngp[6:, 6:]
    )
    np.testing.assert_allclose(start.mean, 0.0, atol=1e-14)
    np.testing.assert_allclose(start.covariance, nngp[6:, 6:], rtol=1e-12)
    end = regression.ntk_predictor(ntk[:6, :6], ntk[6:, :6], y, jnp.inf)
    np.testing.assert_allclose(end.mean, regression.kernel_regression(ntk[:6, :6], y, ntk[6:, :6]), rtol=1e-9)
    assert end.covariance is None
    # expected test error over initialisations = squared bias + mean variance
    target = jnp.asarray(rng.normal(size=3))
    expected = np.mean((mean_exact - np.asarray(target)) ** 2) + np.mean(np.diag(cov_exact))
    np.testing.assert_allclose(regression.mean_squared_error(pred.mean, target, pred.covariance), expected, rtol=1e-9)
    with pytest.raises(ValueError, match="all three"):
        regression.ntk_predictor(ntk[:6, :6], ntk[6:, :6], y, 1.0, nngp_train=nngp[:6, :6])


# --------------------------------------------------------------------------- learning-curve theory


def test_learning_curve_theory_isotropic_closed_form():
    # N equal eigenvalues, ridgeless: kappa = (N - P) eta, gamma = P / N, E_g = (1 - P / N) |a|^2
    # (N = 256 as in the cube test below, which then reuses the compiled theory)
    n, eta = 256, 0.01
    a = jnp.asarray(np.random.default_rng(6).normal(size=n))
    for p in (1, 50, 200):
        theory = regression.learning_curve_theory(jnp.full(n, eta), a, p)
        assert int(theory.status) == 0
        np.testing.assert_allclose(theory.kappa, (n - p) * eta, rtol=1e-9)
        np.testing.assert_allclose(theory.gamma, p / n, rtol=1e-9)
        np.testing.assert_allclose(theory.generalization_error, (1 - p / n) * jnp.sum(a**2), rtol=1e-9)
    # more samples than modes: everything learnable is learnt; eta = 0 modes are never learnt
    spectrum = jnp.zeros(n).at[:2].set(jnp.array([1.0, 0.5]))
    coefficients = jnp.zeros(n).at[:3].set(jnp.array([1.0, 2.0, 0.5]))
    theory = regression.learning_curve_theory(spectrum, coefficients, 5)
    np.testing.assert_allclose(theory.generalization_error, 0.25 / (1 - 2 / 5), rtol=1e-9)
    # derivative in P through the implicit function theorem: dE_g/dP = -|a|^2 / N
    grad = jax.grad(lambda p: regression.learning_curve_theory(jnp.full(n, eta), a, p).generalization_error)(50.0)
    np.testing.assert_allclose(grad, -jnp.sum(a**2) / n, rtol=1e-7)
    with pytest.raises(ValueError, match="num_samples"):
        regression.learning_curve_theory(spectrum, coefficients, 0)


def test_learning_curve_theory_matches_kernel_regression_on_the_cube():
    """E_g(P) of ReLU-NTK regression on {-1, 1}^8 (uniform over all 256 points), averaged over 300 draws.

    The theory is asymptotic in P and the number of modes; on this cube with P <= 32 its finite-P
    error was measured at <= 6% (it grows to ~15% at P = 64, where draws with replacement repeat
    points): the allowance is 8% of the theory plus 4.5 standard errors of the simulation mean.
    """
    d = 8
    cube = np.array(np.meshgrid(*[[-1.0, 1.0]] * d, indexing="ij")).reshape(d, -1).T
    x = jnp.asarray(cube)
    rng = np.random.default_rng(0)
    target = x @ jnp.asarray(rng.normal(size=d) / np.sqrt(d)) + 0.5 * x[:, 0] * x[:, 1] + 0.3 * x[:, 2] * x[:, 3] * x[:, 4]
    _, kernel = analytic.mlp(x, depth=1, sigma_w2=2.0, sigma_b2=0.1)
    eigenvalues, coefficients = regression.mercer_decomposition(kernel, target)
    np.testing.assert_allclose(jnp.sum(coefficients**2), jnp.mean(target**2), rtol=1e-10)  # Parseval
    num_draws, noise = 300, 0.1

    @jax.jit
    def simulated_error(key, p_index, ridge):
        def one(k):
            k_idx, k_noise = jax.random.split(k)
            idx = jax.random.randint(k_idx, (32,), 0, x.shape[0])
            mask = jnp.arange(32) < p_index  # the first P of 32 draws: one compiled shape for every P
            y = target[idx] + jnp.sqrt(noise) * jax.random.normal(k_noise, (32,))
            k_train = jnp.where(mask[:, None] & mask[None, :], kernel[idx][:, idx], jnp.eye(32))
            prediction = regression.kernel_regression(k_train, jnp.where(mask, y, 0.0), kernel[:, idx] * mask, ridge)
            return jnp.mean((prediction - target) ** 2)

        errors = jax.vmap(one)(jax.random.split(key, num_draws))
        return errors.mean(), errors.std() / jnp.sqrt(num_draws)

    for ridge in (1e-2, 1.0):
        for i, p in enumerate((4, 12, 32)):
            mean, se = simulated_error(jax.random.key(10 * i), p, ridge)
            theory = regression.learning_curve_theory(eigenvalues, coefficients, p, ridge=ridge, noise=noise)
            assert int(theory.status) == 0
            error = float(theory.generalization_error)
            assert abs(float(mean) - error) < 0.08 * error + 4.5 * float(se), (ridge, p, float(mean), float(se), error)
