"""jaxphys.ntk.networks.MLP: the forward pass against a hand-written one, both parameterisations, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.ntk import MLP


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _numpy_forward(model, x):
    """z^l = sqrt(sigma_w2 / n) W h + sqrt(sigma_b2) b with NTK-parameterised unit-variance draws."""
    h = np.asarray(x)
    for l, (w, b) in enumerate(zip(model.weights, model.biases)):
        z = np.sqrt(model.sigma_w2 / w.shape[1]) * np.asarray(w) @ h + np.sqrt(model.sigma_b2) * np.asarray(b)
        h = np.tanh(z) if l + 1 < len(model.weights) else z
    return h


def test_forward_matches_formula_and_parameterisations_agree_at_init():
    x = jax.random.normal(jax.random.key(1), (5,))
    ntk = MLP(jax.random.key(0), 5, [7, 3], 2, activation="tanh", sigma_w2=1.5, sigma_b2=0.3)
    std = MLP(jax.random.key(0), 5, [7, 3], 2, activation="tanh", sigma_w2=1.5, sigma_b2=0.3, parameterization="standard")
    np.testing.assert_allclose(ntk(x), _numpy_forward(ntk, x), rtol=1e-12)
    np.testing.assert_allclose(std(x), ntk(x), rtol=1e-12)  # same function, different parameters
    assert not np.allclose(std.weights[0], ntk.weights[0])
    scalar = MLP(jax.random.key(0), 5, 4, depth=3)
    assert scalar(x).shape == () and len(scalar.weights) == 4
    assert jax.vmap(scalar)(jnp.stack([x, x])).shape == (2,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(width=4), "depth"),
        (dict(width=[4, 4], depth=3), "3 widths|widths were given"),
        (dict(width=0, depth=1), ">= 1"),
        (dict(width=4, depth=1, sigma_w2=-1.0), "variances"),
        (dict(width=4, depth=1, parameterization="mean-field"), "parameterization"),
        (dict(width=4, depth=1, activation="swish"), "unknown activation"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(jax.random.key(0), 3, **kwargs)


def test_batched_input_is_refused():
    model = MLP(jax.random.key(0), 3, 4, depth=1)
    with pytest.raises(ValueError, match="ONE input"):
        model(jnp.ones((2, 3)))
