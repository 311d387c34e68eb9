"""Hebbian learning (jaxphys.learning.hebbian).

References:
- Hebb perceptron: closed forms of R, E_g and E_t (batch and on-line) against scipy.integrate.quad
  (independent quadrature) and a Poisson sum done in numpy; R(t = inf) against
  theory.teacher_student.hebb; simulations (N = 500, 16 teachers) against the closed forms within
  4 standard errors of the seed scatter plus the O(1/N) finite-size bias (false-failure rate
  below 1e-3 for the 12 comparisons together, Gaussian tails).
- Dreaming couplings against supervised_hebbian (t = 0) and Hopfield.dreaming (+-1 patterns),
  and the N x N form against the Q x Q one.
- Digits classifiers: held-out accuracy against nearest-class-mean and chance with conservative
  margins (deterministic given the seeds; measured values in the comments).
- Pavlov machine: the mean of the synapses over independent runs against the exact stationary
  mean of the Euler-Maruyama scheme (|z| < 5 for 78 entries, sample variance of 96 runs:
  false-failure rate ~2e-4); the replica variance against the leading-order formula; the RMS
  deviation from the Hebbian kernel against its prediction at two time-scale ratios.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.learning import data, hebbian, supervised_hebbian
from jaxphys.models import Hopfield
from jaxphys.status import Status
from jaxphys.theory import teacher_student

scipy_integrate = pytest.importorskip("scipy.integrate")
scipy_stats = pytest.importorskip("scipy.stats")

ALPHAS = (0.5, 1.0, 2.0, 4.0)
C = math.sqrt(2.0 / math.pi)


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _H(x):
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _abs_normal_quad(f):
    value, _ = scipy_integrate.quad(lambda u: 2.0 * scipy_stats.norm.pdf(u) * f(u), 0.0, np.inf, epsabs=1e-15, epsrel=1e-12)
    return value


def _batch_training_error(alpha):
    return _abs_normal_quad(lambda u: _H((1.0 + C * alpha * u) / math.sqrt(alpha)))


def _online_training_error(alpha, t):
    mean, scale = t / alpha, math.sqrt(t * t / alpha + t)
    counts = np.arange(0, int(mean + 15 * math.sqrt(mean) + 30))
    pmf = scipy_stats.poisson.pmf(counts, mean)
    return sum(p * _abs_normal_quad(lambda u, n=n: _H((n + C * t * u) / scale)) for n, p in zip(counts, pmf) if p > 1e-18)


# --------------------------------------------------------------------------- Hebb perceptron


@pytest.mark.usefixtures("x64")
def test_hebb_errors_closed_forms():
    alphas = np.array([0.01, 0.5, 1.0, 4.0, 100.0])
    batch = hebbian.hebb_errors(jnp.asarray(alphas))
    ref = teacher_student.hebb(jnp.asarray(alphas))
    np.testing.assert_allclose(batch.R, ref.R, rtol=1e-14)
    np.testing.assert_allclose(batch.generalisation_error, ref.eps, rtol=1e-14)
    np.testing.assert_allclose(batch.training_error, [_batch_training_error(a) for a in alphas], rtol=1e-9, atol=1e-15)
    assert float(batch.training_error[2]) == pytest.approx(0.0677144, abs=1e-7)
    # the self term: E_t < E_g. At large alpha E_g = (2 pi alpha)^(-1/2) (1 + O(1/alpha)) while the
    # self term shifts E_t by -(2 pi alpha)^(-1/2) sqrt(pi/(2 alpha)): E_g - E_t -> 1/(2 alpha)
    train, gen = np.asarray(batch.training_error), np.asarray(batch.generalisation_error)
    assert np.all(train < gen)
    assert train[-1] * math.sqrt(2 * math.pi * 100.0) == pytest.approx(1.0 - math.sqrt(math.pi / 200.0), abs=2e-3)
    assert 2 * 100.0 * (gen[-1] - train[-1]) == pytest.approx(1.0, abs=0.06)  # 0.953: O(alpha^-1/2) corrections
    assert float(batch.training_error[0]) < 1e-20  # alpha -> 0: every example is memorised

    pairs = [(0.5, 0.2), (1.0, 1.5), (4.0, 1.5), (2.0, 30.0)]
    online = hebbian.hebb_errors(jnp.array([a for a, _ in pairs]), time=jnp.array([t for _, t in pairs]))
    for (a, t), r, e_t in zip(pairs, np.asarray(online.R), np.asarray(online.training_error)):
        assert r == pytest.approx(1.0 / math.sqrt(1.0 + 0.5 * math.pi * (1 / a + 1 / t)), rel=1e-14)
        assert e_t == pytest.approx(_online_training_error(a, t), rel=1e-9, abs=1e-15)
    # t -> inf recovers the batch rule (O(alpha/t) corrections); t/alpha beyond the Poisson window -> NaN
    late = hebbian.hebb_errors(1.0, time=200.0)
    assert float(late.training_error) == pytest.approx(float(batch.training_error[2]), rel=0.02)
    assert math.isnan(float(hebbian.hebb_errors(1.0, time=1e5).training_error))
    # differentiable: d E_t / d alpha against a central difference
    grad = float(jax.grad(lambda a: hebbian.hebb_errors(a).training_error)(1.0))
    h = 1e-5
    fd = (_batch_training_error(1.0 + h) - _batch_training_error(1.0 - h)) / (2 * h)
    assert grad == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("time", [None, 1.5], ids=["batch", "online"])
def test_hebb_simulation_matches_closed_form(time):
    n, seeds = 500, 16
    keys = jax.random.split(jax.random.key(7), seeds)
    sim = jax.vmap(lambda k: hebbian.hebb_simulation(k, ALPHAS, n, time=time))(keys)
    theory = hebbian.hebb_errors(jnp.asarray(ALPHAS), time=math.inf if time is None else time)
    for name in ("R", "training_error", "generalisation_error"):
        values = np.asarray(getattr(sim, name), np.float64)
        mean, stderr = values.mean(0), values.std(0, ddof=1) / math.sqrt(seeds)
        expected = np.asarray(getattr(theory, name))
        # measured (batch): R 0.490/0.624/0.752/0.848 vs 0.491/0.624/0.748/0.847, stderr ~0.003;
        # E_t 0.041/0.063/0.086/0.090 vs 0.038/0.068/0.087/0.091, stderr ~0.002
        assert np.all(np.abs(mean - expected) < 4 * stderr + 1.0 / n), (name, mean, expected, stderr)


def test_online_hebb_tends_to_batch_and_subsets():
    x = np.asarray(jax.random.normal(jax.random.key(3), (20, 50)))
    y = np.sign(x[:, 0])
    w = np.asarray(hebbian.online_hebb(jax.random.key(4), x, y, 20_000, learning_rate=0.5))
    batch = y @ x / math.sqrt(50)
    np.testing.assert_allclose(hebbian.hebb_weights(x, y), batch, rtol=1e-5)
    cosine = w @ batch / (np.linalg.norm(w) * np.linalg.norm(batch))
    assert cosine > 0.998  # counts 1000 +- 32 per example: 1 - cosine ~ 5e-4
    # one example only: w = (steps * eta / sqrt N) y^0 x^0 exactly
    single = hebbian.online_hebb(jax.random.key(4), x, y, 20_000, num_examples=1)
    np.testing.assert_allclose(single, 20_000 * y[0] * x[0] / math.sqrt(50), rtol=1e-5)


# --------------------------------------------------------------------------- dreaming couplings


@pytest.mark.usefixtures("x64")
def test_dreaming_couplings_reduce_to_known_rules():
    rng = np.random.default_rng(0)
    examples = rng.choice(np.array([-1, 1], np.int8), size=(3, 4, 30))
    means = examples.mean(axis=1)
    np.testing.assert_allclose(hebbian.dreaming_couplings(means, 0.0), supervised_hebbian(examples, 1.0).J, atol=1e-14)
    patterns = rng.choice(np.array([-1, 1], np.int8), size=(5, 30))
    for t in (0.7, math.inf):
        np.testing.assert_allclose(hebbian.dreaming_couplings(patterns, t), Hopfield.dreaming(patterns, t).J, atol=1e-12)
    # Q > N: the N x N push-through form against the Q x Q formula
    eta, t = rng.normal(size=(30, 12)), 2.5
    ref = (1 + t) * eta.T @ np.linalg.solve(np.eye(30) + t * eta @ eta.T / 12, eta) / 12
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(hebbian.dreaming_couplings(eta, t), ref, atol=1e-12)


# --------------------------------------------------------------------------- digits classifiers


@pytest.fixture(scope="module")
def digits_split():
    ds = data.digits(spins=True)
    x, y = np.asarray(ds.x, np.int8), np.asarray(ds.y)
    perm = np.asarray(jax.random.permutation(jax.random.key(0), y.size))
    train, test = perm[:1000], perm[1000:1400]  # 400 held-out images
    return x[train], y[train], x[test], y[test]


def test_digit_classifiers_accuracy(digits_split):
    x_train, y_train, x_test, y_test = digits_split
    examples = hebbian.class_examples(jax.random.key(1), x_train, y_train, 60)
    assert examples.shape == (10, 60, 64)
    for c in (0, 7):  # row c holds training images of class c
        pool = {row.tobytes() for row in x_train[y_train == c]}
        assert all(row.tobytes() in pool for row in np.asarray(examples[c]))
    acc = lambda pred: float(np.mean(np.asarray(pred) == y_test))  # noqa: E731
    key = jax.random.key(2)
    baseline = acc(hebbian.nearest_class_mean(examples, x_test))  # 0.87
    hebb = hebbian.supervised_classifier(examples)
    overlap = acc(hebbian.classify(key, hebb, x_test, method="overlap"))  # 0.86
    assert baseline > 0.8
    assert overlap > baseline - 0.04
    # pure Hebb on correlated digits: every test image falls into one and the same attractor
    assert np.unique(np.asarray(hebbian.classify(key, hebb, x_test))).size == 1
    # dreaming (pseudo-inverse) separates the classes again: retrieval far above chance (0.1)
    dreamt = hebbian.supervised_classifier(examples, dreaming_time=math.inf)
    retrieval = acc(hebbian.classify(key, dreamt, x_test))  # 0.69
    assert retrieval > 0.55
    # a persistent input field interpolates towards the overlap classifier
    held = acc(hebbian.classify(key, dreamt, x_test, input_field=1.0))  # 0.86
    assert held > retrieval
    # unsupervised: 400 examples stored and dreamt, attractors named by the training labels
    unsup = hebbian.unsupervised_classifier(jax.random.key(3), examples[:, :40], dreaming_time=1.0)
    assert unsup.prototypes.shape == (400, 64)
    assert acc(hebbian.classify(key, unsup, x_test)) > 0.45  # 0.6


# --------------------------------------------------------------------------- Pavlov machine

N_NEURONS, N_STIMULI = 12, 8
PAVLOV = dict(dt=0.2, neuron_time=1.0, temperature=0.2)


def _pavlov_runs(synapse_time, presentation_time, replicas, seed):
    stimuli = jax.random.rademacher(jax.random.key(0), (N_STIMULI, N_NEURONS)).astype(jnp.float32)
    params = dict(PAVLOV, synapse_time=synapse_time, presentation_time=presentation_time)
    steps = int(round(8 * synapse_time / PAVLOV["dt"]))  # 8 tau_J: the start J = 0 is forgotten (e^-8)
    keys = jax.random.split(jax.random.key(seed), replicas)
    runs = jax.vmap(lambda k: hebbian.pavlov(k, stimuli, steps, **params))(keys)
    assert np.all(np.asarray(runs.status) == 0)
    kernel = hebbian.pavlov_kernel(stimuli, **params)
    hebb = np.asarray(Hopfield(stimuli.astype(jnp.int8)).couplings()) / N_STIMULI  # adiabatic limit, i != j
    return np.asarray(runs.synapses, np.float64), kernel, hebb


def _relative_deviation(J, hebb, kernel=None):
    off = ~np.eye(N_NEURONS, dtype=bool)
    scale = np.sqrt(np.mean(hebb[off] ** 2))
    if kernel is None:
        return np.sqrt(np.mean((J - hebb)[:, off] ** 2)) / scale
    mean, var = np.asarray(kernel.mean, np.float64), np.asarray(kernel.variance, np.float64)
    return np.sqrt(np.mean((mean - hebb)[off] ** 2 + var[off])) / scale


def test_pavlov_synapses_converge_to_hebbian_kernel():
    # tau_s = 1 << Delta = 4 << tau_J = 64, then every ratio halved or quartered
    J1, kernel1, hebb = _pavlov_runs(64.0, 4.0, replicas=96, seed=1)
    mean, sem = J1.mean(0), J1.std(0, ddof=1) / math.sqrt(J1.shape[0])
    upper = np.triu_indices(N_NEURONS)
    z = (mean - np.asarray(kernel1.mean))[upper] / sem[upper]
    assert np.max(np.abs(z)) < 5.0  # exact stationary mean of the Euler-Maruyama scheme
    off = ~np.eye(N_NEURONS, dtype=bool)
    z_hebb = (mean - hebb)[off] / sem[off]
    assert np.max(np.abs(z_hebb)) > 10.0  # the lag bias (tau_s/Delta = 1/4) is resolved
    # replica variance against the leading order; its corrections are O(tau_s/Delta): measured 0.87
    ratio = np.mean(J1.var(0, ddof=1)[off]) / np.mean(np.asarray(kernel1.variance)[off])
    assert 0.7 < ratio < 1.1
    # RMS deviation from the Hebbian kernel: bias^2 + variance (measured 0.60 vs 0.64, 0.42 vs 0.44)
    J2, kernel2, _ = _pavlov_runs(256.0, 8.0, replicas=96, seed=2)
    dev1, dev2 = _relative_deviation(J1, hebb), _relative_deviation(J2, hebb)
    pred1, pred2 = _relative_deviation(None, hebb, kernel1), _relative_deviation(None, hebb, kernel2)
    assert dev1 == pytest.approx(pred1, rel=0.15)
    assert dev2 == pytest.approx(pred2, rel=0.15)
    assert dev2 < 0.8 * dev1
    # the adiabatic limit of the exact kernel is the Hebbian kernel (+ T/N on the diagonal)
    stimuli = jax.random.rademacher(jax.random.key(0), (N_STIMULI, N_NEURONS)).astype(jnp.float32)
    limit = hebbian.pavlov_kernel(stimuli, neuron_time=1e-6, presentation_time=1.0, temperature=0.2)
    np.testing.assert_allclose(np.asarray(limit.mean)[off], hebb[off], atol=1e-5)
    np.testing.assert_allclose(np.diagonal(limit.mean), (1.0 + 0.2) / N_NEURONS, rtol=1e-5)


def test_pavlov_records_and_traced_parameters():
    stimuli = jnp.ones((2, 4))
    runs = jax.vmap(lambda tau: hebbian.pavlov(jax.random.key(0), stimuli, 100, neuron_time=tau, num_records=4))(
        jnp.array([1.0, -1.0])
    )
    assert runs.record.shape == (2, 4, 4, 4)
    np.testing.assert_array_equal(runs.record[:, -1], runs.synapses)
    assert int(runs.status[0]) == 0 and int(runs.status[1]) & Status.INVALID_PARAMETER
    # stimuli all +1, no switching effect: J_ij -> (1 + T delta_ij)/N, reached to e^-(100 dt/tau_J) = 5%
    assert np.all(np.asarray(runs.record[0, 0]) < np.asarray(runs.record[0, -1]))


@pytest.mark.slow
def test_slow_larger_systems():
    """N = 2000 Hebb perceptron (64 teachers) and a Pavlov machine at tau_s/Delta = 1/16."""
    keys = jax.random.split(jax.random.key(11), 64)
    for time in (None, 3.0):
        sim = jax.vmap(lambda k: hebbian.hebb_simulation(k, ALPHAS, 2000, time=time))(keys)
        theory = hebbian.hebb_errors(jnp.asarray(ALPHAS), time=math.inf if time is None else time)
        for name in ("R", "training_error"):
            values = np.asarray(getattr(sim, name), np.float64)
            mean, stderr = values.mean(0), values.std(0, ddof=1) / 8.0
            assert np.all(np.abs(mean - np.asarray(getattr(theory, name))) < 4 * stderr + 1.0 / 2000), (time, name)
    J, kernel, hebb = _pavlov_runs(1024.0, 16.0, replicas=256, seed=3)
    off = ~np.eye(N_NEURONS, dtype=bool)
    sem = J.std(0, ddof=1) / 16.0
    upper = np.triu_indices(N_NEURONS)
    assert np.max(np.abs((J.mean(0) - np.asarray(kernel.mean))[upper] / sem[upper])) < 5.0
    ratio = np.mean(J.var(0, ddof=1)[off]) / np.mean(np.asarray(kernel.variance)[off])
    assert 0.9 < ratio < 1.06  # measured 0.97: the O(tau_s/Delta) correction
    assert _relative_deviation(J, hebb) == pytest.approx(_relative_deviation(None, hebb, kernel), rel=0.05)


# --------------------------------------------------------------------------- bad input


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        hebbian.hebb_errors(-1.0)
    with pytest.raises(ValueError, match="time"):
        hebbian.hebb_errors(1.0, time=0.0)
    with pytest.raises(ValueError, match="alphas"):
        hebbian.hebb_simulation(jax.random.key(0), (), 10)
    with pytest.raises(ValueError, match="alphas"):
        hebbian.hebb_simulation(jax.random.key(0), (1.0, -2.0), 10)
    with pytest.raises(ValueError, match="labels"):
        hebbian.hebb_weights(jnp.ones((3, 4)), jnp.ones(2))
    with pytest.raises(ValueError, match="num_examples"):
        hebbian.online_hebb(jax.random.key(0), jnp.ones((3, 4)), jnp.ones(3), 5, num_examples=4)
    with pytest.raises(ValueError, match="fewer than"):
        hebbian.class_examples(jax.random.key(0), np.ones((4, 3)), np.array([0, 0, 1, 1]), 3)
    with pytest.raises(ValueError, match="dreaming time"):
        hebbian.dreaming_couplings(np.ones((2, 3)), -1.0)
    with pytest.raises(ValueError, match="Q <= N"):
        hebbian.dreaming_couplings(np.ones((4, 3)), math.inf)
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        hebbian.supervised_classifier(np.zeros((2, 3, 4)))
    clf = hebbian.supervised_classifier(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="N = 5"):
        hebbian.classify(jax.random.key(0), clf, np.ones((2, 5)))
    with pytest.raises(ValueError, match="method"):
        hebbian.classify(jax.random.key(0), clf, np.ones((2, 4)), method="energy")
    with pytest.raises(ValueError, match="dt"):
        hebbian.pavlov(jax.random.key(0), jnp.ones((2, 3)), 10, dt=2.0)
    with pytest.raises(ValueError, match="divide"):
        hebbian.pavlov(jax.random.key(0), jnp.ones((2, 3)), 10, num_records=3)
    with pytest.raises(ValueError, match="stimuli"):
        hebbian.pavlov(jax.random.key(0), jnp.ones(3), 10)
    with pytest.raises(ValueError, match="finite"):
        hebbian.pavlov_kernel(jnp.array([[1.0, jnp.nan]]))
    with pytest.raises(ValueError, match="temperature"):
        hebbian.pavlov_kernel(jnp.ones((2, 3)), temperature=-0.1)
