"""Signal propagation in wide random networks (jaxphys.theory.signal_propagation).

References: closed forms (ReLU and linear edges, Williams' erf kernel), published edge of chaos
values (tanh: sigma_w2 = 1 at sigma_b2 = 0; 1.761 at sigma_b2 = 0.05, Erdmenger et al. 2022),
finite differences for implicit derivatives, and simulations of deep random networks.
Everything runs in float64.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.theory import signal_propagation as sp


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


_edge = jax.jit(lambda b2: sp.edge_of_chaos("tanh", b2).value)


def test_edge_of_chaos_published_values():
    assert abs(float(_edge(0.05)) - 1.761) < 5e-4  # Erdmenger et al. quote 3 decimals
    assert abs(float(_edge(0.0)) - 1.0) < 1e-6  # q* = 0: chi_1 = sigma_w2 tanh'(0)^2
    solution = sp.edge_of_chaos("tanh", 0.05)
    assert int(solution.status) == 0
    # at the edge chi_1 = 1 indeed
    assert abs(float(sp.chi_1(solution.value, 0.05)) - 1.0) < 1e-8
    for b2 in (0.0, 0.3):
        assert float(sp.edge_of_chaos("relu", b2).value) == 2.0
        assert float(sp.edge_of_chaos("linear", b2).value) == 1.0


def test_callable_activation_matches_named_and_closed_forms():
    relu = lambda x: jnp.maximum(x, 0.0)  # noqa: E731
    # ReLU: E relu(sqrt(q) z)^2 = q / 2, so q* = sigma_b2 / (1 - sigma_w2 / 2) and chi_1 = sigma_w2 / 2
    q = sp.q_star(1.5, 0.1, relu)
    assert int(q.status) == 0
    np.testing.assert_allclose(q.value, 0.1 / (1 - 0.75), rtol=1e-9)
    np.testing.assert_allclose(sp.q_star(1.5, 0.1, "relu").value, 0.4, rtol=1e-12)
    np.testing.assert_allclose(sp.chi_1(1.5, 0.1, relu), 0.75, rtol=1e-12)
    assert int(sp.q_star(2.5, 0.1, "relu").status) != 0  # no finite fixed point above the edge
    np.testing.assert_allclose(sp.edge_of_chaos(jnp.tanh, 0.05).value, _edge(0.05), rtol=1e-9)


def test_erf_quadrature_matches_williams_kernel():
    q, c = 0.7, 0.3
    np.testing.assert_allclose(sp.length_map(q, 1.0, 0.0, "erf"), sp.erf_kernel(q, q, q), rtol=1e-10)
    cmap = sp.correlation_map(c, q, 1.3, 0.1, "erf")
    q_next = 1.3 * sp.erf_kernel(q, q, q) + 0.1
    np.testing.assert_allclose(cmap, (1.3 * sp.erf_kernel(q, q, c * q) + 0.1) / q_next, rtol=1e-10)
    # chi_1 = sigma_w2 E erf'(u)^2 = sigma_w2 (4 / pi) / sqrt(1 + 4 q*)
    qs = sp.q_star(2.0, 0.05, "erf").value
    np.testing.assert_allclose(sp.chi_1(2.0, 0.05, "erf"), 2.0 * 4 / math.pi / math.sqrt(1 + 4 * qs), rtol=1e-9)
    # the erf edge solves (4 sigma_w2 / pi)^2 = 1 + 4 q*(sigma_w2)
    w2 = sp.edge_of_chaos("erf", 0.05).value
    np.testing.assert_allclose((4 * w2 / math.pi) ** 2, 1 + 4 * sp.q_star(w2, 0.05, "erf").value, rtol=1e-8)


def test_edge_derivative_and_vmap_over_bias_grid():
    b2 = 0.05
    step = 1e-4
    fd = (_edge(b2 + step) - _edge(b2 - step)) / (2 * step)  # central difference error ~ step^2 ~ 1e-8
    np.testing.assert_allclose(jax.grad(_edge)(b2), fd, rtol=1e-6)
    grid = jnp.array([0.01, 0.05, 0.1, 0.2])
    batched = jax.jit(jax.vmap(_edge))(grid)
    np.testing.assert_allclose(batched, [_edge(b) for b in grid], rtol=1e-10)
    assert np.all(np.diff(np.asarray(batched)) > 0)  # the edge moves to larger sigma_w2 with bias
    # derivative of q* with respect to sigma_w2 (implicit) vs finite differences
    qstar = jax.jit(lambda w2: sp.q_star(w2, 0.05).value)
    fd_q = (qstar(1.5 + 1e-5) - qstar(1.5 - 1e-5)) / 2e-5
    np.testing.assert_allclose(jax.grad(qstar)(1.5), fd_q, rtol=1e-6)


@jax.jit
@jax.vmap
def _depth_and_fixed_points(w2):
    cs = sp.c_star(w2, 0.05)
    qs = sp.q_star(w2, 0.05, num_nodes=48).value
    residual = sp.correlation_map(cs.value, qs, w2, 0.05) - cs.value
    return sp.depth_scales(w2, 0.05), sp.chi_1(w2, 0.05), cs, residual


def test_depth_scales_and_fixed_points():
    w2 = float(_edge(0.05))
    grid = jnp.array([1.2, 3.0, w2 - 0.3, w2 - 0.05, w2 + 0.05, w2 + 0.3])
    scales, chi, cs, residual = _depth_and_fixed_points(grid)
    # ordered phase: c* = 1 and xi_c = -1 / log chi_1
    assert float(cs.value[0]) == 1.0
    np.testing.assert_allclose(scales.xi_c[0], -1 / np.log(chi[0]), rtol=1e-6)
    assert np.all(np.asarray(scales.xi_q) > 0)
    # chaotic phase: c* < 1 is a fixed point of the correlation map
    assert int(cs.status[1]) == 0 and 0 < float(cs.value[1]) < 1
    assert abs(float(residual[1])) < 1e-9
    # xi_c grows towards the edge from both sides
    near = np.asarray(scales.xi_c[2:])
    assert near[1] > near[0] and near[2] > near[3] and min(near[1], near[2]) > 20


def test_deep_tanh_network_follows_length_and_correlation_maps():
    """Width 1000, 20 layers, 6 networks: q^l and c^l of two inputs against the maps.

    Each network's estimate of q^l fluctuates by O(sqrt(2/N)); the test bound is 5 standard
    errors of the mean over networks (estimated from their spread) plus 1% for the O(1/N)
    finite-width bias: with 40 comparisons the false-failure rate is well below 1e-3.
    """
    width, depth, w2, b2 = 1000, 20, 1.5, 0.05
    q0, c0 = 1.0, 0.6

    def network(key):
        k_in, k_layers = jax.random.split(key)
        z = jax.random.normal(k_in, (2, width))
        h = jnp.sqrt(q0) * jnp.stack([z[0], c0 * z[0] + math.sqrt(1 - c0**2) * z[1]])

        def layer(h, k):
            kw, kb = jax.random.split(k)
            weights = jax.random.normal(kw, (width, width)) * math.sqrt(w2 / width)
            bias = jax.random.normal(kb, (width,)) * math.sqrt(b2)
            h = jnp.tanh(h) @ weights.T + bias
            q = jnp.mean(h**2, axis=1)
            return h, (jnp.mean(q), jnp.mean(h[0] * h[1]) / jnp.sqrt(q[0] * q[1]))

        return jax.lax.scan(layer, h, jax.random.split(k_layers, depth))[1]

    q_sim, c_sim = jax.jit(jax.vmap(network))(jax.random.split(jax.random.key(0), 6))
    q_theory, c_theory = sp.correlation_trajectory(c0, q0, depth, w2, b2)
    np.testing.assert_allclose(sp.length_trajectory(q0, depth, w2, b2, num_nodes=48), q_theory, rtol=1e-12)
    for sim, theory in ((q_sim, q_theory), (c_sim, c_theory)):
        sim = np.asarray(sim)
        error = sim.std(axis=0, ddof=1) / math.sqrt(sim.shape[0])
        assert np.all(np.abs(sim.mean(axis=0) - theory) < 5 * error + 0.01 * np.abs(theory))
    assert abs(float(q_theory[-1]) - float(sp.q_star(w2, b2, num_nodes=48).value)) < 1e-5  # converged by layer 20


def test_bad_input_raises():
    with pytest.raises(ValueError, match="unknown activation"):
        sp.chi_1(1.0, 0.1, "sigmoidal")
    with pytest.raises(TypeError, match="activation"):
        sp.chi_1(1.0, 0.1, 3)
    with pytest.raises(ValueError, match="sigma_w2"):
        sp.q_star(-1.0, 0.1)
    with pytest.raises(ValueError, match="sigma_b2"):
        sp.edge_of_chaos("tanh", float("nan"))
    with pytest.raises(ValueError, match="bracket"):
        sp.edge_of_chaos("tanh", 0.1, bracket=(2.0, 1.0))
    with pytest.raises(ValueError, match="num_layers"):
        sp.length_trajectory(1.0, 0, 1.0, 0.1)
