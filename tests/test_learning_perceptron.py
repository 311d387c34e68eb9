"""Perceptron storage by training and Gibbs learning by sampling (jaxphys.learning.perceptron).

References and what is compared:
- Cover's theorem (exact at every finite N): the closed form against a direct sum of binomials, and
  the number of separable instances found by ``max_margin`` against it (exact binomial test); each
  instance's verdict also against an independent exact LP (scipy HiGHS).
- The max-margin certificate: ``min_mu z.w / |w| = kappa_max = |Z^T c|`` recomputed in numpy from the
  returned weights and simplex coefficients (the two bounds meet only at the optimum), and against
  an independent QP (scipy SLSQP on ``min |w|^2, Z w >= 1``).
- Gardner's theory: ``gardner_margin`` inverts ``alpha_c``; the mean ``kappa_max`` at N = 100 agrees
  with it (tolerance: 5 standard errors of the instance mean plus 0.012 for finite N; a calibration
  with 200 instances at N = 50 and 100 found |bias| <= 0.011).
- Hit-and-run against exact rejection sampling of a tiny cone (N = 3): two-sample chi-square of the
  directions, and the radius ``|w|^2`` against the exact chi-square law with N degrees of freedom.
- Gibbs teacher-student overlap R at N = 100, alpha = 1 and 2, against ``learning_curve`` (R = q):
  chains start at the teacher and burn in for 200 sweeps (measured at alpha = 2 over 32 instances:
  the mean R of sweeps 200-300 is within 0.002 of that of sweeps 300-400, while sweeps 100-200 are
  still 0.011 high); tolerance ``t_15(1 - 5e-5) = 5.2`` standard errors of the mean over 16 instances
  plus 1/N for finite size (long runs at N = 100 put R within 0.013 of q).

Random tests use fixed seeds; each tolerance is set for a false-failure rate below ~1e-4 per
assertion (Gaussian/t tails, binomial and chi-square p-value thresholds 1e-4), so a seed change fails rarely.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.learning import perceptron
from jaxphys.learning.data import Dataset, teacher_perceptron
from jaxphys.status import Status
from jaxphys.testing import chi_square_p_value
from jaxphys.theory.perceptron import gardner_capacity
from jaxphys.theory.teacher_student import learning_curve


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module", autouse=True)
def single_threaded_lapack():
    """jaxlib's CPU LAPACK (scipy's OpenBLAS) spins its threads; on a busy 2-core machine batched solves
    then run up to 50x slower (measured), so the polishing solves of max_margin use one thread here."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    jnp.linalg.solve(jnp.eye(2), jnp.ones(2)).block_until_ready()  # jaxlib loads its LAPACK lazily
    with threadpool_limits(1, user_api="blas"):
        yield


def _loads(seed, num_instances, num_patterns, num_inputs):
    """``num_instances`` storage problems (Gaussian inputs, random labels) of each size in
    ``num_patterns``, padded to the largest with a mask (one compiled shape for every load).

    Drawn with numpy: under jax 0.10's partitionable threefry, compiling a draw of ~10^5 numbers
    takes seconds, and the generators themselves are tested on their own.
    """
    rng = np.random.default_rng(seed)
    p_max = max(num_patterns)
    shape = (len(num_patterns), num_instances, p_max)
    x = jnp.asarray(rng.standard_normal(shape + (num_inputs,)))
    y = jnp.asarray(rng.choice([-1.0, 1.0], shape))
    mask = np.arange(p_max)[None, None, :] < np.asarray(num_patterns)[:, None, None]
    return Dataset(x, y), jnp.asarray(np.broadcast_to(mask, shape))


_solve_many = jax.jit(jax.vmap(jax.vmap(lambda x, y, m: perceptron.max_margin(x, y, mask=m))))


# --------------------------------------------------------------------------- exact references


def test_cover_probability_closed_form():
    for n in (1, 3, 10, 25):
        for p in (1, n, n + 1, 2 * n, 3 * n + 2):
            exact = sum(math.comb(p - 1, k) for k in range(min(n, p))) / 2 ** (p - 1)
            assert float(perceptron.cover_probability(p, n)) == pytest.approx(exact, rel=1e-10, abs=1e-300)
    # P = 2N is exactly 1/2 at every N (symmetry of Binomial(2N - 1, 1/2) about N - 1/2)
    n = np.arange(1, 200)
    np.testing.assert_allclose(perceptron.cover_probability(2 * n, n), 0.5, atol=1e-12)
    # the finite-N curves sharpen into a step at alpha_c = 2
    assert float(perceptron.cover_probability(1600, 1000)) > 1 - 1e-9
    assert float(perceptron.cover_probability(2400, 1000)) < 1e-9


def test_pattern_generators():
    data = perceptron.random_patterns(jax.random.key(0), 400, 5)
    assert data.x.shape == (400, 5) and data.y.shape == (400,) and data.x.dtype == jnp.float64
    assert set(np.unique(data.y)) == {-1.0, 1.0}
    assert abs(float(data.y.mean())) < 4 / math.sqrt(400)  # fair labels, 4 sigma
    assert float(jnp.var(data.x)) == pytest.approx(1.0, abs=4 * math.sqrt(2 / 2000))
    teacher, data = perceptron.teacher_patterns(jax.random.key(1), 4, 3)  # the shape of the tiny cone below
    assert float(teacher @ teacher) == pytest.approx(3.0) and data.x.shape == (4, 3)
    np.testing.assert_array_equal(data.y, np.sign(data.x @ teacher))
    # thin calls of the one generator, learning.data.teacher_perceptron
    same, again = teacher_perceptron(jax.random.key(1), 4, 3, weights="spherical")
    np.testing.assert_array_equal(again, teacher)
    np.testing.assert_array_equal(same.x, data.x)


def test_gardner_margin_inverts_the_capacity():
    alphas = jnp.array([0.05, 0.5, 1.0, 1.5, 1.99, 2.0])
    sol = perceptron.gardner_margin(alphas)
    assert np.all(np.asarray(sol.status) == 0)
    np.testing.assert_allclose(gardner_capacity(sol.value), alphas, rtol=1e-9)
    assert float(sol.value[-1]) == pytest.approx(0.0, abs=1e-9)
    # large margins: alpha_c ~ 1 / (1 + kappa^2) so kappa -> 1/sqrt(alpha) at small alpha
    assert float(sol.value[0]) == pytest.approx(math.sqrt(1 / 0.05 - 1), rel=2e-3)
    beyond = perceptron.gardner_margin(2.5)
    assert int(beyond.status) & Status.INVALID_PARAMETER and math.isnan(float(beyond.value))


# --------------------------------------------------------------------------- storage


COVER_N, COVER_INSTANCES, COVER_COUNTS = 12, 200, (18, 24, 30, 36)  # alpha = 1.5, 2, 2.5, 3


@pytest.fixture(scope="module")
def cover_runs():
    """200 storage instances per load at N = 12, solved once (one compiled shape) for several tests."""
    with jax.enable_x64(True):
        data, mask = _loads(7, COVER_INSTANCES, COVER_COUNTS, COVER_N)
        return data, mask, _solve_many(data.x, data.y, mask)


def test_separable_fraction_matches_cover_and_lp(cover_runs):
    """Fraction of separable instances at N = 12, alpha = 1.5 ... 3, against Cover's exact formula."""
    optimize = pytest.importorskip("scipy.optimize")
    data, mask, sol = cover_runs
    status = np.asarray(sol.status)
    assert np.all(status == 0), np.unique(status, return_counts=True)  # every verdict decided to tol
    separable = np.asarray(sol.value.separable)
    exact = np.asarray(perceptron.cover_probability(jnp.array(COVER_COUNTS), COVER_N))
    stats = pytest.importorskip("scipy.stats")
    # exact two-sided binomial test per load (at alpha = 3, P_sep = 1.4e-3: Poisson, not Gaussian)
    for count, k, p in zip(COVER_COUNTS, separable.sum(axis=1), exact):
        assert stats.binomtest(int(k), COVER_INSTANCES, p).pvalue > 1e-4, (count, k, p * COVER_INSTANCES)
    # each verdict against an exact LP: feasible {Z w >= 1} iff separable
    for a in (1, 2):  # alpha = 2 and 2.5, where both verdicts are common
        m = np.asarray(mask[a, 0])
        for i in range(20):
            z = np.asarray(data.y[a, i][m, None] * data.x[a, i][m])
            lp = optimize.linprog(np.zeros(COVER_N), A_ub=-z, b_ub=-np.ones(len(z)), bounds=(None, None), method="highs")
            assert lp.status in (0, 2)
            assert (lp.status == 0) == bool(separable[a, i]), (a, i, float(sol.value.margin[a, i]))


def test_max_margin_certificate_and_independent_qp(cover_runs):
    """Both certified bounds recomputed in numpy meet; scipy's QP gives the same kappa_max."""
    optimize = pytest.importorskip("scipy.optimize")
    data, mask, sol = cover_runs
    n = COVER_N
    rng = np.random.default_rng(0)
    checked = 0
    for a in range(len(COVER_COUNTS)):
        for i in range(10):
            m = np.asarray(mask[a, i])
            z = np.asarray(data.y[a, i][m, None] * data.x[a, i][m])
            w = np.asarray(sol.value.weights[a, i])
            c = np.asarray(sol.value.coefficients[a, i])
            assert np.all(c >= 0) and c.sum() == pytest.approx(1.0) and np.all(c[~m] == 0)
            lower = np.min(z @ w) / np.linalg.norm(w)
            upper = np.linalg.norm(z.T @ c[m])
            assert np.linalg.norm(w) ** 2 == pytest.approx(n)
            assert lower == pytest.approx(float(sol.value.margin[a, i]), abs=1e-12)
            assert upper == pytest.approx(float(sol.value.margin_bound[a, i]), abs=1e-12)
            if lower > 0:
                checked += 1
                assert upper - lower < 1e-7  # kappa_max is proven to the default tol 1e-7
                # independent QP: kappa_max = 1 / min{|v| : Z v >= 1}, from a perturbed start
                start = 1.5 * w / (lower * math.sqrt(n)) + 0.3 * rng.standard_normal(n)
                qp = optimize.minimize(
                    lambda v: v @ v, start, jac=lambda v: 2 * v, method="SLSQP",
                    constraints={"type": "ineq", "fun": lambda v: z @ v - 1.0, "jac": lambda v: z},
                    options={"ftol": 1e-15, "maxiter": 1000},
                )
                assert np.min(z @ qp.x) > 1 - 1e-8
                assert 1 / np.linalg.norm(qp.x) == pytest.approx(lower, rel=1e-6)
            else:
                assert upper < 1e-7  # not separable: the hull holds the origin (to tol)
    assert checked >= 8


def test_mean_max_margin_matches_gardner():
    """Mean kappa_max over 24 instances at N = 100 against the root of alpha_c(kappa) = alpha."""
    n, instances = 100, 24
    counts = (100, 150)
    data, mask = _loads(11, instances, counts, n)
    sol = _solve_many(data.x, data.y, mask)
    assert np.all(np.asarray(sol.status) == 0)
    kappa = np.asarray(sol.value.margin)
    gap = np.asarray(sol.value.margin_bound - sol.value.margin)
    assert np.all(gap < 1e-7)
    theory = np.asarray(perceptron.gardner_margin(jnp.array(counts) / n).value)
    mean = kappa.mean(axis=1)
    stderr = kappa.std(axis=1, ddof=1) / math.sqrt(instances)
    np.testing.assert_array_less(np.abs(mean - theory), 5.0 * stderr + 0.012)
    # and the margin falls with the load as the theory says (0.47 -> 0.19)
    assert mean[0] - mean[1] == pytest.approx(theory[0] - theory[1], abs=5.0 * math.hypot(*stderr) + 0.012)


def test_max_margin_float32_and_trivial_cases(cover_runs):
    """float32 (the default dtype) on a Cover instance against the float64 run; one pattern and a
    contradictory pair through the same compiled shape (masks select the patterns)."""
    data, mask, sol = cover_runs
    x, y = np.asarray(data.x[0, 0], np.float32), np.asarray(data.y[0, 0], np.float32)
    solve = jax.jit(lambda x, y, m: perceptron.max_margin(x, y, mask=m))
    with jax.enable_x64(False):
        single = solve(x, y, np.asarray(mask[0, 0]))
        assert single.value.weights.dtype == jnp.float32 and int(single.status) == 0
        assert float(single.value.margin) == pytest.approx(float(sol.value.margin[0, 0]), abs=2e-4)
        # one pattern: kappa_max = |x|, the weights along y x
        one = solve(x, y, np.arange(len(y)) < 1)
        assert float(one.value.margin) == pytest.approx(float(np.linalg.norm(x[0])), rel=1e-5)
        # a pattern and its negative with the same label: not separable, the bound is ~0
        x[1], y[1] = -x[0], y[0]
        pair = solve(x, y, np.arange(len(y)) < 2)
        assert not bool(pair.value.separable) and float(pair.value.margin_bound) < 1e-4 and int(pair.status) == 0


# --------------------------------------------------------------------------- Gibbs learning


def _rejection_sample(rng, z, num):
    g = rng.standard_normal((num, z.shape[1]))
    return g[np.all(g @ z.T >= 0, axis=1)]


def _direction_cells(w, frame, edges_r, num_angles):
    """Cell index of unit directions: teacher overlap bin x azimuth bin around the teacher."""
    u = w / np.linalg.norm(w, axis=1, keepdims=True)
    r_bin = np.searchsorted(edges_r, u @ frame[0])
    angle = np.arctan2(u @ frame[2], u @ frame[1])
    a_bin = np.minimum(((angle + np.pi) / (2 * np.pi) * num_angles).astype(int), num_angles - 1)
    return r_bin * num_angles + a_bin


@pytest.mark.parametrize("direction", ["coordinate", "random"])
def test_hit_and_run_matches_rejection_sampling(direction):
    """N = 3, P = 4 teacher-labelled patterns: final states of 3000 independent chains (30 sweeps from
    the teacher) against 60000 exact rejection samples; two-sample chi-square, p > 1e-4."""
    n, p, chains = 3, 4, 3000
    teacher, data = perceptron.teacher_patterns(jax.random.key(5), p, n)
    keys = jax.random.split(jax.random.key(6), chains)
    run = jax.vmap(lambda k: perceptron.sample_version_space(k, data.x, data.y, teacher, 1, burn_in=29, direction=direction))
    out = run(keys)
    assert np.all(np.asarray(out.status) == 0)
    sampled = np.asarray(out.state.weights)
    z = np.asarray(data.y[:, None] * data.x)
    assert np.all(sampled @ z.T >= -1e-12)  # inside the cone
    exact = _rejection_sample(np.random.default_rng(0), z, 2_000_000)[:60_000]
    assert len(exact) == 60_000

    t = np.asarray(teacher) / math.sqrt(n)
    basis = np.linalg.svd(np.eye(n) - np.outer(t, t))[0][:, :2].T
    frame = np.vstack([t, basis])
    exact_r = (exact / np.linalg.norm(exact, axis=1, keepdims=True)) @ t
    edges_r = np.quantile(exact_r, [1 / 3, 2 / 3])
    cells_s = _direction_cells(sampled, frame, edges_r, 6)
    cells_e = _direction_cells(exact, frame, edges_r, 6)
    counts = np.array([np.bincount(cells_s, minlength=18), np.bincount(cells_e, minlength=18)], float)
    counts = counts[:, counts.sum(axis=0) >= 20]  # drop azimuths the cone does not reach
    expected = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0) / counts.sum()
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    assert chi_square_p_value(statistic, counts.shape[1] - 1) > 1e-4, statistic

    # the radius: |w|^2 is chi-square with n degrees of freedom, independent of the direction
    radius2 = np.sum(sampled**2, axis=1)
    cdf = np.array([_chi2_cdf(v, n) for v in radius2])
    hist = np.bincount(np.minimum((cdf * 10).astype(int), 9), minlength=10)
    assert chi_square_p_value(float(np.sum((hist - chains / 10) ** 2 / (chains / 10))), 9) > 1e-4
    # the reported samples are the directions, normalised to |w|^2 = N
    np.testing.assert_allclose(np.sum(np.asarray(out.weights) ** 2, axis=-1), n, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(out.squared_norms[:, 0]), radius2, rtol=1e-12)


def _chi2_cdf(x, k):
    """CDF of chi-square with k = 3 degrees of freedom (closed form)."""
    assert k == 3
    s = math.sqrt(x)
    return math.erf(s / math.sqrt(2)) - math.sqrt(2 / math.pi) * s * math.exp(-x / 2)


def test_gibbs_overlap_matches_theory():
    """R = w . w* / N of Gibbs students at N = 100, alpha = 1 and 2, against q of the replica theory."""
    n, instances, burn_in, num_samples = 100, 16, 200, 100
    counts = (100, 200)
    rng = np.random.default_rng(21)
    teacher = rng.standard_normal((len(counts), instances, n))
    teacher *= math.sqrt(n) / np.linalg.norm(teacher, axis=-1, keepdims=True)
    x = rng.standard_normal((len(counts), instances, max(counts), n))
    y = np.sign(np.einsum("aipn,ain->aip", x, teacher))
    mask = jnp.arange(max(counts))[None, :] < jnp.asarray(counts)[:, None]
    keys = jax.random.split(jax.random.key(21), (len(counts), instances))

    def overlap(key, x, y, teacher, mask):
        out = perceptron.sample_version_space(key, x, y, teacher, num_samples, burn_in=burn_in, mask=mask)
        return out.weights @ teacher / n, out.squared_norms, out.status

    run = jax.jit(jax.vmap(jax.vmap(overlap, in_axes=(0, 0, 0, 0, None))))
    R, squared_norms, status = run(keys, x, y, teacher, mask)
    assert np.all(np.asarray(status) == 0)
    per_instance = np.asarray(R).mean(axis=-1)
    mean = per_instance.mean(axis=1)
    stderr = per_instance.std(axis=1, ddof=1) / math.sqrt(instances)
    theory = np.asarray(learning_curve(jnp.array(counts) / n, estimator="gibbs").value.R)
    np.testing.assert_array_less(np.abs(mean - theory), 5.2 * stderr + 1.0 / n)
    # |w|^2 / N of the restricted Gaussian is 1 on average (chi-square, sd sqrt(2/N) per sample)
    assert float(np.mean(squared_norms)) / n == pytest.approx(1.0, abs=0.03)


# --------------------------------------------------------------------------- bad input


def test_bad_input_errors():
    x = jnp.ones((4, 3))
    y = jnp.array([1.0, -1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match="shape"):
        perceptron.max_margin(x[0], y)
    with pytest.raises(ValueError, match=r"shape \(P,\)"):
        perceptron.max_margin(x, y[:3])
    with pytest.raises(ValueError, match="-1 or \\+1"):
        perceptron.max_margin(x, jnp.array([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="NaN"):
        perceptron.max_margin(x.at[0, 0].set(jnp.nan), y)
    with pytest.raises(ValueError, match="at least one pattern"):
        perceptron.max_margin(jnp.ones((0, 3)), jnp.ones((0,)))
    with pytest.raises(ValueError, match="mask"):
        perceptron.max_margin(x, y, mask=jnp.ones(4))
    with pytest.raises(ValueError, match="no pattern"):
        perceptron.max_margin(x, y, mask=jnp.zeros(4, bool))
    with pytest.raises(ValueError, match="tol"):
        perceptron.max_margin(x, y, tol=-1.0)
    with pytest.raises(ValueError, match="max_steps"):
        perceptron.max_margin(x, y, max_steps=0)
    with pytest.raises(TypeError, match="int"):
        perceptron.cover_probability(2.5, 3)
    with pytest.raises(ValueError, match=">= 1"):
        perceptron.cover_probability(0, 3)
    with pytest.raises(ValueError, match="alpha"):
        perceptron.gardner_margin(0.0)
    with pytest.raises(ValueError, match="num_patterns"):
        perceptron.random_patterns(jax.random.key(0), -1, 3)
    with pytest.raises(TypeError, match="num_inputs"):
        perceptron.teacher_patterns(jax.random.key(0), 3, 2.0)

    teacher, data = perceptron.teacher_patterns(jax.random.key(1), 5, 4)
    with pytest.raises(ValueError, match="outside the version space"):
        perceptron.sample_version_space(jax.random.key(0), data.x, data.y, -teacher, 2)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        perceptron.sample_version_space(jax.random.key(0), data.x, data.y, teacher[:3], 2)
    with pytest.raises(ValueError, match="non-zero"):
        perceptron.init_version_space(data.x, data.y, jnp.zeros(4))
    with pytest.raises(ValueError, match="direction"):
        perceptron.sample_version_space(jax.random.key(0), data.x, data.y, teacher, 2, direction="diagonal")
    with pytest.raises(ValueError, match="num_samples"):
        perceptron.sample_version_space(jax.random.key(0), data.x, data.y, teacher, 0)
    # a traced infeasible start sets a status bit instead of raising
    bad = jax.jit(lambda w: perceptron.init_version_space(data.x, data.y, w).status)(-teacher)
    assert int(bad) & Status.INVALID_PARAMETER


# --------------------------------------------------------------------------- slow, more precise


@pytest.mark.slow
def test_mean_max_margin_matches_gardner_large_n():
    """N = 200, 96 instances per load: 5 standard errors plus 1/N for finite size."""
    n, instances = 200, 96
    counts = (100, 200, 300)
    data, mask = _loads(13, instances, counts, n)
    sol = _solve_many(data.x, data.y, mask)
    assert np.all(np.asarray(sol.status) == 0)
    kappa = np.asarray(sol.value.margin)
    theory = np.asarray(perceptron.gardner_margin(jnp.array(counts) / n).value)
    stderr = kappa.std(axis=1, ddof=1) / math.sqrt(instances)
    np.testing.assert_array_less(np.abs(kappa.mean(axis=1) - theory), 5.0 * stderr + 1.0 / n)


@pytest.mark.slow
def test_gibbs_and_bayes_overlaps_large_n():
    """N = 200, alpha = 1 and 3, 24 instances x 2 independent chains (burn-in 600 sweeps): Gibbs R = q,
    and the centre of mass of the samples has R = sqrt(q) (cross estimator m_A . m_B for |m|^2)."""
    n, instances, burn_in, num_samples, thin = 200, 24, 600, 50, 4
    counts = (200, 600)
    rng = np.random.default_rng(31)
    teacher = rng.standard_normal((len(counts), instances, n))
    teacher *= math.sqrt(n) / np.linalg.norm(teacher, axis=-1, keepdims=True)
    x = rng.standard_normal((len(counts), instances, max(counts), n))
    y = np.sign(np.einsum("aipn,ain->aip", x, teacher))
    mask = jnp.arange(max(counts))[None, :] < jnp.asarray(counts)[:, None]
    keys = jax.random.split(jax.random.key(31), (len(counts), instances, 2))

    def overlaps(keys, x, y, teacher, mask):
        def chain(key):
            return perceptron.sample_version_space(key, x, y, teacher, num_samples, thin=thin, burn_in=burn_in, mask=mask)

        out = jax.vmap(chain)(keys)
        unit = teacher / math.sqrt(n)
        gibbs = jnp.mean(out.weights @ unit) / math.sqrt(n)
        centres = out.weights.mean(axis=1) / math.sqrt(n)  # (2, N)
        bayes = 0.5 * (centres[0] + centres[1]) @ unit / jnp.sqrt(centres[0] @ centres[1])
        return gibbs, bayes, jnp.max(out.status)

    run = jax.jit(jax.vmap(jax.vmap(overlaps, in_axes=(0, 0, 0, 0, None))))
    gibbs, bayes, status = map(np.asarray, run(keys, x, y, teacher, mask))
    assert np.all(status == 0)
    q = np.asarray(learning_curve(jnp.array(counts) / n).value.q)
    for values, target in ((gibbs, q), (bayes, np.sqrt(q))):
        stderr = values.std(axis=1, ddof=1) / math.sqrt(instances)
        np.testing.assert_array_less(np.abs(values.mean(axis=1) - target), 5.0 * stderr + 1.0 / n)
