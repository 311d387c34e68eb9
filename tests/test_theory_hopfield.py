"""AGS replica theory of the Hopfield network (jaxphys.theory.hopfield).

References: the T = 0 capacity alpha_c = 0.1379, m = 0.967 and the first-order load 0.051 of
Amit-Gutfreund-Sompolinsky (1987); T_g = 1 + sqrt(alpha); the Curie-Weiss limit alpha -> 0
against a numpy fixed point; stationarity of the RS free energy at the solved saddle; the T = 0
equations as the T -> 0 limit of the finite-T ones; implicit derivatives against finite
differences; zero-temperature dynamics of jaxphys.models.Hopfield (N = 2000, fixed seeds; the
finite-size tolerance 0.01 on m is ~5 standard deviations of the few flipped bits, false-failure
rate < 1e-4).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.models import Hopfield, mattis_overlaps, zero_temperature_dynamics
from jaxphys.status import Status
from jaxphys.theory import hopfield


@pytest.fixture(autouse=True)
def x64():
    """float64 throughout; grids have shape (2,) so that compiled solvers are reused across tests."""
    with jax.enable_x64(True):
        yield


def test_zero_temperature_capacity():
    sol = hopfield.capacity(jnp.array([0.0, 0.5]))
    assert np.all(np.asarray(sol.status) == 0)
    assert float(sol.value.alpha[0]) == pytest.approx(0.1379, abs=1e-3)
    assert float(sol.value.m[0]) == pytest.approx(0.967, abs=1e-3)
    # the iterated T = 0 equations keep a retrieval state just below alpha_c, lose it above
    state = hopfield.solve(jnp.array([0.137, 0.139]), 0.0).value
    assert float(state.m[0]) > 0.96 and float(state.m[1]) < 1e-6
    # float32 (the default dtype) gives the same capacity
    with jax.enable_x64(False):
        assert float(hopfield.capacity(0.0).value.alpha) == pytest.approx(float(sol.value.alpha[0]), rel=1e-5)


def test_zero_temperature_free_energies_and_first_order_load():
    alphas = jnp.array([0.050, 0.052])
    retrieval = hopfield.solve(alphas, 0.0)
    glass = hopfield.solve(alphas, 0.0, phase="spin_glass")
    assert np.all(np.asarray(retrieval.status) == 0) and np.all(np.asarray(glass.status) == 0)
    # spin-glass ground state in closed form: f = -sqrt(2 alpha / pi) - 1/pi
    np.testing.assert_allclose(glass.value.free_energy, -np.sqrt(2 * alphas / np.pi) - 1 / np.pi, rtol=1e-10)
    gap = np.asarray(retrieval.value.free_energy - glass.value.free_energy)
    assert gap[0] < 0 < gap[1]  # the free energies cross at alpha = 0.051 (AGS)
    # the T = 0 equations are the T -> 0 limit of the finite-T ones (f(T) - f(0) = O(T^2))
    cold = hopfield.solve(alphas, 0.03)
    cold_glass = hopfield.solve(alphas, 0.03, phase="spin_glass")
    np.testing.assert_allclose(cold.value.free_energy, retrieval.value.free_energy, atol=2e-3)
    np.testing.assert_allclose(cold_glass.value.free_energy, glass.value.free_energy, atol=2e-3)


def test_spin_glass_temperature():
    alpha = 0.04
    t_g = float(hopfield.spin_glass_temperature(alpha))
    assert t_g == pytest.approx(1.2)
    glass = hopfield.solve(alpha, jnp.array([t_g - 0.02, t_g + 0.02]), phase="spin_glass")
    assert np.all(np.asarray(glass.status) == 0)
    assert float(glass.value.q[0]) > 1e-3 and float(glass.value.q[1]) == 0.0


def test_curie_weiss_limit_and_stationarity():
    temperatures = np.array([0.5, 0.9])
    state = hopfield.solve(1e-10, jnp.asarray(temperatures)).value
    for T, m in zip(temperatures, np.asarray(state.m)):
        ref = 1.0
        for _ in range(2000):
            ref = math.tanh(ref / T)
        assert m == pytest.approx(ref, abs=1e-6)
    # the RS free energy is stationary in (m, q, r) at the solved saddle
    alphas, T = jnp.array([0.05, 0.03]), 0.4
    s = hopfield.solve(alphas, T).value
    for k in range(2):
        args = (s.m[k], s.q[k], s.r[k])
        grad = jax.grad(lambda m, q, r: hopfield.free_energy(alphas[k], T, m, q, r), argnums=(0, 1, 2))(*args)
        np.testing.assert_allclose(grad, 0.0, atol=1e-8)
        assert float(hopfield.free_energy(alphas[k], T, *args)) == pytest.approx(float(s.free_energy[k]), abs=1e-12)


def test_implicit_derivatives_against_finite_differences():
    h = 1e-5

    def m_of(alpha, T):
        return hopfield.solve(jnp.stack([alpha, 0.03]), T).value.m[0]

    alpha, T = 0.05, 0.5
    grad = jax.grad(m_of, argnums=(0, 1))(alpha, T)
    fd = ((m_of(alpha + h, T) - m_of(alpha - h, T)) / (2 * h), (m_of(alpha, T + h) - m_of(alpha, T - h)) / (2 * h))
    np.testing.assert_allclose(grad, fd, rtol=1e-6)

    def alpha_m(T):
        return hopfield.capacity(jnp.stack([T, 0.0])).value.alpha[0]

    fd = (alpha_m(0.5 + h) - alpha_m(0.5 - h)) / (2 * h)
    assert float(jax.grad(alpha_m)(0.5)) == pytest.approx(float(fd), rel=1e-5)


def test_retrieval_line_inverts_capacity():
    alphas = jnp.array([0.02, 0.08])
    t_m = hopfield.retrieval_temperature(alphas)
    assert np.all(np.asarray(t_m.status) == 0)
    assert np.all((0 < np.asarray(t_m.value)) & (np.asarray(t_m.value) < 1))
    np.testing.assert_allclose(hopfield.capacity(t_m.value).value.alpha, alphas, rtol=1e-6)
    beyond = hopfield.retrieval_temperature(jnp.array([0.02, 0.2]))
    assert int(beyond.status[1]) & Status.INVALID_PARAMETER and np.isnan(beyond.value[1])


@pytest.mark.slow
def test_first_order_line():
    sol = hopfield.first_order_temperature(jnp.array([0.01, 0.03, 0.06]))
    t_m = hopfield.retrieval_temperature(jnp.array([0.01, 0.03])).value
    assert np.all(np.asarray(sol.status[:2]) == 0)
    assert np.all(np.asarray(sol.value[:2]) < np.asarray(t_m))
    assert int(sol.status[2]) & Status.INVALID_PARAMETER  # beyond alpha = 0.051 no crossing
    for alpha, T in zip((0.01, 0.03), np.asarray(sol.value[:2])):
        f_r = hopfield.solve(alpha, T).value.free_energy
        f_g = hopfield.solve(alpha, T, phase="spin_glass").value.free_energy
        assert float(f_r) == pytest.approx(float(f_g), abs=1e-5)


def test_zero_temperature_dynamics_against_theory():
    n = 2000

    def final_overlap(key, alpha):
        p = int(alpha * n)
        k_patterns, k_dynamics = jax.random.split(key)
        xi = jax.random.rademacher(k_patterns, (p, n), jnp.int8)
        model = Hopfield(xi)
        result = zero_temperature_dynamics(k_dynamics, model, xi[0], max_sweeps=60)
        return mattis_overlaps(model, result.spins)[0]

    with jax.enable_x64(False):
        keys = jax.random.split(jax.random.key(3), 3)
        retrieved = np.asarray(jax.vmap(lambda k: final_overlap(k, 0.1))(keys))
        collapsed = float(final_overlap(jax.random.key(4), 0.2))
    theory = np.asarray(hopfield.solve(jnp.array([0.1, 0.2]), 0.0).value.m)  # 0.9980 and 0
    assert np.all(np.abs(retrieved - theory[0]) < 0.01), (retrieved, theory)
    assert collapsed < 0.6 and theory[1] < 1e-6


def test_traced_invalid_temperature_sets_status():
    status = jax.jit(lambda T: hopfield.solve(jnp.array([0.05, 0.05]), T).status)(jnp.array([-0.5, 0.5]))
    assert int(status[0]) & Status.INVALID_PARAMETER and int(status[1]) == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hopfield.solve(0.0, 0.5), "alpha must be > 0"),
        (lambda: hopfield.solve(0.1, -0.1), "T must be >= 0"),
        (lambda: hopfield.solve(0.1, float("nan")), "T must be finite"),
        (lambda: hopfield.solve(0.1, 0.5, phase="mixture"), "phase must be one of"),
        (lambda: hopfield.capacity(-1.0), "T must be >= 0"),
        (lambda: hopfield.spin_glass_temperature(-0.1), "alpha must be > 0"),
        (lambda: hopfield.retrieval_temperature(0.0), "alpha must be > 0"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
