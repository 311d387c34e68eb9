"""Online learning of soft committee machines: Saad-Solla ODEs (jaxphys.theory.online) and the
simulation of online SGD (jaxphys.learning.online).

References, each independent of the code under test:
- the closed forms I2, J2, I3, I4 against tensor-product Gauss-Hermite quadrature in numpy
  (also for the rank-deficient covariances the ODEs use, u1 = u2);
- eps_g and the ODE right-hand side (the averages <delta_i y_n>, <delta_i x_k>, <delta_i delta_k>
  with readouts, noise and weight decay) against Monte Carlo averages over Gaussian fields;
- ODE against simulation: K = M = 1 (with weight decay and output noise) and K = M = 2 through a
  plateau;
- the symmetric plateau: its eta -> 0 limit Q = C = 1/(2K - 1), R = 1/sqrt(K(2K - 1)),
  eps_g = (K/pi)(pi/6 - K arcsin(1/(2K))) (Saad & Solla 1995); an ODE trajectory from small R
  stalls at the value of plateau(); its escape rate is the largest eigenvalue of the numerical
  Jacobian and predicts the shift of the escape time with the initial symmetry breaking;
- weight decay: long-time ODE = Newton root of the rates; eta -> 0 limit = minimiser of
  eps_g + (gamma / 2 eta) Q (numpy/scipy, written here).

Statistics (fixed seeds). Monte Carlo comparisons use 4.5 standard errors (Gaussian, per
comparison 7e-6; union over the 12 comparisons below 1e-4). Simulation vs ODE: at each record
the seed average of sim - ODE must lie within 5 standard errors of the mean (8 seeds: Student t,
7 dof, per-point false alarm 1.6e-3) plus a deterministic allowance 0.25 s / sqrt(N) (s = 1 for
Q and R, s = the ODE value for eps_g) for the finite-N bias: O(1/N) away from the plateau, but
O(1/sqrt N) near the escape, where the O(1/sqrt N) fluctuations of the symmetry breaking shift
the escape time. With the allowance the effective threshold is well above 5 standard errors,
so the per-point rate is below 1.6e-3; the points of one trajectory are strongly correlated.
For the fixed seeds here the largest deviation uses less than half of the tolerance.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import erf

from jaxphys.learning import online as sim
from jaxphys.status import Status
from jaxphys.theory import online
from jaxphys.theory.fixed_point import root

NUM_RECORDS = 12  # one record grid for every ODE/simulation run: each compiles once per (K, M)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def g(u):
    return erf(u / math.sqrt(2.0))


def g_prime(u):
    return math.sqrt(2.0 / math.pi) * np.exp(-0.5 * u * u)


def gauss_hermite_average(f, C, num_nodes=None):
    """E f(u) for u ~ N(0, C) by a tensor Gauss-Hermite rule (C may be singular: symmetric root)."""
    n = C.shape[0]
    num_nodes = num_nodes or (48 if n <= 3 else 36)  # converged to < 1e-10 for these covariances
    z, w = np.polynomial.hermite_e.hermegauss(num_nodes)
    w = w / w.sum()
    values, vectors = np.linalg.eigh(C)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    grids = np.meshgrid(*([z] * n), indexing="ij")
    weights = np.prod(np.meshgrid(*([w] * n), indexing="ij"), axis=0)
    u = np.stack(grids, -1) @ root.T
    return float(np.sum(weights * f(*np.moveaxis(u, -1, 0))))


def random_covariance(rng, n, rank=None):
    A = rng.normal(size=(n, rank or n))
    return A @ A.T / n


# --------------------------------------------------------------------------- closed forms


def test_gaussian_averages_match_quadrature():
    rng = np.random.default_rng(1)
    for C in (random_covariance(rng, 4), random_covariance(rng, 4), random_covariance(rng, 4, rank=2)):
        assert float(online.I2(C[:2, :2])) == pytest.approx(gauss_hermite_average(lambda a, b: g(a) * g(b), C[:2, :2]), abs=1e-10)
        assert float(online.J2(C[:2, :2])) == pytest.approx(gauss_hermite_average(lambda a, b: g_prime(a) * g_prime(b), C[:2, :2]), abs=1e-10)
        i3 = gauss_hermite_average(lambda a, b, c: g_prime(a) * b * g(c), C[:3, :3])
        assert float(online.I3(C[:3, :3])) == pytest.approx(i3, abs=1e-10)
        i4 = gauss_hermite_average(lambda a, b, c, d: g_prime(a) * g_prime(b) * g(c) * g(d), C)
        assert float(online.I4(C)) == pytest.approx(i4, abs=1e-9)
    # the repeated fields of the ODEs: I3(x, x, y) and I4(x, x, y, y) (rank-deficient covariances)
    C = random_covariance(rng, 2)
    C3 = C[[0, 0, 1]][:, [0, 0, 1]]
    assert float(online.I3(C3)) == pytest.approx(gauss_hermite_average(lambda a, c: g_prime(a) * a * g(c), C), abs=1e-10)
    C4 = C[[0, 0, 1, 1]][:, [0, 0, 1, 1]]
    assert float(online.I4(C4)) == pytest.approx(gauss_hermite_average(lambda a, c: g_prime(a) ** 2 * g(c) ** 2, C), abs=1e-10)
    # batched covariances keep their leading axes
    assert online.I4(np.stack([C4, C4])).shape == (2,)


def _fields(rng, Q, R, T, num_samples):
    K = Q.shape[0]
    C = np.block([[Q, R], [R.T, T]])
    u = rng.normal(size=(num_samples, C.shape[0])) @ np.linalg.cholesky(C).T
    return u[:, :K], u[:, K:]


def test_eps_g_against_monte_carlo():
    rng = np.random.default_rng(2)
    K, M, n = 3, 2, 400_000
    J = rng.normal(size=(K, 50)) * 0.8
    B = rng.normal(size=(M, 50))
    Q, R, T = J @ J.T / 50, J @ B.T / 50, B @ B.T / 50
    w, v = np.array([1.0, 0.5, -0.7]), np.array([1.2, 0.8])
    x, y = _fields(rng, Q, R, T, n)
    for readouts in ((None, None), (w, v)):
        ww = np.ones(K) if readouts[0] is None else w
        vv = np.ones(M) if readouts[1] is None else v
        sq = 0.5 * (g(y) @ vv - g(x) @ ww) ** 2
        exact = float(online.eps_g(Q, R, T, student_readout=readouts[0], teacher_readout=readouts[1]))
        assert abs(exact - sq.mean()) < 4.5 * sq.std() / math.sqrt(n), (exact, sq.mean())
    # the student equal to the teacher has no error; a batch of states keeps its leading axes
    assert abs(float(online.eps_g(T, T, T))) < 1e-14
    assert online.eps_g(np.stack([Q, Q]), R, T).shape == (2,)


def test_rates_against_monte_carlo():
    """dQ/dalpha and dR/dalpha: closed forms vs Monte Carlo over the fields, with every option on."""
    rng = np.random.default_rng(3)
    K, M, n = 2, 3, 400_000
    eta, gamma, noise = 0.7, 0.05, 0.4
    J = rng.normal(size=(K, 40)) * 0.7
    B = rng.normal(size=(M, 40))
    Q, R, T = J @ J.T / 40, J @ B.T / 40, B @ B.T / 40
    w, v = np.array([0.9, 1.3]), np.array([1.0, -0.6, 0.8])
    x, y = _fields(rng, Q, R, T, n)
    error = g(y) @ v + noise * rng.normal(size=n) - g(x) @ w
    delta = w * g_prime(x) * error[:, None]  # (n, K)
    samples_R = eta * delta[:, :, None] * y[:, None, :]
    samples_Q = eta * (delta[:, :, None] * x[:, None, :] + delta[:, None, :] * x[:, :, None]) + eta**2 * delta[:, :, None] * delta[:, None, :]
    dQ, dR = online.rates(Q, R, T, eta, gamma=gamma, noise_std=noise, student_readout=w, teacher_readout=v)
    for exact, samples, decay in ((dQ, samples_Q, 2 * gamma * Q), (dR, samples_R, gamma * R)):
        mc = samples.mean(0) - decay
        stderr = samples.std(0) / math.sqrt(n)
        assert np.all(np.abs(np.asarray(exact) - mc) < 4.5 * stderr), (np.asarray(exact), mc, stderr)
    np.testing.assert_allclose(dQ, np.asarray(dQ).T, atol=1e-15)


# --------------------------------------------------------------------------- ODE vs simulation


def _compare(simulated, ode, N):
    """Seed average of sim - ODE within 5 standard errors + 0.25 s / sqrt(N) (module docstring)."""
    num_seeds = simulated.Q.shape[0]
    np.testing.assert_allclose(simulated.alpha[0], ode.alpha, rtol=1e-6)
    worst = 0.0
    for name in ("Q", "R", "eps_g"):
        sims = np.asarray(getattr(simulated, name), np.float64)[:, 1:]
        theory = np.asarray(getattr(ode, name))[1:]
        diff = sims - theory
        mean = diff.mean(0)
        stderr = diff.std(0, ddof=1) / math.sqrt(num_seeds)
        scale = np.abs(theory) if name == "eps_g" else 1.0
        tolerance = 5.0 * stderr + 0.25 * scale / math.sqrt(N)
        assert np.all(np.abs(mean) <= tolerance), (name, mean, tolerance)
        worst = max(worst, float(np.max(np.abs(mean) / tolerance)))
    print(f"largest |sim - ODE| / tolerance: {worst:.2f}")


def test_single_unit_ode_matches_simulation_with_decay_and_noise():
    N, num_seeds, eta, gamma, noise = 400, 8, 1.0, 0.1, 0.3
    k_teacher, k_student, k_runs = jax.random.split(jax.random.key(11), 3)
    B = sim.orthonormal_weights(k_teacher, 1, N, dtype=jnp.float32)
    Q0, R0 = np.array([[0.5]]), np.array([[0.0]])
    J = sim.student_weights(k_student, B, Q0, R0)
    options = dict(gamma=gamma, noise_std=noise)
    runs = jax.vmap(lambda k: sim.simulate(k, J, B, eta, alpha_max=6.0, num_records=NUM_RECORDS, **options))(
        jax.random.split(k_runs, num_seeds)
    )
    assert np.all(np.asarray(runs.status) == 0)
    ode = online.solve(6.0, Q0, R0, np.eye(1), eta, num_records=NUM_RECORDS, **options)
    assert int(ode.status) == 0
    _compare(runs, ode.value, N)


def test_committee_ode_matches_simulation_through_plateau():
    """K = M = 2, eta = 1.5: the learning curve falls to the plateau (eps_g ~ 0.035) and leaves it."""
    N, num_seeds, eta = 500, 8, 1.5
    k_teacher, k_student, k_runs = jax.random.split(jax.random.key(5), 3)
    B = sim.orthonormal_weights(k_teacher, 2, N, dtype=jnp.float32)
    Q0, R0 = 0.2 * np.eye(2), np.diag([0.15, 0.03])
    J = sim.student_weights(k_student, B, Q0, R0)
    np.testing.assert_allclose(J @ J.T / N, Q0, atol=1e-5)
    np.testing.assert_allclose(J @ B.T / N, R0, atol=1e-5)
    runs = jax.vmap(lambda k: sim.simulate(k, J, B, eta, alpha_max=24.0, num_records=NUM_RECORDS))(jax.random.split(k_runs, num_seeds))
    ode = online.solve(24.0, Q0, R0, np.eye(2), eta, num_records=NUM_RECORDS).value
    plateau = float(online.plateau(2, eta).value.eps_g)
    assert np.min(np.abs(np.asarray(ode.eps_g) / plateau - 1.0)) < 0.05  # it does pass the plateau
    assert float(ode.eps_g[-1]) < 0.75 * plateau  # and leaves it
    _compare(runs, ode, N)


# --------------------------------------------------------------------------- plateau


def test_plateau_small_eta_limit():
    for K in (2,):  # K = 3 in the slow test below (each K compiles the solver anew)
        sol = online.plateau(K, 1e-4)
        assert int(sol.status) == 0
        q = 1.0 / (2 * K - 1)
        # corrections are O(eta): Q - C ~ 0.07 eta at K = 2
        np.testing.assert_allclose([sol.value.Q, sol.value.C, sol.value.R], [q, q, math.sqrt(q / K)], rtol=1e-3)
        eps = K / math.pi * (math.pi / 6 - K * math.asin(1.0 / (2 * K)))
        assert float(sol.value.eps_g) == pytest.approx(eps, rel=1e-3)
        assert 0 < float(sol.value.escape_rate) < 1e-4  # lambda = O(eta)


@pytest.mark.slow
def test_plateau_three_units_and_implicit_derivative():
    sol = online.plateau(3, 1e-4)
    assert int(sol.status) == 0
    np.testing.assert_allclose([sol.value.Q, sol.value.C, sol.value.R], [0.2, 0.2, math.sqrt(0.2 / 3)], rtol=1e-3)
    assert float(sol.value.eps_g) == pytest.approx(3 / math.pi * (math.pi / 6 - 3 * math.asin(1 / 6)), rel=1e-3)
    # d(plateau)/d eta by the implicit function theorem against central differences
    for field in ("eps_g", "escape_rate", "Q"):
        f = lambda eta: getattr(online.plateau(2, eta).value, field)  # noqa: E731
        h = 1e-5
        assert float(jax.grad(f)(1.0)) == pytest.approx(float(f(1.0 + h) - f(1.0 - h)) / (2 * h), rel=1e-6)
    # forward-mode derivative of a learning curve with respect to eta
    one = np.ones((1, 1))
    curve = lambda eta: online.solve(5.0, 0.25 * one, 0.1 * one, one, eta, num_records=NUM_RECORDS).value.eps_g  # noqa: E731
    np.testing.assert_allclose(jax.jacfwd(curve)(1.0), (curve(1.0 + 1e-6) - curve(1.0 - 1e-6)) / 2e-6, rtol=1e-5, atol=1e-9)


def _jacobian_spectrum(K, eta, Q, R):
    """Eigenvalues of the full ODE's Jacobian in the coordinates (upper triangle of Q, R)."""
    upper = np.triu_indices(K)

    def flat_rates(z):
        q = jnp.zeros((K, K)).at[upper].set(z[: len(upper[0])])
        q = q + q.T - jnp.diag(jnp.diag(q))
        dQ, dR = online.rates(q, z[len(upper[0]) :].reshape(K, K), jnp.eye(K), eta)
        return jnp.concatenate([dQ[upper], dR.ravel()])

    z = np.concatenate([Q[upper], R.ravel()])
    assert np.max(np.abs(np.asarray(jax.jit(flat_rates)(z)))) < 1e-12  # a fixed point of the full flow
    return np.linalg.eigvals(np.asarray(jax.jit(jax.jacfwd(flat_rates))(z)))


def _leaving_time(alpha, ratio, start):
    """First alpha after index ``start`` with ratio < 1/2 (linear interpolation between records)."""
    after = np.nonzero(ratio[start:] < 0.5)[0][0] + start
    a0, a1, r0, r1 = alpha[after - 1], alpha[after], ratio[after - 1], ratio[after]
    return a0 + (0.5 - r0) * (a1 - a0) / (r1 - r0)


# batch of two runs of 300 records on K = M = 2 (shared by several tests: one compilation)
_batched_solve = jax.vmap(
    lambda alpha_max, Q0, R0, eta: online.solve(alpha_max, Q0, R0, jnp.eye(2), eta, dt=0.05, num_records=300),
    in_axes=(None, 0, 0, 0),
)


def test_plateau_is_the_stall_of_the_ode_and_escape_rate_predicts_its_length():
    K, eta = 2, 1.0
    sol = online.plateau(K, eta)
    assert int(sol.status) == 0
    p = sol.value
    Q_star = float(p.C) + float(p.Q - p.C) * np.eye(K)
    R_star = np.full((K, K), float(p.R))
    # the escape rate is the largest eigenvalue of the linearised full flow; all others are smaller
    spectrum = np.sort(_jacobian_spectrum(K, eta, Q_star, R_star).real)
    assert spectrum[-1] == pytest.approx(float(p.escape_rate), rel=1e-8)
    assert spectrum[-2] < 0.5 * spectrum[-1]
    # small, nearly symmetric initial overlaps: eps_g stalls at plateau().eps_g, then escapes
    breaking = np.array([1e-4, 1e-6])
    R0 = 1e-3 + breaking[:, None, None] * (np.eye(K) - 1.0 / K)
    Q0 = np.broadcast_to(0.2 * np.eye(K), (2, K, K))
    runs = _batched_solve(400.0, Q0, R0, jnp.full((2,), eta))
    assert np.all(np.asarray(runs.status) == 0)
    runs = runs.value
    eps = np.asarray(runs.eps_g)
    ratio = eps / float(p.eps_g)
    # the weakly broken run stays within 1% of the plateau for a long time (escape takes ln(1/delta)/lambda)
    assert float(online.plateau_length(runs.alpha[1], eps[1], p.eps_g, rtol=0.01)) > 0.6 * math.log(1e-2 / 1e-6) / float(p.escape_rate)
    # where it is flattest, the trajectory sits at the fixed point
    band = np.nonzero(np.abs(ratio[1, :-1] - 1.0) < 0.01)[0]
    flattest = band[np.argmin(np.abs(np.diff(eps[1]))[band])]
    assert ratio[1, flattest] == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(runs.Q[1, flattest], Q_star, atol=5e-3)
    np.testing.assert_allclose(runs.R[1, flattest], R_star, atol=5e-3)
    assert np.all(eps[:, -1] < 1e-3)  # both runs learn the task in the end
    # leaving time (eps_g below half the plateau) shifts by ln(100) / lambda: a direct check of lambda
    alpha = np.asarray(runs.alpha[0])
    leave = [_leaving_time(alpha, r, flattest) for r in ratio]
    assert (leave[1] - leave[0]) * float(p.escape_rate) == pytest.approx(math.log(100.0), rel=0.02)
    length = np.asarray(online.plateau_length(alpha, eps, p.eps_g, rtol=0.05))
    assert (length[1] - length[0]) * float(p.escape_rate) == pytest.approx(math.log(100.0), rel=0.1)


def test_plateau_length_counts_record_intervals():
    alpha = np.arange(6.0)
    errors = np.array([[1.0, 0.5, 0.51, 0.49, 0.3, 0.5], [0.5] * 6])
    np.testing.assert_allclose(online.plateau_length(alpha, errors, 0.5, rtol=0.05), [2.0, 5.0])


# --------------------------------------------------------------------------- weight decay, noise


def test_weight_decay_sets_the_asymptotic_error():
    """K = M = 1: without decay eps_g -> 0; with decay it tends to the fixed point of the rates,
    which as eta -> 0 minimises eps_g + (gamma / 2 eta) Q over students J = a B (numpy)."""

    def eps_numpy(a):  # K = M = 1, T = 1, Q = a^2, R = a
        return (math.asin(a * a / (1 + a * a)) + math.asin(0.5) - 2 * math.asin(a / math.sqrt(2 * (1 + a * a)))) / math.pi

    eta, lam = 0.05, 0.2
    one = np.ones((1, 1))
    free, decayed = (
        online.solve(4000.0, 0.25 * one, 0.1 * one, one, eta, gamma=gamma, dt=0.5, num_records=NUM_RECORDS).value
        for gamma in (0.0, lam * eta)
    )
    assert float(free.eps_g[-1]) < 1e-6  # perfect learning without decay
    a_star = minimize_scalar(lambda a: eps_numpy(a) + 0.5 * lam * a * a, bounds=(0.0, 2.0), method="bounded", options={"xatol": 1e-10}).x

    def stationary(x, eta):
        dQ, dR = online.rates(x[0].reshape(1, 1), x[1].reshape(1, 1), one, eta, gamma=lam * eta)
        return jnp.stack([dQ[0, 0], dR[0, 0]])

    fixed = root(stationary, jnp.array([a_star**2, a_star]), jnp.asarray(eta))
    assert int(fixed.status) == 0
    Q_end, R_end = float(decayed.Q[-1, 0, 0]), float(decayed.R[-1, 0, 0])
    np.testing.assert_allclose([Q_end, R_end], np.asarray(fixed.value), rtol=1e-6)  # ODE settles on the root
    # eta -> 0: the fixed point minimises the regularised error; finite eta shifts it by O(eta)
    assert R_end == pytest.approx(a_star, rel=2 * eta)
    assert Q_end == pytest.approx(a_star**2, rel=4 * eta)
    assert float(decayed.eps_g[-1]) == pytest.approx(eps_numpy(a_star), rel=4 * eta)
    assert float(decayed.eps_g[-1]) > 1e-3


# --------------------------------------------------------------------------- numerics and API


def test_solve_is_fourth_order_vmaps_and_flags_bad_traced_input():
    Q0, R0, T = 0.3 * np.eye(2), np.array([[0.2, 0.05], [0.0, 0.1]]), np.eye(2)
    coarse, fine, finest = (online.solve(12.0, Q0, R0, T, 1.2, dt=dt, num_records=NUM_RECORDS).value for dt in (0.2, 0.1, 0.05))
    e1 = np.max(np.abs(np.asarray(coarse.R - finest.R)))
    e2 = np.max(np.abs(np.asarray(fine.R - finest.R)))
    # fourth order: error c dt^4, so (0.2^4 - 0.05^4) / (0.1^4 - 0.05^4) = 17
    assert e1 / e2 == pytest.approx(17.0, rel=0.2)
    # vmapped (records every 0.04): traced bad input sets status bits instead of raising
    R_bad = R0.copy()
    R_bad[0, 0] = np.nan
    batched = _batched_solve(12.0, np.stack([Q0, Q0]), np.stack([R_bad, R0]), jnp.array([-1.0, 1.2]))
    status = np.asarray(batched.status)
    assert status[0] & Status.INVALID_PARAMETER and status[0] & Status.NAN and status[1] == 0
    np.testing.assert_allclose(batched.value.R[1, ::25], finest.R, atol=1e-7)  # RK4 errors ~ 1e-8


def test_student_weights_have_the_requested_overlaps():
    key = jax.random.key(0)
    B = sim.orthonormal_weights(key, 3, 60)
    np.testing.assert_allclose(B @ B.T / 60, np.eye(3), atol=1e-12)
    Q = np.array([[0.8, 0.1], [0.1, 0.5]])
    R = np.array([[0.3, -0.2, 0.1], [0.0, 0.4, 0.2]])
    J = sim.student_weights(jax.random.key(1), 2.0 * B, Q, R)  # T = 4 I
    np.testing.assert_allclose(J @ J.T / 60, Q, atol=1e-12)
    np.testing.assert_allclose(J @ (2.0 * B).T / 60, R, atol=1e-12)
    with pytest.raises(ValueError, match="positive semi-definite"):
        sim.student_weights(key, B, 0.01 * np.eye(2), R)


def test_bad_input_is_refused():
    T, Q, R = np.eye(2), 0.3 * np.eye(2), 0.1 * np.ones((2, 2))
    with pytest.raises(ValueError, match="eta"):
        online.solve(1.0, Q, R, T, 0.0)
    with pytest.raises(ValueError, match="eta"):
        online.rates(Q, R, T, -1.0)
    with pytest.raises(ValueError, match="gamma"):
        online.solve(1.0, Q, R, T, 1.0, gamma=-0.1)
    with pytest.raises(ValueError, match="inconsistent"):
        online.solve(1.0, Q, np.ones((2, 3)), T, 1.0)
    with pytest.raises(ValueError, match="empty"):
        online.eps_g(np.zeros((0, 0)), np.zeros((0, 2)), T)
    with pytest.raises(ValueError, match="symmetric"):
        online.solve(1.0, np.array([[0.3, 0.1], [0.0, 0.3]]), R, T, 1.0)
    with pytest.raises(ValueError, match="semi-definite"):
        online.solve(1.0, 0.001 * np.eye(2), R, T, 1.0)
    with pytest.raises(ValueError, match="finite"):
        online.solve(1.0, Q, R, T, float("nan"))
    with pytest.raises(TypeError, match="alpha_max"):
        online.solve(jnp.asarray(1.0), Q, R, T, 1.0)
    with pytest.raises(ValueError, match="student_readout"):
        online.eps_g(Q, R, T, student_readout=np.ones(3))
    with pytest.raises(ValueError, match="num_hidden"):
        online.plateau(1, 0.5)
    with pytest.raises(ValueError, match="eta"):
        online.plateau(2, np.array([0.5, -0.5]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        online.I3(np.eye(2))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_hidden"):
        sim.orthonormal_weights(key, 0, 10)
    with pytest.raises(ValueError, match="dim"):
        sim.orthonormal_weights(key, 5, 3)
    B = sim.orthonormal_weights(key, 2, 20)
    J = sim.orthonormal_weights(key, 2, 20)
    with pytest.raises(ValueError, match="eta"):
        sim.simulate(key, J, B, 0.0, alpha_max=1.0)
    with pytest.raises(ValueError, match="same input dimension"):
        sim.simulate(key, J[:, :10], B, 1.0, alpha_max=1.0)
    with pytest.raises(ValueError, match="num_hidden, N"):
        sim.simulate(key, J[0], B, 1.0, alpha_max=1.0)
    with pytest.raises(ValueError, match="num_hidden, N"):
        sim.simulate(key, J[:0], B, 1.0, alpha_max=1.0)
    with pytest.raises(TypeError, match="typed PRNG key"):
        sim.simulate(jax.random.PRNGKey(0), J, B, 1.0, alpha_max=1.0)
    with pytest.raises(ValueError, match="NaN"):
        sim.simulate(key, J.at[0, 0].set(jnp.nan), B, 1.0, alpha_max=1.0)
