"""Teacher-student generators and Gaussian mixtures (jaxphys.learning.data) against exact laws.

Label-flip rates and class frequencies against binomial errors; output moments of soft committee
machines against closed forms (erf: Saad-Solla arcsin kernel; ReLU: E max(h, 0) = sqrt(Q/2 pi))
computed from the drawn teacher's overlaps; the Bayes error of a symmetric mixture against
H(sqrt(snr)). Checks use z < 4.5 (two-sided 6.8e-6 each; about 20 of them: false-failure rate
below 2e-4 for a random seed; the seeds are fixed).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.learning import data

Z = 4.5


def z_mean(samples, expected):
    samples = np.asarray(samples, np.float64)
    return (samples.mean() - expected) / (samples.std(ddof=1) / math.sqrt(samples.size))


def H(t):
    return 0.5 * math.erfc(t / math.sqrt(2.0))


def test_teacher_perceptron_labels_flips_and_reuse():
    """Vmapped over the flip probability (0.2; 1: same inputs and teacher, every label flipped; 1/2: the
    random labels of a storage problem, agreeing with the teacher half of the time)."""
    p, n, noise = 20000, 50, 0.2
    flips = jnp.array([noise, 1.0, 0.5])
    both, teachers = jax.vmap(lambda q: data.teacher_perceptron(jax.random.key(0), p, n, label_noise=q))(flips)
    x, y, t = (np.asarray(a, np.float64) for a in (both.x[0], both.y[0], teachers[0]))
    assert x.shape == (p, n) and y.shape == (p,) and t.shape == (n,) and both.x.dtype == jnp.float32
    assert set(np.unique(y)) == {-1.0, 1.0}
    clean = np.where(x @ t / math.sqrt(n) >= 0, 1.0, -1.0)
    assert abs(z_mean(y != clean, noise)) < Z
    np.testing.assert_array_equal(both.y[1], -clean)
    assert abs(z_mean(np.asarray(both.y[2]) != clean, 0.5)) < Z and abs(z_mean(both.y[2], 0.0)) < Z
    assert abs(z_mean(x, 0.0)) < Z and abs(z_mean(x**2, 1.0)) < Z  # x ~ N(0, I)
    assert abs(z_mean(y, 0.0)) < Z
    # a given teacher labels fresh inputs by the same rule
    test_set, same = data.teacher_perceptron(jax.random.key(1), 500, n, teacher=teachers[0])
    np.testing.assert_array_equal(same, teachers[0])
    expected = np.where(np.asarray(test_set.x, np.float64) @ t >= 0, 1.0, -1.0)
    np.testing.assert_array_equal(test_set.y, expected)
    again, _ = data.teacher_perceptron(jax.random.key(1), 500, n, teacher=teachers[0])
    np.testing.assert_array_equal(again.x, test_set.x)  # same key, same data


def test_spherical_teachers_have_norm_sqrt_n():
    """``weights="spherical"``: every teacher row on the sphere |w|^2 = N, labels from the same rule."""
    key = jax.random.key(6)
    (x, y), teacher = data.teacher_committee(key, 40, 30, 3, activation="sign", weights="spherical")
    np.testing.assert_allclose(np.sum(np.asarray(teacher, np.float64) ** 2, axis=1), 30.0, rtol=1e-5)
    fields = np.asarray(x, np.float64) @ np.asarray(teacher, np.float64).T
    np.testing.assert_array_equal(y, np.where(np.sum(np.sign(fields), axis=1) >= 0, 1.0, -1.0))


def test_teacher_linear_noise_variance_and_binary_teacher():
    p, n, std = 20000, 40, 0.7
    dataset, teacher = data.teacher_linear(jax.random.key(4), p, n, noise_std=std, weights="binary")
    assert set(np.unique(np.asarray(teacher))) == {-1.0, 1.0}
    residual = np.asarray(dataset.y, np.float64) - np.asarray(dataset.x, np.float64) @ np.asarray(teacher, np.float64) / math.sqrt(n)
    assert abs(z_mean(residual, 0.0)) < Z
    assert abs(z_mean(residual**2, std**2)) < Z
    noiseless, t0 = data.teacher_linear(jax.random.key(4), p, n, weights="binary")  # same shapes: no recompile
    np.testing.assert_allclose(noiseless.y, noiseless.x @ t0 / math.sqrt(n), rtol=1e-5, atol=1e-5)


def test_soft_committee_moments_against_closed_forms():
    """E y^2 of the erf machine = sum_kl (2/pi) arcsin(Q_kl / sqrt((1+Q_kk)(1+Q_ll))), Q = W W^T / N;
    E y of the ReLU machine = sum_k sqrt(Q_kk / (2 pi))."""
    p, n, k = 20000, 100, 3
    dataset, w = data.teacher_committee(jax.random.key(5), p, n, k)
    assert w.shape == (k, n)
    q = np.asarray(w, np.float64) @ np.asarray(w, np.float64).T / n
    d = np.sqrt(1 + np.diag(q))
    second = np.sum(2 / math.pi * np.arcsin(q / np.outer(d, d)))
    y = np.asarray(dataset.y, np.float64)
    assert abs(z_mean(y, 0.0)) < Z
    assert abs(z_mean(y**2, second)) < Z
    relu, w_relu = data.teacher_committee(jax.random.key(6), p, n, k, activation="relu")
    q_relu = np.diag(np.asarray(w_relu, np.float64) @ np.asarray(w_relu, np.float64).T / n)
    assert abs(z_mean(relu.y, np.sum(np.sqrt(q_relu / (2 * math.pi))))) < Z
    noisy, _ = data.teacher_committee(jax.random.key(5), p, n, k, noise_std=0.5)
    assert abs(z_mean((np.asarray(noisy.y, np.float64) - y) ** 2, 0.25)) < Z  # same key: same x and teacher


def test_hard_committee_majority_vote_and_flips():
    p, n, k = 5000, 30, 3
    dataset, w = data.teacher_committee(jax.random.key(7), p, n, k, activation="sign")
    fields = np.asarray(dataset.x, np.float64) @ np.asarray(w, np.float64).T / math.sqrt(n)
    np.testing.assert_array_equal(dataset.y, np.sign(np.sign(fields).sum(1)))
    assert abs(z_mean(dataset.y, 0.0)) < Z
    flipped, _ = data.teacher_committee(jax.random.key(7), p, n, k, activation="sign", label_noise=0.1)
    assert abs(z_mean(np.asarray(flipped.y) != np.asarray(dataset.y), 0.1)) < Z


def test_gaussian_mixture_bayes_error_frequencies_and_spread():
    p, n, snr, std = 20000, 50, 1.0, 0.5
    dataset, means = data.gaussian_mixture(jax.random.key(8), p, n, snr=snr, noise_std=std)
    mu = np.asarray(means, np.float64)
    np.testing.assert_allclose(mu[0], -mu[1], atol=1e-6)
    np.testing.assert_allclose(np.sum(mu**2, 1), snr * std**2, rtol=1e-5)
    x, y = np.asarray(dataset.x, np.float64), np.asarray(dataset.y)
    assert dataset.y.dtype == jnp.int32 and set(np.unique(y)) == {0, 1}
    errors = np.sign(x @ mu[1]) != 2 * y - 1  # the Bayes classifier sign(mu . x)
    assert abs(z_mean(errors, H(math.sqrt(snr)))) < Z
    assert abs(z_mean((x - mu[y]) ** 2, std**2)) < Z
    skewed, _ = data.gaussian_mixture(jax.random.key(9), p, n, snr=4.0, probabilities=jnp.array([0.2, 0.8]))
    assert abs(z_mean(np.asarray(skewed.y) == 1, 0.8)) < Z
    three, means3 = data.gaussian_mixture(jax.random.key(10), 3000, n, num_clusters=3, snr=2.0)
    np.testing.assert_allclose(np.sum(np.asarray(means3) ** 2, 1), 2.0, rtol=1e-5)
    assert set(np.unique(np.asarray(three.y))) == {0, 1, 2}
    given = np.eye(3, n)
    fixed, returned = data.gaussian_mixture(jax.random.key(11), 3000, n, means=given, noise_std=0.0)
    np.testing.assert_array_equal(fixed.x, given[np.asarray(fixed.y)])
    np.testing.assert_array_equal(returned, given)


def test_bad_input_gives_clear_errors():
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="typed PRNG key"):
        data.teacher_perceptron(jax.random.PRNGKey(0), 10, 5)
    with pytest.raises(ValueError, match="num_samples"):
        data.teacher_perceptron(key, 0, 5)
    with pytest.raises(TypeError, match="dim"):
        data.teacher_linear(key, 10, 5.0)
    with pytest.raises(ValueError, match="label_noise"):
        data.teacher_perceptron(key, 10, 5, label_noise=1.5)
    with pytest.raises(ValueError, match="weights"):
        data.teacher_perceptron(key, 10, 5, weights="ising")
    with pytest.raises(ValueError, match="teacher"):
        data.teacher_perceptron(key, 10, 5, teacher=jnp.ones(4))
    with pytest.raises(ValueError, match="noise_std"):
        data.teacher_linear(key, 10, 5, noise_std=-1.0)
    with pytest.raises(ValueError, match="noise_std"):
        data.teacher_linear(key, 10, 5, noise_std=float("inf"))
    with pytest.raises(TypeError, match="label_noise"):
        data.teacher_perceptron(key, 10, 5, label_noise=True)
    with pytest.raises(ValueError, match="scalar"):
        data.teacher_perceptron(key, 10, 5, label_noise=jnp.zeros(2))
    with pytest.raises(ValueError, match="odd"):
        data.teacher_committee(key, 10, 5, 2, activation="sign")
    with pytest.raises(ValueError, match="does not apply"):
        data.teacher_committee(key, 10, 5, 3, label_noise=0.1)
    with pytest.raises(ValueError, match="does not apply"):
        data.teacher_committee(key, 10, 5, 3, activation="sign", noise_std=0.1)
    with pytest.raises(ValueError, match="activation"):
        data.teacher_committee(key, 10, 5, 3, activation="softmax")
    with pytest.raises(ValueError, match="means"):
        data.gaussian_mixture(key, 10, 5, means=jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="num_clusters"):
        data.gaussian_mixture(key, 10, 5, means=jnp.ones((2, 5)), num_clusters=3)
    with pytest.raises(ValueError, match="probabilities"):
        data.gaussian_mixture(key, 10, 5, probabilities=jnp.array([0.5, 0.6]))
    with pytest.raises(ValueError, match="snr"):
        data.gaussian_mixture(key, 10, 5, snr=-1.0)
    with pytest.raises(TypeError, match="floating"):
        data.teacher_linear(key, 10, 5, dtype=jnp.int32)
