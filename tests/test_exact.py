"""Exact references (jaxphys.exact) checked against each other and against analytic values.

Independent implementations that must agree to rounding in float64:
  enumeration (all 2^N states)  <->  transfer matrix (ising_2d)  <->  Kaufman's formula  <->  Onsager,
  enumeration <-> 1D chain closed form, enumeration of PairwiseIsing(J/N) <-> Curie-Weiss sums,
  large-N Curie-Weiss sums <-> mean-field solution (with the O(1/N) convergence rate checked).
No test is statistical. Every test runs under ``jax.enable_x64(True)`` (a context: the global
flag stays off, which one test checks), except the float32 jit/vmap test.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import exact
from jaxphys.models import Ising, PairwiseIsing

BETA_C = math.asinh(1.0) / 2.0  # sinh(2 beta_c) = 1
CATALAN = 0.915965594177219015054603514932384110774


@pytest.fixture(autouse=True)
def float64(request):
    if request.node.name.endswith("float32"):
        yield
        return
    with jax.enable_x64(True):
        yield


@jax.jit
def _enumerated(model, beta):
    averages = exact.averages(model, beta)
    averages["log_partition_function"] = exact.log_partition_function(model, beta)
    return averages


def enumerate_model(model, beta):
    return {k: float(v) for k, v in _enumerated(model, jnp.float64(beta)).items()}


def assert_close(actual, expected, rtol, atol=0.0, what=""):
    assert abs(actual - expected) <= rtol * abs(expected) + atol, (what, actual, expected)


# ------------------------------------------------------------------------------------------------
# transfer matrix


TM_FIELDS = ("energy", "energy2", "magnetization", "m2", "m4")


@pytest.mark.parametrize("shape", [(3, 3), (4, 4), (3, 4), (5, 2), (2, 2)])
@pytest.mark.parametrize("beta,J,h", [(0.0, 1.0, 0.5), (0.3, 1.0, 0.0), (0.7, 1.0, 0.2), (0.5, -1.0, 0.3), (1.5, 0.8, -0.1)])
def test_transfer_matrix_matches_enumeration(shape, beta, J, h):
    """ising_2d equals brute-force enumeration of Ising(shape, J, h) for every returned field, h != 0 included."""
    result = exact.ising_2d(shape, beta, J=J, h=h)
    reference = enumerate_model(Ising(shape, J=J, h=h), beta)
    assert_close(result.log_partition_function, reference["log_partition_function"], 1e-12)
    for field in TM_FIELDS:
        # Absolute floor: <m> = 0 at h = 0 and <e> = 0 at beta = 0 exactly.
        assert_close(getattr(result, field), reference[field], 1e-10, 1e-13, field)
    n = shape[0] * shape[1]
    variance = reference["energy2"] - reference["energy"] ** 2
    assert_close(result.specific_heat, beta**2 * n * variance, 1e-8, 1e-12, "specific_heat")
    if beta > 0:
        assert_close(result.free_energy, -reference["log_partition_function"] / (beta * n), 1e-12)
    else:
        assert result.free_energy == -math.inf


@pytest.mark.parametrize("L", [4, 6, 8, 10])
@pytest.mark.parametrize("beta", [0.2, BETA_C, 0.6, 1.0])
def test_transfer_matrix_matches_kaufman(L, beta):
    """Row-to-row transfer matrix vs Kaufman's closed form at h = 0: ln Z, energy and specific heat."""
    result = exact.ising_2d(L, beta)
    assert_close(result.log_partition_function, float(exact.kaufman_log_partition_function(L, beta)), 1e-12)
    assert_close(result.energy, float(exact.kaufman_energy(L, beta)), 1e-10)
    assert_close(result.specific_heat, float(exact.kaufman_specific_heat(L, beta)), 1e-9)


@pytest.mark.parametrize("shape", [(3, 40), (40, 3), (5, 7), (2, 9)])
def test_rectangles_transfer_matrix_vs_kaufman(shape):
    """Rectangles (including odd sides and a side of 2) agree between the two exact methods."""
    for beta in (0.25, 0.8):
        result = exact.ising_2d(shape, beta)
        assert_close(result.log_partition_function, float(exact.kaufman_log_partition_function(shape, beta)), 1e-12)
        assert_close(result.energy, float(exact.kaufman_energy(shape, beta)), 1e-10)


def test_transfer_matrix_up_down_symmetry_and_field_response():
    """Flipping h flips <m> and keeps even moments; d<m>/dh = beta N (<m^2> - <m>^2) (fluctuation-response)."""
    beta, h, dh = 0.5, 0.1, 1e-4
    plus, minus = exact.ising_2d(5, beta, h=h), exact.ising_2d(5, beta, h=-h)
    assert_close(minus.magnetization, -plus.magnetization, 1e-12)
    for field in ("energy", "m2", "m4", "log_partition_function"):
        assert_close(getattr(minus, field), getattr(plus, field), 1e-12, what=field)
    up, down = exact.ising_2d(5, beta, h=h + dh), exact.ising_2d(5, beta, h=h - dh)
    slope = (up.magnetization - down.magnetization) / (2 * dh)  # central difference, error ~ dh^2 * m''' ~ 1e-8
    assert_close(slope, beta * 25 * (plus.m2 - plus.magnetization**2), 1e-6)


def test_transfer_matrix_extreme_temperatures():
    """No overflow at very low T (ground state: e = -2J - |h|, m^2 = 1) nor for an antiferromagnet; beta = 0 is exact."""
    cold = exact.ising_2d(6, 50.0, h=0.01)
    assert_close(cold.energy, -2.01, 1e-12)
    assert_close(cold.m2, 1.0, 1e-12)
    assert_close(cold.log_partition_function, 50.0 * 36 * 2.01, 1e-12)
    neel = exact.ising_2d(6, 50.0, J=-1.0)
    assert_close(neel.energy, -2.0, 1e-12)
    assert abs(neel.m2) < 1e-12
    hot = exact.ising_2d(4, 0.0, h=0.3)
    assert_close(hot.log_partition_function, 16 * math.log(2.0), 1e-14)
    assert_close(hot.m2, 1 / 16, 1e-13)  # independent spins: <M^2> = N
    assert_close(hot.m4, (3 * 16**2 - 2 * 16) / 16**4, 1e-13)  # <M^4> = 3N^2 - 2N


def test_transfer_matrix_bad_input():
    with pytest.raises(ValueError, match="kaufman"):
        exact.ising_2d(13, 0.4)
    with pytest.raises(ValueError, match="kaufman"):
        exact.ising_2d((13, 20), 0.4)
    with pytest.raises(ValueError, match=">= 2"):
        exact.ising_2d(1, 0.4)
    with pytest.raises(ValueError, match=">= 0"):
        exact.ising_2d(4, -0.1)
    with pytest.raises(ValueError, match="finite"):
        exact.ising_2d(4, float("nan"))
    with pytest.raises(ValueError, match="finite"):
        exact.ising_2d(4, 0.4, h=float("nan"))
    with pytest.raises(TypeError):
        exact.ising_2d(4.0, 0.4)
    with pytest.raises(TypeError, match="jit"):
        jax.jit(lambda b: exact.ising_2d(4, b).energy)(0.4)


# ------------------------------------------------------------------------------------------------
# Kaufman


@pytest.mark.parametrize("shape", [(4, 4), (3, 3), (3, 4), (2, 6)])
def test_kaufman_matches_enumeration(shape):
    n = shape[0] * shape[1]
    for beta in (0.1, 0.35, BETA_C, 0.9):
        reference = enumerate_model(Ising(shape), beta)
        assert_close(float(exact.kaufman_log_partition_function(shape, beta)), reference["log_partition_function"], 1e-12)
        assert_close(float(exact.kaufman_energy(shape, beta)), reference["energy"], 1e-10)
        heat = beta**2 * n * (reference["energy2"] - reference["energy"] ** 2)
        assert_close(float(exact.kaufman_specific_heat(shape, beta)), heat, 1e-9)


def test_kaufman_antiferromagnet_and_coupling_scale():
    """Even x even: Z(-J) = Z(J) (sublattice flip) and E(-J) = E(J); Z depends on beta J only; beta = 0 exact."""
    for L in (4, (4, 6)):
        assert_close(float(exact.kaufman_energy(L, 0.4, -1.0)), float(exact.kaufman_energy(L, 0.4, 1.0)), 1e-13)
        assert_close(float(exact.kaufman_energy(L, 0.2, 2.0)), 2.0 * float(exact.kaufman_energy(L, 0.4, 1.0)), 1e-13)
    reference = enumerate_model(Ising((4, 4), J=-0.7), 0.9)
    assert_close(float(exact.kaufman_energy(4, 0.9, -0.7)), reference["energy"], 1e-10)
    assert_close(float(exact.kaufman_log_partition_function(16, 0.0)), 256 * math.log(2.0), 1e-15)
    assert float(exact.kaufman_energy(16, 0.0)) == 0.0
    with pytest.raises(ValueError, match="odd"):
        exact.kaufman_energy(5, 0.4, -1.0)


@pytest.mark.parametrize("L", [64, 128])
def test_kaufman_large_lattices_reach_onsager(L):
    """Large L is exact: away from T_c finite-size corrections are e^(-L/xi) (below 1e-13 here), and

    ln Z = -beta f N above T_c, ln Z = -beta f N + ln 2 below (two ordered states). Float64
    overflow or a wrong sign of gamma_0 would break these by O(1).
    """
    n = L * L
    for beta, degeneracy in ((0.3, 0.0), (0.6, math.log(2.0))):
        log_z = float(exact.kaufman_log_partition_function(L, beta))
        minus_beta_f = -beta * float(exact.onsager_free_energy(beta))
        assert abs(log_z - n * minus_beta_f - degeneracy) < 1e-13 * abs(log_z) + 1e-9
        assert_close(float(exact.kaufman_energy(L, beta)), float(exact.onsager_energy(beta)), 1e-12)


@pytest.mark.slow  # suite time (20 s); Kaufman is checked against enumeration and the transfer matrix by default
def test_kaufman_finite_size_scaling_at_tc():
    """At T_c, C(L) = A_0 ln L + B + O(1/L) with A_0 = (8/pi) beta_c^2 = 0.4945 (Ferdinand & Fisher 1969),

    and e(L) = -sqrt 2 + O(1/L): so C(2L) - C(L) - A_0 ln 2 and e(L) + sqrt 2 must halve when L
    doubles (measured ratios 0.5035, 0.5015 and 0.5005, 0.5001, 0.5000). A wrong amplitude or
    a wrong gamma_0 sign (which is what flips at T_c) would leave an O(1) remainder instead.
    """
    sizes = (16, 32, 64, 128)
    heat = [float(exact.kaufman_specific_heat(L, BETA_C)) for L in sizes]
    amplitude = 8 / math.pi * BETA_C**2
    excess = [c2 - c1 - amplitude * math.log(2.0) for c1, c2 in zip(heat, heat[1:])]
    energy = [float(exact.kaufman_energy(L, BETA_C)) + math.sqrt(2.0) for L in sizes]
    for series in (excess, energy):
        assert all(abs(later / earlier - 0.5) < 0.01 for earlier, later in zip(series, series[1:])), series


# ------------------------------------------------------------------------------------------------
# Onsager


def test_onsager_critical_point():
    beta_c = float(exact.onsager_critical_beta())
    assert_close(beta_c, 0.4406867935097715, 1e-15)
    assert_close(math.sinh(2 * beta_c), 1.0, 1e-15)  # Kramers-Wannier self-dual point
    assert_close(float(exact.onsager_critical_temperature()), 2.269185314213022, 1e-15)
    assert_close(float(exact.onsager_critical_beta(2.0)), beta_c / 2, 1e-15)
    # -beta_c f = ln(2)/2 + 2G/pi (G: Catalan's constant) = 0.9296953983...
    minus_beta_f = -beta_c * float(exact.onsager_free_energy(beta_c))
    assert_close(minus_beta_f, math.log(2.0) / 2 + 2 * CATALAN / math.pi, 1e-13)
    assert abs(minus_beta_f - 0.9296953983) < 1e-10
    assert_close(float(exact.onsager_energy(beta_c)), -math.sqrt(2.0), 1e-14)


def test_onsager_energy_is_derivative_of_free_energy():
    """Two independent formulas: u(beta) (elliptic K by AGM) = d(beta f)/dbeta (jax.grad through the quadrature)."""
    betas = jnp.array([0.05, 0.2, 0.4, 0.44, BETA_C + 1e-6, 0.45, 0.6, 1.0, 3.0])
    derivative = jax.vmap(jax.grad(lambda b: b * exact.onsager_free_energy(b)))(betas)
    np.testing.assert_allclose(np.asarray(exact.onsager_energy(betas)), np.asarray(derivative), rtol=1e-11, atol=1e-14)


def test_onsager_limits_and_series():
    # beta -> 0: -beta f = ln 2 + 2 ln cosh K + O(K^4) (two bonds per spin), so f = -ln 2 / beta - beta + O(beta^3)
    beta = 1e-3
    assert abs(float(exact.onsager_free_energy(beta)) - (-math.log(2.0) / beta - beta)) < 1e-8
    assert_close(float(exact.onsager_energy(0.01)), -0.02, 1e-3)  # u = -2 tanh K (1 + O(K^2)) at high T
    # Low-temperature series (Domb; Yang's formula expanded): m = 1 - 2z^2 - 8z^3 - 34z^4 - 152z^5 - 714z^6 + O(z^7),
    # z = e^(-4 beta); the neglected term is 3472 z^7.
    for beta in (1.2, 1.5, 2.0):
        z = math.exp(-4 * beta)
        series = 1 - 2 * z**2 - 8 * z**3 - 34 * z**4 - 152 * z**5 - 714 * z**6
        assert abs(float(exact.onsager_magnetization(beta)) - series) < 4000 * z**7 + 1e-15
    betas = jnp.array([0.0, 0.3, BETA_C, 0.44])
    assert np.all(np.asarray(exact.onsager_magnetization(betas)) == 0.0)
    # m ~ (1 - T/T_c)^(1/8): successive decades of reduced temperature scale by 10^(1/8)
    t = np.array([1e-6, 1e-7])
    m = np.asarray(exact.onsager_magnetization(BETA_C / (1 - t)))
    assert_close(m[0] / m[1], 10 ** (1 / 8), 1e-5)
    # u -> -2 J and f -> -2 J at T = 0
    assert_close(float(exact.onsager_energy(20.0)), -2.0, 1e-14)
    assert_close(float(exact.onsager_free_energy(20.0)), -2.0, 1e-14)


# ------------------------------------------------------------------------------------------------
# 1D chain


@pytest.mark.parametrize("N", [2, 3, 6, 10])
@pytest.mark.parametrize("beta,J,h", [(0.0, 1.0, 1.0), (0.5, 1.0, 0.0), (0.7, -1.0, 0.3), (1.3, 0.8, -0.4)])
def test_chain_matches_enumeration(N, beta, J, h):
    reference = enumerate_model(Ising((N,), J=J, h=h), beta)
    assert_close(float(exact.ising_1d_log_partition_function(N, beta, J, h)), reference["log_partition_function"], 1e-13)
    assert_close(float(exact.ising_1d_energy(N, beta, J, h)), reference["energy"], 1e-12, 1e-15)
    assert_close(float(exact.ising_1d_magnetization(N, beta, J, h)), reference["magnetization"], 1e-12, 1e-15)
    if beta > 0:
        f = -reference["log_partition_function"] / (beta * N)
        assert_close(float(exact.ising_1d_free_energy(N, beta, J, h)), f, 1e-13)


def test_chain_thermodynamic_limit():
    """N = None gives the textbook limits; finite N approaches them like (lambda_-/lambda_+)^N."""
    for beta, J, h in ((0.7, 1.0, 0.0), (0.4, 1.5, 0.2), (1.0, -1.0, 0.5)):
        K, H = beta * J, beta * h
        m = math.sinh(H) / math.sqrt(math.sinh(H) ** 2 + math.exp(-4 * K))
        assert_close(float(exact.ising_1d_magnetization(None, beta, J, h)), m, 1e-14, 1e-16)
        lam = math.exp(K) * math.cosh(H) + math.sqrt(math.exp(2 * K) * math.sinh(H) ** 2 + math.exp(-2 * K))
        assert_close(float(exact.ising_1d_free_energy(None, beta, J, h)), -math.log(lam) / beta, 1e-14)
        assert_close(float(exact.ising_1d_energy(2000, beta, J, h)), float(exact.ising_1d_energy(None, beta, J, h)), 1e-13)
    assert_close(float(exact.ising_1d_energy(None, 0.7, 1.0, 0.0)), -math.tanh(0.7), 1e-14)


# ------------------------------------------------------------------------------------------------
# Curie-Weiss


def curie_weiss_model(N, J, h):
    couplings = np.full((N, N), J / N)
    np.fill_diagonal(couplings, 0.0)
    return PairwiseIsing(couplings, h)


@pytest.mark.parametrize("N", [1, 5, 10])
@pytest.mark.parametrize("beta,J,h", [(0.5, 1.0, 0.0), (1.7, 1.0, 0.0), (0.7, -1.0, 0.3), (1.3, 0.8, -0.4)])
def test_curie_weiss_matches_enumeration(N, beta, J, h):
    """E = -(J/2N)(M^2 - N) - h M is PairwiseIsing with J_ij = J/N off the diagonal."""
    result = exact.curie_weiss(N, beta, J=J, h=h)
    reference = enumerate_model(curie_weiss_model(N, J, h), beta)
    assert_close(float(result.log_partition_function), reference["log_partition_function"], 1e-13)
    assert_close(float(result.free_energy), -reference["log_partition_function"] / (beta * N), 1e-13)
    for field in ("energy", "energy2", "magnetization", "abs_magnetization", "m2", "m4"):
        assert_close(float(getattr(result, field)), reference[field], 1e-12, 1e-15, field)


@pytest.mark.parametrize("beta,J,h", [(1.5, 1.0, 0.0), (2.0, 1.0, 0.0), (0.5, 1.0, 0.1), (1.5, 1.0, -0.05), (0.7, -1.0, 0.3)])
def test_curie_weiss_mean_field_is_large_n_limit(beta, J, h):
    """Away from T_c, finite-N sums converge to mean field at rate 1/N, checked at N = 10^4 and 10^5:

    <m> (or <|m|> at h = 0) - m_MF = O(1/N), and ln Z_N minus its Laplace asymptotics
    N (-beta f_MF) - 1/2 ln(1 - beta J (1 - m^2)) - beta J / 2 + [ln 2 if two ordered states] is O(1/N).
    A wrong branch, root or free energy gives an O(1) or O(1/sqrt N) error instead.
    """
    mean_field = exact.curie_weiss_mean_field(beta, J=J, h=h)
    m = float(mean_field.magnetization)
    assert abs(m - math.tanh(beta * (J * m + h))) < 1e-15
    two_states = h == 0 and beta * J > 1
    errors = []
    for N in (10**4, 10**5):
        result = exact.curie_weiss(N, beta, J=J, h=h)
        measured = float(result.abs_magnetization if h == 0 else result.magnetization)
        laplace = (
            N * (-beta * float(mean_field.free_energy))
            - 0.5 * math.log(1 - beta * J * (1 - m * m))
            - beta * J / 2
            + (math.log(2.0) if two_states else 0.0)
        )
        errors.append((measured - m, float(result.log_partition_function) - laplace))
    for small, large in zip(*errors):
        assert abs(large) < 2e-4
        assert 9.5 < small / large < 10.5  # O(1/N): ten times smaller at ten times N
    assert_close(float(mean_field.energy), -J * m * m / 2 - h * m, 1e-15)


def test_curie_weiss_mean_field_branches_and_derivative():
    betas = jnp.array([0.0, 0.5, 0.99, 1.5, 3.0])
    m = np.asarray(exact.curie_weiss_mean_field(betas).magnetization)
    assert np.all(m[:3] == 0.0) and np.all(m[3:] > 0.85)  # paramagnet, then the positive branch at h = 0
    assert float(exact.curie_weiss_mean_field(1.5, h=-0.01).magnetization) < -0.85  # follows the field
    # Implicit-function derivative: dm/dbeta = (J m + h) sech^2 / (1 - beta J sech^2)
    beta, h = 0.8, 0.1
    m0 = float(exact.curie_weiss_mean_field(beta, h=h).magnetization)
    sech2 = 1 / math.cosh(beta * (m0 + h)) ** 2
    expected = (m0 + h) * sech2 / (1 - beta * sech2)
    derivative = jax.grad(lambda b: exact.curie_weiss_mean_field(b, h=h).magnetization)(beta)
    assert_close(float(derivative), expected, 1e-12)


# ------------------------------------------------------------------------------------------------
# enumeration (the reference everything above leans on)


def test_enumeration_beta_derivative_is_minus_energy_variance():
    """beta_derivative(energy) = d<e>/dbeta = -N Var(e) = -C / beta^2, also equal to jax.grad of averages."""
    model, beta = Ising((3, 4), J=0.9, h=0.2), 0.6
    slope = float(exact.beta_derivative(model, beta, lambda m, s: m.energy(s) / m.num_spins))
    heat = exact.ising_2d((3, 4), beta, J=0.9, h=0.2).specific_heat
    assert_close(slope, -heat / beta**2, 1e-10)
    grad = jax.grad(lambda b: exact.averages(model, b)["energy"])(jnp.float64(beta))
    assert_close(float(grad), slope, 1e-10)
    assert_close(float(jnp.sum(exact.probabilities(model, beta))), 1.0, 1e-14)


# ------------------------------------------------------------------------------------------------
# bad input, jit / vmap / float32


def test_closed_forms_bad_input():
    with pytest.raises(ValueError, match=">= 0"):
        exact.onsager_energy(-0.1)
    with pytest.raises(ValueError, match="finite"):
        exact.onsager_free_energy(float("nan"))
    with pytest.raises(ValueError, match="finite"):
        exact.kaufman_energy(8, float("inf"))
    with pytest.raises(ValueError, match="NaN"):
        exact.kaufman_energy(8, 0.3, J=float("nan"))
    with pytest.raises(ValueError, match=">= 2"):
        exact.kaufman_log_partition_function(1, 0.3)
    with pytest.raises(TypeError, match="static"):
        exact.kaufman_log_partition_function(4.0, 0.3)
    with pytest.raises(ValueError, match=">= 2"):
        exact.ising_1d_energy(1, 0.3)
    with pytest.raises(ValueError, match=">= 1"):
        exact.curie_weiss(0, 0.3)
    with pytest.raises(ValueError, match=">= 0"):
        exact.curie_weiss_mean_field(-1.0)
    # A traced invalid beta cannot raise under jit: it yields NaN.
    assert np.isnan(float(jax.jit(exact.onsager_energy)(-1.0)))
    assert np.isnan(float(jax.jit(lambda b: exact.kaufman_energy(4, b))(jnp.nan)))
    assert np.isnan(float(jax.jit(lambda b: exact.curie_weiss(10, b).m2)(-1.0)))


@pytest.mark.slow  # suite time (17 s); every closed form is checked in float64 by default
def test_closed_forms_jit_vmap_float32():
    """Without x64 every closed form runs under jit and vmap in float32 and matches float64 to float32 precision."""
    assert not jax.config.jax_enable_x64  # the float64 fixture did not leak
    betas = np.array([0.2, 0.44, 0.6, 1.0])
    # name -> (function, rtol). The specific heat is a second derivative of ln Z ~ 2 beta N that is
    # exponentially small at low T, so float32 keeps only ~3e-4 of it at beta = 1 (L = 16).
    functions = {
        "kaufman_energy": (lambda b: exact.kaufman_energy(16, b), 2e-5),
        "kaufman_heat": (lambda b: exact.kaufman_specific_heat(16, b), 2e-3),
        "kaufman_log_z": (lambda b: exact.kaufman_log_partition_function(32, b), 2e-5),
        "onsager_f": (exact.onsager_free_energy, 2e-5),
        "onsager_u": (exact.onsager_energy, 2e-5),
        "onsager_m": (exact.onsager_magnetization, 2e-5),
        "chain_e": (lambda b: exact.ising_1d_energy(12, b, 1.0, 0.3), 2e-5),
        "cw_m2": (lambda b: exact.curie_weiss(200, b, J=1.0, h=0.05).m2, 2e-5),
        "mf_f": (lambda b: exact.curie_weiss_mean_field(b, h=0.05).free_energy, 2e-5),
    }
    for name, (fn, rtol) in functions.items():
        single = np.asarray(jax.jit(jax.vmap(fn))(jnp.asarray(betas)))
        assert single.dtype == np.float32, name
        with jax.enable_x64(True):
            double = np.array([float(fn(jnp.float64(b))) for b in betas])
        np.testing.assert_allclose(single, double, rtol=rtol, atol=1e-6, err_msg=name)
    assert not jax.config.jax_enable_x64
