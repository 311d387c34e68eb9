"""Infinite-width kernels of fully connected networks: NNGP and NTK (Jacot et al. 2018; Lee et al. 2019).

For :class:`jaxphys.ntk.networks.MLP` with ``depth`` hidden layers of width ``n -> infinity``, the
output is a Gaussian process with the NNGP kernel ``K = K^{depth+1}`` and, in the NTK
parameterisation, the tangent kernel ``sum_p df(x)/dp df(x')/dp`` converges to the NTK
``Theta = Theta^{depth+1}`` (Jacot et al. 2018, arXiv:1806.07572; Lee et al. 2019,
arXiv:1902.06720, their eqs. (5)-(7)):

    K^1(x, x')        = sigma_w2 x.x' / n_0 + sigma_b2,                  Theta^1 = K^1,
    K^{l+1}(x, x')    = sigma_w2 E[phi(u) phi(u')] + sigma_b2,
    Kdot^{l+1}(x, x') = sigma_w2 E[phi'(u) phi'(u')],
    Theta^{l+1}       = K^{l+1} + Kdot^{l+1} Theta^l,

with ``(u, u')`` centred Gaussian of covariance ``[[K^l(x, x), K^l(x, x')], [K^l(x, x'), K^l(x', x')]]``.
The Gaussian averages are in closed form for

* ``"relu"``: the arc-cosine kernels of Cho & Saul (2009), with ``rho = c / sqrt(q q')`` and
  ``theta = arccos rho``: ``E relu(u) relu(u') = sqrt(q q') (sin theta + (pi - theta) cos theta) / (2 pi)``
  and ``E step(u) step(u') = (pi - theta) / (2 pi)``;
* ``"erf"``: Williams (1997), ``E erf(u) erf(u') = (2/pi) arcsin(2c / sqrt((1 + 2q)(1 + 2q')))`` and
  ``E erf'(u) erf'(u') = (4/pi) / sqrt((1 + 2q)(1 + 2q') - 4c^2)``;
* ``"linear"``: ``E u u' = c``, ``E 1 = 1``;

and by two-dimensional Gauss-Hermite quadrature (nodes of :mod:`jaxphys.theory.quadrature`) for
``"tanh"`` and any callable ``phi`` (whose derivative comes from ``jax.grad``).

Standard parameterisation. The network function at initialisation is the same, hence the NNGP
is identical. Its tangent kernel with unit learning rates is not: the weight gradients of layer
``l`` are ``n_{l-1} / sigma_w2`` times those of the NTK parameterisation (biases ``1 / sigma_b2``),
so the tangent kernel grows like the width ``n``. With all hidden widths equal to ``n``,
``Theta_standard / n`` converges (the input-layer and bias terms are ``O(1/n)`` and drop out) to

    S^1 = 0,     S^{l+1} = E[phi(u) phi(u')] + Kdot^{l+1} S^l,      Theta_standard / n -> S^{depth+1},

which is what ``parameterization="standard"`` returns as the NTK (the kernel of gradient flow
with learning rate ``eta / n``; cf. Lee et al. 2019, appendix on the standard parameterisation,
and Sohl-Dickstein et al. 2020, arXiv:2001.07301).

Everything is ``jax.numpy``: jit-able (``depth``, ``activation``, ``parameterization``,
``num_nodes`` static), vmap-able, and differentiable in ``sigma_w2``, ``sigma_b2`` and the inputs,
including on the diagonal (``rho = 1``), where the arc-cosine functions get custom derivatives.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validate import as_count
from ..theory import quadrature
from ..theory.signal_propagation import (
    Activation,
    _check_variances,
    activation_derivative,
    activation_function,
    concrete_value,
    erf_kernel,
)

__all__ = ["mlp", "gaussian_kernels"]

_PARAMETERIZATIONS = ("ntk", "standard")
# entries per chunk of the quadrature (each entry evaluates num_nodes^2 points)
_QUADRATURE_CHUNK = 256


# --------------------------------------------------------------------------- safe elementary functions


@jax.custom_jvp
def _safe_sqrt(x: Array) -> Array:
    """``sqrt(max(x, 0))`` with derivative 0 where ``x <= 0`` (a conditional variance that vanishes)."""
    return jnp.sqrt(jnp.maximum(x, 0.0))


@_safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = _safe_sqrt(x)
    positive = x > 0.0
    return y, jnp.where(positive, dx / (2.0 * jnp.where(positive, y, 1.0)), 0.0)


@jax.custom_jvp
def _arccos_j1(rho: Array) -> Array:
    """``J1(rho) = (sqrt(1 - rho^2) + (pi - arccos rho) rho) / pi``: ``E relu(u) relu(u') = sqrt(q q') J1 / 2``.

    ``dJ1/drho = J0(rho)`` is finite at ``|rho| = 1`` (the custom rule avoids ``0 * inf``).
    """
    return (_safe_sqrt(1.0 - rho**2) + (jnp.pi - jnp.arccos(rho)) * rho) / jnp.pi


@_arccos_j1.defjvp
def _arccos_j1_jvp(primals, tangents):
    (rho,), (drho,) = primals, tangents
    return _arccos_j1(rho), _arccos_j0(rho) * drho


@jax.custom_jvp
def _arccos_j0(rho: Array) -> Array:
    """``J0(rho) = 1 - arccos(rho) / pi``: ``E step(u) step(u') = J0 / 2``.

    ``dJ0/drho = 1 / (pi sqrt(1 - rho^2))`` diverges at ``|rho| = 1``; there ``rho`` is at its
    extreme, so its own derivative vanishes, and the rule returns 0 instead of ``inf * 0``.
    """
    return 1.0 - jnp.arccos(rho) / jnp.pi


@_arccos_j0.defjvp
def _arccos_j0_jvp(primals, tangents):
    (rho,), (drho,) = primals, tangents
    inside = jnp.abs(rho) < 1.0
    slope = 1.0 / (jnp.pi * jnp.sqrt(jnp.where(inside, 1.0 - rho**2, 1.0)))
    return _arccos_j0(rho), jnp.where(inside, slope * drho, 0.0)


def _correlation(q1: Array, q2: Array, c: Array) -> tuple[Array, Array]:
    """``(sqrt(q1 q2), rho = c / sqrt(q1 q2))`` with ``rho`` clipped to ``[-1, 1]`` and 0 where a variance is 0.

    ``arccos`` has an infinite slope at ``rho = 1``: a rounding error of one ulp in ``rho`` moves
    ``arccos rho`` by ``sqrt(2 eps)`` (1.5e-8 in float64), so ``|rho|`` within 8 ulps of 1 (where
    the true angle is below ``4 sqrt(eps)`` anyway) is set to exactly ``+-1``: the diagonal of a
    kernel is then the same whether computed alone or inside the matrix.
    """
    norm = jnp.sqrt(q1 * q2)
    positive = norm > 0.0
    rho = jnp.where(positive, c / jnp.where(positive, norm, 1.0), 0.0)
    snap = jnp.abs(rho) > 1.0 - 8.0 * jnp.finfo(rho.dtype).eps
    return norm, jnp.where(snap, jnp.sign(rho), rho)


# --------------------------------------------------------------------------- Gaussian averages


def _relu(q1, q2, c, num_nodes):
    del num_nodes
    norm, rho = _correlation(q1, q2, c)
    return 0.5 * norm * _arccos_j1(rho), 0.5 * _arccos_j0(rho)


def _erf(q1, q2, c, num_nodes):
    del num_nodes
    dot = 4.0 / jnp.pi / jnp.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2) - 4.0 * c**2)
    return erf_kernel(q1, q2, c), dot


def _linear(q1, q2, c, num_nodes):
    del num_nodes
    return c + 0.0 * (q1 + q2), jnp.ones(jnp.broadcast_shapes(q1.shape, q2.shape, c.shape), c.dtype)


def _by_quadrature(activation: Activation):
    """``(E phi(u) phi(u'), E phi'(u) phi'(u'))`` by ``num_nodes^2``-point Gauss-Hermite quadrature.

    ``u = sqrt(q1) z1``, ``u' = (c / sqrt(q1)) z1 + sqrt(q2 - c^2 / q1) z2`` (Cholesky factor of the
    covariance), ``z1, z2`` independent standard normals.
    """
    phi = activation_function(activation)
    dphi = activation_derivative(activation)

    def one(q1, q2, c, nodes, weights):
        a = jnp.sqrt(q1)
        b = jnp.where(a > 0.0, c / jnp.where(a > 0.0, a, 1.0), 0.0)
        s = _safe_sqrt(q2 - b**2)
        u1 = a * nodes[:, None] + 0.0 * nodes[None, :]
        u2 = b * nodes[:, None] + s * nodes[None, :]
        w2 = weights[:, None] * weights[None, :]
        return jnp.sum(w2 * phi(u1) * phi(u2)), jnp.sum(w2 * dphi(u1) * dphi(u2))

    def averages(q1, q2, c, num_nodes):
        nodes, weights = quadrature.gauss_hermite(num_nodes)
        dtype = jnp.result_type(q1, q2, c)
        nodes, weights = jnp.asarray(nodes, dtype), jnp.asarray(weights, dtype)
        shape = jnp.broadcast_shapes(q1.shape, q2.shape, c.shape)
        flat = [jnp.broadcast_to(v, shape).reshape(-1) for v in (q1, q2, c)]
        out = jax.lax.map(lambda v: one(*v, nodes, weights), tuple(flat), batch_size=_QUADRATURE_CHUNK)
        return out[0].reshape(shape), out[1].reshape(shape)

    return averages


_CLOSED_FORMS = {"relu": _relu, "erf": _erf, "linear": _linear}


def gaussian_kernels(
    q1: ArrayLike, q2: ArrayLike, c: ArrayLike, activation: Activation = "relu", *, num_nodes: int = 48
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """``(E phi(u) phi(u'), E phi'(u) phi'(u'))`` for centred Gaussian ``(u, u')``, ``Var = q1, q2``, ``Cov = c``.

    Closed forms for ``"relu"`` (arc-cosine, Cho & Saul 2009), ``"erf"`` (Williams 1997) and
    ``"linear"``; ``num_nodes^2``-point Gauss-Hermite quadrature for ``"tanh"`` and callables.

    Args:
        q1, q2, c: float arrays broadcast together (``c^2 <= q1 q2``; larger ``|c|`` is clipped).
        activation: name or elementwise callable.
        num_nodes: Gauss-Hermite nodes per dimension (quadrature only), Python int ``>= 1``.

    Returns:
        Two float arrays of the broadcast shape.

    Raises:
        ValueError/TypeError: unknown activation, bad ``num_nodes``.
    """
    num_nodes = as_count(num_nodes, "num_nodes")
    _averages(activation)  # validates
    dtype = jnp.result_type(q1, q2, c, float)
    q1, q2, c = (jnp.asarray(v, dtype) for v in (q1, q2, c))
    return _gaussian_kernels(q1, q2, c, activation, num_nodes)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _gaussian_kernels(q1, q2, c, activation, num_nodes):
    return _averages(activation)(q1, q2, c, num_nodes)


def _averages(activation: Activation):
    if isinstance(activation, str) and activation in _CLOSED_FORMS:
        return _CLOSED_FORMS[activation]
    activation_function(activation)  # validates
    return _by_quadrature(activation)


# --------------------------------------------------------------------------- the recursion


def mlp(
    x1: Float[Array, "b1 n0"],
    x2: Float[Array, "b2 n0"] | None = None,
    *,
    depth: int,
    activation: Activation = "relu",
    sigma_w2: ArrayLike = 2.0,
    sigma_b2: ArrayLike = 0.0,
    parameterization: str = "ntk",
    num_nodes: int = 48,
    diagonal: bool = False,
) -> tuple[Float[Array, "b1 b2"], Float[Array, "b1 b2"]]:
    """Infinite-width NNGP and NTK of :class:`jaxphys.ntk.networks.MLP` (see the module docstring).

    Args:
        x1: inputs, float array ``(B1, n_0)``.
        x2: second inputs ``(B2, n_0)``; ``None`` means ``x1`` (symmetric kernels).
        depth: number of hidden layers ``L >= 0`` (``L = 0``: a linear model), static.
        activation: ``"relu"``, ``"erf"``, ``"linear"`` (closed forms), ``"tanh"`` or an elementwise
            callable (Gauss-Hermite quadrature), as for ``MLP``.
        sigma_w2, sigma_b2: weight and bias variances, float scalars ``>= 0`` (may be traced;
            differentiable).
        parameterization: ``"ntk"`` (the NTK is the limit of the tangent kernel) or ``"standard"``
            (the NTK returned is the limit of tangent kernel / width, needs ``depth >= 1``).
        num_nodes: Gauss-Hermite nodes per dimension for the quadrature activations.
        diagonal: with ``x2=None``, return only the diagonals ``K(x_i, x_i)``, ``Theta(x_i, x_i)``
            (shape ``(B1,)``), at ``O(B1)`` cost.

    Returns:
        ``(nngp, ntk)``: float arrays ``(B1, B2)`` (``(B1,)`` with ``diagonal=True``), dtype of the
        inputs (float32 unless x64 is on).

    Raises:
        ValueError/TypeError: inputs not 2-D or of different feature sizes, empty inputs, NaN in
        concrete inputs, negative or NaN variances, bad depth, unknown activation or
        parameterization, ``diagonal=True`` with ``x2``, standard parameterisation with ``depth = 0``.
    """
    depth = as_count(depth, "depth", minimum=0)
    num_nodes = as_count(num_nodes, "num_nodes")
    if parameterization not in _PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {_PARAMETERIZATIONS}, got {parameterization!r}")
    if parameterization == "standard" and depth == 0:
        raise ValueError("the standard-parameterisation NTK is normalised by the hidden width: it needs depth >= 1")
    _averages(activation)  # validates the activation
    x1 = _check_inputs(x1, "x1")
    if x2 is not None:
        if diagonal:
            raise ValueError("diagonal=True gives K(x_i, x_i) of ONE set of inputs: pass x2=None")
        x2 = _check_inputs(x2, "x2")
        if x2.shape[1] != x1.shape[1]:
            raise ValueError(f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}")
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    dtype = jnp.result_type(x1, sigma_w2, sigma_b2)
    if jnp.ndim(sigma_w2) or jnp.ndim(sigma_b2):
        raise ValueError("sigma_w2 and sigma_b2 must be scalars (jax.vmap over them for a grid)")
    return _mlp(x1, x2, sigma_w2.astype(dtype), sigma_b2.astype(dtype), depth, activation, parameterization, num_nodes, diagonal)


def _check_inputs(x, name: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_inputs, num_features), got shape {x.shape}; use x[None] for one input")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    concrete = concrete_value(x)
    if concrete is not None and not np.all(np.isfinite(concrete)):
        raise ValueError(f"{name} contains NaN or infinity")
    return x


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7, 8))
def _mlp(x1, x2, sigma_w2, sigma_b2, depth, activation, parameterization, num_nodes, diagonal):
    averages = _averages(activation)
    dtype = sigma_w2.dtype
    x1 = x1.astype(dtype)
    n0 = x1.shape[1]
    variance1 = sigma_w2 * jnp.sum(x1 * x1, axis=1) / n0 + sigma_b2  # K^1(x, x) for x in x1
    if diagonal:
        cross = variance1
        diagonals = jnp.zeros((0,), dtype)
    else:
        x2 = x1 if x2 is None else x2.astype(dtype)
        cross = sigma_w2 * (x1 @ x2.T) / n0 + sigma_b2
        variance2 = sigma_w2 * jnp.sum(x2 * x2, axis=1) / n0 + sigma_b2
        diagonals = variance1 if x2 is x1 else jnp.concatenate([variance1, variance2])
    b1 = x1.shape[0]
    shape = cross.shape

    def split(cross, diagonals):
        """Variances ``(q1, q2)`` of the two inputs of every entry of ``cross``."""
        if diagonal:
            return cross, cross
        q1 = diagonals[:b1, None]
        q2 = diagonals[None, :b1] if diagonals.shape[0] == b1 else diagonals[None, b1:]
        return jnp.broadcast_to(q1, shape), jnp.broadcast_to(q2, shape)

    def layer(carry, _):
        cross, diagonals, theta = carry
        q1, q2 = split(cross, diagonals)
        # one call for the matrix and the diagonals (E phi(u)^2 at Var u = q): one quadrature per layer
        args = [jnp.concatenate([a.reshape(-1), diagonals]) for a in (q1, q2, cross)]
        feature, derivative = averages(*args, num_nodes)
        size = cross.size
        feature_cross, derivative = feature[:size].reshape(shape), derivative[:size].reshape(shape)
        cross = sigma_w2 * feature_cross + sigma_b2
        diagonals = sigma_w2 * feature[size:] + sigma_b2
        extra = cross if parameterization == "ntk" else feature_cross
        theta = extra + sigma_w2 * derivative * theta
        return (cross, diagonals, theta), None

    theta = cross if parameterization == "ntk" else jnp.zeros_like(cross)
    if depth:
        (cross, _, theta), _ = jax.lax.scan(layer, (cross, diagonals, theta), None, length=depth)
    return cross, theta
