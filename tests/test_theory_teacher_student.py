"""Teacher-student perceptron learning curves (jaxphys.theory.teacher_student).

References: the Hebb-rule closed form (Coolen-Saad values) and a direct simulation of it; the
spherical saddle q / sqrt(1 - q) = (alpha/pi) I(q) with I from an independent numpy integral; the
small- and large-alpha limits (2 alpha / pi; 0.442/alpha Bayes, 0.625/alpha Gibbs); the binary
transitions alpha_IT = 1.245, alpha_alg = 1.493 (Gyorgyi 1990; Cui, arXiv:2409.13904); the
envelope theorem for d entropy / d alpha; implicit derivatives against finite differences.
Only the Hebb simulation is random (fixed seeds; its 4-sigma tolerance has a false-failure rate
below 1e-4).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.status import Status
from jaxphys.theory import teacher_student

Z = np.linspace(-12.0, 12.0, 48001)
DZ = np.exp(-0.5 * Z**2) / math.sqrt(2.0 * math.pi) * (Z[1] - Z[0])
H = np.vectorize(lambda x: 0.5 * math.erfc(x / math.sqrt(2.0)))
SPHERICAL_ALPHAS = (1e-3, 0.5, 3.0, 300.0)  # grids of one shape per weight type: solvers compile once
BINARY_ALPHAS = (0.5, 1.2, 1.3, 1.45, 1.6)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_hebb_closed_form_values():
    hebb = teacher_student.hebb(jnp.array([1.0, 5.0, 10.0]))
    np.testing.assert_allclose(hebb.eps, [0.28563, 0.16261, 0.12011], atol=6e-6)
    # small alpha: R ~ sqrt(2 alpha / pi) for both the plain and the clipped rule
    small = 1e-4
    assert float(teacher_student.hebb(small).R) == pytest.approx(math.sqrt(2 * small / math.pi), rel=1e-3)
    clipped = teacher_student.hebb(small, weights="binary").R
    assert float(clipped) == pytest.approx(2 / math.pi * math.sqrt(small), rel=1e-3)  # erf(x) ~ 2x/sqrt(pi)


def test_hebb_against_simulation():
    """R of w = sum_mu y^mu x^mu over 6 teachers, N = 500, against (1 + pi/(2 alpha))^-1/2."""
    n, seeds = 500, 6
    for alpha in (1.0, 5.0):
        p = int(alpha * n)

        def overlap(key):
            k_teacher, k_inputs = jax.random.split(key)
            teacher = jax.random.normal(k_teacher, (n,))
            x = jax.random.normal(k_inputs, (p, n))
            y = jnp.sign(x @ teacher)
            w = y @ x
            return w @ teacher / (jnp.linalg.norm(w) * jnp.linalg.norm(teacher))

        r = np.asarray(jax.vmap(overlap)(jax.random.split(jax.random.key(int(alpha)), seeds)))
        theory = float(teacher_student.hebb(alpha).R)
        stderr = r.std(ddof=1) / math.sqrt(seeds)
        # 4 sigma of the seed scatter plus the O(1/N) finite-size bias of a ratio
        assert abs(r.mean() - theory) < 4 * stderr + 1.0 / n, (alpha, r.mean(), theory, stderr)


def test_spherical_saddle_small_and_large_alpha():
    alphas = jnp.array(SPHERICAL_ALPHAS)
    gibbs = teacher_student.learning_curve(alphas, estimator="gibbs")
    bayes = teacher_student.learning_curve(alphas, estimator="bayes")
    assert np.all(np.asarray(gibbs.status) == 0)
    np.testing.assert_allclose(gibbs.value.q, bayes.value.q)
    for a, q in zip(np.asarray(alphas[1:3]), np.asarray(gibbs.value.q[1:3])):
        integral = np.sum(DZ * np.exp(-0.5 * q * Z**2) / H(-math.sqrt(q) * Z))
        assert q / math.sqrt(1 - q) == pytest.approx(a / math.pi * integral, rel=1e-8)
    assert float(gibbs.value.q[0]) == pytest.approx(2e-3 / math.pi, rel=2e-3)
    np.testing.assert_allclose(gibbs.value.eps, np.arccos(gibbs.value.q) / math.pi)
    np.testing.assert_allclose(bayes.value.eps, np.arccos(np.sqrt(bayes.value.q)) / math.pi)
    # alpha eps -> 0.442 (Bayes) and 0.625 (Gibbs); corrections O(1/alpha)
    assert float(300.0 * bayes.value.eps[-1]) == pytest.approx(0.442, abs=2e-3)
    assert float(300.0 * gibbs.value.eps[-1]) == pytest.approx(0.625, abs=3e-3)
    assert np.all(np.diff(np.asarray(gibbs.value.eps)) < 0)


def test_binary_transitions_and_branches():
    sol = teacher_student.transition()
    assert int(sol.status) == 0
    assert float(sol.value.alpha_it) == pytest.approx(1.245, abs=1e-3)
    assert float(sol.value.alpha_alg) == pytest.approx(1.493, abs=1e-3)
    alphas = jnp.array(BINARY_ALPHAS)
    eq = teacher_student.learning_curve(alphas, weights="binary", estimator="bayes")
    meta = teacher_student.learning_curve(alphas, weights="binary", branch="metastable")
    assert np.all(np.asarray(eq.status) == 0)
    np.testing.assert_allclose(eq.value.eps[2:], 0.0)  # perfect generalisation beyond alpha_IT
    assert float(eq.value.entropy[1]) > 0 and float(meta.value.entropy[2]) < 0
    np.testing.assert_allclose(meta.value.q[:2], eq.value.q[:2], rtol=1e-5)
    assert np.all(np.asarray(meta.status[:4]) == 0) and int(meta.status[4]) & Status.INVALID_PARAMETER
    # Nishimori identity on the binary prior: E tanh(x) = E tanh^2(x), x = qh + sqrt(qh) z
    q_hat = float(meta.value.q_hat[3])
    x = q_hat + math.sqrt(q_hat) * Z
    assert float(meta.value.q[3]) == pytest.approx(np.sum(DZ * np.tanh(x)), abs=1e-5)
    assert float(meta.value.q[3]) == pytest.approx(np.sum(DZ * np.tanh(x) ** 2), abs=1e-5)


def test_derivatives_envelope_and_finite_differences():
    alpha, h = 0.5, 1e-5

    def entropy(a):
        return teacher_student.learning_curve(jnp.stack([a, *SPHERICAL_ALPHAS[1:]])).value.entropy[0]

    def q_binary(a):
        return teacher_student.learning_curve(jnp.stack([a, *BINARY_ALPHAS[1:]]), weights="binary").value.q[0]

    grad = float(jax.grad(entropy)(alpha))
    q = float(teacher_student.learning_curve(jnp.array(SPHERICAL_ALPHAS)).value.q[1])
    u = math.sqrt(q / (1 - q)) * Z
    psi_out = 2 * np.sum(DZ * H(u) * np.log(H(u)))
    assert grad == pytest.approx(psi_out, rel=1e-7)  # d phi / d alpha = Psi_out(q)
    fd = (q_binary(alpha + h) - q_binary(alpha - h)) / (2 * h)
    assert float(jax.grad(q_binary)(alpha)) == pytest.approx(float(fd), rel=1e-6)


def test_traced_invalid_alpha_sets_status():
    with jax.enable_x64(False):  # and the default float32
        status = jax.jit(lambda a: teacher_student.learning_curve(a).status)(jnp.array([-1.0, 1.0]))
    assert int(status[0]) & Status.INVALID_PARAMETER and int(status[1]) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: teacher_student.learning_curve(0.0), "alpha must be > 0"),
        (lambda: teacher_student.learning_curve(float("nan")), "alpha must be finite"),
        (lambda: teacher_student.learning_curve(1.0, estimator="map"), "estimator must be one of"),
        (lambda: teacher_student.learning_curve(1.0, weights="ternary"), "weights must be one of"),
        (lambda: teacher_student.learning_curve(1.0, branch="stable"), "branch must be one of"),
        (lambda: teacher_student.transition("spherical"), "no phase transition"),
        (lambda: teacher_student.hebb(-2.0), "alpha must be > 0"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
