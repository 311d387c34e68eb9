"""Statistics of Monte Carlo series against exact results for AR(1) and iid Gaussian data.

The AR(1) process x_t = r x_{t-1} + sqrt(1 - r^2) eps_t, started in its stationary law, has
unit variance, rho(t) = r^t, tau_int = (1 + r) / (2 (1 - r)) and, for the mean of m consecutive
samples, the exact variance

    V(m) = (1/m) [1 + 2 sum_{t=1}^{m-1} (1 - t/m) r^t]  ->  2 tau_int / m.

Statistical tests average over independent series (fixed keys) and compare with these exact
values using error bars measured from the spread of the same series. Every such check rejects
at a two-sided level of 1e-3 (|z| > 3.29, or a Bonferroni-corrected bound for several lags or
levels, or a chi-square p < 1e-3), so each check has a false-failure rate <= 0.1% for a random
seed and a test with k such checks <= k x 0.1% (k <= 4); with the fixed seeds the outcome is
deterministic. The two checks of the advisory convergence flag are coarser (stated where made). The file takes about 20 s of CPU time
(compilation included; 40-50 s wall clock when the 2 cores are shared).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.observables import stats
from jaxphys.testing import chi_square_p_value

ALPHA = 1e-3
Z = 3.2905  # two-sided normal quantile for ALPHA


def z_bonferroni(num_checks: int) -> float:
    """Two-sided normal quantile for ALPHA / num_checks (so the family rejects at <= ALPHA)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(1.0 - ALPHA / (2.0 * num_checks))


def ar1(key, r: float, n: int):
    """One stationary AR(1) series of length n (unit variance), generated with lax.scan."""
    key_start, key_noise = jax.random.split(key)
    start = jax.random.normal(key_start)
    noise = jax.random.normal(key_noise, (n - 1,))

    def step(x, eps):
        x = r * x + jnp.sqrt(1.0 - r**2) * eps
        return x, x

    _, rest = jax.lax.scan(step, start, noise)
    return jnp.concatenate([start[None], rest])


def ar1_mean_variance(r: float, m: int) -> float:
    """Exact Var of the mean of m consecutive samples of the unit-variance AR(1) process."""
    t = np.arange(1, m, dtype=np.float64)
    return float((1.0 + 2.0 * np.sum((1.0 - t / m) * r**t)) / m)


def ar1_tau(r: float) -> float:
    return (1.0 + r) / (2.0 * (1.0 - r))


R = 0.8  # tau_int = 4.5
NUM_SERIES = 64
LENGTH = 2**16  # ~15000 tau_int per series


@pytest.fixture(scope="module")
def ar1_series():
    keys = jax.random.split(jax.random.key(20240), NUM_SERIES)
    return jax.jit(jax.vmap(lambda k: ar1(k, R, LENGTH)))(keys)


@pytest.fixture(scope="module")
def iid_series():
    return jax.random.normal(jax.random.key(20241), (256, 4096))


@pytest.fixture(scope="module")
def iid_analysis(iid_series):
    """binning_curve, binning, tau_int and uwerr of every iid series, in one compiled program."""
    analyse = lambda x: (stats.binning_curve(x), stats.binning(x), stats.tau_int(x), stats.uwerr(x))  # noqa: E731
    return jax.jit(jax.vmap(analyse))(iid_series)


def z_score(values, expected) -> float:
    """(mean - expected) / (standard error of the mean over the first axis)."""
    values = np.asarray(values, np.float64)
    return float((values.mean() - expected) / (values.std(ddof=1) / np.sqrt(values.size)))


def variance_ratio_p_values(values, predicted_sd) -> tuple[float, float]:
    """Lower- and upper-tail p of (M-1) s^2 / sigma^2 ~ chi^2_{M-1} for the sample sd of ``values``."""
    values = np.asarray(values, np.float64)
    dof = values.size - 1
    statistic = dof * values.var(ddof=1) / predicted_sd**2
    upper = chi_square_p_value(statistic, dof)
    return 1.0 - upper, upper


# ----------------------------------------------------------------------------- AR(1) reference


def test_ar1_series_have_the_exact_variance_of_the_mean(ar1_series):
    """Sanity of the reference data: sum_i mean_i^2 / V(N) ~ chi^2 with NUM_SERIES dof (mean 0 known)."""
    means = np.asarray(ar1_series, np.float64).mean(axis=1)
    statistic = float(np.sum(means**2) / ar1_mean_variance(R, LENGTH))
    upper = chi_square_p_value(statistic, NUM_SERIES)
    assert ALPHA / 2 < upper < 1 - ALPHA / 2, statistic


def test_autocorrelation_of_ar1_is_r_to_the_t(ar1_series):
    """rho(t) averaged over series vs r^t for t = 1..12 (Bonferroni over the 12 lags)."""
    rho = np.asarray(jax.jit(jax.vmap(stats.autocorrelation))(ar1_series), np.float64)
    assert np.allclose(rho[:, 0], 1.0)
    lags = np.arange(1, 13)
    z = [z_score(rho[:, t], R**t) for t in lags]
    assert np.max(np.abs(z)) < z_bonferroni(lags.size), z


def test_tau_int_sokal_window_on_ar1(ar1_series):
    """tau_int(W) against the exact windowed value 1/2 + sum_{t<=W} r^t, W the chosen window.

    Also: the window obeys Sokal's rule (W >= c tau), the truncation bias r^(W+1)/(1-r) is the
    only gap to (1+r)/(2(1-r)), and the spread of the estimates lies between Wolff's refined error
    2 tau sqrt((W + 1/2 - tau)/N) and the (conservative, leading-order) Madras-Sokal error.
    """
    result = jax.jit(jax.vmap(stats.tau_int))(ar1_series)
    tau, window, stderr = (np.asarray(a, np.float64) for a in result)
    assert np.all(window >= 5.0 * tau - 1e-4)
    windowed = np.array([0.5 + np.sum(R ** np.arange(1, w + 1)) for w in window.astype(int)])
    assert abs(z_score(tau - windowed, 0.0)) < Z
    truncation = np.mean(R ** (window + 1) / (1 - R))
    assert abs(z_score(tau + truncation, ar1_tau(R))) < Z
    np.testing.assert_allclose(stderr, np.sqrt(2 * (2 * window + 1) / LENGTH) * tau, rtol=1e-5)
    _, upper = variance_ratio_p_values(tau, np.sqrt(np.mean(stderr**2)))
    assert upper > ALPHA / 2, "spread larger than the Madras-Sokal error"
    wolff = np.sqrt(np.mean(4 * tau**2 * (window + 0.5 - tau) / LENGTH))
    lower, _ = variance_ratio_p_values(tau, wolff)
    assert lower > ALPHA / 2, "spread smaller than Wolff's error estimate"


def test_uwerr_on_ar1(ar1_series):
    """Wolff's Gamma method: tau_int, error of the mean, error of tau_int.

    Wolff's window (~8 tau here) leaves a truncation bias r^(W+1)/(1-r) ~ 2e-3, a tenth of the
    error bar of the mean over series; tau_int is compared with the exact windowed value.
    """
    result = jax.jit(jax.vmap(stats.uwerr))(ar1_series)
    tau = np.asarray(result.tau_int, np.float64)
    window = np.asarray(result.window).astype(int)
    assert np.all(window > 5 * ar1_tau(R))
    windowed = np.array([0.5 + np.sum(R ** np.arange(1, w + 1)) for w in window])
    assert abs(z_score(tau - windowed, 0.0)) < Z
    assert abs(z_score(tau, ar1_tau(R))) < Z
    lower, upper = variance_ratio_p_values(tau, np.sqrt(np.mean(np.asarray(result.tau_int_stderr, np.float64) ** 2)))
    assert min(lower, upper) > ALPHA / 2
    # stderr^2 = C(W)/N: its mean over series vs the exact V(N), error bar from the spread.
    assert abs(z_score(np.asarray(result.stderr, np.float64) ** 2, ar1_mean_variance(R, LENGTH))) < Z
    np.testing.assert_allclose(result.mean, np.asarray(ar1_series).mean(axis=1), rtol=1e-5, atol=1e-6)


def test_binning_levels_on_ar1_match_exact_expectations(ar1_series):
    """E[sigma_k^2] = (V(b_k) - V(N)) / (n_k - 1) at every level k (bins of b_k = 2^k samples).

    Exact for any stationary process: sum_j (B_j - Bbar)^2 has expectation n V(b) - n V(N).
    Levels run from b = 1 (sigma^2 ~ 1/N, far below the truth) to 4096 (16 bins, the plateau).
    """
    curve = jax.jit(jax.vmap(stats.binning_curve))(ar1_series)
    sizes, counts = np.asarray(curve.bin_size[0]), np.asarray(curve.num_bins[0])
    np.testing.assert_array_equal(sizes, 2 ** np.arange(13))
    np.testing.assert_array_equal(counts, LENGTH // sizes)
    var_n = ar1_mean_variance(R, LENGTH)
    sigma2 = np.asarray(curve.stderr, np.float64) ** 2
    z = [z_score(sigma2[:, k], (ar1_mean_variance(R, int(b)) - var_n) / (n - 1)) for k, (b, n) in enumerate(zip(sizes, counts))]
    assert np.max(np.abs(z)) < z_bonferroni(len(z)), z


def test_binning_stderr_and_tau_on_ar1(ar1_series):
    """binning() of 1024 bin means (64 samples each) with the raw variance: error and tau_int.

    stderr^2 = max_k sigma_k^2, so max_k E[sigma_k^2] <= E[stderr^2] <= max_k E[sigma_k^2] +
    sqrt(sum_k Var(sigma_k^2)) (Jensen; max_k X_k <= max_k E X_k + ||X - E X||_2). The exact
    E[sigma_k^2] bracket the truth 2 tau_int / N; the mean of stderr^2 over series must lie in
    this band within its error bar, and tau_int = N stderr^2 / (2 Var(x)) by definition.
    """

    def analyse(x):
        bins = stats.bin_means(x, 1024)
        return stats.binning(bins, raw_variance=1.0, bin_size=64), stats.binning_curve(bins)

    result, curve = jax.jit(jax.vmap(analyse))(ar1_series)
    stderr2 = np.asarray(result.stderr, np.float64) ** 2
    sizes, counts = 64 * np.asarray(curve.bin_size[0]), np.asarray(curve.num_bins[0])
    var_n = ar1_mean_variance(R, LENGTH)
    expected = np.array([(ar1_mean_variance(R, int(b)) - var_n) / (n - 1) for b, n in zip(sizes, counts)])
    spread = np.sqrt(np.sum(np.var(np.asarray(curve.stderr, np.float64) ** 2, axis=0, ddof=1)))
    assert expected.max() < 2 * ar1_tau(R) / LENGTH < expected.max() + spread
    error = stderr2.std(ddof=1) / np.sqrt(NUM_SERIES)
    assert expected.max() - Z * error < stderr2.mean() < expected.max() + spread + Z * error
    np.testing.assert_allclose(result.tau_int, 0.5 * LENGTH * np.asarray(result.stderr) ** 2, rtol=1e-5)
    np.testing.assert_allclose(result.mean, np.asarray(ar1_series).mean(axis=1), rtol=1e-4, atol=1e-6)
    # The same band, read as tau_int: (1/2) N [max E sigma^2 (+ spread)].
    band = 0.5 * LENGTH * np.array([expected.max(), expected.max() + spread])
    tau_error = np.std(np.asarray(result.tau_int, np.float64), ddof=1) / np.sqrt(NUM_SERIES)
    assert band[0] - Z * tau_error < float(np.mean(result.tau_int)) < band[1] + Z * tau_error


def test_binning_flags_a_series_shorter_than_its_correlation():
    """tau_int ~ 1000 with N = 16384: bins never plateau, most series must be flagged.

    The flag is a heuristic (the last level has 16-31 bins, a ~15% error on sigma): this checks
    that it has power (measured: ~25% converged) and that the error is then underestimated.
    """
    r = 0.999
    keys = jax.random.split(jax.random.key(7), 128)
    series = jax.jit(jax.vmap(lambda k: ar1(k, r, 2**14)))(keys)
    result = jax.jit(jax.vmap(stats.binning))(series)
    assert float(np.mean(result.converged)) < 0.5
    assert float(np.mean(result.tau_int)) < 0.5 * ar1_tau(r)


# ----------------------------------------------------------------------------- iid data


def test_iid_level_zero_is_std_over_sqrt_n(iid_series, iid_analysis):
    x = np.asarray(iid_series, np.float64)
    curve, result, _, _ = iid_analysis
    np.testing.assert_allclose(curve.stderr[:, 0], x.std(axis=1, ddof=1) / np.sqrt(x.shape[1]), rtol=1e-5)
    assert np.all(np.asarray(result.stderr) >= np.asarray(curve.stderr[:, 0]))
    assert np.all(np.asarray(result.tau_int) >= 0.5 - 1e-6)


def test_iid_binning_tau_band_and_convergence_rate(iid_analysis):
    """iid N(0,1): sigma_k^2 ~ chi^2_{n_k-1} / ((n_k-1) N), so E[tau] lies in [1/2, (1 + sqrt(sum_k 2/(n_k-1)))/2].

    The convergence flag compares the last two levels; for iid data their difference has sd ~
    0.7 d_L against a one-sided tolerance ~ 1.2 d_L, so ~4% of good series are flagged.
    """
    curve, result, _, _ = iid_analysis
    counts = np.asarray(curve.num_bins[0])
    upper = 0.5 * (1.0 + np.sqrt(np.sum(2.0 / (counts - 1))))
    tau = np.asarray(result.tau_int, np.float64)
    error = tau.std(ddof=1) / np.sqrt(tau.size)
    assert 0.5 - Z * error < tau.mean() < upper + Z * error
    # P(Z > 1.73) = 0.042 in the Gaussian approximation; 0.03 of slack covers the approximation.
    rate = float(np.mean(result.converged))
    expected = 1.0 - 0.042
    assert abs(rate - expected) < Z * np.sqrt(expected * (1 - expected) / tau.size) + 0.03


def test_iid_tau_int_is_one_half(iid_series, iid_analysis):
    """Sokal and Wolff windows on iid data: tau_int = 1/2 within the spread over series."""
    _, _, sokal, wolff = iid_analysis
    assert abs(z_score(sokal.tau_int, 0.5)) < Z
    assert abs(z_score(wolff.tau_int, 0.5)) < Z
    n = iid_series.shape[1]
    assert abs(z_score(np.asarray(wolff.stderr, np.float64) ** 2 * n, 1.0)) < Z


# ----------------------------------------------------------------------------- autocorrelation


def direct_autocorrelation(x):
    """O(N^2) reference: Gamma(t) = sum_i d_i d_{i+t} / (N - t), normalised by Gamma(0)."""
    n = x.shape[0]
    d = x - x.mean(axis=0)
    gamma = np.stack([np.sum(d[: n - t] * d[t:], axis=0) / (n - t) for t in range(n)])
    return gamma / gamma[0]


@pytest.mark.parametrize("n", [2, 3, 129])
def test_autocorrelation_matches_direct_sum(n):
    """FFT with zero padding to a power of two >= 2N equals the direct sum (N = 2, 3, 129)."""
    x = np.asarray(jax.random.normal(jax.random.key(n), (n, 3)), np.float64) + 5.0
    np.testing.assert_allclose(jax.jit(stats.autocorrelation)(x), direct_autocorrelation(x), rtol=2e-4, atol=2e-5)


def test_float64_under_x64():
    """With jax_enable_x64 every result is float64 and as accurate as float64 allows."""
    x = np.random.default_rng(3).normal(size=(200, 2)).cumsum(axis=0)

    def analyse(x):
        return (
            stats.autocorrelation(x),
            stats.binning_curve(x).stderr[0],
            stats.binning(x),
            stats.tau_int(x).tau_int,
            stats.uwerr(x).stderr,
            stats.jackknife(lambda a: a, x)[1],
        )

    with jax.enable_x64(True):
        rho, level0, result, tau, uwerr_stderr, jack_error = jax.jit(analyse)(jnp.asarray(x))
        for value in (rho, level0, result.stderr, result.tau_int, tau, uwerr_stderr, jack_error):
            assert value.dtype == jnp.float64
        np.testing.assert_allclose(rho, direct_autocorrelation(x), rtol=1e-10, atol=1e-12)
        naive = x.std(axis=0, ddof=1) / np.sqrt(200)
        np.testing.assert_allclose(level0, naive, rtol=1e-12)
        np.testing.assert_allclose(jack_error, naive, rtol=1e-12)


# ----------------------------------------------------------------------------- jackknife


def test_jackknife_of_linear_and_quadratic_functions_is_exact():
    """Linear f: (mean, std/sqrt(n)). f = mean^2: the estimate is mean^2 - s^2/n exactly (unbiased)."""
    x = np.asarray(jax.random.normal(jax.random.key(1), (40, 3)), np.float64) + 2.0
    n = x.shape[0]
    estimate, error = stats.jackknife(lambda a: a, x)
    np.testing.assert_allclose(estimate, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(error, x.std(axis=0, ddof=1) / np.sqrt(n), rtol=1e-4)
    estimate, _ = stats.jackknife(lambda a: a**2, x)
    np.testing.assert_allclose(estimate, x.mean(axis=0) ** 2 - x.var(axis=0, ddof=1) / n, rtol=1e-4)


def test_jackknife_agrees_with_delta_method():
    """Ratio and product of two correlated means, a pytree output, against the delta method.

    The two differ by the second-order Taylor term, relatively of order stderr/mean of the
    inputs (here ~0.5%); the tolerance is 3 times that.
    """
    key_a, key_b = jax.random.split(jax.random.key(2))
    n = 500
    common = np.asarray(jax.random.normal(key_a, (n,)), np.float64)
    a = 3.0 + common + 0.5 * np.asarray(jax.random.normal(key_b, (n,)), np.float64)
    b = 5.0 + 0.8 * common
    fn = lambda p, q: {"ratio": p / q, "product": p * q}  # noqa: E731
    estimate, error = stats.jackknife(fn, a, b)
    cov = np.cov(np.stack([a, b])) / n
    mean_a, mean_b = a.mean(), b.mean()
    gradients = {"ratio": np.array([1 / mean_b, -mean_a / mean_b**2]), "product": np.array([mean_b, mean_a])}
    relative = 3.0 * max(np.sqrt(cov[0, 0]) / mean_a, np.sqrt(cov[1, 1]) / mean_b)
    for name, g in gradients.items():
        np.testing.assert_allclose(error[name], np.sqrt(g @ cov @ g), rtol=relative)
    np.testing.assert_allclose(estimate["ratio"], mean_a / mean_b, rtol=relative)
    # product: jackknife removes the bias Cov(a, b)/n exactly (bilinear function).
    np.testing.assert_allclose(estimate["product"], mean_a * mean_b - cov[0, 1], rtol=1e-5)


def test_jackknife_removes_the_bias_of_exp_of_mean():
    """x ~ N(0, 1), n = 8: E[jackknife of exp(xbar)] = n e^{1/(2n)} - (n-1) e^{1/(2(n-1))} exactly.

    The naive exp(xbar) (mean e^{1/16} = 1.0645) is ~25 error bars away, so the test has power.
    """
    n, replicas = 8, 20000
    x = jax.random.normal(jax.random.key(3), (replicas, n))
    estimates, errors = jax.jit(jax.vmap(lambda s: stats.jackknife(jnp.exp, s)))(x)
    exact = n * np.exp(1 / (2 * n)) - (n - 1) * np.exp(1 / (2 * (n - 1)))
    assert abs(z_score(estimates, exact)) < Z
    naive = np.exp(np.asarray(x, np.float64).mean(axis=1))
    assert abs(z_score(naive, exact)) > 5 * Z
    assert np.all(np.asarray(errors) > 0)


# ----------------------------------------------------------------------------- shapes, jit, vmap


def test_bin_means_drops_the_remainder_at_the_start():
    x = jnp.arange(11.0)
    np.testing.assert_allclose(stats.bin_means(x, 3), [3.0, 6.0, 9.0])  # drops 0 and 1
    np.testing.assert_allclose(stats.bin_means(x, 11), x)
    y = jnp.arange(24).reshape(12, 2)  # ints -> default float
    out = stats.bin_means(y, 4)
    assert out.shape == (4, 2) and out.dtype == jnp.result_type(float)
    np.testing.assert_allclose(out[:, 0], [2, 8, 14, 20])


def test_binning_drops_the_first_bin_of_odd_levels():
    """n = 37, min_bins = 4: levels of 37, 18 (drops bin 0), 9, 4 (drops the first merged bin)."""
    x = np.asarray(jax.random.normal(jax.random.key(4), (37,)), np.float64)
    curve, result, one_level = jax.jit(
        lambda x: (stats.binning_curve(x, min_bins=4), stats.binning(x, min_bins=4), stats.binning(x[:20]))
    )(x)
    np.testing.assert_array_equal(curve.num_bins, [37, 18, 9, 4])
    level1 = x[1:].reshape(18, 2).mean(axis=1)
    level2 = level1.reshape(9, 2).mean(axis=1)
    level3 = level2[1:].reshape(4, 2).mean(axis=1)
    expected = [v.std(ddof=1) / np.sqrt(v.size) for v in (x, level1, level2, level3)]
    np.testing.assert_allclose(curve.stderr, expected, rtol=1e-5)
    np.testing.assert_allclose(result.stderr, max(expected), rtol=1e-5)
    np.testing.assert_allclose(result.tau_int, 0.5 * (max(expected) / expected[0]) ** 2, rtol=1e-4)
    d = [expected[3] / np.sqrt(2 * 3), expected[2] / np.sqrt(2 * 8)]
    assert bool(result.converged) == (expected[3] - expected[2] <= np.hypot(*d))
    assert not bool(one_level.converged)  # 20 < 2 min_bins: a single level, no verdict


def test_trailing_axes_vmap_and_jit_agree_with_single_series():
    """Leading axes by vmap (with a vmapped raw_variance and c), trailing axes, one series: same numbers."""
    x = jax.random.normal(jax.random.key(5), (3, 512, 2))
    variance = jnp.var(x, axis=1)
    functions = (stats.tau_int, stats.uwerr, stats.autocorrelation)

    @jax.jit
    def analyse(x, variance):
        binning = lambda s, v: stats.binning(s, raw_variance=v)  # noqa: E731
        batched = [jax.vmap(binning)(x, variance)] + [jax.vmap(fn)(x) for fn in functions]
        trailing = stats.binning(jnp.moveaxis(x, 1, 0).reshape(512, 6), raw_variance=variance.reshape(6))
        single = [binning(x[1, :, 0], variance[1, 0])] + [fn(x[2, :, 1]) for fn in functions]
        windows = jax.vmap(lambda c: stats.tau_int(x[0, :, 0], c=c).window)(jnp.array([4.0, 8.0]))
        return batched, trailing, single, windows

    batched, trailing, single, windows = analyse(x, variance)
    for a, b, c in zip(batched[0], trailing, single[0]):
        np.testing.assert_allclose(np.asarray(a).reshape(6), b, rtol=1e-5)
        np.testing.assert_allclose(a[1, 0], c, rtol=1e-5)
    for many, one in zip(batched[1:], single[1:]):
        jax.tree.map(lambda p, q: np.testing.assert_allclose(p[2][..., 1], q, rtol=1e-5, atol=1e-6), many, one)
    # A larger window factor c (traced and vmapped) gives a window at least as large.
    assert int(windows[1]) >= int(windows[0])


def test_nan_and_constant_series_do_not_raise():
    """Runtime trouble is data, not an exception: NaN propagates, zero variance gives NaN tau_int."""

    @jax.jit
    def analyse(with_nan, constant, ramp):
        return (
            stats.binning(with_nan),
            stats.tau_int(with_nan).tau_int,
            stats.uwerr(with_nan).tau_int,
            stats.binning(constant),
            stats.uwerr(constant).stderr,
            stats.binning(ramp, raw_variance=-1e-9).tau_int,
        )

    nan_result, nan_tau, nan_uwerr, constant, constant_uwerr, negative = analyse(
        jnp.ones(64).at[10].set(jnp.nan), jnp.full(64, 2.0), jnp.arange(64.0)
    )
    assert np.isnan(nan_result.stderr) and not bool(nan_result.converged)
    assert np.isnan(nan_tau) and np.isnan(nan_uwerr)
    assert float(constant.stderr) == 0.0 and np.isnan(constant.tau_int)
    assert float(constant_uwerr) == 0.0
    assert np.isnan(negative)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_raises_clear_errors():
    empty = jnp.zeros((0,))
    for fn in (stats.binning, stats.binning_curve, stats.autocorrelation, stats.tau_int, stats.uwerr):
        with pytest.raises(ValueError, match="empty"):
            fn(empty)
        with pytest.raises(ValueError, match="0-d"):
            fn(jnp.float32(1.0))
        with pytest.raises(TypeError, match="real"):
            fn(jnp.ones(32, jnp.complex64))
        with pytest.raises(TypeError, match="real"):
            fn(jnp.ones(32, bool))
    with pytest.raises(ValueError, match="empty"):
        stats.bin_means(empty, 1)
    with pytest.raises(ValueError, match="num_bins"):
        stats.bin_means(jnp.ones(10), 11)
    with pytest.raises(ValueError, match="num_bins"):
        stats.bin_means(jnp.ones(10), 0)
    with pytest.raises(TypeError, match="num_bins"):
        stats.bin_means(jnp.ones(10), 2.5)
    with pytest.raises(ValueError, match="min_bins=16"):
        stats.binning(jnp.ones(10))
    with pytest.raises(ValueError, match="min_bins"):
        stats.binning(jnp.ones(10), min_bins=1)
    with pytest.raises(ValueError, match="raw_variance"):
        stats.binning(jnp.ones(32), bin_size=4)
    with pytest.raises(ValueError, match="bin_size"):
        stats.binning(jnp.ones(32), bin_size=0, raw_variance=1.0)
    with pytest.raises(ValueError, match="broadcast"):
        stats.binning(jnp.ones((32, 2)), raw_variance=jnp.ones(3))
    with pytest.raises(ValueError, match="at least 2"):
        stats.autocorrelation(jnp.ones(1))
    with pytest.raises(ValueError, match="c must be"):
        stats.tau_int(jnp.ones(32), c=0.0)
    with pytest.raises(ValueError, match="s_tau"):
        stats.uwerr(jnp.ones(32), s_tau=float("nan"))
    with pytest.raises(ValueError, match="at least one sample"):
        stats.jackknife(jnp.mean)
    with pytest.raises(ValueError, match="same length"):
        stats.jackknife(lambda a, b: a / b, jnp.ones(5), jnp.ones(6))
    with pytest.raises(ValueError, match="at least 2"):
        stats.jackknife(lambda a: a, jnp.ones(1))
    with pytest.raises(TypeError, match="callable"):
        stats.jackknife(jnp.ones(5), jnp.ones(5))
