"""Empirical neural tangent kernel of a finite network (Jacot et al. 2018; Novak et al. 2022, arXiv:2206.08720).

For a model ``f(theta; x)`` with parameters ``theta`` (every inexact-array leaf of an equinox Module or of a
callable pytree) the empirical NTK is

    Theta(x, x')_{o o'} = sum_p  d f_o(x) / d theta_p  *  d f_o'(x') / d theta_p.

Three implementations, as in neural-tangents' ``_src/empirical.py`` (which no longer imports on JAX >= 0.6):

``"jacobian"``
    Jacobian contraction: per-example Jacobians ``J(x)`` of shape ``(O, P)`` (``vmap(jacrev)``), then
    ``Theta = J(x) J(x')^T``. Cost ``~ 3 F O (B1 + B2) + 2 B1 B2 O^2 P`` flops (``F``: forward flops of one input).
``"ntk_vector"``
    NTK-vector products ``Theta v = J1 (J2^T v)``: the cotangents ``J2^T e_(b, o')`` of the basis vectors are the
    per-example gradients of the second block; a forward-mode ``jvp`` of the first block along each of them gives
    a column of the kernel, so ``J1`` is never formed and no ``P``-long contraction is done. Cost
    ``~ 3 F O B2 + 2 F O B1 B2``: cheaper than ``"jacobian"`` when the forward pass is cheap against ``O P``
    (dense networks with many outputs).
``"structured"``
    MLPs only (:class:`jaxphys.ntk.networks.MLP` in both parameterisations, :class:`equinox.nn.MLP` without
    ``scan`` and with parameter-free activations). Layer ``l`` computes ``z^l = s_w W^l h^{l-1} + s_b b^l``, so
    ``df/dW^l = s_w D_l h^{l-1 T}`` and ``df/db^l = s_b D_l`` with the backpropagated deltas
    ``D_l = df/dz^l`` (``O x n_l``), and

        Theta(x, x') = sum_l  (D_l(x) D_l(x')^T) * (s_w^2 h^{l-1}(x) . h^{l-1}(x') + s_b^2),

    a sum of per-layer Gram products (cost ``~ B1 B2 O^2 sum_l n_l``, no ``P``-long contraction at all).

``implementation="auto"`` uses ``"structured"`` for a supported MLP; otherwise it counts the forward flops ``F``
of one input in the model's jaxpr (matrix products and convolutions at ``2 x`` multiply-adds, other operations
one flop per output element) and takes the cheaper of ``"jacobian"`` and ``"ntk_vector"`` by the costs above.

Memory: the inputs are processed in blocks of ``block_size`` (``lax.map`` over blocks of ``x1``, and inside it
over blocks of ``x2``, in one compiled function), so at most two blocks of Jacobians (``2 block_size O P``
floats) are alive at once. The default block size keeps that under ``_MEMORY_CAP_BYTES`` (1 GiB); with
``x2=None`` the whole batch is one block when one copy of its features fits under the cap. The
kernel itself, ``(B1, B2, O, O)``, is the output and is not bounded. Blocks are padded with copies of the first
input and the padding is cut from the result. With ``x2=None`` and a single block the features of ``x1`` are
computed once; with several blocks the Jacobians of the column blocks are recomputed for each row block.

A NaN in a parameter or input propagates into the kernel (nothing is hidden); this function returns an array,
not a ``Solution``, so there is no status word.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
from jaxtyping import Array, ArrayLike

from .._validate import as_count
from ..theory.signal_propagation import activation_function
from .networks import MLP

__all__ = ["empirical_ntk"]

IMPLEMENTATIONS = ("auto", "jacobian", "ntk_vector", "structured")
OUTPUTS = ("full", "diagonal", "trace")
# Default bound on the per-block features (two blocks of Jacobians): 1 GiB, small next to the 24 GiB of the
# development machines; 256 inputs of a 0.8 M-parameter network with a scalar output fit in one block (fewer,
# larger blocks run faster: a (b O, P) x (P, b O) product with small b is memory-bound).
_MEMORY_CAP_BYTES = 2**30


def empirical_ntk(
    model: Callable[[Array], Array],
    x1: ArrayLike,
    x2: ArrayLike | None = None,
    *,
    implementation: str = "auto",
    output: str = "full",
    trace_outputs: bool = False,
    block_size: int | None = None,
) -> Array:
    """Empirical NTK ``Theta(x1_a, x2_b)`` of ``model`` (see the module docstring for the formulas).

    Args:
        model: an equinox Module, or any callable pytree, applied to ONE input: ``model(x)`` with ``x`` of shape
            ``feature_shape`` returns an array of shape ``out_shape`` (``()`` for a scalar network). The
            parameters are its inexact-array leaves (``eqx.partition(model, eqx.is_inexact_array)``). A pure
            function ``f(params, x)`` is passed as ``jax.tree_util.Partial(f, params)``::

                f = lambda p, x: jnp.tanh(x @ p["w"]) @ p["v"]
                empirical_ntk(jax.tree_util.Partial(f, {"w": w, "v": v}), x)

        x1: ``(B1, *feature_shape)`` batch of inputs (``B1 >= 1``).
        x2: ``(B2, *feature_shape)``, or ``None`` for ``x2 = x1`` (cheaper: the features are shared).
        implementation: ``"auto"``, ``"jacobian"``, ``"ntk_vector"`` or ``"structured"`` (MLPs only).
        output: ``"full"`` (the kernel), ``"diagonal"`` (``Theta(x1_a, x1_a)``, needs ``x2=None``) or
            ``"trace"`` (``sum_a Theta(x1_a, x1_a)``, needs ``x2=None``; computed block by block from the
            diagonal, never from the full kernel).
        trace_outputs: if true, replace the ``(out_shape, out_shape)`` block by its trace divided by
            ``O = prod(out_shape)`` (the mean of ``Theta_{oo}``; neural-tangents' ``trace_axes=(-1,)``); the
            cheaper contraction is used.
        block_size: number of inputs per block (default: from a 1 GiB cap on the block features).

    Returns:
        Float array in the parameters' dtype (``D`` = ``out_shape`` twice, or nothing for scalar outputs or
        ``trace_outputs=True``): ``"full"`` ``(B1, B2, *D)``, ``"diagonal"`` ``(B1, *D)``, ``"trace"`` ``(*D)``.

    Raises:
        TypeError: ``model`` is not callable; ``block_size`` not an int; the model's output is not a float array.
        ValueError: unknown ``implementation``/``output``; ``model`` has no inexact-array leaf; ``x1``/``x2``
            without a batch axis, empty, or with different feature shapes; ``output`` other than ``"full"``
            with an ``x2``; the model fails on ONE input (it is applied to one input: vmap is done here);
            ``"structured"`` asked for a model that is not a supported MLP.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if output != "full" and x2 is not None:
        raise ValueError(f"output={output!r} is Theta(x1_a, x1_a): pass x2=None (or use output='full')")
    if block_size is not None:
        block_size = as_count(block_size, "block_size")
    if not callable(model):
        raise TypeError(
            f"model must be callable on one input (an equinox Module or jax.tree_util.Partial), got {type(model).__name__}"
        )
    params, static = eqx.partition(model, eqx.is_inexact_array)
    if not jtu.tree_leaves(params):
        raise ValueError(
            "model has no inexact (floating-point) array leaves, so there is nothing to differentiate: pass an equinox "
            "Module holding its parameters, or a pure function f(params, x) as jax.tree_util.Partial(f, params)"
        )
    x1 = _as_batch(x1, "x1")
    if x2 is not None:
        x2 = _as_batch(x2, "x2")
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(f"x1 and x2 must share the feature shape: x1 {x1.shape}, x2 {x2.shape} (batch axis first)")
    return _empirical_ntk(params, static, x1, x2, implementation, output, bool(trace_outputs), block_size)


def _as_batch(x: ArrayLike, name: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty batch of shape (B, *feature_shape) with B >= 1, got shape {x.shape}")
    return x


@eqx.filter_jit
def _empirical_ntk(params, static, x1, x2, implementation, output, trace_outputs, block_size):
    # Everything below runs at trace time, once per shape and configuration.
    model = eqx.combine(params, static)

    def apply(p, x):
        return eqx.combine(p, static)(x)

    try:
        out_struct = jax.eval_shape(apply, params, x1[0])
    except Exception as error:  # any failure of the model on one input
        raise ValueError(
            f"the model failed on ONE input of shape {x1.shape[1:]}: the model is applied to one input; vmap is done "
            f"here (do not pass a batched model; x1 has the batch axis first). The model raised: {error}"
        ) from error
    if not isinstance(out_struct, jax.ShapeDtypeStruct) or not jnp.issubdtype(out_struct.dtype, jnp.inexact):
        raise TypeError(f"model(x) must return one floating-point array, got {out_struct}")
    out_shape = out_struct.shape
    num_outputs = math.prod(out_shape)
    num_params = sum(leaf.size for leaf in jtu.tree_leaves(params))
    dtype = jnp.result_type(*jtu.tree_leaves(params))

    def apply_flat(p, x):
        return apply(p, x).reshape(-1)

    spec = _mlp_spec(model)
    if implementation == "structured" and spec is None:
        raise ValueError(
            f"implementation='structured' supports jaxphys.ntk.networks.MLP and equinox.nn.MLP (scan=False, activations "
            f"without parameters); got {type(model).__name__}: use 'jacobian', 'ntk_vector' or 'auto'"
        )
    if implementation == "auto":
        if spec is not None:
            implementation = "structured"
        else:
            implementation = _cheaper(apply_flat, params, x1, x2, output, trace_outputs, num_outputs, num_params)

    if implementation == "structured":
        kernel = _structured(model, spec, num_outputs, dtype)
        per_input = 2 * (num_outputs * sum(spec.widths) + sum(spec.fan_ins))
    else:
        kernel = (_jacobian if implementation == "jacobian" else _ntk_vector)(apply_flat, params, num_outputs)
        per_input = 2 * num_outputs * num_params
    if block_size is None:
        itemsize = jnp.dtype(dtype).itemsize
        block_size = max(1, _MEMORY_CAP_BYTES // (per_input * itemsize))
        if x2 is None and x1.shape[0] * per_input * itemsize <= 2 * _MEMORY_CAP_BYTES:
            block_size = x1.shape[0]  # one block whose features are shared: one copy of them, not two

    if output == "full":
        result = _full(kernel, x1, x2, block_size, trace_outputs)
        shape = (x1.shape[0], (x1 if x2 is None else x2).shape[0])
    else:
        result = _diagonal(kernel, x1, block_size, trace_outputs)
        if output == "trace":
            result = result.sum(0)
        shape = (x1.shape[0],) if output == "diagonal" else ()
    return result.reshape(shape if trace_outputs else shape + out_shape + out_shape)


# --------------------------------------------------------------------------- blocks


class _Kernel(NamedTuple):
    """One implementation: ``features(xb)`` of a block, their contraction, and the diagonal of one block."""

    features: Callable[[Array], Any]
    contract: Callable[[Any, Any, bool], Array]  # (F1, F2, trace_outputs) -> (b1, b2, O, O) or (b1, b2)
    diagonal: Callable[[Any, bool], Array]  # (F, trace_outputs) -> (b, O, O) or (b,)


def _blocks(x: Array, block_size: int) -> tuple[Array, int]:
    """``x`` padded (with copies of its first row) and reshaped to ``(num_blocks, size, *feature_shape)``."""
    n = x.shape[0]
    num_blocks = -(-n // min(block_size, n))
    size = -(-n // num_blocks)  # equal blocks, the least padding
    pad = num_blocks * size - n
    if pad:
        x = jnp.concatenate([x, jnp.broadcast_to(x[:1], (pad, *x.shape[1:]))])
    return x.reshape(num_blocks, size, *x.shape[1:]), num_blocks


def _full(kernel: _Kernel, x1: Array, x2: Array | None, block_size: int, trace_outputs: bool) -> Array:
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    if x2 is None and n1 <= block_size:
        features = kernel.features(x1)
        return kernel.contract(features, features, trace_outputs)
    if n1 <= block_size and n2 <= block_size:
        return kernel.contract(kernel.features(x1), kernel.features(x2), trace_outputs)
    blocks1, _ = _blocks(x1, block_size)
    blocks2, _ = _blocks(x1 if x2 is None else x2, block_size)

    def row(xb1):
        features1 = kernel.features(xb1)
        return jax.lax.map(lambda xb2: kernel.contract(features1, kernel.features(xb2), trace_outputs), blocks2)

    k = jax.lax.map(row, blocks1)  # (num1, num2, size1, size2, ...)
    k = jnp.swapaxes(k, 1, 2)
    k = k.reshape(k.shape[0] * k.shape[1], k.shape[2] * k.shape[3], *k.shape[4:])
    return k[:n1, :n2]


def _diagonal(kernel: _Kernel, x: Array, block_size: int, trace_outputs: bool) -> Array:
    n = x.shape[0]
    if n <= block_size:
        return kernel.diagonal(kernel.features(x), trace_outputs)
    blocks, _ = _blocks(x, block_size)
    d = jax.lax.map(lambda xb: kernel.diagonal(kernel.features(xb), trace_outputs), blocks)
    return d.reshape(-1, *d.shape[2:])[:n]


# --------------------------------------------------------------------------- jacobian contraction


def _per_example_jacobian(apply_flat, params, xb):
    """Leaves ``(b, O, size_of_leaf)``: the Jacobian of each output with respect to each parameter leaf."""
    jac = jax.vmap(jax.jacrev(apply_flat), in_axes=(None, 0))(params, xb)
    return [leaf.reshape(leaf.shape[0], leaf.shape[1], -1) for leaf in jtu.tree_leaves(jac)]


def _jacobian(apply_flat, params, num_outputs) -> _Kernel:
    def features(xb):
        return _per_example_jacobian(apply_flat, params, xb)

    def contract(j1, j2, trace_outputs):
        if trace_outputs:
            b1, b2 = j1[0].shape[0], j2[0].shape[0]
            return sum(a.reshape(b1, -1) @ b.reshape(b2, -1).T for a, b in zip(j1, j2)) / num_outputs
        # one plain (b1 O, P) x (P, b2 O) matrix product per leaf: the fastest form of the contraction for XLA
        b1, b2 = j1[0].shape[0], j2[0].shape[0]
        k = sum(a.reshape(b1 * num_outputs, -1) @ b.reshape(b2 * num_outputs, -1).T for a, b in zip(j1, j2))
        return k.reshape(b1, num_outputs, b2, num_outputs).transpose(0, 2, 1, 3)

    def diagonal(j, trace_outputs):
        if trace_outputs:
            return sum(jnp.einsum("aop,aop->a", a, a) for a in j) / num_outputs
        return sum(jnp.einsum("aop,aqp->aoq", a, a) for a in j)

    return _Kernel(features, contract, diagonal)


# --------------------------------------------------------------------------- NTK-vector products


def _ntk_vector(apply_flat, params, num_outputs) -> _Kernel:
    def features(xb):
        # the inputs (for the jvp side) and the cotangents J^T e_(b, o) (for the vjp side); jit drops what is unused
        return xb, jax.vmap(jax.jacrev(apply_flat), in_axes=(None, 0))(params, xb)

    def jvp_block(xb, tangent):
        """``J(xb) t``: ``(b, O)``, the forward-mode product of the block's Jacobian with one parameter tangent."""
        return jax.jvp(lambda p: jax.vmap(apply_flat, in_axes=(None, 0))(p, xb), (params,), (tangent,))[1]

    def contract(f1, f2, trace_outputs):
        xb1, cotangents = f1[0], f2[1]  # x1 block; J2^T e_(b, o') with leaves (b2, O', *leaf)
        b1, b2 = xb1.shape[0], jtu.tree_leaves(cotangents)[0].shape[0]
        tangents = jtu.tree_map(lambda c: c.reshape(-1, *c.shape[2:]), cotangents)  # (b2 * O', *leaf)
        columns = jax.vmap(lambda t: jvp_block(xb1, t))(tangents)  # (b2 * O', b1, O)
        k = columns.reshape(b2, num_outputs, b1, num_outputs).transpose(2, 0, 3, 1)  # (b1, b2, O, O')
        return jnp.trace(k, axis1=2, axis2=3) / num_outputs if trace_outputs else k

    def diagonal(f, trace_outputs):
        def one(x, cotangent):  # cotangent leaves (O', *leaf): the O' gradients of this input
            jvp = lambda t: jax.jvp(lambda p: apply_flat(p, x), (params,), (t,))[1]  # noqa: E731
            return jax.vmap(jvp)(cotangent).T  # (O, O')

        d = jax.vmap(one)(*f)
        return jnp.trace(d, axis1=1, axis2=2) / num_outputs if trace_outputs else d

    return _Kernel(features, contract, diagonal)


# --------------------------------------------------------------------------- structured (MLPs)


class _MLPSpec(NamedTuple):
    """How to run an MLP layer by layer: ``forward(model, x, eps) -> (f(x), [h^0 .. h^{L-1}])``, where ``eps[l]``
    is added to ``z^l`` (its derivative is the delta ``D_l``); per-layer ``(s_w^2, s_b^2)``, widths ``n_l``
    (``z^l`` shapes) and fan-ins."""

    forward: Callable
    scales: list[tuple[float, float]]
    z_shapes: list[tuple[int, ...]]
    widths: list[int]
    fan_ins: list[int]


def _mlp_spec(model) -> _MLPSpec | None:
    """The layer description of a supported MLP, or ``None``."""
    if isinstance(model, MLP):
        scales = [(sw**2, sb**2) for sw, sb in model.layer_scales()]
        z_shapes = [(w.shape[0],) for w in model.weights]
        fan_ins = [w.shape[1] for w in model.weights]
        return _MLPSpec(_jaxphys_mlp_forward, scales, z_shapes, [s[0] for s in z_shapes], fan_ins)
    if isinstance(model, eqx.nn.MLP):
        if model.scan or jtu.tree_leaves(eqx.filter((model.activation, model.final_activation), eqx.is_inexact_array)):
            return None
        scales = [(1.0, 0.0 if layer.bias is None else 1.0) for layer in model.layers]
        z_shapes = [() if layer.out_features == "scalar" else (layer.out_features,) for layer in model.layers]
        fan_ins = [1 if layer.in_features == "scalar" else layer.in_features for layer in model.layers]
        return _MLPSpec(_eqx_mlp_forward, scales, z_shapes, [math.prod(s) for s in z_shapes], fan_ins)
    return None


def _jaxphys_mlp_forward(model: MLP, x, eps):
    phi = activation_function(model.activation)
    h, inputs = x, []
    last = len(model.weights) - 1
    for l, ((w, b), (sw, sb)) in enumerate(zip(zip(model.weights, model.biases), model.layer_scales())):
        inputs.append(h)
        z = sw * (w @ h) + sb * b + eps[l]  # as MLP.preactivations
        if l < last:
            h = phi(z)
    return (z[0] if model._scalar else z), inputs


def _apply_elementwise(activation, z):
    # as equinox.nn.MLP: one copy of the activation per neuron, vmapped
    return eqx.filter_vmap(lambda a, b: a(b))(activation, z)


def _eqx_mlp_forward(model: eqx.nn.MLP, x, eps):
    if model.depth == 0:  # equinox applies no activation at all here
        return model.layers[0](x) + eps[0], [x]
    h, inputs = x, []
    for i, layer in enumerate(model.layers[:-1]):
        inputs.append(h)
        activation = jtu.tree_map(lambda a: a[i] if eqx.is_array(a) else a, model.activation)
        h = _apply_elementwise(activation, layer(h) + eps[i])
    inputs.append(h)
    z = model.layers[-1](h) + eps[-1]
    if model.out_size == "scalar":
        return model.final_activation(z), inputs
    return _apply_elementwise(model.final_activation, z), inputs


def _structured(model, spec: _MLPSpec, num_outputs: int, dtype) -> _Kernel:
    def one(x):
        def f(eps):
            out, inputs = spec.forward(model, x, eps)
            return out.reshape(-1), [jnp.reshape(h, (-1,)) for h in inputs]

        eps0 = [jnp.zeros(shape, dtype) for shape in spec.z_shapes]
        deltas, inputs = jax.jacrev(f, has_aux=True)(eps0)
        return [d.reshape(num_outputs, -1) for d in deltas], inputs  # D_l (O, n_l), h^{l-1} (n_{l-1},)

    def features(xb):
        return jax.vmap(one)(xb)

    def contract(f1, f2, trace_outputs):
        (d1, h1), (d2, h2) = f1, f2
        total = 0.0
        for (w2, b2), a, b, ha, hb in zip(spec.scales, d1, d2, h1, h2):
            gram = w2 * (ha @ hb.T) + b2  # (b1, b2)
            if trace_outputs:
                total = total + jnp.einsum("aon,bon->ab", a, b) * gram / num_outputs
            else:
                total = total + jnp.einsum("aon,bqn->aboq", a, b) * gram[:, :, None, None]
        return total

    def diagonal(f, trace_outputs):
        d, h = f
        total = 0.0
        for (w2, b2), a, ha in zip(spec.scales, d, h):
            norm = w2 * jnp.sum(ha * ha, -1) + b2  # (b,)
            if trace_outputs:
                total = total + jnp.einsum("aon,aon->a", a, a) * norm / num_outputs
            else:
                total = total + jnp.einsum("aon,aqn->aoq", a, a) * norm[:, None, None]
        return total

    return _Kernel(features, contract, diagonal)


# --------------------------------------------------------------------------- choice of implementation


def _cheaper(apply_flat, params, x1, x2, output, trace_outputs, num_outputs, num_params) -> str:
    """``"jacobian"`` or ``"ntk_vector"``, whichever the flop estimates of the module docstring make cheaper."""
    flops = _forward_flops(apply_flat, params, x1[0], default=2.0 * num_params)
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    pairs = n1 * n2 if output == "full" else n1
    per_pair_outputs = num_outputs if trace_outputs else num_outputs**2
    jacobian = 3 * flops * num_outputs * (n1 + (0 if x2 is None else n2)) + 2 * pairs * per_pair_outputs * num_params
    ntk_vector = 3 * flops * num_outputs * n2 + 2 * flops * num_outputs * pairs
    return "ntk_vector" if ntk_vector < jacobian else "jacobian"


def _forward_flops(fn, params, x, default: float) -> float:
    """Flops of ``fn(params, x)`` counted in its jaxpr (``default`` if it cannot be traced separately)."""
    try:
        jaxpr = jax.make_jaxpr(fn)(params, x).jaxpr
    except Exception:
        return default
    return max(_jaxpr_flops(jaxpr), 1.0)


def _jaxpr_flops(jaxpr) -> float:
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        out_size = sum(math.prod(getattr(v.aval, "shape", ())) for v in eqn.outvars)
        if name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs_shape = eqn.invars[0].aval.shape
            total += 2.0 * out_size * math.prod(lhs_shape[i] for i in lhs_contract)
        elif name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            out_features = rhs[eqn.params["dimension_numbers"].rhs_spec[0]]
            total += 2.0 * out_size * math.prod(rhs) / out_features
        else:
            subs = [_jaxpr_flops(getattr(v, "jaxpr", v)) for v in _sub_jaxprs(eqn.params)]
            if subs:
                total += max(subs) * eqn.params.get("length", 1)  # scan repeats its body; cond takes one branch
            else:
                total += out_size
    return total


def _sub_jaxprs(params: dict) -> list:
    found = []
    for value in params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if hasattr(item, "eqns") or hasattr(getattr(item, "jaxpr", None), "eqns"):
                found.append(item)
    return found
