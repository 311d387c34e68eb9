"""Tests of the mean-field model theories: jaxphys.theory.curie_weiss, .sk (replica symmetric), .rem.

References: the exact N -> infinity Curie-Weiss solution of jaxphys.exact.closed_forms (an
independent bisection), closed-form RS limits (T_c, q ~ 1 - T, the AT line asymptotics,
u(0) = -sqrt(2/pi), s(0) = -1/(2 pi), J0_c(0) = sqrt(pi/2)), finite differences of the solved
quantities (float64), thermodynamic identities (s = -df/dT, m = -df/dh), and Monte Carlo of
finite SK samples (the only statistical test; its false-failure rate is stated there).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc
from jaxphys.exact import closed_forms
from jaxphys.models import SK
from jaxphys.status import Status
from jaxphys.theory import curie_weiss, rem, sk

# --------------------------------------------------------------------------- Curie-Weiss


def test_curie_weiss_matches_closed_form_mean_field():
    T = jnp.array([0.3, 0.7, 0.95, 1.05, 1.6, 0.8, 0.8])
    h = jnp.array([0.0, 0.0, 0.1, 0.0, -0.3, -0.05, 0.2])
    J = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, 2.0, -0.5])
    th = curie_weiss.thermodynamics(T, h, J)
    ref = closed_forms.curie_weiss_mean_field(1.0 / T, J=J, h=h)
    assert np.all(np.asarray(th.status) == 0)
    np.testing.assert_allclose(th.magnetization, ref.magnetization, atol=2e-5)
    np.testing.assert_allclose(th.free_energy, ref.free_energy, atol=2e-5)
    np.testing.assert_allclose(th.energy, ref.energy, atol=2e-5)
    np.testing.assert_allclose(th.entropy, (th.energy - th.free_energy) / T, atol=1e-5)


def test_curie_weiss_critical_temperature_and_derivatives():
    for J in (1.0, 2.0):
        assert float(curie_weiss.critical_temperature(J)) == J
        assert float(curie_weiss.solve(0.98 * J, 0.0, J).value["m"]) > 0.2  # m ~ sqrt(3 (1 - T/J)) = 0.24
        assert abs(float(curie_weiss.solve(1.02 * J, 0.0, J).value["m"])) < 1e-3
    with jax.enable_x64(True):
        T, h = 0.8, 0.05
        chi = curie_weiss.susceptibility(T, h)
        np.testing.assert_allclose(jax.grad(lambda h: curie_weiss.solve(T, h).value["m"])(h), chi, rtol=1e-9)
        eps = 1e-6
        fd = (curie_weiss.solve(T, h + eps).value["m"] - curie_weiss.solve(T, h - eps).value["m"]) / (2 * eps)
        np.testing.assert_allclose(chi, fd, rtol=1e-7)
        # thermodynamic identities through the implicit derivatives
        np.testing.assert_allclose(-jax.grad(curie_weiss.free_energy)(T, h), curie_weiss.entropy(T, h), rtol=1e-9)
        np.testing.assert_allclose(-jax.grad(curie_weiss.free_energy, 1)(T, h), curie_weiss.solve(T, h).value["m"], rtol=1e-9)


def test_curie_weiss_bad_input_and_traced_status():
    with pytest.raises(ValueError, match="T must be > 0"):
        curie_weiss.solve(0.0)
    with pytest.raises(ValueError, match="T must be > 0"):
        curie_weiss.thermodynamics(jnp.array([1.0, jnp.nan]))
    with pytest.raises(ValueError, match="h must be finite"):
        curie_weiss.solve(1.0, jnp.inf)
    th = jax.jit(curie_weiss.thermodynamics)(jnp.array([-1.0, 0.5]))
    assert Status.INVALID_PARAMETER in Status(int(th.status[0]))
    assert np.isnan(th.free_energy[0]) and int(th.status[1]) == 0


# --------------------------------------------------------------------------- SK, replica symmetric


def test_sk_critical_temperature_and_q_near_tc():
    assert float(sk.critical_temperature()) == 1.0
    assert float(sk.critical_temperature(J0=1.5)) == 1.5
    th = sk.thermodynamics(jnp.array([1.2, 2.0, 0.95]))
    assert np.all(np.asarray(th.status) == 0)
    np.testing.assert_array_equal(th.q[:2], 0.0)  # paramagnet: q = 0 exactly above T_c = J
    np.testing.assert_allclose(th.energy[:2], [-1 / 2.4, -0.25], rtol=1e-6)  # u = -beta J^2 / 2
    assert float(th.q[2]) > 0.04
    with jax.enable_x64(True):
        # q = tau + O(tau^2), tau = 1 - T (expanding q = E tanh^2: q = (beta^2 - 1) / (2 beta^4) + ...)
        for tau in (0.01, 0.02):
            q = float(sk.solve(1.0 - tau).value["q"])
            assert abs(q / tau - 1.0) < tau, (tau, q)


def test_sk_at_line_asymptotics():
    with jax.enable_x64(True):
        taus = np.array([0.01, 0.02])
        at = sk.at_line(1.0 - taus)
        assert np.all(np.asarray(at.status) == 0)
        ratio = np.asarray(at.value) ** 2 / ((4 / 3) * taus**3)  # h_AT^2 ~ (4/3) tau^3 (de Almeida-Thouless)
        assert np.all(np.abs(ratio - 1.0) < 2 * taus), ratio  # the correction is linear in tau
        assert ratio[0] - 1 < ratio[1] - 1
        # on the line the replicon eigenvalue vanishes; RS is stable above it, unstable below
        at_h = float(at.value[1])
        lam = np.asarray(sk.at_eigenvalue(1.0 - taus[1], jnp.array([1.0, 1.1, 0.9]) * at_h))
        assert abs(lam[0]) < 1e-8
        assert lam[1] > 0 > lam[2]
    # no AT line above T_c (RS stable at every field): a status, not an exception
    assert int(sk.at_line(1.2).status) == Status.INVALID_PARAMETER


def test_sk_low_temperature_limits():
    # RS at T -> 0: u -> -sqrt(2/pi) with O(T^2) error, s -> -1/(2 pi) (negative: RS is wrong
    # there) with O(T) error (slope ~0.53), J0_c -> sqrt(pi/2) with O(T) error (slope ~ -1).
    T = jnp.array([0.01, 0.005])
    th = sk.thermodynamics(T)
    assert np.all(np.asarray(th.status) == 0)
    np.testing.assert_allclose(th.energy, -math.sqrt(2 / math.pi), atol=2e-4)
    assert np.all(np.abs(np.asarray(th.entropy) + 1 / (2 * math.pi)) < 0.6 * np.asarray(T))
    assert np.all(np.asarray(th.at_eigenvalue) < 0)
    j0 = sk.ferromagnetic_boundary(T)
    assert np.all(np.abs(np.asarray(j0) - math.sqrt(math.pi / 2)) < 1.2 * np.asarray(T))


def test_sk_phase_diagram_lines():
    # above T = J the ferro boundary is the para/ferro line J0 = T
    np.testing.assert_allclose(sk.ferromagnetic_boundary(jnp.array([1.1, 1.5])), [1.1, 1.5], rtol=1e-6)
    # crossing the RS ferro/SG line at T = 0.5 switches m on
    T = 0.5
    j0c = float(sk.ferromagnetic_boundary(T))
    assert 1.0 < j0c < math.sqrt(math.pi / 2)
    assert abs(float(sk.solve(T, J0=0.97 * j0c).value["m"])) < 1e-3
    assert float(sk.solve(T, J0=1.03 * j0c).value["m"]) > 0.05
    # para/ferro at T = J0 > J: m appears below J0
    assert float(sk.solve(1.45, J0=1.5).value["m"]) > 0.1
    assert abs(float(sk.solve(1.55, J0=1.5).value["m"])) < 1e-3


def test_sk_implicit_derivatives():
    with jax.enable_x64(True):
        T, h, eps = 0.7, 0.2, 1e-6
        # central differences in T and in h, all four points in one vectorised solve
        T_pts = jnp.array([T + eps, T - eps, T, T])
        h_pts = jnp.array([h, h, h + eps, h - eps])
        th_pts = sk.thermodynamics(T_pts, h_pts)
        fd_q = (th_pts.q[::2] - th_pts.q[1::2]) / (2 * eps)
        fd_f = (th_pts.free_energy[::2] - th_pts.free_energy[1::2]) / (2 * eps)
        grad_q = jax.grad(lambda T, h: sk.solve(T, h).value["q"], argnums=(0, 1))(T, h)
        grad_f = jax.grad(sk.free_energy, argnums=(0, 1))(T, h)
        np.testing.assert_allclose(grad_q, fd_q, rtol=1e-6)
        np.testing.assert_allclose(grad_f, fd_f, rtol=1e-7)
        # thermodynamic identities: df/dT = -s, df/dh = -m
        th = sk.thermodynamics(T, h)
        np.testing.assert_allclose(grad_f, (-th.entropy, -th.m), rtol=1e-8)
        # AT line slope vs finite differences of the line itself
        slope = jax.grad(lambda T: sk.at_line(T).value)(0.8)
        line = sk.at_line(jnp.array([0.8 + eps, 0.8 - eps])).value
        np.testing.assert_allclose(slope, (line[0] - line[1]) / (2 * eps), rtol=1e-5)
    # float32, vmapped and jitted grid with gradient
    grads = jax.jit(jax.vmap(jax.grad(lambda T: sk.solve(T, 0.3).value["q"])))(jnp.array([0.5, 0.8]))
    assert np.all(np.isfinite(grads)) and np.all(np.asarray(grads) < 0)


def test_sk_bad_input_and_status():
    with pytest.raises(ValueError, match="T must be > 0"):
        sk.solve(-0.5)
    with pytest.raises(ValueError, match="J0 must be finite"):
        sk.thermodynamics(0.5, J0=jnp.nan)
    with pytest.raises(ValueError, match="num_nodes"):
        sk.solve(0.5, num_nodes=1)
    with pytest.raises(ValueError, match="h_max"):
        sk.at_line(0.5, h_max=-1.0)
    th = jax.jit(lambda T: sk.thermodynamics(T))(jnp.array([0.0, 0.5]))
    assert Status.INVALID_PARAMETER in Status(int(th.status[0])) and int(th.status[1]) == 0
    assert np.isnan(th.energy[0])


def test_sk_energy_against_monte_carlo():
    """RS energy vs Metropolis on N = 128 SK samples (J0 = 0, h = 0).

    Above T_c = 1 RS is exact: u = -beta/2 up to a 1/N correction (-beta/2 (1 - 1/N) from
    <sum_{i<j} J_ij^2> / N). Error bar: the spread of the per-sample energies over
    ``num_samples`` disorder samples (MC noise plus sample-to-sample fluctuations); the
    4-sigma tolerance fails by chance with probability ~6e-5 per temperature (Gaussian).
    Below T_c RS is wrong (negative entropy, AT-unstable) and a short N = 128 run is not in
    equilibrium either, so there the check is only loose: within 0.05 of the RS energy.
    """
    n, num_samples, num_sweeps = 128, 6, 600
    keys = jax.random.split(jax.random.key(2024), num_samples)
    models = jax.vmap(lambda k: SK(n, key=k))(keys)
    observables = {"e": lambda m, s: m.energy(s) / n}

    @jax.jit
    def energies(beta):
        run = jax.vmap(lambda k, m: mc.run(k, mc.dense(), m, beta, num_sweeps, burn_in=300, observables=observables))
        result = run(
            jax.random.split(jax.random.fold_in(jax.random.key(7), jnp.round(100 * beta).astype(int)), num_samples), models
        )
        return result.mean["e"], result.status

    for T in (2.0, 1.5):
        e, status = energies(1.0 / T)
        assert np.all(np.asarray(status) == 0)
        mean, err = float(np.mean(e)), float(np.std(e, ddof=1) / math.sqrt(num_samples))
        expected = float(sk.energy(T)) * (1 - 1 / n)
        assert abs(mean - expected) < 4 * err + 1e-3, (T, mean, err, expected)
    e, _ = energies(1.0 / 0.6)
    assert abs(float(np.mean(e)) - float(sk.energy(0.6))) < 0.05


# --------------------------------------------------------------------------- REM


def test_rem_closed_forms_and_freezing():
    T_c = float(rem.critical_temperature())
    np.testing.assert_allclose(T_c, 1 / (2 * math.sqrt(math.log(2))), rtol=1e-6)
    T = jnp.array([0.3, 0.5, T_c, 0.8, 2.0])
    f, u, s = rem.free_energy(T), rem.energy(T), rem.entropy(T)
    high = np.asarray(T) > T_c
    np.testing.assert_allclose(np.asarray(f)[high], -np.asarray(T)[high] * math.log(2) - 1 / (4 * np.asarray(T)[high]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(f)[~high], -math.sqrt(math.log(2)), rtol=1e-6)  # frozen
    np.testing.assert_allclose(np.asarray(s)[~high], 0.0)
    np.testing.assert_allclose(u, f + T * s, rtol=1e-6)
    np.testing.assert_allclose(rem.ground_state_energy(), -math.sqrt(math.log(2)), rtol=1e-6)
    # continuity at T_c (f, u continuous; s vanishes there: the freezing)
    for fn in (rem.free_energy, rem.energy, rem.entropy):
        np.testing.assert_allclose(fn(T_c * (1 + 1e-4)), fn(T_c * (1 - 1e-4)), atol=1e-3)
    # s = -df/dT on both sides, and no NaN gradient from the unused branch
    grad = jax.vmap(jax.grad(rem.free_energy))(T)
    np.testing.assert_allclose(grad, -s, atol=1e-5)
    np.testing.assert_allclose(jax.grad(rem.free_energy, 1)(2.0, 1.5), -1.5 / (2 * 2.0), rtol=1e-6)  # df/dJ = -J/(2T)
    with pytest.raises(ValueError, match="T must be > 0"):
        rem.free_energy(0.0)
    assert np.isnan(jax.jit(rem.entropy)(-1.0))


def test_rem_against_sampled_energies():
    """Direct Boltzmann sums over 2^N sampled energies E ~ N(0, N/2): f_N -> f.

    Not statistical in effect: with N = 18 and 4 samples, at T = 1.5 (annealed regime,
    ln Z self-averaging, deviations ~1e-3) and in the frozen phase (deviation of the extreme
    value ~ ln N / N ~ 0.15 at worst, so the test is only that the curve has frozen).
    """
    n = 18
    energies = jax.random.normal(jax.random.key(3), (4, 2**n)) * math.sqrt(n / 2)
    for T, tol in ((1.5, 0.01), (0.3, 0.15)):
        f_n = -T * jax.nn.logsumexp(-energies / T, axis=1) / n
        np.testing.assert_allclose(np.mean(f_n), rem.free_energy(T), atol=tol)
