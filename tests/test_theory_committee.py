"""High-temperature equilibrium of soft committee machines with weight decay (jaxphys.theory.committee).

References, each independent of the code under test:
- the entropy s(Q, R) = (1/2) ln det(Q - R R^T) + (K/2)(1 + ln 2 pi) against the exact finite-N
  density of the overlaps of Gaussian weights (scipy's normal and Wishart densities), for
  K = 1, 2, 3 and general (not site-symmetric) overlaps: the error must fall like ln N / N;
- the site-symmetric eps_g against the matrix formula of theory.online.eps_g and against a Monte
  Carlo average over Gaussian inputs of the two networks' outputs (scipy.special.erf);
- alpha_tilde = 0: the minimum is the Gaussian prior (Q = 1/gamma, f = -(K/2) ln(2 pi / gamma));
  gamma = 0: no minimum (the vectors run off);
- the minimiser against scipy's Nelder-Mead on the public free_energy in (Q, C, R, S); slow:
  implicit derivatives against finite differences and the envelope theorem d f / d alpha_tilde = eps_g;
- THE independent check: MALA samples of the Gibbs measure over the weights W (K, N) at N = 200,
  whose log density is -N [alpha_tilde eps_g(Q(W), R(W)) + (gamma/2) tr Q(W)] with the matrix
  eps_g (no site symmetry, no entropy formula), against the theory's specialised minimum, at a
  load where the unspecialised stationary point is a saddle (chains started near that saddle
  must end specialised);
- the first-order long/short transition (K = 2, gamma = 1e-3): at the coexistence point both
  states are local minima with equal free energies, and scipy's brentq on the difference of the
  two branches' free energies (independent root finder) finds the same load; continuation
  shows both branches metastable beyond it and gone further out. Slow (compilation of the
  third-derivative Newton systems): beyond each computed spinodal the branch is gone
  (minimisation from it lands on the other branch), just before it is still there; the
  specialisation instability is where the unspecialised curvature changes sign.

Statistics (fixed seeds). Monte Carlo eps_g: 4.5 standard errors (false alarm 7e-6 per
comparison). MALA: 8 independent chains; the mean over chains must lie within
5 standard errors (Student t, 7 dof: per comparison 1.6e-3, union over the 4 comparisons 6e-3)
plus a deterministic allowance 3 (1 + |x|) / N for the O(1/N) finite-size bias of the saddle
point (the allowance makes the effective threshold larger, so the actual rates are lower; with
these seeds the largest |z| is about 2).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from scipy.optimize import brentq, minimize as scipy_minimize
from scipy.special import erf

from jaxphys.status import Status
from jaxphys.theory import committee as cm
from jaxphys.theory import online

P = cm.OrderParameters


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _pick(tree, i):
    return jax.tree_util.tree_map(lambda leaf: leaf[i], tree)


# --------------------------------------------------------------------------- entropy and eps_g


def _log_volume_per_n(Q, R, N):
    """(1/N) ln of the Lebesgue volume of weights with overlaps (Q, R), exactly at finite N.

    For standard Gaussian W (K, N) and teacher sqrt(N) e_n: R_in ~ N(0, 1/N), the perpendicular
    Gram matrix N (Q - R R^T) ~ Wishart(N - K, I); the Gaussian density is constant on the fibre.
    """
    K = Q.shape[0]
    log_p = st.norm.logpdf(R, scale=1 / math.sqrt(N)).sum()
    log_p += st.wishart.logpdf(N * (Q - R @ R.T), df=N - K, scale=np.eye(K)) + K * (K + 1) / 2 * math.log(N)
    return (log_p + N * K / 2 * math.log(2 * math.pi) + N * np.trace(Q) / 2) / N


@pytest.mark.parametrize("K", [1, 2, 3])
def test_entropy_against_exact_finite_n_density(K):
    rng = np.random.default_rng(K)
    A = rng.normal(size=(K, K + 3))
    Q = A @ A.T / (K + 3) + 0.5 * np.eye(K)
    R = 0.3 * rng.normal(size=(K, K))
    s = float(cm.entropy(Q, R))
    errors = [_log_volume_per_n(Q, R, N) - s for N in (10**4, 10**5)]
    assert abs(errors[1]) < K**2 * math.log(1e5) / 1e5
    assert 5 < errors[0] / errors[1] < 15  # ~ ln N / N
    # K = 1: everything explicit
    if K == 1:
        assert s == pytest.approx(0.5 * math.log(Q[0, 0] - R[0, 0] ** 2) + 0.5 * (1 + math.log(2 * math.pi)), rel=1e-12)
    # unphysical overlaps have no volume
    assert float(cm.entropy(Q, R + 10 * np.eye(K))) == -np.inf


def test_eps_g_against_matrix_formula_and_monte_carlo():
    K = 3
    p = P(2.0, 0.2, 0.9, 0.1)  # Q - R R^T has eigenvalues 1.16, 1.16, 1.19
    eps = float(cm.generalisation_error(p, K))
    eye = np.eye(K)
    Qm, Rm = p.C + (p.Q - p.C) * eye, p.S + (p.R - p.S) * eye
    assert eps == pytest.approx(float(online.eps_g(Qm, Rm, eye)), rel=1e-12)
    # Monte Carlo: Gaussian fields with covariance [[Q, R], [R^T, I]], outputs sum_i erf(x_i / sqrt 2)
    rng = np.random.default_rng(0)
    cov = np.block([[Qm, Rm], [Rm.T, eye]])
    u = rng.multivariate_normal(np.zeros(2 * K), cov, size=400_000)
    g = erf(u / math.sqrt(2.0))
    err = 0.5 * (g[:, :K].sum(1) - g[:, K:].sum(1)) ** 2
    assert abs(err.mean() - eps) < 4.5 * err.std() / math.sqrt(err.size)
    # K = 1: the perceptron formula (1/pi)[arcsin(Q/(1+Q)) + pi/6 - 2 arcsin(R/sqrt(2(1+Q)))]
    Q, R = 2.0, 0.8
    exact = (math.asin(Q / (1 + Q)) + math.pi / 6 - 2 * math.asin(R / math.sqrt(2 * (1 + Q)))) / math.pi
    assert float(cm.generalisation_error(P(Q, 0.0, R, 0.0), 1)) == pytest.approx(exact, rel=1e-12)


# --------------------------------------------------------------------------- minima


def test_gaussian_prior_limit_and_no_minimum_without_weight_decay():
    gamma, K = 0.05, 2  # K = 2 throughout: one compilation of the minimiser for the whole file
    sol = cm.minimize(P(3.0, 0.5, 0.4, 0.1), 0.0, gamma, K)
    assert int(sol.status) == 0
    m = sol.value
    np.testing.assert_allclose(
        [m.order_parameters.Q, m.order_parameters.C, m.order_parameters.R, m.order_parameters.S], [1 / gamma, 0, 0, 0], atol=1e-8
    )
    assert float(m.free_energy) == pytest.approx(-K / 2 * math.log(2 * math.pi / gamma), rel=1e-12)
    assert float(cm.free_energy(P(1 / gamma, 0.0, 0.0, 0.0), 0.0, gamma, K)) == pytest.approx(float(m.free_energy), rel=1e-12)
    # gamma = 0: the entropy grows without bound with Q while eps_g stays bounded
    f = [float(cm.free_energy(P(Q, -Q / 4, 0.3 * math.sqrt(Q), 0.0), 5.0, 0.0, 2)) for Q in (1e2, 1e4, 1e6)]
    assert f[0] > f[1] > f[2]
    runaway = cm.minimize(P(3.0, 0.5, 0.4, 0.1), 5.0, 0.0, K)
    assert int(runaway.status) & (Status.NOT_CONVERGED | Status.NAN)
    # unphysical overlaps have infinite free energy
    assert float(cm.free_energy(P(1.0, 0.0, 2.0, 0.0), 1.0, 0.1, 2)) == np.inf


def test_minimum_against_scipy_nelder_mead():
    K, gamma, alpha_tilde = 2, 0.01, 40.0
    start = P(1.5, 0.0, 1.0, 0.0)
    sol = cm.minimize(start, alpha_tilde, gamma, K)
    assert int(sol.status) == 0 and float(sol.value.lowest_eigenvalue) > 0

    def f(x):
        return float(cm.free_energy(P(*x), alpha_tilde, gamma, K))

    ref = scipy_minimize(
        f, np.asarray(start), method="Nelder-Mead", options=dict(xatol=1e-9, fatol=1e-13, maxiter=20000, maxfev=40000)
    )
    got = np.asarray(sol.value.order_parameters)
    np.testing.assert_allclose(got, ref.x, atol=2e-4)
    assert float(sol.value.free_energy) <= ref.fun + 1e-12
    assert float(sol.value.eps_g) == pytest.approx(float(cm.generalisation_error(sol.value.order_parameters, K)), rel=1e-12)


# --------------------------------------------------------------------------- simulation


def _mala_check(num_chains, near_saddle, burn_in, num_records):
    """K = 2, gamma = 0.01, alpha_tilde = 30: the specialised minimum is the only stable state;
    the unspecialised stationary point (Q = 1.25, R = S = 0.52) is a saddle."""
    K, gamma, alpha_tilde, N = 2, 0.01, 30.0, 200
    theory = cm.minimize(P(1.5, 0.0, 1.0, 0.0), alpha_tilde, gamma, K).value
    assert float(theory.lowest_eigenvalue) > 0
    start = P(1.25, -0.1, 0.55, 0.49) if near_saddle else P(1.5, 0.0, 1.0, 0.0)
    keys = jax.random.split(jax.random.key(1), num_chains)
    W0 = jax.vmap(lambda k: cm.student(k, start, K, N))(keys)
    np.testing.assert_allclose(np.asarray(cm.overlaps(W0[0])), np.asarray(start), atol=1e-12)
    # step 0.005: the stiff order-parameter directions have curvature ~ 4 alpha_tilde eps'' Q ~ 100
    chains = jax.vmap(
        lambda k, w: cm.sample(
            k, w, alpha_tilde, gamma, step_size=0.005, num_records=num_records, record_every=10, burn_in=burn_in
        )
    )(keys, W0)
    assert np.all(np.asarray(chains.status) == 0)
    assert 0.6 < float(chains.acceptance.mean()) < 0.99
    Q, C, R, S = (np.asarray(x) for x in chains.order_parameters)
    # a chain may specialise either way (student 1 to teacher 1 or 2): compare relabelling-invariant overlaps
    R, S = np.maximum(R, S), np.minimum(R, S)
    for name, x, value in zip("QCRS", (Q, C, R, S), np.asarray(theory.order_parameters)):
        means = x.mean(axis=1)
        se = means.std(ddof=1) / math.sqrt(means.size)
        assert abs(means.mean() - value) < 5 * se + 3 * (1 + abs(value)) / N, (name, means.mean(), se, value)
    # specialised, every chain: the unspecialised stationary point has R = S (and Q = 1.25, R = 0.52)
    assert np.all((R - S).mean(axis=1) > 0.8) and np.all(Q.mean(axis=1) > 1.5)


def test_mala_samples_match_the_specialised_minimum():
    _mala_check(8, near_saddle=False, burn_in=1000, num_records=200)


@pytest.mark.slow
def test_implicit_derivatives():
    start, gamma, K = P(1.5, 0.0, 1.0, 0.0), 0.01, 2

    def minimum(alpha_tilde):
        return cm.minimize(start, alpha_tilde, gamma, K).value

    dQ = float(jax.jacfwd(lambda a: minimum(a).order_parameters.Q)(30.0))
    h = 1e-4
    fd = (float(minimum(30.0 + h).order_parameters.Q) - float(minimum(30.0 - h).order_parameters.Q)) / (2 * h)
    assert dQ == pytest.approx(fd, rel=1e-6)
    # envelope theorem: at a minimum d f / d alpha_tilde = eps_g
    df_da = float(jax.grad(lambda a: minimum(a).free_energy)(30.0))
    assert df_da == pytest.approx(float(minimum(30.0).eps_g), rel=1e-10)


@pytest.mark.slow
def test_mala_chains_started_at_the_saddle_specialise():
    _mala_check(8, near_saddle=True, burn_in=4000, num_records=400)


# --------------------------------------------------------------------------- transitions


def test_first_order_transition_between_long_and_short_vectors():
    K, gamma = 2, 1e-3
    long_start, short_start = P(800.0, -500.0, 20.0, -5.0), P(1.5, 0.0, 1.0, 0.0)
    long18 = cm.minimize(long_start, 18.0, gamma, K).value
    short18 = cm.minimize(short_start, 18.0, gamma, K).value
    assert float(long18.order_parameters.Q) > 500 and float(short18.order_parameters.Q) < 5
    c = cm.coexistence(long18.order_parameters, short18.order_parameters, 18.0, gamma, K)
    assert int(c.status) == 0
    x = float(c.value.alpha_tilde)
    assert float(c.value.first.free_energy) == pytest.approx(float(c.value.second.free_energy), abs=1e-10)
    assert float(c.value.first.lowest_eigenvalue) > 0 and float(c.value.second.lowest_eigenvalue) > 0
    assert float(c.value.first.order_parameters.Q) > 100 > 10 > float(c.value.second.order_parameters.Q)

    # independent: Brent (scipy) on the difference of the branch free energies from minimize
    def difference(a):
        return float(cm.minimize(long18.order_parameters, a, gamma, K).value.free_energy) - float(
            cm.minimize(short18.order_parameters, a, gamma, K).value.free_energy
        )

    assert brentq(difference, 17.0, 21.0, xtol=1e-12) == pytest.approx(x, abs=1e-8)

    # metastability: the long branch survives above the coexistence point up to ~30.5, the short
    # one below it down to ~14.95 (the spinodals, computed in the slow test below)
    for start, at, alive in (
        (long18.order_parameters, 30.4, lambda q: q > 100),
        (long18.order_parameters, 30.6, lambda q: q < 10),
        (short18.order_parameters, 15.0, lambda q: q < 10),
        (short18.order_parameters, 14.9, lambda q: q > 100),
    ):
        sol = cm.follow(start, np.linspace(18.0, at, 5), gamma, K)  # continuation along the branch
        assert int(sol.status[-1]) == 0 and alive(float(sol.value.order_parameters.Q[-1])), (at, sol.value.order_parameters)


@pytest.mark.slow
def test_spinodals_end_the_branches():
    K, gamma = 2, 1e-3
    long_start, short_start = P(800.0, -500.0, 20.0, -5.0), P(1.5, 0.0, 1.0, 0.0)
    long30 = cm.minimize(long_start, 30.4, gamma, K).value
    short15 = cm.minimize(short_start, 15.0, gamma, K).value
    upper = cm.spinodal(long30.order_parameters, 30.4, gamma, K)
    lower = cm.spinodal(short15.order_parameters, 15.0, gamma, K)
    assert int(upper.status) == 0 and int(lower.status) == 0
    hi, lo = float(upper.value.alpha_tilde), float(lower.value.alpha_tilde)
    assert 14.9 < lo < 15.0 and 30.4 < hi < 30.6
    assert abs(float(upper.value.state.lowest_eigenvalue)) < 1e-10 and abs(float(lower.value.state.lowest_eigenvalue)) < 1e-10
    for start, at, alive in (
        (long30.order_parameters, hi - 0.01, lambda q: q > 100),
        (long30.order_parameters, hi + 0.01, lambda q: q < 10),
        (short15.order_parameters, lo + 0.01, lambda q: q < 10),
        (short15.order_parameters, lo - 0.01, lambda q: q > 100),
    ):
        sol = cm.minimize(start, at, gamma, K)
        assert int(sol.status) == 0 and alive(float(sol.value.order_parameters.Q)), (at, sol.value.order_parameters)


@pytest.mark.slow
def test_specialisation_instability_of_long_unspecialised_students():
    K, gamma = 2, 1e-3
    start = cm.minimize(P(900.0, 0.0, 5.0, 5.0), 9.0, gamma, K, unspecialised=True).value
    assert float(start.specialisation_curvature) > 0
    sol = cm.specialisation_instability(start.order_parameters, 9.0, gamma, K)
    assert int(sol.status) == 0
    x = float(sol.value.alpha_tilde)
    assert abs(float(sol.value.state.specialisation_curvature)) < 1e-12
    below = cm.minimize(start.order_parameters, x - 0.05, gamma, K, unspecialised=True).value
    above = cm.minimize(start.order_parameters, x + 0.05, gamma, K, unspecialised=True).value
    assert float(below.specialisation_curvature) > 0 > float(above.specialisation_curvature)
    # above the instability the full minimisation specialises (K = 2: continuously, d ~ sqrt)
    spec = cm.minimize(above.order_parameters, x + 0.05, gamma, K).value
    assert float(spec.order_parameters.R - spec.order_parameters.S) > 1.0
    assert float(spec.free_energy) < float(above.free_energy)


def test_follow_and_hysteresis():
    K, gamma = 2, 1e-3
    grid = np.array([14.0, 22.0, 31.0])
    up = cm.follow(P(1000.0, 0.0, 0.0, 0.0), grid, gamma, K)
    down = cm.follow(P(1.5, 0.0, 1.0, 0.0), grid[::-1], gamma, K)
    assert np.all(np.asarray(up.status) == 0) and np.all(np.asarray(down.status) == 0)
    q_up, q_down = np.asarray(up.value.order_parameters.Q), np.asarray(down.value.order_parameters.Q)[::-1]
    # long at 14 and 22 going up (metastable at 22), short at 31; short down to 22, long at 14 (below its spinodal)
    assert q_up[0] > 100 and q_up[1] > 100 and q_up[2] < 10
    assert q_down[2] < 10 and q_down[1] < 10 and q_down[0] > 100


# --------------------------------------------------------------------------- errors


def test_bad_input():
    p = P(1.5, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="K"):
        cm.free_energy(p, 1.0, 0.1, 0)
    with pytest.raises(TypeError, match="K"):
        cm.minimize(p, 1.0, 0.1, 2.0)
    with pytest.raises(ValueError, match="gamma"):
        cm.free_energy(p, 1.0, -0.1, 2)
    with pytest.raises(ValueError, match="alpha_tilde"):
        cm.minimize(p, -1.0, 0.1, 2)
    with pytest.raises(ValueError, match="alpha_tilde"):
        cm.free_energy(p, float("nan"), 0.1, 2)
    with pytest.raises(TypeError, match="OrderParameters"):
        cm.free_energy((1.0, 2.0), 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="specialisation needs two"):
        cm.specialisation_instability(p, 1.0, 0.1, 1)
    with pytest.raises(ValueError, match="positive definite"):
        cm.student(jax.random.key(0), P(1.0, 0.0, 2.0, 0.0), 2, 10)
    with pytest.raises(ValueError, match="W0"):
        cm.sample(jax.random.key(0), jnp.zeros((3,)), 1.0, 0.1, step_size=0.1, num_records=1)
    with pytest.raises(ValueError, match="step_size"):
        cm.sample(jax.random.key(0), jnp.zeros((2, 10)), 1.0, 0.1, step_size=0.0, num_records=1)
    with pytest.raises(ValueError, match="1-D"):
        cm.follow(p, np.zeros((2, 2)), 0.1, 2)
    with pytest.raises(ValueError, match="shape"):
        cm.entropy(np.eye(2), np.eye(3))
    # unphysical start: flagged, not raised (it may be traced)
    sol = cm.minimize(P(1.0, 0.0, 2.0, 0.0), 1.0, 0.1, 2)
    assert int(sol.status) & Status.INVALID_PARAMETER
