"""Theory solvers inside jaxphys.sweep.run: swept values equal direct vmapped calls, and
jax.grad of swept theory quantities matches finite differences and closed-form derivatives.

Deterministic (no sampling): tolerances are solver tolerances, not error bars.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import sweep
from jaxphys.theory import hopfield, perceptron, sk
from jaxphys.theory.quadrature import H


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _status_ok(result):
    return result.num_bad == 0


def test_sk_grid_equals_vmap():
    T = np.array([0.5, 0.8, 1.3])
    h = np.array([0.0, 0.3])

    def fn(key, point):
        sol = sk.solve(point["T"], point["h"])
        return {"m": sol.value["m"], "q": sol.value["q"], "status": sol.status}

    result = sweep.run(fn, {"T": T, "h": h}, key=jax.random.key(0), progress=False)
    assert _status_ok(result)
    assert result.mean["m"].shape == (3, 2)
    direct = jax.vmap(jax.vmap(lambda t, f: sk.solve(t, f).value, in_axes=(None, 0)), in_axes=(0, None))(
        jnp.asarray(T), jnp.asarray(h)
    )
    np.testing.assert_allclose(result.mean["m"], direct["m"], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(result.mean["q"], direct["q"], rtol=1e-9, atol=1e-11)
    # physics sanity: paramagnet above T = 1 at h = 0, ferromagnetic branch absent (J0 = 0)
    assert abs(result.mean["m"][2, 0]) < 1e-8 and abs(result.mean["q"][2, 0]) < 1e-8
    assert result.mean["q"][0, 0] > 0.1


def test_hopfield_grid_equals_vmap():
    alpha = np.array([0.02, 0.1])
    T = np.array([0.0, 0.3])

    def fn(key, point):
        sol = hopfield.solve(point["alpha"], point["T"])
        return {"m": sol.value.m, "status": sol.status}

    result = sweep.run(fn, {"alpha": alpha, "T": T}, key=jax.random.key(1), chunk_size=2, progress=False)
    assert _status_ok(result)
    direct = hopfield.solve(jnp.asarray(alpha)[:, None], jnp.asarray(T)[None, :]).value.m
    np.testing.assert_allclose(result.mean["m"], direct, rtol=1e-9, atol=1e-11)
    assert result.mean["m"][0, 0] > 0.99  # low load, T = 0: near-perfect retrieval


@pytest.mark.slow  # the AT slope against finite differences also runs in test_theory_sk (not vmapped)
def test_vmapped_grad_of_at_line_against_finite_differences():
    # vmap(grad) is what sweep.run does to fn (one compile here instead of two)
    T = jnp.array([0.4, 0.7])
    slope = jax.vmap(jax.grad(lambda t: sk.at_line(t).value))(T)
    step = 1e-5
    h_up = sk.at_line(T + step).value
    h_dn = sk.at_line(T - step).value
    np.testing.assert_allclose(slope, (h_up - h_dn) / (2 * step), rtol=1e-5)
    assert np.all(slope < 0)  # h_AT decreases to 0 at T = 1


def test_grad_of_swept_spherical_capacity_against_closed_form():
    kappa = np.array([-0.5, 0.0, 1.0])

    def fn(key, point):
        return {"dalpha": jax.grad(lambda k: perceptron.capacity(k).value)(point["kappa"])}

    result = sweep.run(fn, {"kappa": kappa}, key=jax.random.key(3), progress=False)
    # alpha_c = 1 / I, I = (1 + k^2) H(-k) + k phi(k), dI/dk = 2 (k H(-k) + phi(k))
    k = jnp.asarray(kappa)
    phi = jnp.exp(-0.5 * k**2) / math.sqrt(2 * math.pi)
    alpha = perceptron.gardner_capacity(k)
    expected = -(alpha**2) * 2 * (k * H(-k) + phi)
    np.testing.assert_allclose(result.mean["dalpha"], expected, rtol=1e-8)
    assert float(result.mean["dalpha"][1]) == pytest.approx(-4 * 2 * (1 / math.sqrt(2 * math.pi)), rel=1e-10)
