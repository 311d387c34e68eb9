"""Analytic infinite-width NNGP and NTK (jaxphys.ntk.analytic).

References: independent one-dimensional integrals (scipy.integrate.quad of the conditional
Gaussian mean of ReLU and tanh), Sheppard's orthant formula for E step step, Gauss-Hermite
quadrature for a callable erf against Williams' closed form, the length map of
jaxphys.theory.signal_propagation for the diagonal, finite differences for derivatives, and
finite random networks (jaxphys.ntk.networks.MLP): the output covariance of many depth-1
networks (exact at any width), and empirical tangent kernels (a jacrev contraction written
here) whose error must shrink like width^(-1/2).

False-failure rates: the Monte Carlo tests use fixed seeds; their bounds are 4.5 standard errors
(Gaussian tail 7e-6 per entry; < 1e-4 for the 10 entries of a 4 x 4 symmetric matrix) plus a
stated bias allowance for finite width; the slope fit allows 4 standard errors (6e-5) plus 0.03
for the O(1/n) pre-asymptotic correction. Everything runs in float64.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from jaxphys.ntk import analytic
from jaxphys.ntk.networks import MLP
from jaxphys.theory import signal_propagation as sp


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _inputs(num=4, dim=3, seed=0):
    x = np.random.default_rng(seed).normal(size=(num, dim))
    x[1] = 0.8 * x[0] + 0.3 * x[1]  # a strongly correlated pair
    return jnp.asarray(x)


# --------------------------------------------------------------------------- Gaussian averages


def _conditional_average(phi_outer, inner_mean, q1, q2, c):
    """E phi(u1) g(u2) by quad over u1 = sqrt(q1) z, with E[g(u2) | u1] given in closed form."""
    a, b = math.sqrt(q1), c / math.sqrt(q1)
    s = math.sqrt(max(q2 - b * b, 0.0))
    integrand = lambda z: stats.norm.pdf(z) * phi_outer(a * z) * inner_mean(b * z, s)  # noqa: E731
    return integrate.quad(integrand, -12, 12, epsabs=1e-14, epsrel=1e-13, limit=200, points=[0.0])[0]


def _relu_mean(m, s):  # E relu(m + s z)
    return m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)


@pytest.mark.parametrize("q1,q2,c", [(1.3, 0.7, 0.4), (0.5, 2.0, -0.9), (1.0, 1.0, 0.999)])
def test_relu_arccos_kernels_match_direct_integrals(q1, q2, c):
    feature, derivative = analytic.gaussian_kernels(q1, q2, c, "relu")
    reference = _conditional_average(lambda u: max(u, 0.0), _relu_mean, q1, q2, c)
    np.testing.assert_allclose(feature, reference, rtol=1e-10)
    # Sheppard: P(u1 > 0, u2 > 0) = 1/4 + arcsin(rho) / (2 pi)
    rho = c / math.sqrt(q1 * q2)
    np.testing.assert_allclose(derivative, 0.25 + math.asin(rho) / (2 * math.pi), rtol=1e-13)
    # rho = 1: E relu(u)^2 = q / 2, E step^2 = 1/2
    np.testing.assert_allclose(analytic.gaussian_kernels(q1, q1, q1, "relu"), (q1 / 2, 0.5), rtol=1e-14)


def test_tanh_quadrature_matches_direct_integral():
    q1, q2, c = 0.8, 1.5, 0.6
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / weights.sum()

    def tanh_mean(m, s):  # E tanh(m + s z), a smooth 1-D integrand
        return float(np.sum(weights * np.tanh(m + s * nodes)))

    reference = _conditional_average(math.tanh, tanh_mean, q1, q2, c)
    feature, _ = analytic.gaussian_kernels(q1, q2, c, "tanh", num_nodes=64)
    np.testing.assert_allclose(feature, reference, rtol=1e-10)


def test_closed_forms_match_quadrature():
    x = 0.5 * _inputs()
    erf = lambda u: jax.scipy.special.erf(u)  # noqa: E731  (a callable goes through the quadrature)
    closed = analytic.mlp(x, depth=3, activation="erf", sigma_w2=1.2, sigma_b2=0.1)
    quad = analytic.mlp(x, depth=3, activation=erf, sigma_w2=1.2, sigma_b2=0.1, num_nodes=64)
    for a, b in zip(closed, quad):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # linear: K^{l+1} = sigma_w2 K^l + sigma_b2, Theta^{l+1} = K^{l+1} + sigma_w2 Theta^l
    k = theta = 1.5 * x @ x.T / 3 + 0.2
    for _ in range(2):
        k = 1.5 * k + 0.2
        theta = k + 1.5 * theta
    np.testing.assert_allclose(analytic.mlp(x, depth=2, activation="linear", sigma_w2=1.5, sigma_b2=0.2), (k, theta), rtol=1e-13)


def test_diagonal_follows_the_length_map_and_matrix():
    x = _inputs()
    q0 = 1.4 * jnp.sum(x * x, axis=1) / 3 + 0.05
    nngp, ntk = analytic.mlp(x, depth=3, activation="tanh", sigma_w2=1.4, sigma_b2=0.05, num_nodes=64)
    q = sp.length_trajectory(q0, 3, 1.4, 0.05, "tanh", num_nodes=64)[-1]  # all inputs at once
    np.testing.assert_allclose(jnp.diagonal(nngp), q, rtol=1e-12)
    diag = analytic.mlp(x, depth=3, activation="tanh", sigma_w2=1.4, sigma_b2=0.05, num_nodes=64, diagonal=True)
    np.testing.assert_allclose(diag[0], jnp.diagonal(nngp), rtol=1e-13)
    np.testing.assert_allclose(diag[1], jnp.diagonal(ntk), rtol=1e-13)
    # the cross kernel is the off-diagonal block of the symmetric one; the ReLU diagonal is exact
    relu = analytic.mlp(x, depth=2)
    cross = analytic.mlp(x[:2], x[2:], depth=2)
    np.testing.assert_allclose(cross[1], relu[1][:2, 2:], rtol=1e-13)
    np.testing.assert_array_equal(analytic.mlp(x, depth=2, diagonal=True)[1], jnp.diagonal(relu[1]))


def test_derivatives_match_finite_differences():
    x = _inputs()

    def total(activation, w2, b2):  # depth and nodes as in the other tests: the forward pass is compiled once
        depth = 2 if activation == "relu" else 3
        nngp, ntk = analytic.mlp(x, depth=depth, activation=activation, sigma_w2=w2, sigma_b2=b2, num_nodes=64)
        return jnp.sum(nngp) + jnp.sum(ntk)

    # reverse mode through the closed form (the diagonal has rho = 1, where arccos' is infinite) and
    # forward mode through the quadrature; sigma_b2 = 0 is the boundary, so one-sided there
    for activation, b2, derivative in (("relu", 0.0, jax.grad), ("tanh", 0.1, jax.jacfwd)):
        grad = derivative(total, argnums=(1, 2))(activation, 1.3, b2)
        h = 1e-5
        fd_w = (total(activation, 1.3 + h, b2) - total(activation, 1.3 - h, b2)) / (2 * h)
        np.testing.assert_allclose(grad[0], fd_w, rtol=1e-7)
        if b2 == 0.0:
            fd_b = (total(activation, 1.3, b2 + h) - total(activation, 1.3, b2)) / h
            np.testing.assert_allclose(grad[1], fd_b, rtol=1e-4)
        else:
            fd_b = (total(activation, 1.3, b2 + h) - total(activation, 1.3, b2 - h)) / (2 * h)
            np.testing.assert_allclose(grad[1], fd_b, rtol=1e-7)
    # jit + vmap over a grid of sigma_w2
    grid = jax.jit(jax.vmap(lambda w2: analytic.mlp(x, depth=2, sigma_w2=w2)[1]))(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(grid[1], analytic.mlp(x, depth=2, sigma_w2=2.0)[1], rtol=1e-13)


def test_bad_input_raises():
    x = _inputs()
    with pytest.raises(ValueError, match="2-D"):
        analytic.mlp(x[0], depth=1)
    with pytest.raises(ValueError, match="same number of features"):
        analytic.mlp(x, x[:, :2], depth=1)
    with pytest.raises(ValueError, match="variance"):
        analytic.mlp(x, depth=1, sigma_w2=-1.0)
    with pytest.raises(ValueError, match="parameterization"):
        analytic.mlp(x, depth=1, parameterization="mup")
    with pytest.raises(ValueError, match="depth >= 1"):
        analytic.mlp(x, depth=0, parameterization="standard")
    with pytest.raises(ValueError, match="unknown activation"):
        analytic.mlp(x, depth=1, activation="gelu")
    with pytest.raises(ValueError, match="NaN"):
        analytic.mlp(x.at[0, 0].set(jnp.nan), depth=1)
    with pytest.raises(ValueError, match="depth"):
        analytic.mlp(x, depth=-1)


# --------------------------------------------------------------------------- finite networks


def _tangent_kernel(model, x):
    """Empirical NTK sum_p df(x)/dp df(x')/dp by a jacrev contraction over all parameters."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    jac = jax.vmap(jax.jacrev(lambda p, xi: eqx.combine(p, static)(xi)), in_axes=(None, 0))(params, x)
    flat = jnp.concatenate([j.reshape(x.shape[0], -1) for j in jax.tree.leaves(jac)], axis=1)
    return flat @ flat.T


def _random_networks(seed, num, width, depth, activation="relu", parameterization="ntk", in_size=3):
    """``num`` independent MLPs (leaves with a leading axis ``num``) drawn from MLP's initial distribution.

    The parameters are drawn with numpy (W, b ~ N(0, 1), scaled by sqrt(sigma_w2 / fan_in) and
    sqrt(sigma_b2) in the standard parameterisation, as MLP.__init__ does) and put into the
    structure of an MLP obtained by jax.eval_shape: no random-number kernel is compiled per width.
    """
    options = dict(depth=depth, activation=activation, sigma_w2=1.5, sigma_b2=0.1, parameterization=parameterization)
    template = jax.eval_shape(lambda: MLP(jax.random.key(0), in_size, width, **options))
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for w, b in zip(template.weights, template.biases):
        scale_w, scale_b = (math.sqrt(1.5 / w.shape[1]), math.sqrt(0.1)) if parameterization == "standard" else (1.0, 1.0)
        weights.append(jnp.asarray(scale_w * rng.standard_normal((num, *w.shape))))
        biases.append(jnp.asarray(scale_b * rng.standard_normal((num, *b.shape))))
    return eqx.tree_at(lambda m: (m.weights, m.biases), template, (weights, biases))


@eqx.filter_jit
def _ensemble_kernels(models, x):
    """Readout-feature (NNGP) kernels and tangent kernels (divided by the width in the standard
    parameterisation) of a batch of networks."""

    def one(model):
        phi = sp.activation_function(model.activation)
        features = jax.vmap(lambda xi: phi(model.preactivations(xi)[-2]))(x)
        width = features.shape[1]
        nngp = model.sigma_w2 * features @ features.T / width + model.sigma_b2
        scale = width if model.parameterization == "standard" else 1
        return nngp, _tangent_kernel(model, x) / scale

    return jax.vmap(one)(models)


def _relative_errors(empirical, exact):
    return jnp.linalg.norm(empirical - exact, axis=(-2, -1)) / jnp.linalg.norm(exact)


def test_empirical_ntk_converges_like_inverse_sqrt_width():
    x = _inputs()
    _, exact = analytic.mlp(x, depth=1, activation="relu", sigma_w2=1.5, sigma_b2=0.1)
    widths = np.array([64, 256, 1024, 4096])
    num_seeds = 16
    means, errors = [], []
    for i, width in enumerate(widths):
        _, ntk = _ensemble_kernels(_random_networks(100 + i, num_seeds, int(width), 1), x)
        rel = np.asarray(_relative_errors(ntk, exact))
        means.append(rel.mean())
        errors.append(rel.std(ddof=1) / math.sqrt(num_seeds))
    means, errors = np.array(means), np.array(errors)
    # weighted least squares of log(mean error) against log(width); sd of log(mean) = se / mean
    sd = errors / means
    design = np.stack([np.ones_like(widths, dtype=float), np.log(widths)], axis=1)
    weights = 1 / sd**2
    cov = np.linalg.inv(design.T @ (weights[:, None] * design))
    intercept, slope = cov @ design.T @ (weights * np.log(means))
    slope_sd = math.sqrt(cov[1, 1])
    assert abs(slope + 0.5) < 4 * slope_sd + 0.03, (slope, slope_sd, means)
    assert means[-1] < 0.05  # the kernel is actually approached: ~2% at width 4096


@pytest.mark.parametrize(
    "activation,parameterization",
    [("erf", "ntk"), ("tanh", "ntk"), ("relu", "standard")],
)
def test_depth_two_kernels_of_wide_networks(activation, parameterization):
    """Depth 2 at width 512: mean over 8 networks vs the analytic kernels.

    Allowance: 4.5 standard errors of the seed mean, plus a finite-width bias of 4 / width
    relative to the largest entry (the bias of depth >= 2 kernels is O(1/n); for the standard
    parameterisation the input-layer and bias terms dropped by the 1/n normalisation are O(1/n)).
    """
    x = _inputs()
    width, num_seeds = 512, 8
    nngp, ntk = analytic.mlp(x, depth=2, activation=activation, sigma_w2=1.5, sigma_b2=0.1, parameterization=parameterization)
    models = _random_networks(7, num_seeds, width, 2, activation, parameterization)
    emp_nngp, emp_ntk = _ensemble_kernels(models, x)
    for empirical, exact in ((emp_nngp, nngp), (emp_ntk, ntk)):
        empirical = np.asarray(empirical)
        mean = empirical.mean(0)
        se = empirical.std(0, ddof=1) / math.sqrt(num_seeds)
        bias = 4.0 / width * float(jnp.max(jnp.abs(exact)))
        assert np.all(np.abs(mean - exact) < 4.5 * se + bias), (activation, parameterization, mean - exact, se)


def test_nngp_is_the_output_covariance_of_random_networks():
    """Depth 1: z^1 is exactly Gaussian, so E f(x) f(x') = K^2(x, x') at ANY width (here 8)."""
    x = _inputs()
    nngp, _ = analytic.mlp(x, depth=1, activation="relu", sigma_w2=1.5, sigma_b2=0.1)
    num_networks = 40_000
    models = _random_networks(3, num_networks, 8, 1)
    f = np.asarray(eqx.filter_jit(lambda m: jax.vmap(lambda mi: jax.vmap(mi)(x))(m))(models))
    products = f[:, :, None] * f[:, None, :]
    mean = products.mean(0)
    se = products.std(0, ddof=1) / math.sqrt(num_networks)
    z = (mean - np.asarray(nngp)) / se
    assert np.all(np.abs(z) < 4.5), z
