"""Random-matrix theory (jaxphys.theory.rmt): laws against closed forms and independent quadrature,
sampled spectra against their laws, BBP spiked models, Jacobians of rate networks.

Independent references: scipy's adaptive quadrature of the densities (normalisation, moments,
CDFs, Stieltjes transforms) against the closed forms (Catalan and Narayana numbers, the MP CDF
antiderivative); ``jax.grad`` of the CDFs against the densities; ``jax.jacfwd`` of the rate
network's velocity against :func:`rmt.rate_jacobian`; an exact ``eig(AB) = eig(BA)`` identity for
the sequence Hebbian network.

Statistical tolerances (all with fixed seeds; each says its false-failure rate):

* Kolmogorov distance of ONE spectrum to its law. Eigenvalues are rigid: the distance is
  ``O(log m / m)`` (bulk rigidity; at the edges the ``n^{-2/3}`` Tracy-Widom scale moves the CDF by
  only ``(n^{-2/3})^{3/2} = 1/n``), not the ``1/sqrt(m)`` of independent points. Measured over 30
  GOE draws at ``n = 1000``: mean 0.0034, sd 0.0003, max 0.0043; MP (``m = p = 1000``): ~0.003.
  The tolerance ``log(m) / m`` (0.0069) is > 10 sd above the mean (false failures < 1e-6); a 20%
  wrong variance or a 10% wrong ratio gives 0.026-0.031 and is rejected (tested).
* Circular/elliptic laws, ``n = 400``, 3 matrices (1 for complex Ginibre): second moments have a
  per-matrix sd of 0.002-0.0045 (measured over 10 seeds) and an ``O(1/n)`` bias
  (``E |lambda|^2 = (n + 1) / 2n`` for complex Ginibre); the tolerance 0.012 is > 4.5 sd of the
  mean plus the bias. The fraction of eigenvalues inside the ellipse scaled by ``s`` is ``s^2``;
  per-matrix sd measured 0.003-0.012 (below the binomial 0.024: eigenvalues repel); tolerance
  0.03 on the mean (> 4 sd). False failures ~1e-4 per check.
* BBP outliers, 3 draws: the top eigenvalue fluctuates by ``O(n^{-1/2})``: spiked Wigner sd
  ``<= sqrt(2/n)`` (measured 0.037-0.042 at ``n = 600``), tolerance 4 sd of the mean; spiked
  covariance sd ``sqrt(2 (1 + l)^2 (1 - gamma/l^2) / n)`` (Paul 2007; measured ~1.2x that over
  16 seeds), tolerance 5 of those sd. Squared overlaps: per-draw sd measured 0.007-0.023,
  tolerance 0.03 (Wigner) and 0.05 (covariance) on the mean of 3 (> 3.8 sd). Below the threshold
  ``lambda_max = 2 + n^{-2/3} chi``, ``chi`` Tracy-Widom (GOE: mean -1.21, sd 1.27): the mean of 3
  is tested within 4 sd of ``2 - 1.21 n^{-2/3}``. False failures ~1e-4 per check.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.theory import dmft, rmt


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(400)


def _angle_rule(upper):
    """Gauss-Legendre nodes ``t`` and weights on ``[0, upper]`` (per entry of ``upper``), shape ``(m, 400)``."""
    upper = np.asarray(upper, float)[..., None]
    return 0.5 * upper * (_NODES + 1.0), 0.5 * upper * _WEIGHTS


def _semicircle_integral(f, variance, upper=np.pi):
    """``integral f(x) rho(x) dx`` over ``x = 2 sigma sin(t - pi/2)``, ``t in [0, upper]`` (smooth in ``t``)."""
    sigma = math.sqrt(variance)
    t, w = _angle_rule(upper)
    x = -2 * sigma * np.cos(t)
    return np.sum(w * f(x) * np.asarray(rmt.semicircle_density(x, variance)) * 2 * sigma * np.sin(t), axis=-1)


def _mp_integral(f, ratio, variance, upper=np.pi):
    """``integral f(x) rho(x) dx`` over the continuous part, ``x = sigma^2 (c - r cos t)``: ``dx = sigma^2 r sin t dt``."""
    c, r = 1 + ratio, 2 * math.sqrt(ratio)
    t, w = _angle_rule(upper)
    x = variance * (c - r * np.cos(t))
    return np.sum(w * f(x) * np.asarray(rmt.marchenko_pastur_density(x, ratio, variance)) * variance * r * np.sin(t), axis=-1)


# --------------------------------------------------------------------------- laws (deterministic)


@pytest.mark.parametrize("variance", [1.0, 2.5])
def test_semicircle_normalisation_moments_cdf_stieltjes(variance):
    """Independent reference: Gauss-Legendre quadrature (400 nodes) of the density in the angle variable."""
    lo, hi = map(float, rmt.semicircle_edges(variance))
    assert hi == pytest.approx(2 * math.sqrt(variance)) and lo == -hi
    assert _semicircle_integral(np.ones_like, variance) == pytest.approx(1.0, abs=1e-12)
    catalan = [1, 1, 2, 5, 14]
    for k in range(9):
        expected = catalan[k // 2] * variance ** (k // 2) if k % 2 == 0 else 0.0
        assert float(rmt.semicircle_moment(k, variance)) == expected
        assert _semicircle_integral(lambda x: x**k, variance) == pytest.approx(expected, rel=1e-10, abs=1e-10)
    xs = np.array([lo - 1, lo, -0.7 * hi, 0.0, 0.3 * hi, 0.99 * hi, hi, hi + 1])
    angles = np.arccos(-np.clip(xs / hi, -1, 1))
    np.testing.assert_allclose(rmt.semicircle_cdf(xs, variance), _semicircle_integral(np.ones_like, variance, angles), atol=1e-10)
    inner = jnp.asarray(xs[2:6])
    np.testing.assert_allclose(
        jax.vmap(jax.grad(lambda x: rmt.semicircle_cdf(x, variance)))(inner), rmt.semicircle_density(inner, variance), rtol=1e-10
    )
    z = np.array([0.3 + 0.5j, -3.0 + 0.1j, 5.0, 1j])[:, None]
    reference = _semicircle_integral(lambda x: 1 / (z - x), variance)
    np.testing.assert_allclose(rmt.semicircle_stieltjes(z[:, 0], variance), reference, atol=1e-9)
    # boundary value: -Im G(x + i0) / pi = rho(x)
    x = np.array([-0.5, 0.2, 1.1]) * hi
    np.testing.assert_allclose(
        -np.imag(rmt.semicircle_stieltjes(x + 1e-12j, variance)) / np.pi, rmt.semicircle_density(x, variance), atol=1e-9
    )


@pytest.mark.parametrize("ratio", [0.3, 1.0, 2.5])
def test_marchenko_pastur_normalisation_moments_cdf_stieltjes(ratio):
    """Independent reference: Gauss-Legendre in the angle variable; the atom weight added by hand."""
    variance = 1.7
    lo, hi = map(float, rmt.marchenko_pastur_edges(ratio, variance))
    assert (lo, hi) == pytest.approx((variance * (1 - math.sqrt(ratio)) ** 2, variance * (1 + math.sqrt(ratio)) ** 2))
    atom = float(rmt.marchenko_pastur_atom(ratio))
    assert atom == pytest.approx(max(0.0, 1 - 1 / ratio))
    # (1e-11: at ratio 1, x = 2 - 2 cos t loses relative accuracy ~eps / t^2 next to the hard edge 0)
    assert _mp_integral(np.ones_like, ratio, variance) + atom == pytest.approx(1.0, abs=1e-11)
    narayana = {1: [1], 2: [1, 1], 3: [1, 3, 1], 4: [1, 6, 6, 1], 5: [1, 10, 20, 10, 1]}
    assert float(rmt.marchenko_pastur_moment(0, ratio, variance)) == 1.0
    for k, coefficients in narayana.items():
        expected = variance**k * sum(c * ratio**j for j, c in enumerate(coefficients))
        assert float(rmt.marchenko_pastur_moment(k, ratio, variance)) == pytest.approx(expected, rel=1e-13)
        assert _mp_integral(lambda x: x**k, ratio, variance) == pytest.approx(expected, rel=1e-10)
    xs = np.array([-1.0, 0.0, lo, lo + 0.1 * (hi - lo), 0.5 * (lo + hi), hi - 0.01, hi, hi + 2])
    c, r = 1 + ratio, 2 * math.sqrt(ratio)
    angles = np.arccos(np.clip((c - xs / variance) / r, -1, 1))
    reference = np.where(xs >= 0, atom, 0.0) + _mp_integral(np.ones_like, ratio, variance, angles)
    np.testing.assert_allclose(rmt.marchenko_pastur_cdf(xs, ratio, variance), reference, atol=1e-10)
    inner = jnp.asarray(xs[3:6])
    np.testing.assert_allclose(
        jax.vmap(jax.grad(lambda x: rmt.marchenko_pastur_cdf(x, ratio, variance)))(inner),
        rmt.marchenko_pastur_density(inner, ratio, variance),
        rtol=1e-9,
    )
    z = np.array([1.3 + 0.7j, -0.5 + 0.01j, 12.0, 0.2j])[:, None]
    reference = _mp_integral(lambda x: 1 / (z - x), ratio, variance) + atom / z[:, 0]
    np.testing.assert_allclose(rmt.marchenko_pastur_stieltjes(z[:, 0], ratio, variance), reference, atol=1e-9)


def test_elliptic_law_density_boundary_and_moments():
    for tau, scale in ((0.0, 1.0), (0.5, 1.0), (-0.3, 2.0)):
        a, b = scale * (1 + tau), scale * (1 - tau)
        # elliptic coordinates z = r (a cos t + i b sin t): constant 1/(pi a b) for r < 1, 0 beyond
        r, t = np.meshgrid(np.linspace(0.005, 1.495, 150), np.linspace(0, 2 * np.pi, 40))
        density = np.asarray(rmt.elliptic_law_density(r * (a * np.cos(t) + 1j * b * np.sin(t)), tau, scale))
        np.testing.assert_allclose(density, np.where(r < 1, 1 / (math.pi * a * b), 0.0))
        boundary = rmt.ellipse_boundary(tau, scale, num_points=64)
        np.testing.assert_allclose((boundary.real / a) ** 2 + (boundary.imag / b) ** 2, 1.0, atol=1e-12)
        # second moments of the uniform law on the ellipse: E x^2 = a^2 / 4, E y^2 = b^2 / 4
        m2, abs2 = map(float, rmt.elliptic_second_moments(tau, scale))
        assert m2 == pytest.approx((a**2 - b**2) / 4) and abs2 == pytest.approx((a**2 + b**2) / 4)
    assert float(rmt.circular_law_density(0.5j, 2.0)) == pytest.approx(1 / (4 * math.pi))
    assert float(rmt.circular_law_density(2.01, 2.0)) == 0.0


def test_kolmogorov_distance_against_brute_force():
    """``sup |F_n - F|`` against a direct evaluation of both one-sided limits, with ties and an atom."""
    rng = np.random.default_rng(0)
    samples = np.concatenate([np.zeros(40), np.round(rng.uniform(0, 1, 60), 1)])  # atom 0.4 at 0, then ties

    def cdf(x):
        return jnp.where(x >= 0, 0.4 + 0.6 * jnp.clip(x, 0, 1), 0.0)

    brute = max(
        max(abs(np.mean(samples <= v) - 0.4 - 0.6 * v), abs(np.mean(samples < v) - (0.4 + 0.6 * v if v > 0 else 0.0)))
        for v in samples
    )
    assert float(rmt.kolmogorov_distance(samples, cdf)) == pytest.approx(brute, abs=1e-12)


def test_bbp_formulas_and_thresholds():
    th = rmt.spiked_wigner_theory(jnp.array([0.0, 0.5, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(th.top_eigenvalue, [2, 2, 2, 2.5, 10 / 3])
    np.testing.assert_allclose(th.overlap, [0, 0, 0, 0.75, 8 / 9])
    gamma = 0.5
    th = rmt.spiked_wishart_theory(jnp.array([0.3, math.sqrt(gamma), 2.0]), gamma)
    np.testing.assert_allclose(th.top_eigenvalue, [(1 + math.sqrt(gamma)) ** 2] * 2 + [3.75])
    np.testing.assert_allclose(th.overlap, [0, 0, 0.7])
    assert float(rmt.bbp_threshold()) == 1.0 and float(rmt.bbp_threshold(0.25)) == 0.5
    # continuity at the thresholds: the outlier leaves the bulk edge with zero overlap
    eps = 1e-7
    assert float(rmt.spiked_wigner_theory(1 + eps).top_eigenvalue) == pytest.approx(2.0, abs=1e-6)
    at = rmt.spiked_wishart_theory(math.sqrt(gamma) + eps, gamma)
    assert float(at.top_eigenvalue) == pytest.approx((1 + math.sqrt(gamma)) ** 2, abs=1e-6) and float(at.overlap) < 1e-6
    # jit and vmap over the parameters
    f = jax.jit(jax.vmap(lambda l, g: rmt.spiked_wishart_theory(l, g).top_eigenvalue))
    np.testing.assert_allclose(f(jnp.array([2.0, 0.1]), jnp.array([0.5, 0.5])), [3.75, (1 + math.sqrt(0.5)) ** 2])


def test_dtype_follows_input_and_jit():
    x32 = jnp.linspace(-1.0, 1.0, 5, dtype=jnp.float32)
    assert rmt.semicircle_density(x32).dtype == jnp.float32
    assert rmt.marchenko_pastur_cdf(x32 + 1.0, 0.5).dtype == jnp.float32
    assert rmt.semicircle_stieltjes(jnp.complex64(3.0)).dtype == jnp.complex64
    traced = jax.jit(lambda x, g, v: rmt.marchenko_pastur_density(x, g, v))(jnp.array([1.0]), 0.5, 1.0)
    np.testing.assert_allclose(traced, rmt.marchenko_pastur_density(jnp.array([1.0]), 0.5, 1.0))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="ratio"):
        rmt.marchenko_pastur_density(1.0, 0.0)
    with pytest.raises(ValueError, match="ratio"):
        rmt.marchenko_pastur_cdf(1.0, -1.0)
    with pytest.raises(ValueError, match="variance"):
        rmt.semicircle_density(0.0, -1.0)
    with pytest.raises(ValueError, match="variance"):
        rmt.marchenko_pastur_moment(2, 0.5, float("nan"))
    with pytest.raises(ValueError, match="tau"):
        rmt.elliptic_law_density(0.0, 1.2)
    with pytest.raises(ValueError, match="tau"):
        rmt.elliptic_law_density(0.0, 1.0)  # degenerate: no 2-D density
    with pytest.raises(ValueError, match="tau"):
        rmt.elliptic(jax.random.key(0), 10, -1.5)
    with pytest.raises(ValueError, match="beta"):
        rmt.wigner(jax.random.key(0), 10, beta=4)
    with pytest.raises(ValueError, match="n"):
        rmt.wishart(jax.random.key(0), 0, 3)
    with pytest.raises(TypeError):
        rmt.ginibre(jax.random.key(0), 3.5)
    with pytest.raises(ValueError, match="k"):
        rmt.semicircle_moment(-2)
    with pytest.raises(ValueError, match="samples"):
        rmt.kolmogorov_distance(jnp.zeros((0,)), rmt.semicircle_cdf)
    with pytest.raises(ValueError, match="theta"):
        rmt.spiked_wigner_theory(-1.0)
    with pytest.raises(ValueError, match="spike"):
        rmt.spiked_wishart(jax.random.key(0), 10, 5, -1.0)
    with pytest.raises(ValueError, match="shape"):
        rmt.rate_jacobian(jnp.eye(3), jnp.zeros(4))
    with pytest.raises(ValueError, match="square"):
        rmt.rate_jacobian(jnp.ones((3, 2)), jnp.zeros(3))
    with pytest.raises(ValueError, match="eta = 0"):
        rmt.rate_jacobian_support(1.0, 0.5, x=jnp.zeros(3))
    with pytest.raises(ValueError, match="gain"):
        rmt.rate_jacobian_support(-1.0)


# --------------------------------------------------------------------------- sampled spectra

_N_GOE, _N_GUE = 1000, 500  # complex eigh costs ~4x real


@jax.jit
def _wigner_spectra(key):
    k1, k2 = jax.random.split(key)
    return jnp.linalg.eigvalsh(rmt.wigner(k1, _N_GOE, beta=1)), jnp.linalg.eigvalsh(rmt.wigner(k2, _N_GUE, beta=2, variance=2.0))


def test_wigner_spectra_match_semicircle():
    goe, gue = _wigner_spectra(jax.random.key(0))
    tol_goe, tol_gue = math.log(_N_GOE) / _N_GOE, math.log(_N_GUE) / _N_GUE
    assert float(rmt.kolmogorov_distance(goe, rmt.semicircle_cdf)) < tol_goe
    assert float(rmt.kolmogorov_distance(gue, lambda x: rmt.semicircle_cdf(x, 2.0))) < tol_gue
    # the test can fail: a 20% (GOE) or 2x (GUE) wrong variance is rejected
    assert float(rmt.kolmogorov_distance(goe, lambda x: rmt.semicircle_cdf(x, 1.2))) > 2 * tol_goe
    assert float(rmt.kolmogorov_distance(gue, rmt.semicircle_cdf)) > 2 * tol_gue
    # moments: E tr W^2 / n = (n + 1) / n for GOE (diagonal variance 2/n), sd ~ sqrt(2)/n; W^4 -> 2 (Catalan)
    assert float(jnp.mean(goe**2)) == pytest.approx((_N_GOE + 1) / _N_GOE, abs=6 / _N_GOE)
    assert float(jnp.mean(goe**4)) == pytest.approx(float(rmt.semicircle_moment(4)), abs=0.03)
    assert float(jnp.mean(gue**4)) == pytest.approx(float(rmt.semicircle_moment(4, 2.0)), abs=0.1)


@jax.jit
def _wishart_spectra(key):
    k1, k2 = jax.random.split(key)
    wide = jnp.linalg.eigvalsh(rmt.wishart(k1, 2000, 1000, variance=0.5))  # ratio 0.5
    tall = jnp.linalg.eigvalsh(rmt.wishart(k2, 500, 1000))  # ratio 2: 500 zero eigenvalues
    return wide, jnp.where(tall < 1e-9, 0.0, tall)  # numerical zeros (~1e-15, either sign) to exact 0


def test_wishart_spectra_match_marchenko_pastur():
    wide, tall = _wishart_spectra(jax.random.key(1))
    tol = math.log(1000) / 1000
    assert float(rmt.kolmogorov_distance(wide, lambda x: rmt.marchenko_pastur_cdf(x, 0.5, 0.5))) < tol
    assert float(rmt.kolmogorov_distance(tall, lambda x: rmt.marchenko_pastur_cdf(x, 2.0))) < tol
    assert float(jnp.mean(tall == 0.0)) == float(rmt.marchenko_pastur_atom(2.0))
    # a 10% wrong ratio is rejected
    assert float(rmt.kolmogorov_distance(wide, lambda x: rmt.marchenko_pastur_cdf(x, 0.55, 0.5))) > 2 * tol
    assert float(rmt.kolmogorov_distance(tall, lambda x: rmt.marchenko_pastur_cdf(x, 2.2))) > 2 * tol
    # Narayana moments: E x^2 = 1 + gamma, E x^3 = 1 + 3 gamma + gamma^2 (sd O(1/p))
    assert float(jnp.mean(tall**2)) == pytest.approx(float(rmt.marchenko_pastur_moment(2, 2.0)), rel=0.01)
    assert float(jnp.mean(tall**3)) == pytest.approx(float(rmt.marchenko_pastur_moment(3, 2.0)), rel=0.02)


_N_COMPLEX = 400
_SCALES = np.array([0.5, 0.8])


def _law_statistics(eigs, tau):
    """Per matrix: fraction inside the ellipse scaled by 0.5, 0.8; E lambda^2; E |lambda|^2."""
    inside = jnp.stack([jnp.mean(rmt.inside_ellipse(eigs, tau, s), axis=-1) for s in _SCALES], axis=-1)
    return inside, jnp.mean(eigs**2, axis=-1).real, jnp.mean(jnp.abs(eigs) ** 2, axis=-1)


@jax.jit
def _elliptic_statistics(keys, tau):
    return _law_statistics(jax.vmap(lambda k: jnp.linalg.eigvals(rmt.elliptic(k, _N_COMPLEX, tau)))(keys), tau)


@jax.jit
def _complex_ginibre_statistics(keys):
    return _law_statistics(jax.vmap(lambda k: jnp.linalg.eigvals(rmt.ginibre(k, _N_COMPLEX, real=False)))(keys), 0.0)


def test_circular_and_elliptic_laws():
    tol_moment, tol_fraction = 0.012, 0.03
    keys = jax.random.split(jax.random.key(2), 3)
    cases = [
        (0.0, _elliptic_statistics(keys, 0.0)),
        (0.5, _elliptic_statistics(keys, 0.5)),
        (0.0, _complex_ginibre_statistics(keys[:1])),
    ]
    for tau, (inside, mean_square, mean_abs2) in cases:
        m2, abs2 = map(float, rmt.elliptic_second_moments(tau))
        np.testing.assert_allclose(np.mean(inside, axis=0), _SCALES**2, atol=tol_fraction)
        assert abs(float(np.mean(mean_square)) - m2) < tol_moment
        assert abs(float(np.mean(mean_abs2)) - abs2) < tol_moment
    # can fail: the tau = 0.5 spectrum does not have the circular law's E|lambda|^2 = 1/2
    assert abs(float(np.mean(cases[1][1][2])) - 0.5) > 5 * tol_moment


_N_BBP = 600
_BBP_DRAWS = 3


@jax.jit
def _spiked_wigner_runs(keys, theta):
    def one(key):
        y, v = rmt.spiked_wigner(key, _N_BBP, theta)
        top, u = rmt.top_eigenpair(y)
        return top, (u @ v) ** 2

    return jax.vmap(one)(keys)


def test_bbp_spiked_wigner():
    keys = jax.random.split(jax.random.key(3), _BBP_DRAWS)
    for theta in (0.5, 2.0, 3.0):
        top, overlap = map(np.asarray, _spiked_wigner_runs(keys, theta))
        theory = rmt.spiked_wigner_theory(theta)
        if theta < 1:
            # Tracy-Widom edge: 2 + n^{-2/3} chi, GOE chi has mean -1.2065, sd 1.2680
            scale = _N_BBP ** (-2 / 3)
            assert abs(top.mean() - (2 - 1.2065 * scale)) < 4 * 1.268 * scale / math.sqrt(_BBP_DRAWS)
            assert overlap.mean() < 0.03
        else:
            assert abs(top.mean() - float(theory.top_eigenvalue)) < 4 * math.sqrt(2 / _N_BBP / _BBP_DRAWS)
            assert abs(overlap.mean() - float(theory.overlap)) < 0.03
    # can fail: at theta = 2 the top eigenvalue is far from the bulk edge 2 and from theta itself
    top, _ = _spiked_wigner_runs(keys, 2.0)
    assert float(jnp.min(top)) > 2.3


@jax.jit
def _spiked_wishart_runs(keys, spike):
    def one(key):
        s, v = rmt.spiked_wishart(key, 1000, 500, spike)  # gamma = 0.5, threshold 0.707
        top, u = rmt.top_eigenpair(s)
        return top, (u @ v) ** 2

    return jax.vmap(one)(keys)


def test_bbp_spiked_covariance():
    gamma, n = 0.5, 1000
    keys = jax.random.split(jax.random.key(4), _BBP_DRAWS)
    for spike in (0.3, 2.0, 4.0):
        top, overlap = map(np.asarray, _spiked_wishart_runs(keys, spike))
        theory = rmt.spiked_wishart_theory(spike, gamma)
        if spike < math.sqrt(gamma):
            # sticks to the edge (1 + sqrt gamma)^2 within a few Tracy-Widom widths ~ n^{-2/3} (times ~3 here)
            assert abs(top.mean() - float(theory.top_eigenvalue)) < 0.1
            assert overlap.mean() < 0.05
        else:
            sd = math.sqrt(2 * (1 + spike) ** 2 * (1 - gamma / spike**2) / n)  # Paul (2007), Thm 3
            assert abs(top.mean() - float(theory.top_eigenvalue)) < 5 * sd / math.sqrt(_BBP_DRAWS)
            assert abs(overlap.mean() - float(theory.overlap)) < 0.05


# --------------------------------------------------------------------------- rate networks


def test_rate_jacobian_matches_autodiff_and_critical_gain():
    key_j, key_x = jax.random.split(jax.random.key(5))
    # (sampled under jit: eager random draws compile primitive by primitive, ~1 s)
    couplings, x = jax.jit(lambda kj, kx: (1.3 * dmft.random_couplings(kj, 50, 0.3), jax.random.normal(kx, (50,))))(key_j, key_x)
    for activation in ("tanh", "erf"):
        phi = {"tanh": jnp.tanh, "erf": jax.scipy.special.erf}[activation]
        compare = jax.jit(lambda j, s, a=activation, f=phi: (rmt.rate_jacobian(j, s, a), jax.jacfwd(lambda y: -y + j @ f(y))(s)))
        np.testing.assert_allclose(*compare(couplings, x), atol=1e-13)
        # the right edge of the ellipse crosses 0 exactly at dmft's critical gain
        etas = jnp.array([-0.5, 0.0, 0.4])
        g_c = dmft.critical_gain(etas, activation)
        np.testing.assert_allclose(rmt.rate_jacobian_support(g_c, etas, activation).right_edge, 0.0, atol=1e-14)


_N_RATE = 400


@jax.jit
def _rate_spectrum(key, g, eta, state_scale):
    """Jacobian spectrum at x = state_scale * N(0, I) (independent of J), and that x."""
    k_j, k_x = jax.random.split(key)
    state = state_scale * jax.random.normal(k_x, (_N_RATE,))
    return jnp.linalg.eigvals(rmt.rate_jacobian(g * rmt.elliptic(k_j, _N_RATE, eta), state)), state


def test_rate_network_jacobian_spectrum():
    # g (1 + eta) = 0.9 (stable) and 1.2 (unstable): the rightmost eigenvalue follows -1 + g (1 + eta)
    for g, eta in ((0.6, 0.5), (0.8, 0.5)):
        at_zero, _ = _rate_spectrum(jax.random.key(6), g, eta, 0.0)
        support = rmt.rate_jacobian_support(g, eta)
        rightmost = float(jnp.max(at_zero.real))
        # finite n: the spectral edge fluctuates by ~ sqrt(log n / 4n) = 0.06 (Ginibre spectral radius,
        # Rider 2003); over 8 seeds rightmost - edge was -0.015 +- 0.014 (g = 0.6), -0.020 +- 0.018 (0.8)
        assert abs(rightmost - float(support.right_edge)) < 0.1
        assert (rightmost > 0) == (g * (1 + eta) > 1)
        # uniform inside: ~all within the ellipse (edge tail O(n^{-1/2})), 0.8^2 within the 0.8-scaled one
        assert float(jnp.mean(rmt.inside_ellipse(at_zero, eta, g, -1.0))) > 0.95
        assert bool(jnp.all(rmt.inside_ellipse(at_zero, eta, 1.2 * g, -1.0)))
        assert float(jnp.mean(rmt.inside_ellipse(at_zero, eta, 0.8 * g, -1.0))) == pytest.approx(0.64, abs=0.05)
    # at a state x independent of J (eta = 0): disk of radius g sqrt(mean phi'(x)^2)
    g = 2.0
    at_state, state = _rate_spectrum(jax.random.key(7), g, 0.0, 1.5)
    radius = float(rmt.rate_jacobian_support(g, 0.0, x=state).real_axis)
    traced = jax.jit(lambda gain, s: rmt.rate_jacobian_support(gain, 0.0, x=s).real_axis)(g, state)
    assert float(traced) == pytest.approx(radius, rel=1e-12)
    assert radius < 0.8 * g  # far from the x = 0 prediction g, so the check below can fail
    # spectral radius excess as above: max|lambda + 1| / radius - 1 was 0.028 +- 0.029 over 8 seeds
    assert 0.9 * radius < float(jnp.max(jnp.abs(at_state + 1.0))) < 1.15 * radius


_sequence_hebbian = jax.jit(rmt.sequence_hebbian_couplings, static_argnums=(1, 2))


def test_sequence_hebbian_spectrum():
    couplings, xi = _sequence_hebbian(jax.random.key(8), 60, 6)
    n, p = 60, 6
    np.testing.assert_allclose(couplings, sum(jnp.outer(xi[(m + 1) % p], xi[m]) for m in range(p)) / n, atol=1e-14)
    eigs = np.linalg.eigvals(np.asarray(couplings))
    nonzero = eigs[np.abs(eigs) > 1e-8]
    assert nonzero.size == p
    shift = np.roll(np.eye(p), 1, axis=0)  # shift[mu, nu] = 1 if mu = nu + 1
    reduced = np.linalg.eigvals(np.asarray(xi @ xi.T / n) @ shift)
    assert np.max(np.min(np.abs(nonzero[:, None] - reduced[None, :]), axis=1)) < 1e-10
    # low load: C -> I, the eigenvalues approach the p-th roots of unity (distance O(sqrt(p/n)))
    couplings, xi = _sequence_hebbian(jax.random.key(9), 1000, 4)
    reduced = np.linalg.eigvals(np.asarray(xi @ xi.T / 1000) @ np.roll(np.eye(4), 1, axis=0))
    roots = np.exp(2j * np.pi * np.arange(4) / 4)
    assert np.max(np.min(np.abs(reduced[:, None] - roots[None, :]), axis=1)) < 5 * math.sqrt(4 / 1000)


def test_plots_draw_and_refuse_bad_input():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxphys.plot import complex_spectrum_figure, spectrum_figure

    eigs = np.concatenate([np.zeros(50), np.linspace(0.2, 5.8, 50)])
    fig = spectrum_figure(eigs, lambda x: rmt.marchenko_pastur_density(x, 2.0), atom=0.5, bins=10)
    bars = fig.axes[0].patches
    assert len(bars) == 10  # the 50 zeros (the atom) are left out of the histogram
    heights, widths = np.array([b.get_height() for b in bars]), np.array([b.get_width() for b in bars])
    assert np.sum(heights * widths) == pytest.approx(0.5)  # the continuous part carries 1 - atom
    fig2 = complex_spectrum_figure(np.exp(1j * np.linspace(0, 6, 30)), rmt.ellipse_boundary(0.3))
    assert len(fig2.axes[0].lines) >= 1
    with pytest.raises(ValueError, match="complex"):
        spectrum_figure(np.array([1j, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        complex_spectrum_figure(np.array([np.nan]))
    plt.close("all")
