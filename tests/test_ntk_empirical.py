"""Tests of jaxphys.ntk.empirical: the three NTK implementations against each other and against closed forms.

Deterministic (fixed keys, no sampling): the tolerances are float64 rounding (1e-10 relative) or float32 rounding
(1e-4 relative), so the false-failure rate is zero. Sizes are tiny and the shapes are shared so that each test
compiles few functions (the file runs in ~10-20 s serially).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys.ntk import MLP, empirical_ntk
from jaxphys.ntk.empirical import _cheaper

IMPLEMENTATIONS = ("jacobian", "ntk_vector", "structured")
IN, B1, B2 = 4, 5, 3


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def inputs(seed=0, n=B1, shape=(IN,)):
    return np.random.default_rng(seed).standard_normal((n, *shape))  # numpy: no eager jax op to compile


def build(factory, seed):
    """The model ``factory(key)`` with N(0, 1/4) numpy parameters: jax's random initialisation would compile
    threefry for every parameter shape, which costs more than all the kernels of this file."""
    rng = np.random.default_rng(seed)
    struct = eqx.filter_eval_shape(factory, jax.random.key(0))
    fill = lambda s: jnp.asarray(0.5 * rng.standard_normal(s.shape), s.dtype) if isinstance(s, jax.ShapeDtypeStruct) else s  # noqa: E731
    return jax.tree.map(fill, struct)


def close(a, b, rtol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = np.max(np.abs(b))
    assert scale > 0
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


MLPS = {
    "jaxphys-ntk-scalar-tanh": lambda key: MLP(key, IN, 6, None, depth=2, activation="tanh", sigma_w2=1.5, sigma_b2=0.2),
    "jaxphys-standard-vector-relu": lambda key: MLP(
        key, IN, [5, 7], 3, activation="relu", sigma_b2=0.3, parameterization="standard"
    ),
    "eqx-vector-final-tanh": lambda key: eqx.nn.MLP(IN, 2, 5, 2, activation=jnp.sin, final_activation=jnp.tanh, key=key),
    "eqx-scalar-no-bias": lambda key: eqx.nn.MLP(IN, "scalar", 6, 1, use_bias=False, use_final_bias=False, key=key),
    "eqx-depth-0-scalar-input": lambda key: eqx.nn.MLP("scalar", 2, 5, 0, key=key),
}


@pytest.mark.parametrize("name", MLPS)
def test_implementations_agree_on_mlps(name):
    model = build(MLPS[name], 1)
    shape = () if name == "eqx-depth-0-scalar-input" else (IN,)
    x1, x2 = inputs(2, shape=shape), inputs(3, B2, shape)
    kernels = {impl: empirical_ntk(model, x1, x2, implementation=impl) for impl in IMPLEMENTATIONS}
    out_shape = jax.eval_shape(model, x1[0]).shape
    assert kernels["jacobian"].shape == (B1, B2, *out_shape, *out_shape)
    assert kernels["jacobian"].dtype == jnp.float64
    for impl in ("ntk_vector", "structured"):
        close(kernels[impl], kernels["jacobian"])


class TanhQuadratic(eqx.Module):
    """Not an MLP: f(x) = mix * (v . tanh(W x)) + (u . x)^2, two outputs."""

    w: jax.Array
    v: jax.Array
    u: jax.Array
    mix: jax.Array

    def __init__(self, key):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.w = jax.random.normal(k1, (6, IN))
        self.v = jax.random.normal(k2, (6,))
        self.u = jax.random.normal(k3, (IN,))
        self.mix = jax.random.normal(k4, (2,))

    def __call__(self, x):
        return self.mix * (self.v @ jnp.tanh(self.w @ x)) + (self.u @ x) ** 2


def small_conv(key):
    return eqx.nn.Sequential([eqx.nn.Conv1d(1, 2, 3, key=key), eqx.nn.Lambda(jnp.tanh), eqx.nn.Lambda(lambda h: jnp.sum(h**2))])


@pytest.mark.parametrize("make, shape", [(TanhQuadratic, (IN,)), (small_conv, (1, 6))], ids=["tanh-quadratic", "conv"])
def test_non_mlp_models(make, shape):
    model = build(make, 4)
    x1, x2 = inputs(5, shape=shape), inputs(6, B2, shape)
    jac = empirical_ntk(model, x1, x2, implementation="jacobian")
    close(empirical_ntk(model, x1, x2, implementation="ntk_vector"), jac)
    close(empirical_ntk(model, x1, x2), jac)  # auto: one of the two
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(model, x1, x2, implementation="structured")


def test_outputs_blocks_symmetry():
    """Blocks (with padding) = one block; diagonal, trace and trace over outputs = those of the full kernel;
    the kernel is symmetric positive semi-definite."""
    model = build(lambda key: MLP(key, IN, 5, 2, depth=2, activation="erf", sigma_b2=0.1), 7)
    x = inputs(8, B1 + B2)
    n = B1 + B2
    full = np.asarray(empirical_ntk(model, x, implementation="jacobian"))  # one block, features shared
    assert full.shape == (n, n, 2, 2)
    flat = full.transpose(0, 2, 1, 3).reshape(2 * n, 2 * n)
    np.testing.assert_allclose(flat, flat.T, atol=1e-13 * np.abs(flat).max())
    assert np.linalg.eigvalsh(flat).min() > -1e-12 * np.abs(flat).max()
    x1, x2, cross = x[:B1], x[B1:], full[:B1, B1:]
    close(empirical_ntk(model, x, implementation="structured", block_size=3), full)  # 3 blocks of 3, one padded
    close(empirical_ntk(model, x1, x2, implementation="ntk_vector", block_size=2), cross)  # blocks of 2 and 2 (padded)
    traced = np.trace(cross, axis1=2, axis2=3) / 2
    close(empirical_ntk(model, x1, x2, implementation="jacobian", trace_outputs=True, block_size=2), traced)
    close(empirical_ntk(model, x1, x2, implementation="structured", trace_outputs=True), traced)
    diag = np.stack([full[a, a] for a in range(n)])
    for impl in IMPLEMENTATIONS:
        close(empirical_ntk(model, x, implementation=impl, output="diagonal", block_size=3 if impl == "jacobian" else None), diag)
        trace = empirical_ntk(model, x, implementation=impl, output="trace", trace_outputs=True)
        assert trace.shape == ()
        close(trace, np.trace(diag.sum(0)) / 2)


def test_linear_model_pure_function():
    """f(x) = w . x as jax.tree_util.Partial(f, w): Theta(x, x') = x . x' exactly."""
    w = jnp.asarray(inputs(10, IN, ()))
    model = jax.tree_util.Partial(lambda w, x: w @ x, w)
    x1, x2 = inputs(11), inputs(12, B2)
    for impl in ("jacobian", "ntk_vector"):
        close(empirical_ntk(model, x1, x2, implementation=impl), x1 @ x2.T, rtol=1e-14)


def test_one_hidden_layer_closed_form():
    """f(x) = sqrt(s_w/n) v . phi(z) + sqrt(s_b) c, z = sqrt(s_w/d) W x + sqrt(s_b) b (NTK parameterisation):
    Theta = (s_w/n) phi(z).phi(z') + s_b + (s_w/n) sum_j v_j^2 phi'(z_j) phi'(z'_j) (s_w/d x.x' + s_b)."""
    sw, sb, n = 1.7, 0.4, 6
    model = build(lambda key: MLP(key, IN, n, None, depth=1, activation="tanh", sigma_w2=sw, sigma_b2=sb), 13)
    x1, x2 = np.asarray(inputs(14)), np.asarray(inputs(15, B2))
    w, b, v = (np.asarray(a) for a in (model.weights[0], model.biases[0], model.weights[1][0]))
    z1, z2 = np.sqrt(sw / IN) * x1 @ w.T + np.sqrt(sb) * b, np.sqrt(sw / IN) * x2 @ w.T + np.sqrt(sb) * b
    dphi1, dphi2 = 1 / np.cosh(z1) ** 2, 1 / np.cosh(z2) ** 2
    expected = sw / n * np.tanh(z1) @ np.tanh(z2).T + sb + sw / n * ((dphi1 * v**2) @ dphi2.T) * (sw / IN * x1 @ x2.T + sb)
    close(empirical_ntk(model, x1, x2), expected)  # auto: structured


def test_float32():
    with jax.enable_x64(False):
        model = build(lambda key: MLP(key, IN, 6, None, depth=2), 16)
        x = inputs(17).astype(np.float32)
        structured = empirical_ntk(model, x)
        jacobian = empirical_ntk(model, x, implementation="jacobian")
        assert structured.dtype == jnp.float32
    close(structured, jacobian, rtol=1e-5)


def test_vmap_over_models():
    """A stack of networks (an ensemble, as from eqx.filter_vmap over the constructor) under jax.vmap."""
    make = lambda key: MLP(key, IN, 5, None, depth=1, activation="tanh", sigma_b2=0.5)  # noqa: E731
    models = [build(make, seed) for seed in (23, 24)]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *models)
    x = inputs(25)
    kernels = jax.vmap(lambda m: empirical_ntk(m, x, implementation="structured"))(stacked)
    for model, kernel in zip(models, kernels):
        close(kernel, empirical_ntk(model, x, implementation="jacobian"))


def test_auto_rule():
    """Cheap forward pass and many outputs -> NTK-vector products; a convolution (forward >> parameters) -> Jacobian."""
    dense = jax.tree_util.Partial(lambda w, x: w @ x, jnp.ones((20, IN)))
    x = inputs(18, 8)
    assert _cheaper(lambda p, x: dense.func(p, x).reshape(-1), dense.args[0], x, None, "full", False, 20, 20 * IN) == "ntk_vector"
    conv = build(small_conv, 19)
    params, static = eqx.partition(conv, eqx.is_inexact_array)
    xc = inputs(20, 8, (1, 200))
    apply = lambda p, x: eqx.combine(p, static)(x).reshape(-1)  # noqa: E731
    assert _cheaper(apply, params, xc, None, "full", False, 1, 8) == "jacobian"


def test_errors():
    model = build(lambda key: MLP(key, IN, 3, None, depth=1), 21)
    x = inputs(22)
    with pytest.raises(ValueError, match="no inexact"):
        empirical_ntk(lambda x: jnp.sum(x), x)
    with pytest.raises(ValueError, match="no inexact"):
        empirical_ntk(jax.tree_util.Partial(lambda k, x: k * x.sum(), jnp.arange(3)), x)
    with pytest.raises(TypeError, match="callable"):
        empirical_ntk({"w": jnp.ones(3)}, x)
    with pytest.raises(ValueError, match="feature shape"):
        empirical_ntk(model, x, jnp.ones((2, IN + 1)))
    with pytest.raises(ValueError, match="one input; vmap is done here"):  # a model written for a batch
        empirical_ntk(jax.tree_util.Partial(lambda w, x: x[:, 0] * w, jnp.ones(())), x)
    with pytest.raises(ValueError, match="one input; vmap is done here"):  # wrong input size
        empirical_ntk(model, jnp.ones((3, IN + 1)))
    with pytest.raises(ValueError, match="non-empty batch"):
        empirical_ntk(model, jnp.ones((0, IN)))
    with pytest.raises(ValueError, match="non-empty batch"):
        empirical_ntk(model, jnp.ones(()))
    with pytest.raises(ValueError, match="x2=None"):
        empirical_ntk(model, x, x, output="diagonal")
    with pytest.raises(ValueError, match="implementation"):
        empirical_ntk(model, x, implementation="fast")
    with pytest.raises(ValueError, match="output"):
        empirical_ntk(model, x, output="diag")
    with pytest.raises(ValueError, match="block_size"):
        empirical_ntk(model, x, block_size=0)
    with pytest.raises(TypeError, match="floating-point"):
        empirical_ntk(jax.tree_util.Partial(lambda w, x: jnp.argmax(w * x), jnp.ones(IN)), x)
