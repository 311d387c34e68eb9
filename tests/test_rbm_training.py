"""RBM training (CD-k, PCD), exact likelihoods, gradient estimates and sampling (float64).

Exact checks (tolerance 1e-10 relative): ``exact_log_partition_function`` against enumeration of
the joint (v, h) law and, for Gaussian hidden units, of the Hopfield model ``to_pairwise``;
``log_likelihood`` against enumerated probabilities; ``contrastive_gradient`` against an explicit
numpy sum over the hidden configurations ``p(h | v)`` (positive and negative phases).

Statistical checks (fixed keys and seeds, so deterministic):
- the gradient with exact model draws as the negative phase agrees with ``jax.grad`` of the exact
  log-likelihood within 5 standard errors in every component (false-failure rate ~2e-5 for the
  35 components, Gaussian errors);
- ``sample`` passes a chi-square test of its visible configurations against the exact marginal at
  p > 1e-3 (false-failure rate 1e-3);
- training on 1000 exact draws of a known 10 x 4 teacher: CD-1 and PCD-1 raise the exact
  log-likelihood by more than 1.5 nats per example (from ~-6.9), and PCD ends within 0.06 nats of
  the teacher's own log-likelihood of the data (SGD noise on the final parameters is ~0.01 nats;
  the maximum-likelihood student may exceed the teacher by ~ #params / 2P ~ 0.03 nats).

Runtime: ~20 s of CPU for the file (3x that in wall time when the 2-core machine is shared), mostly
compiling ``train`` (CD and PCD: one optimizer object and one monitor for the whole file) and
``sample`` once each. Two ``slow`` tests (vmap over keys and the progress bar; CD-200 vs the exact
gradient) are skipped by default.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxphys import status
from jaxphys.exact import configurations, log_partition_function, probabilities
from jaxphys.learning import rbm as learn
from jaxphys.models import RBM
from jaxphys.testing import chi_square

ALPHA = 1e-3
OPTIMIZER = optax.sgd(0.05)  # one object: train compiles once per (CD, PCD) for the whole file
NUM_EPOCHS, BATCH_SIZE = 40, 50


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def small_rbm(nv, nh, *, seed, scale, hidden="binary"):
    rng = np.random.default_rng(seed)
    return RBM(scale * rng.normal(size=(nv, nh)) / np.sqrt(nv), 0.5 * rng.normal(size=nv), 0.5 * rng.normal(size=nh), hidden=hidden)


def exact_draws(rbm, num, seed):
    """``num`` exact draws (numpy, float64 (num, Nv)) from the visible marginal, by enumeration."""
    p = np.asarray(probabilities(rbm.visible_model(1.0), 1.0))
    index = np.random.default_rng(seed).choice(p.size, size=num, p=p / p.sum())
    return np.asarray(configurations((rbm.num_visible,)), np.float64)[index], index


def all_spins(n):
    return np.array(list(itertools.product([1.0, -1.0], repeat=n)))


# ------------------------------------------------------------------------------ exact likelihood


@pytest.mark.parametrize("nv, nh", [(7, 3), (3, 7)])
def test_exact_log_partition_function_matches_joint_enumeration(nv, nh):
    """(7, 3) enumerates the hidden layer (layers swapped), (3, 7) the visible one; both vs 2^10 joint states."""
    rbm = small_rbm(nv, nh, seed=nv, scale=1.5)
    np.testing.assert_allclose(float(learn.exact_log_partition_function(rbm)), float(log_partition_function(rbm, 1.0)), rtol=1e-12)


def test_exact_log_partition_function_gaussian_hidden_is_hopfield():
    rbm = small_rbm(6, 2, seed=1, scale=1.2, hidden="gaussian")
    pairwise = rbm.to_pairwise()
    reference = float(log_partition_function(pairwise, 1.0)) - float(rbm.pairwise_offset(1.0))
    np.testing.assert_allclose(float(learn.exact_log_partition_function(rbm)), reference, rtol=1e-12)


def test_log_likelihood_is_mean_log_probability():
    rbm = small_rbm(6, 3, seed=2, scale=1.0)
    data, index = exact_draws(rbm, 40, seed=3)
    p = np.asarray(probabilities(rbm.visible_model(1.0), 1.0))
    value = learn.log_likelihood(rbm, data, learn.exact_log_partition_function(rbm))
    np.testing.assert_allclose(float(value), np.mean(np.log(p[index])), rtol=1e-12)
    # integer +-1 data are accepted too
    np.testing.assert_allclose(float(learn.log_likelihood(rbm, data.astype(np.int8), 0.0)) - float(value), float(learn.exact_log_partition_function(rbm)), rtol=1e-12)


def test_base_rate_bias_is_the_smoothed_product_model():
    data = np.array([[1, 1, -1], [1, -1, -1], [1, 1, -1], [1, -1, -1]], np.float64)
    a0 = np.asarray(learn.base_rate_bias(data, pseudocount=1.0))
    q = (np.array([4, 2, 0]) + 1.0) / (4 + 2.0)
    np.testing.assert_allclose(np.tanh(a0), 2 * q - 1, rtol=1e-12)  # <v_i> of the product law
    assert np.all(np.isfinite(a0)) and a0[1] == 0.0


# ------------------------------------------------------------------------------ gradient estimate


def explicit_phase(rbm, visible):
    """<v h^T>, <v>, <h> with h summed over its 2^Nh states under p(h | v) (numpy, independent of the library)."""
    W, b = np.asarray(rbm.weights), np.asarray(rbm.hidden_bias)
    hs = all_spins(W.shape[1])
    vh, hm = np.zeros_like(W), np.zeros(W.shape[1])
    for v in visible:
        weight = np.exp(hs @ (b + W.T @ v))
        h_mean = weight @ hs / weight.sum()
        vh += np.outer(v, h_mean)
        hm += h_mean
    return vh / len(visible), visible.mean(axis=0), hm / len(visible)


def test_contrastive_gradient_phases_match_explicit_sums():
    rbm = small_rbm(5, 3, seed=4, scale=1.5)
    rng = np.random.default_rng(5)
    positive = np.where(rng.random((20, 5)) < 0.5, 1.0, -1.0)
    negative = np.where(rng.random((13, 5)) < 0.3, 1.0, -1.0)
    gradient = learn.contrastive_gradient(rbm, positive, negative)
    assert isinstance(gradient, RBM)
    plus, minus = explicit_phase(rbm, positive), explicit_phase(rbm, negative)
    for got, p, m in zip((gradient.weights, gradient.visible_bias, gradient.hidden_bias), plus, minus):
        np.testing.assert_allclose(np.asarray(got), p - m, rtol=1e-10, atol=1e-13)
    zero = learn.contrastive_gradient(rbm, positive, positive)
    assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(zero)) == 0.0


@pytest.mark.parametrize("hidden", ["binary", "gaussian"])
def test_gradient_with_exact_model_draws_is_the_exact_likelihood_gradient(hidden):
    """Negative phase from 20000 exact draws vs jax.grad of the exactly enumerated log-likelihood."""
    rbm = small_rbm(8, 3, seed=6, scale=1.0, hidden=hidden)
    data = np.where(np.random.default_rng(7).random((30, 8)) < 0.6, 1.0, -1.0)
    exact = jax.jit(jax.grad(lambda r: learn.log_likelihood(r, data, learn.exact_log_partition_function(r))))(rbm)
    draws, _ = exact_draws(rbm, 20000, seed=8)
    estimate = learn.contrastive_gradient(rbm, data, draws)
    # Standard error of the negative phase, component by component, from the per-draw statistics.
    h = np.asarray(learn.expected_hidden(rbm, jnp.asarray(draws)))
    per_draw = (draws[:, :, None] * h[:, None, :], draws, h)
    for got, want, samples in zip(
        (estimate.weights, estimate.visible_bias, estimate.hidden_bias),
        (exact.weights, exact.visible_bias, exact.hidden_bias),
        per_draw,
    ):
        stderr = samples.std(axis=0) / np.sqrt(len(draws))
        z = np.abs(np.asarray(got) - np.asarray(want)) / stderr
        assert np.all(z < 5), (hidden, z.max())


# ------------------------------------------------------------------------------ sampling


def test_sample_matches_exact_visible_marginal():
    rbm = small_rbm(6, 3, seed=9, scale=1.0)
    result = learn.sample(jax.random.key(10), rbm, 4096, 30)
    assert int(result.status) == 0
    assert result.visible.shape == (4096, 6) and result.visible.dtype == jnp.int8
    assert result.hidden.shape == (4096, 3) and result.visible_mean.shape == (4096, 6)
    bits = (np.asarray(result.visible) < 0).astype(np.int64)  # configuration index: spin i = 1 - 2 bit_i
    index = bits @ (1 << np.arange(6))
    counts = np.bincount(index, minlength=64)
    outcome = chi_square(counts, np.asarray(probabilities(rbm.visible_model(1.0), 1.0)))
    assert outcome.p_value > ALPHA, outcome
    # From given starting configurations, a single step keeps the shape and runs.
    again = learn.sample(jax.random.key(11), rbm, 4096, 30, x0=result.visible)
    assert again.visible.shape == (4096, 6)


# ------------------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def teacher_problem():
    with jax.enable_x64(True):
        teacher = small_rbm(10, 4, seed=0, scale=2.0)
        data, _ = exact_draws(teacher, 1000, seed=1)
        data = jnp.asarray(data)
        teacher_ll = float(learn.log_likelihood(teacher, data, learn.exact_log_partition_function(teacher)))
        student = RBM.random(10, 4, key=jax.random.key(1), scale=0.1)

        def monitor(r):
            return {"log_likelihood": learn.log_likelihood(r, data, learn.exact_log_partition_function(r))}

        return data, teacher_ll, student, monitor


@pytest.mark.parametrize("persistent", [False, True], ids=["CD-1", "PCD-1"])
def test_training_increases_exact_likelihood(teacher_problem, persistent):
    data, teacher_ll, student, monitor = teacher_problem
    start = float(monitor(student)["log_likelihood"])
    result = learn.train(
        jax.random.key(2), student, data, OPTIMIZER, num_epochs=NUM_EPOCHS, batch_size=BATCH_SIZE, persistent=persistent, monitor=monitor
    )
    assert int(result.status) == 0, status.describe(int(result.status))
    history = {name: np.asarray(value) for name, value in result.history.items()}
    assert set(history) == {"reconstruction_error", "free_energy_gap", "weight_norm", "log_likelihood"}
    assert all(value.shape == (NUM_EPOCHS,) for value in history.values())
    ll = history["log_likelihood"]
    assert ll[-1] > start + 1.5, (start, ll)
    assert ll[-5:].mean() > ll[:5].mean(), ll
    final = float(monitor(result.rbm)["log_likelihood"])
    assert final == pytest.approx(ll[-1], rel=1e-12)
    if persistent:
        assert final > teacher_ll - 0.06, (final, teacher_ll)
        assert result.state.chains.shape == (BATCH_SIZE, 10) and result.state.chains.dtype == jnp.int8


def test_training_is_reproducible_and_continues(teacher_problem):
    data, _, student, monitor = teacher_problem
    kwargs = dict(num_epochs=NUM_EPOCHS, batch_size=BATCH_SIZE, monitor=monitor)
    first = learn.train(jax.random.key(3), student, data, OPTIMIZER, **kwargs)
    second = learn.train(jax.random.key(3), student, data, OPTIMIZER, **kwargs)
    other = learn.train(jax.random.key(4), student, data, OPTIMIZER, **kwargs)
    np.testing.assert_array_equal(np.asarray(first.rbm.weights), np.asarray(second.rbm.weights))
    assert not np.array_equal(np.asarray(first.rbm.weights), np.asarray(other.rbm.weights))
    # Continuing from the state keeps optimizer state and chains (same shapes: no recompilation).
    more = learn.train(jax.random.key(5), first.state, data, OPTIMIZER, **kwargs)
    assert int(more.status) == 0
    assert float(more.history["log_likelihood"][-1]) > float(first.history["log_likelihood"][0])


# ------------------------------------------------------------------------------ bad input


def test_bad_input_raises_clear_errors():
    rbm = small_rbm(4, 2, seed=0, scale=1.0)
    good = np.ones((10, 4))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"shape \(P, num_visible\) = \(P, 4\)"):
        learn.log_likelihood(rbm, np.ones((10, 5)), 0.0)
    with pytest.raises(ValueError, match="leading axis"):
        learn.log_likelihood(rbm, np.ones(4), 0.0)
    with pytest.raises(ValueError, match="empty"):
        learn.train(key, rbm, np.ones((0, 4)), OPTIMIZER, num_epochs=1, batch_size=1)
    with pytest.raises(ValueError, match="2 \\* data - 1"):
        learn.train(key, rbm, np.zeros((10, 4)), OPTIMIZER, num_epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="NaN"):
        learn.contrastive_gradient(rbm, np.full((3, 4), np.nan), good)
    with pytest.raises(ValueError, match="batch_size"):
        learn.train(key, rbm, good, OPTIMIZER, num_epochs=1, batch_size=11)
    with pytest.raises(ValueError, match="num_epochs"):
        learn.train(key, rbm, good, OPTIMIZER, num_epochs=0, batch_size=2)
    with pytest.raises(ValueError, match="persistent CD only"):
        learn.train(key, rbm, good, OPTIMIZER, num_epochs=1, batch_size=2, persistent=False, num_chains=4)
    with pytest.raises(TypeError, match="optax"):
        learn.train(key, rbm, good, "sgd", num_epochs=1, batch_size=2)
    with pytest.raises(TypeError, match="RBM"):
        learn.train(key, "rbm", good, OPTIMIZER, num_epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="scalar"):
        learn.log_likelihood(rbm, good, jnp.zeros(2))
    with pytest.raises(ValueError, match="mc.rbm_ais"):
        learn.exact_log_partition_function(RBM(jnp.zeros((30, 26))))
    with pytest.raises(ValueError, match="num_samples"):
        learn.sample(key, rbm, 3, 1, x0=good)
    with pytest.raises(ValueError, match="pseudocount"):
        learn.base_rate_bias(good, pseudocount=0.0)


# ------------------------------------------------------------------------------ slow (skipped by default)


@pytest.mark.slow
def test_training_vmaps_over_keys_and_shows_progress(teacher_problem):
    """Independent machines by vmap over keys (one compiled program); the progress bar path runs."""
    data, _, student, monitor = teacher_problem
    keys = jax.random.split(jax.random.key(6), 3)
    batch = jax.vmap(lambda k: learn.train(k, student, data, OPTIMIZER, num_epochs=5, batch_size=BATCH_SIZE, monitor=monitor).history)(keys)
    assert batch["log_likelihood"].shape == (3, 5)
    single = learn.train(keys[1], student, data, OPTIMIZER, num_epochs=5, batch_size=BATCH_SIZE, monitor=monitor)
    np.testing.assert_allclose(np.asarray(batch["log_likelihood"][1]), np.asarray(single.history["log_likelihood"]), rtol=1e-9)
    shown = learn.train(keys[1], student, data, OPTIMIZER, num_epochs=5, batch_size=BATCH_SIZE, monitor=monitor, progress=True)
    np.testing.assert_array_equal(np.asarray(shown.rbm.weights), np.asarray(single.rbm.weights))


@pytest.mark.slow
def test_cd_k_with_many_steps_approaches_the_exact_gradient():
    """CD-k is biased for small k; with k = 200 steps from the data its estimate is close to the exact gradient."""
    rbm = small_rbm(8, 3, seed=6, scale=1.0)
    data = np.where(np.random.default_rng(7).random((4000, 8)) < 0.6, 1.0, -1.0)
    exact = jax.jit(jax.grad(lambda r: learn.log_likelihood(r, data, learn.exact_log_partition_function(r))))(rbm)
    chains = learn.sample(jax.random.key(12), rbm, 4000, 200, x0=data)
    estimate = learn.contrastive_gradient(rbm, data, chains.visible)
    np.testing.assert_allclose(np.asarray(estimate.weights), np.asarray(exact.weights), atol=0.05)
