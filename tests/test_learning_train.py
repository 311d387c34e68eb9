"""Training loops (jaxphys.learning.train) against exact references.

* Full-batch GD on the square loss from w = 0 converges to numpy's least-squares / minimum-norm
  solution (deterministic).
* Learning curve of min-norm least squares with Gaussian inputs against its exact finite-size
  expectation (inverse-Wishart moments, derived in ``min_norm_excess``).
* Langevin dynamics against the exact stationary law of the discretised Ornstein-Uhlenbeck
  process (the Gaussian ridge posterior with its O(lr) bias); the continuous-time posterior is
  rejected, so the test resolves the bias.
* SGD with i.i.d. / persistent / frozen Bernoulli batches and with-replacement minibatches against
  the exact stationary mean and covariance of the linear iteration ``w' = A w + c`` driven by the
  batch Markov chain (a linear system over the 2^P batch states, ``stationary_moments``).
* The in/out process: mean, transition probabilities and autocorrelation ``exp(-k/tau)``.
* Reproducibility and vmapped == looped (with an equinox model holding a function), a vmapped
  learning-rate sweep with diverging runs (status), bad input.
* Learning curves in groups of sizes equal the one padded call (same keys, same numbers up to float
  rounding); ``size_groups`` covers every size once with the least padded work (brute force).

Statistical checks compare with z-scores at 4.5 standard errors estimated from the samples
(independent chains or seeds); with 70 such comparisons the false-failure rate for a random seed
is below 1e-3 (Bonferroni: 70 x 6.8e-6), and the seeds are fixed, so the tests are deterministic.
"""

import itertools
import math
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxphys.learning import data, train
from jaxphys.status import Status

Z = 4.5  # z-score tolerance (two-sided tail 6.8e-6)


def square_loss(w, x, y):
    return 0.5 * (y - w @ x) ** 2


def z_scores(samples, expected):
    """(sample mean - expected) / stderr for i.i.d. rows of ``samples``."""
    samples = np.asarray(samples, np.float64)
    return (samples.mean(0) - expected) / (samples.std(0, ddof=1) / math.sqrt(len(samples)))


def covariance_z_scores(w, expected_mean, expected_cov):
    """z of the sample covariance (about the exact mean) entry by entry, from the spread of the products."""
    d = np.asarray(w, np.float64) - expected_mean
    products = d[:, :, None] * d[:, None, :]
    return z_scores(products.reshape(len(d), -1), expected_cov.reshape(-1))


# --------------------------------------------------------------------------- exact references


def min_norm_excess(num_samples, dim, teacher_norm2, noise_var):
    """E |w_hat - w*|^2 / N of min-norm least squares, given the teacher (x ~ N(0, I_N)).

    With beta = w / sqrt N (so y = beta*.x + sigma xi): for P > N + 1, beta_hat - beta* =
    (X^T X)^-1 X^T sigma xi, whose squared norm averages to sigma^2 tr E (X^T X)^-1 = sigma^2 N / (P - N - 1)
    (inverse Wishart). For P < N - 1, beta_hat = Pi beta* + X^T (X X^T)^-1 sigma xi with Pi a uniformly
    random rank-P projection: E |(1 - Pi) beta*|^2 = (1 - P/N) |beta*|^2 and the noise gives
    sigma^2 tr E (X X^T)^-1 = sigma^2 P / (N - P - 1); the cross term vanishes.
    """
    p, n = num_samples, dim
    if p > n + 1:
        return noise_var * n / (p - n - 1)
    assert p < n - 1
    return (1 - p / n) * teacher_norm2 + noise_var * p / (n - p - 1)


def stationary_moments(A, c, K, pi):
    """Exact stationary mean and covariance of ``w_{t+1} = A[s_t] w_t + c[s_t]``, ``s`` a Markov chain.

    ``A`` (S, N, N), ``c`` (S, N), transition matrix ``K`` (S, S), stationary law ``pi`` (S,). The joint
    chain (w, s) is linear given s: with mu_s = E[w 1{s_t = s}] and M_s = E[w w^T 1{s_t = s}],

        mu_s'  = sum_s K[s, s'] (A_s mu_s + pi_s c_s)
        M_s'   = sum_s K[s, s'] (A_s M_s A_s^T + A_s mu_s c_s^T + c_s mu_s^T A_s^T + pi_s c_s c_s^T),

    two linear systems. I.i.d. batches are the case K[s, s'] = pi_s'.
    """
    S, N = c.shape
    T1 = (K.T[:, None, :, None] * A[None, :, :, :].transpose(0, 2, 1, 3)).reshape(S * N, S * N)
    mu = np.linalg.solve(np.eye(S * N) - T1, (K.T @ (pi[:, None] * c)).reshape(-1)).reshape(S, N)
    AA = np.einsum("sab,scd->sacbd", A, A).reshape(S, N * N, N * N)
    T2 = (K.T[:, None, :, None] * AA[None].transpose(0, 2, 1, 3)).reshape(S * N * N, S * N * N)
    Amu = np.einsum("sij,sj->si", A, mu)
    source = np.einsum("si,sj->sij", Amu, c)
    source = source + source.transpose(0, 2, 1) + pi[:, None, None] * np.einsum("si,sj->sij", c, c)
    M = np.linalg.solve(np.eye(S * N * N) - T2, np.einsum("st,sij->tij", K, source).reshape(-1)).reshape(S, N, N)
    mean = mu.sum(0)
    return mean, M.sum(0) - np.outer(mean, mean)


def batch_chain(kind, weights, *, fraction=None, persistence=None, batch_size=None):
    """Batch states as coefficients ``a_i`` (gradient = sum_i a_i grad l_i; E a_i = w_i / W), K and pi.

    ``weights`` (n,) of the active samples. With replacement, ``a_i = (times i was drawn) n w_i / (B W)``
    over all n^B ordered draws; Bernoulli masks, ``a_i = s_i w_i / (b W)`` over the 2^n masks with
    the two-state chain of each sample.
    """
    n, total = len(weights), weights.sum()
    if kind == "replacement":
        draws = np.array(list(itertools.product(range(n), repeat=batch_size)))
        counts = np.stack([np.bincount(d, minlength=n) for d in draws]).astype(float)
        pi = np.full(len(counts), 1.0 / len(counts))
        return counts * n * weights / (batch_size * total), np.tile(pi, (len(pi), 1)), pi
    b = fraction
    masks = np.array(list(itertools.product([0, 1], repeat=n)), float)
    pi = np.where(masks == 1, b, 1 - b).prod(1)
    correlation = 0.0 if persistence == 0 else math.exp(-1.0 / persistence)
    p_in, p_out = b * (1 - correlation), (1 - b) * (1 - correlation)
    K = np.ones((1, 1))
    for _ in range(n):
        K = np.kron(K, np.array([[1 - p_in, p_in], [p_out, 1 - p_out]]))
    return masks * weights / (b * total), K, pi


# --------------------------------------------------------------------------- gradient descent


def test_gradient_descent_converges_to_least_squares_and_min_norm():
    """P = 10 < N (min-norm interpolator), P = 40 > N and fractional weights, one shape vmapped over weights."""
    n, p = 20, 40
    rng = np.random.default_rng(0)
    X = rng.normal(size=(p, n)).astype(np.float32).astype(np.float64)
    Y = (X @ rng.normal(size=n) / math.sqrt(n) + 0.3 * rng.normal(size=p)).astype(np.float32).astype(np.float64)
    dataset = (jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32))
    sizes = (10, 40)
    fractional = np.random.default_rng(2).uniform(0.1, 1.0, p)  # general weights: weighted least squares
    weights = [np.arange(p) < s for s in sizes] + [fractional]
    hessians = [(X.T * w) @ X / w.sum() for w in weights]
    lr = 1.0 / max(np.linalg.eigvalsh(h).max() for h in hessians)
    masks = jnp.concatenate([train.size_masks(sizes, p), jnp.asarray(fractional[None], jnp.float32)])
    result = jax.vmap(
        lambda mask: train.fit(
            jax.random.key(1), jnp.zeros(n), square_loss, dataset, optax.sgd(lr), num_steps=3000, weights=mask, log_every=1000
        )
    )(masks)
    assert np.all(np.asarray(result.status) == 0)
    for j, s in enumerate(sizes):
        reference = np.linalg.lstsq(X[:s], Y[:s], rcond=None)[0]  # minimum-norm solution when s < n
        np.testing.assert_allclose(np.asarray(result.model[j]), reference, atol=2e-5 * np.abs(reference).max())
        residual = 0.5 * np.mean((Y[:s] - X[:s] @ reference) ** 2)
        np.testing.assert_allclose(float(result.history["loss"][j, -1]), residual, atol=1e-6)
        assert np.all(np.diff(np.asarray(result.history["loss"][j])) <= 1e-7)  # GD on a convex quadratic
    root = np.sqrt(fractional)
    weighted = np.linalg.lstsq(X * root[:, None], Y * root, rcond=None)[0]
    np.testing.assert_allclose(np.asarray(result.model[2]), weighted, atol=2e-5 * np.abs(weighted).max())
    assert float(result.history["loss"][0, -1]) < 1e-9  # P < N interpolates
    np.testing.assert_array_equal(result.history["step"][0], [0, 1000, 2000, 3000])


def test_learning_curve_of_min_norm_least_squares_matches_exact_expectation():
    """Excess error |w - w*|^2 / N over 48 seeds x 4 sizes (one call) against ``min_norm_excess``."""
    n, sigma, seeds, sizes = 32, 0.5, 48, (8, 16, 64, 96)

    def loss(w, x, y):
        return 0.5 * (y - w @ x / math.sqrt(n)) ** 2

    def metrics(w, teacher):
        return {"excess": jnp.sum((w - teacher) ** 2) / n, "teacher_norm2": jnp.sum(teacher**2) / n}

    def curve_of(num_seeds, num_groups):
        return train.learning_curve(
            jax.random.key(3), lambda k: jnp.zeros(n), loss, lambda k, p: data.teacher_linear(k, p, n, noise_std=sigma),
            optax.sgd(n / 10.0), sizes, num_seeds=num_seeds, num_steps=2000, eval_fn=metrics, log_every=2000,
            num_groups=num_groups,
        )  # fmt: skip

    curve = curve_of(seeds, None)  # automatic: one group (a linear model), every run padded to 96
    assert curve.status.shape == (seeds, len(sizes)) and np.all(np.asarray(curve.status) == 0)
    # two groups (padded to 16 and 96) == one group: the same keys give the same runs (up to float
    # rounding); split(key, 48)[:2] == split(key, 2), so two seeds of the grouped curve suffice
    grouped = curve_of(2, 2)
    np.testing.assert_allclose(grouped.model, curve.model[:2], rtol=1e-5, atol=1e-6)
    for name in ("loss", "excess"):
        np.testing.assert_allclose(grouped.history[name], curve.history[name][:2], rtol=1e-5, atol=1e-7)
    assert curve.model.shape == (seeds, len(sizes), n)
    excess = np.asarray(curve.history["excess"][:, :, -1], np.float64)
    teacher_norm2 = np.asarray(curve.history["teacher_norm2"][:, 0, -1], np.float64)
    for j, p in enumerate(sizes):
        expected = np.array([min_norm_excess(p, n, t, sigma**2) for t in teacher_norm2])  # given each teacher
        z = z_scores(excess[:, j] - expected, 0.0)
        assert abs(z) < Z, (p, excess[:, j].mean(), expected.mean(), z)


def padded_work(sizes, labels, num_groups):
    """Work of training ``sizes`` in groups (``labels[j]``: the group of size j), each padded to its largest."""
    members = [[s for s, label in zip(sizes, labels) if label == g] for g in range(num_groups)]
    return sum(len(m) * max(m) for m in members if m)


def test_size_groups_cover_every_size_once_and_minimise_padded_work():
    """``size_groups`` against brute force over every assignment of sizes to groups; the automatic
    choice of ``learning_curve``; the prefix property of the batch draws that grouping relies on."""
    rng = np.random.default_rng(40)
    for _ in range(20):
        sizes = [int(v) for v in rng.integers(1, 40, rng.integers(1, 7))]
        for num_groups in (1, 2, 3):
            groups = train.size_groups(sizes, num_groups)
            assert sorted(j for g in groups for j in g) == list(range(len(sizes)))  # every size exactly once
            assert 1 <= len(groups) <= num_groups and all(groups)
            work = sum(len(g) * max(sizes[j] for j in g) for g in groups)
            labellings = itertools.product(range(num_groups), repeat=len(sizes))  # every assignment to groups
            best = min(padded_work(sizes, labels, num_groups) for labels in labellings)
            assert work == best, (sizes, num_groups, groups)
    assert train.size_groups([5, 5, 5], 3) == ((0, 1, 2),)  # equal sizes are never split
    # automatic, 16 geometric sizes (the benchmark's grid): a network with hidden layers (here 129 parameters
    # per input number) and a long curve -> 4 groups within 25% of the unpadded work; a linear model
    # (padding nearly free) or a short curve (compilation dominates) -> one group
    sizes = tuple(int(round(a * 128)) for a in np.geomspace(0.25, 4.0, 16))
    assert train._auto_num_groups(sizes, 4 * 1000, 129 * 128, 128) == 4
    padded = sum(len(g) * max(sizes[j] for j in g) for g in train.size_groups(sizes, 4))
    assert padded <= 1.25 * sum(sizes) and len(sizes) * max(sizes) > 2.8 * sum(sizes)
    assert train._auto_num_groups(sizes, 4 * 1000, 128, 128) == 1
    assert train._auto_num_groups(sizes, 4 * 10, 129 * 128, 128) == 1
    # a group padded to P_g draws the same batches as the full padding: the per-sample draws of fit
    # (bernoulli, uniform) are prefix-consistent in the number of samples
    key = jax.random.key(41)
    np.testing.assert_array_equal(jax.random.bernoulli(key, 0.5, (12,))[:5], jax.random.bernoulli(key, 0.5, (5,)))
    np.testing.assert_array_equal(jax.random.uniform(key, (12,))[:5], jax.random.uniform(key, (5,)))
    with pytest.raises(ValueError, match="num_groups"):
        train.size_groups([3, 4], 0)


# --------------------------------------------------------------------------- Langevin


def test_langevin_samples_the_discretised_ridge_posterior():
    """4096 chains of Langevin on L = mean square loss + lam |w|^2 / 2: final states are exact draws of
    N(m, T A^-1 (1 - lr A / 2)^-1), A = X^T X / P + lam; the continuous-time T A^-1 is rejected."""
    rng = np.random.default_rng(5)
    n, p, lam, temperature, lr = 3, 12, 0.5, 0.05, 0.3
    X = rng.normal(size=(p, n))
    Y = X @ rng.normal(size=n) + 0.3 * rng.normal(size=p)
    A = X.T @ X / p + lam * np.eye(n)
    mean = np.linalg.solve(A, X.T @ Y / p)
    cov = temperature * np.linalg.inv(A) @ np.linalg.inv(np.eye(n) - lr * A / 2)
    assert lr * np.linalg.eigvalsh(A).max() < 2  # stable

    optimizer = train.langevin(lr, temperature)
    dataset = (jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32))
    chains = jax.jit(
        jax.vmap(
            lambda k: train.fit(
                k, jnp.zeros(n), square_loss, dataset, optimizer, num_steps=200, log_every=200,
                penalty=lambda w: 0.5 * lam * jnp.sum(w**2),
            ).model
        )
    )(jax.random.split(jax.random.key(7), 4096))  # fmt: skip
    w = np.asarray(chains, np.float64)
    assert np.all(np.abs(z_scores(w, mean)) < Z)
    assert np.all(np.abs(covariance_z_scores(w, mean, cov)) < Z)
    # the continuous-time law T A^-1 is rejected (expected max z about 10): the test resolves the O(lr) bias
    assert np.max(np.abs(covariance_z_scores(w, mean, temperature * np.linalg.inv(A)))) > 6


def test_langevin_standalone_with_optax_and_schedule():
    """Outside fit: the key in the state drives the noise; T = 0 is gradient descent."""
    grads = {"a": jnp.ones(3), "b": jnp.ones((2, 2))}
    params = jax.tree.map(jnp.zeros_like, grads)
    deterministic = train.langevin(0.1, 0.0)
    updates, _ = deterministic.update(grads, deterministic.init(params), params)
    np.testing.assert_allclose(updates["a"], -0.1 * np.ones(3))
    noisy = train.langevin(optax.constant_schedule(0.1), 1.0, key=jax.random.key(4))
    state = noisy.init(params)
    first, state = noisy.update(grads, state, params)
    second, state = noisy.update(grads, state, params)
    assert int(state.count) == 2
    assert not np.allclose(first["a"], second["a"])  # fresh noise each step
    again, _ = noisy.update(grads, noisy.init(params), params)
    np.testing.assert_array_equal(first["b"], again["b"])  # a pure function of the key
    with pytest.raises(ValueError, match="temperature"):
        train.langevin(0.1, -1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        train.langevin(0.0, 1.0)


# --------------------------------------------------------------------------- SGD and persistent SGD

SGD_N, SGD_P, SGD_LR, SGD_LAM, SGD_B = 3, 6, 0.2, 0.3, 0.5


@pytest.fixture(scope="module")
def sgd_problem():
    """6 weighted samples plus 2 rows of padding (weight 0, wild values that must not matter)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(SGD_P, SGD_N))
    Y = X @ rng.normal(size=SGD_N) + 0.5 * rng.normal(size=SGD_P)
    weights = rng.uniform(0.5, 1.0, SGD_P)
    padded = (np.concatenate([X, 50 * np.ones((2, SGD_N))]), np.concatenate([Y, [-80.0, 90.0]]), np.concatenate([weights, [0, 0]]))
    return X, Y, weights, padded


def exact_sgd_law(X, Y, coefficients, K, pi):
    h = np.einsum("pi,pj->pij", X, X)
    A = (1 - SGD_LR * SGD_LAM) * np.eye(X.shape[1]) - SGD_LR * np.einsum("sp,pij->sij", coefficients, h)
    c = SGD_LR * coefficients @ (X * Y[:, None])
    return stationary_moments(A, c, K, pi)


class Linear(eqx.Module):
    """``activation(weight . x)``: an equinox model with a non-array leaf (its activation), like eqx.nn layers."""

    weight: jax.Array
    activation: Callable

    def __call__(self, x):
        return self.activation(self.weight @ x)


def identity(h):
    return h


def module_square_loss(model, x, y):
    return 0.5 * (y - model(x)) ** 2


def ridge(model):
    return 0.5 * SGD_LAM * jnp.sum(model.weight**2)


SGD_OPTIMIZER = optax.sgd(SGD_LR)  # one object: functions passed to fit are static, so reuse keeps one compile


def _sgd_run(key, padded, **batch):
    X, Y, weights = (jnp.asarray(a, jnp.float32) for a in padded)
    model = Linear(jnp.zeros(SGD_N), identity)
    return train.fit(
        key, model, module_square_loss, (X, Y), SGD_OPTIMIZER, num_steps=300, log_every=300, weights=weights, penalty=ridge, **batch
    )


def _sgd_chains(padded, *, num_chains=4096, **batch):
    """Final weights of independent SGD chains (filter-vmapped over keys) on the weighted ridge problem."""
    keys = jax.random.split(jax.random.key(12), num_chains)
    return eqx.filter_vmap(lambda k: _sgd_run(k, padded, **batch).model.weight)(keys)


def test_persistent_sgd_stationary_law_matches_exact_markov_chain(sgd_problem):
    """tau = 0 (i.i.d. Bernoulli batches: plain SGD), tau = 4 and tau = inf (frozen batch), one compile.
    Also: the same key gives the same run, and vmapped runs equal looped ones."""
    X, Y, weights, padded = sgd_problem
    run = eqx.filter_jit(lambda tau: _sgd_chains(padded, batch_fraction=SGD_B, persistence=tau))
    laws = {}
    for tau in (0.0, 4.0, math.inf):
        mean, cov = exact_sgd_law(X, Y, *batch_chain("bernoulli", weights, fraction=SGD_B, persistence=tau))
        laws[tau] = cov
        w = np.asarray(run(jnp.float32(tau)), np.float64)
        assert np.all(np.abs(z_scores(w, mean)) < Z), tau
        assert np.all(np.abs(covariance_z_scores(w, mean, cov)) < Z), tau
    # the three laws are far apart compared with the errors: the test can tell persistence times apart
    assert np.min(np.diag(laws[4.0]) / np.diag(laws[0.0])) > 2 and np.min(np.diag(laws[math.inf]) / np.diag(laws[4.0])) > 2

    keys = jax.random.split(jax.random.key(12), 4096)[:3]
    looped = [_sgd_run(k, padded, batch_fraction=SGD_B, persistence=jnp.float32(math.inf)) for k in keys]
    np.testing.assert_allclose(np.stack([r.model.weight for r in looped]), w[:3], rtol=1e-5, atol=1e-6)
    again = _sgd_run(keys[0], padded, batch_fraction=SGD_B, persistence=jnp.float32(math.inf))
    for a, b in zip(jax.tree.leaves(eqx.filter(looped[0], eqx.is_array)), jax.tree.leaves(eqx.filter(again, eqx.is_array))):
        np.testing.assert_array_equal(a, b)
    assert looped[0].model.activation is identity  # non-array leaves come back unchanged


def test_minibatch_sgd_with_replacement_stationary_law(sgd_problem):
    X, Y, weights, padded = sgd_problem
    mean, cov = exact_sgd_law(X, Y, *batch_chain("replacement", weights, batch_size=2))
    w = np.asarray(_sgd_chains(padded, batch_size=2), np.float64)
    assert np.all(np.abs(z_scores(w, mean)) < Z)
    assert np.all(np.abs(covariance_z_scores(w, mean, cov)) < Z)


def test_persistent_masks_mean_transitions_and_correlation_time():
    b, tau, num_samples, num_steps = 0.3, 5.0, 256, 2000
    s = np.asarray(train.persistent_masks(jax.random.key(8), num_samples, num_steps, batch_fraction=b, persistence=tau), float)
    assert s.shape == (num_steps, num_samples)
    per_chain_mean = s.mean(0)
    assert abs(z_scores(per_chain_mean, b)) < Z
    was_out, was_in = s[:-1] == 0, s[:-1] == 1
    rate_in = (s[1:] * was_out).sum(0) / was_out.sum(0)
    rate_out = ((1 - s[1:]) * was_in).sum(0) / was_in.sum(0)
    correlation = math.exp(-1 / tau)
    assert abs(z_scores(rate_in, b * (1 - correlation))) < Z
    assert abs(z_scores(rate_out, (1 - b) * (1 - correlation))) < Z
    d = s - b
    for lag in (1, 3, 10):
        rho = (d[:-lag] * d[lag:]).mean(0) / (b * (1 - b))
        assert abs(z_scores(rho, math.exp(-lag / tau))) < Z, lag
    iid = np.asarray(train.persistent_masks(jax.random.key(9), num_samples, num_steps, batch_fraction=b, persistence=0.0), float)
    assert abs(z_scores(((iid[:-1] - b) * (iid[1:] - b)).mean(0), 0.0)) < Z
    frozen = np.asarray(train.persistent_masks(jax.random.key(9), num_samples, num_steps, batch_fraction=b, persistence=math.inf))
    assert np.all(frozen == frozen[0])


# --------------------------------------------------------------------------- reproducibility, vmap, status


def test_vmapped_learning_rates_one_diverges_status_nan_others_unaffected():
    """lr = 100 diverges, lr = NaN fails at the first step: status NAN, no garbage, the others unchanged."""
    rng = np.random.default_rng(30)
    dataset = (jnp.asarray(rng.normal(size=(16, 4)), jnp.float32), jnp.asarray(rng.normal(size=16), jnp.float32))

    def run(lr, throw=False):
        return train.fit(
            jax.random.key(31), jnp.zeros(4), square_loss, dataset, optax.sgd(lr), num_steps=210, log_every=50, throw=throw
        )

    swept = jax.jit(jax.vmap(run))(jnp.array([0.1, 100.0, jnp.nan, 0.1]))
    status = np.asarray(swept.status)
    assert status[0] == 0 and status[3] == 0 and status[1] & Status.NAN and status[2] & Status.NAN
    assert np.all(np.isfinite(np.asarray(swept.model)))  # a failing run keeps its last finite state
    assert not np.isfinite(float(swept.history["loss"][1, -1]))  # ... and its history shows the failure
    np.testing.assert_array_equal(np.asarray(swept.model[2]), 0.0)  # NaN from the first step: nothing applied
    np.testing.assert_array_equal(np.asarray(swept.model[0]), np.asarray(swept.model[3]))  # unaffected
    assert float(swept.history["loss"][0, -1]) < float(swept.history["loss"][0, 0])
    np.testing.assert_array_equal(swept.history["step"][0], [0, 50, 100, 150, 200, 210])  # the tail is logged too
    with pytest.raises(Exception, match="NaN"):
        jax.vmap(lambda lr: run(lr, throw=True))(jnp.array([0.1, 100.0]))


def test_bad_input_gives_clear_errors():
    x, y = jnp.ones((5, 3)), jnp.ones(5)
    w, key, sgd = jnp.zeros(3), jax.random.key(0), optax.sgd(0.1)

    def fit(**kwargs):
        args = dict(key=key, model=w, loss=square_loss, data=(x, y), optimizer=sgd, num_steps=3)
        args.update(kwargs)
        return train.fit(args.pop("key"), args.pop("model"), args.pop("loss"), args.pop("data"), args.pop("optimizer"), **args)

    with pytest.raises(ValueError, match="samples"):
        fit(data=(x, jnp.ones(4)))
    with pytest.raises(ValueError, match="empty"):
        fit(data=(jnp.ones((0, 3)), jnp.ones(0)))
    with pytest.raises(ValueError, match="NaN"):
        fit(data=(x.at[0, 0].set(jnp.nan), y))
    with pytest.raises(ValueError, match="weights"):
        fit(weights=jnp.ones(4))
    with pytest.raises(ValueError, match="all weights are 0"):
        fit(weights=jnp.zeros(5))
    with pytest.raises(ValueError, match=">= 0"):
        fit(weights=-jnp.ones(5))
    with pytest.raises(TypeError, match="typed PRNG key"):
        fit(key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="num_steps"):
        fit(num_steps=0)
    with pytest.raises(ValueError, match="one scalar per sample"):
        fit(loss=lambda w, x, y: w * x)
    with pytest.raises(TypeError, match="failed"):
        fit(loss=lambda w, x, y: w @ jnp.ones(7))
    with pytest.raises(ValueError, match="persistence needs a batch"):
        fit(persistence=1.0)
    with pytest.raises(ValueError, match="not both"):
        fit(batch_size=2, batch_fraction=0.5)
    with pytest.raises(ValueError, match="batch_fraction"):
        fit(batch_fraction=1.5)
    with pytest.raises(ValueError, match="persistence"):
        fit(batch_size=2, persistence=-1.0)
    with pytest.raises(ValueError, match="log_every"):
        fit(log_every=10)
    with pytest.raises(TypeError, match="optax"):
        fit(optimizer=0.1)
    with pytest.raises(TypeError, match="floating-point"):
        fit(model=jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="num_samples"):
        train.size_masks([3, 9], 5)
    with pytest.raises(TypeError, match="weights"):
        train.learning_curve(key, w, square_loss, lambda k, p: data.teacher_linear(k, p, 3), sgd, [2], num_seeds=1, num_steps=1, weights=jnp.ones(2))
