"""Gardner storage theory of the perceptron (jaxphys.theory.perceptron).

References: Gardner's closed-form capacity against a numpy trapezoid integral; the RS saddle
against an independent numpy evaluation of the entropy functional (stationarity in q by finite
differences); small-load limits; the binary zero-entropy capacity 0.8331 (Krauth-Mezard) and
AT line 1.0148 (arXiv:2111.13302); implicit derivatives against central finite differences.
All checks are deterministic (no sampling), so there is no false-failure rate.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.status import Status
from jaxphys.theory import perceptron

# Dense trapezoid grid for the independent numpy references.
Z = np.linspace(-12.0, 12.0, 48001)
DZ = np.exp(-0.5 * Z**2) / math.sqrt(2.0 * math.pi) * (Z[1] - Z[0])


@pytest.fixture(autouse=True)
def x64():
    """float64 throughout; grids have shape (2,) so that compiled solvers are reused across tests."""
    with jax.enable_x64(True):
        yield


def np_log_H(u):
    """log H(u) = log(erfc(u / sqrt 2) / 2); asymptotic series beyond u = 30 (error < 1e-8)."""
    out = np.empty_like(u)
    small = u < 30.0
    out[small] = np.log([0.5 * math.erfc(v / math.sqrt(2.0)) for v in u[small]])
    big = u[~small]
    out[~small] = -0.5 * big**2 - np.log(big * math.sqrt(2 * math.pi)) + np.log1p(-1 / big**2 + 3 / big**4)
    return out


def np_spherical_entropy(q, alpha, kappa):
    u = (kappa - math.sqrt(q) * Z) / math.sqrt(1.0 - q)
    return 0.5 * math.log(1.0 - q) + 0.5 * q / (1.0 - q) + alpha * np.sum(DZ * np_log_H(u))


def test_gardner_capacity_closed_form_against_numeric_integral():
    kappas = np.array([-1.0, -0.3, 0.0, 0.5, 1.0, 2.0])
    reference = [1.0 / np.sum(DZ * np.where(Z > -k, (Z + k) ** 2, 0.0)) for k in kappas]
    np.testing.assert_allclose(perceptron.gardner_capacity(kappas), reference, rtol=2e-5)
    assert float(perceptron.gardner_capacity(0.0)) == pytest.approx(2.0, abs=1e-6)
    sol = perceptron.capacity(jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(sol.value, [reference[2], reference[4]], rtol=2e-5)
    assert np.all(np.asarray(sol.status) == 0)


def test_spherical_saddle_is_stationary_and_matches_numpy_entropy():
    # alpha_c(0) = 2, alpha_c(0.5) = 0.96; q reaches 0.96 at (1.8, 0)
    for kappa, alphas in ((0.0, (0.3, 1.8)), (0.5, (1e-3, 0.8))):
        sol = perceptron.solve(jnp.array(alphas), kappa)
        assert np.all(np.asarray(sol.status) == 0)
        for a, q, s in zip(alphas, np.asarray(sol.value.q), np.asarray(sol.value.entropy)):
            # 128-node Gauss-Hermite vs a dense trapezoid: 1e-6 relative as q -> 1
            assert s == pytest.approx(np_spherical_entropy(q, a, kappa), rel=2e-6, abs=1e-9)
            # the numpy functional is stationary there: its own root lies within 1e-6 of q
            dq = 1e-4 * q
            up, mid, down = (np_spherical_entropy(q + d, a, kappa) for d in (dq, 0.0, -dq))
            slope, curvature = (up - down) / (2 * dq), (up - 2 * mid + down) / dq**2
            assert abs(slope / curvature) < 1e-6 * q, (a, kappa, slope, curvature)
    # small load: q / (1 - q)^2 = alpha (phi(kappa) / H(kappa))^2 at q -> 0
    ratio = math.exp(-0.125) / math.sqrt(2 * math.pi) / (0.5 * math.erfc(0.5 / math.sqrt(2)))
    assert float(sol.value.q[0]) == pytest.approx(1e-3 * ratio**2, rel=2e-3)
    # q -> 1 at the capacity, no RS solution beyond it
    near = perceptron.solve(jnp.array([1.99, 2.05]), 0.0)
    assert float(near.value.q[0]) > 0.99
    assert int(near.status[1]) & Status.INVALID_PARAMETER and np.isnan(near.value.q[1])


def test_binary_capacity_at_line_and_small_load():
    cap = perceptron.capacity(jnp.array([0.0, 0.2]), weights="binary")
    assert np.all(np.asarray(cap.status) == 0)
    assert float(cap.value[0]) == pytest.approx(0.8331, abs=2e-3)
    at = perceptron.at_line(0.0)
    assert int(at.status) == 0
    assert float(at.value) == pytest.approx(1.0148, abs=5e-3)
    # the replicon eigenvalue changes sign there; spherical RS is stable for kappa = 0
    lam = perceptron.at_eigenvalue(jnp.array([0.9, 1.1]), 0.0, weights="binary").value
    assert float(lam[0]) > 0 > float(lam[1])
    lam_sph = perceptron.at_eigenvalue(jnp.array([0.5, 1.9]), 0.0, weights="spherical").value
    assert np.all(np.asarray(lam_sph) > 0)
    # the entropy changes sign at the capacity; at small load s -> ln 2 + alpha ln H(0):
    # every sign vector is a solution and each pattern halves their number
    s = perceptron.solve(jnp.array([0.8, 0.87]), 0.0, weights="binary").value.entropy
    assert float(s[0]) > 0 > float(s[1])
    small = perceptron.solve(jnp.array([1e-3, 0.5]), 0.0, weights="binary").value.entropy
    assert float(small[0]) == pytest.approx(math.log(2) * (1 - 1e-3), abs=1e-5)
    # float32 (the default dtype) gives the same capacity
    with jax.enable_x64(False):
        cap32 = perceptron.capacity(jnp.array([0.0, 0.2]), weights="binary").value
    np.testing.assert_allclose(cap32, cap.value, rtol=1e-5)


def test_implicit_derivatives_against_finite_differences():
    def entropy(alpha, kappa):
        return perceptron.solve(jnp.stack([alpha, 0.5]), kappa).value.entropy[0]

    alpha, kappa, h = 0.8, 0.3, 1e-5  # alpha_c(0.3) = 1.31: q = 0.86
    grad = jax.grad(entropy, argnums=(0, 1))(alpha, kappa)
    fd_alpha = (entropy(alpha + h, kappa) - entropy(alpha - h, kappa)) / (2 * h)
    fd_kappa = (entropy(alpha, kappa + h) - entropy(alpha, kappa - h)) / (2 * h)
    np.testing.assert_allclose(grad, (fd_alpha, fd_kappa), rtol=1e-6)
    # envelope theorem: ds/dalpha = E ln H(u) at the saddle
    q = float(perceptron.solve(jnp.array([alpha, 0.5]), kappa).value.q[0])
    u = (kappa - math.sqrt(q) * Z) / math.sqrt(1 - q)
    assert float(grad[0]) == pytest.approx(np.sum(DZ * np_log_H(u)), rel=1e-6)

    def binary_capacity(kappa):
        return perceptron.capacity(jnp.stack([kappa, 0.2]), weights="binary").value[0]

    k = 0.1
    fd = (binary_capacity(k + h) - binary_capacity(k - h)) / (2 * h)
    assert float(jax.grad(binary_capacity)(k)) == pytest.approx(float(fd), rel=1e-5)
    assert float(fd) < 0  # a margin costs capacity


def test_vmap_jit_and_traced_invalid_status():
    alphas = jnp.array([0.5, 1.5])
    plain = perceptron.solve(alphas).value.q
    jitted = jax.jit(lambda a: perceptron.solve(a).value.q)(alphas)
    mapped = jax.vmap(lambda a: perceptron.solve(a).value.q)(alphas)
    # equal to the solver tolerance (1e-10): differently compiled programs may stop the root
    # iteration one step apart (seen under pytest-xdist, where test order and caches differ)
    np.testing.assert_allclose(jitted, plain, rtol=1e-9)
    np.testing.assert_allclose(mapped, plain, rtol=1e-9)
    status = jax.jit(lambda a: perceptron.solve(a).status)(jnp.array([-1.0, 1.0]))
    assert int(status[0]) & Status.INVALID_PARAMETER and int(status[1]) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: perceptron.solve(0.0), "alpha must be > 0"),
        (lambda: perceptron.solve(-1.0, weights="binary"), "alpha must be > 0"),
        (lambda: perceptron.solve(1.0, float("nan")), "kappa must be finite"),
        (lambda: perceptron.capacity(float("nan"), weights="binary"), "kappa must be finite"),
        (lambda: perceptron.solve(1.0, weights="ising"), "weights must be one of"),
        (lambda: perceptron.gardner_capacity(float("inf")), "kappa must be finite"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
