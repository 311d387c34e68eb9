"""Signal propagation through wide random networks: length and correlation maps, edge of chaos.

A fully connected network of width ``N -> infinity`` with weights ``W_ij ~ N(0, sigma_w2 / N)``
and biases ``b_i ~ N(0, sigma_b2)`` has Gaussian pre-activations ``h^l`` (Poole et al. 2016,
arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232). Their variance ``q^l`` and the
correlation ``c^l`` between two inputs follow deterministic maps,

    length map       q^{l+1} = sigma_w2 E_z phi(sqrt(q^l) z)^2 + sigma_b2,
    correlation map  c^{l+1} = (sigma_w2 E phi(u1) phi(u2) + sigma_b2) / q*,
                     (u1, u2) centred Gaussian, Var u = q*, Corr(u1, u2) = c^l,

with fixed point ``q*`` of the length map. The slope of the correlation map at ``c = 1``,

    chi_1 = sigma_w2 E_z phi'(sqrt(q*) z)^2,

separates the ordered phase (``chi_1 < 1``: inputs become correlated, ``c* = 1``) from the
chaotic phase (``chi_1 > 1``: ``c* < 1``); ``chi_1 = 1`` is the edge of chaos. Depth scales
(Schoenholz et al. eqs. 7, 9):

    xi_q^{-1} = -log(chi_1 + sigma_w2 E phi''(u) phi(u)),           u ~ N(0, q*),
    xi_c^{-1} = -log(sigma_w2 E phi'(u1) phi'(u2)),                 Corr(u1, u2) = c*,

so ``xi_c = -1 / log chi_1`` in the ordered phase.

Activations: ``"tanh"``, ``"relu"``, ``"erf"`` (``phi(x) = erf(x)``), ``"linear"`` by name,
or any jax-traceable scalar function ``phi`` (its derivatives come from ``jax.grad``).
Gaussian averages use :mod:`jaxphys.theory.quadrature`; the fixed points use
:mod:`jaxphys.theory.fixed_point`, so every result is differentiable in ``sigma_w2`` and
``sigma_b2`` by the implicit function theorem and can be vmapped over grids of them. For
``phi = erf`` the closed-form kernels of Williams (1997) are available (:func:`erf_kernel`) to
cross-check the quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .. import status as status_lib
from .._validate import as_count
from . import fixed_point, quadrature

__all__ = [
    "Activation",
    "activation_function",
    "activation_derivative",
    "length_map",
    "length_trajectory",
    "correlation_map",
    "correlation_trajectory",
    "q_star",
    "c_star",
    "chi_1",
    "depth_scales",
    "DepthScales",
    "edge_of_chaos",
    "erf_kernel",
]

Activation = str | Callable[[Array], Array]

_NAMED: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": lambda x: jnp.maximum(x, 0.0),
    "erf": jax.scipy.special.erf,
    "linear": lambda x: x,
}
_DERIVATIVES: dict[str, Callable[[Array], Array]] = {
    "tanh": lambda x: 1.0 - jnp.tanh(x) ** 2,
    "relu": lambda x: jnp.where(x > 0.0, 1.0, 0.0).astype(x.dtype),
    "erf": lambda x: 2.0 / math.sqrt(math.pi) * jnp.exp(-(x**2)),
    "linear": jnp.ones_like,
}


def activation_function(activation: Activation) -> Callable[[Array], Array]:
    """The elementwise function ``phi`` for a name (``tanh``, ``relu``, ``erf``, ``linear``) or a callable.

    Raises:
        ValueError: unknown name.
        TypeError: neither a string nor a callable.
    """
    if isinstance(activation, str):
        if activation not in _NAMED:
            raise ValueError(f"unknown activation {activation!r}: use one of {sorted(_NAMED)} or pass a callable")
        return _NAMED[activation]
    if callable(activation):
        return jnp.vectorize(activation)
    raise TypeError(f"activation must be a name {sorted(_NAMED)} or a callable phi(x), got {type(activation).__name__}")


def activation_derivative(activation: Activation, order: int = 1) -> Callable[[Array], Array]:
    """Elementwise ``phi'`` (closed form for named activations) or higher derivatives (``jax.grad``).

    Raises like :func:`activation_function`.
    """
    if order == 1 and isinstance(activation, str):
        activation_function(activation)  # validates the name
        return _DERIVATIVES[activation]
    if isinstance(activation, str):
        phi = activation_function(activation)
    elif callable(activation):
        phi = activation
    else:
        activation_function(activation)  # raises the TypeError
    for _ in range(order):
        phi = jax.grad(phi)
    return jnp.vectorize(phi)


def concrete_value(value: object) -> np.ndarray | None:
    """``value`` as a numpy array if it is known at trace time (not a tracer), else ``None``.

    Test the raw argument: inside ``jit`` even ``jnp.asarray(0.0)`` is a tracer.
    """
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError, TypeError):
        return None


def _check_variances(sigma_w2: ArrayLike, sigma_b2: ArrayLike) -> tuple[Array, Array]:
    """Float arrays; a concrete negative or NaN variance raises (traced bad values give NaN)."""
    out = []
    for name, value in (("sigma_w2", sigma_w2), ("sigma_b2", sigma_b2)):
        concrete = concrete_value(value)
        if concrete is not None and (np.any(np.isnan(concrete)) or np.any(concrete < 0)):
            raise ValueError(f"{name} is a variance: it must be >= 0 and not NaN, got {concrete}")
        out.append(jnp.asarray(value, jnp.result_type(value, float)))
    return out[0], out[1]


def _sqrt(q: Array) -> Array:
    """``sqrt(max(q, 0))``: a fixed point ``q* = 0`` may come back as ``-1e-40``."""
    return jnp.sqrt(jnp.maximum(q, 0.0))


def _second_moment(q: Array, activation: Activation, num_nodes: int) -> Array:
    """``E phi(sqrt(q) z)^2``."""
    phi = activation_function(activation)
    return quadrature.gaussian_expectation(lambda x: phi(x) ** 2, num_nodes=num_nodes, std=_sqrt(q))


def _kernel(c: Array, q: Array, activation: Activation, num_nodes: int) -> Array:
    """``E phi(u1) phi(u2)`` with ``Var u = q``, ``Corr(u1, u2) = c``."""
    phi = activation_function(activation)
    return quadrature.gaussian_expectation_2d(
        lambda x1, x2: phi(x1) * phi(x2), c, num_nodes=num_nodes, var1=jnp.maximum(q, 0.0), var2=jnp.maximum(q, 0.0)
    )


def length_map(
    q: ArrayLike,
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 64,
) -> Float[Array, ""]:
    """One layer of the length map ``q -> sigma_w2 E_z phi(sqrt(q) z)^2 + sigma_b2`` (Poole et al. eq. 3).

    Args:
        q: pre-activation variance, float scalar ``>= 0``.
        sigma_w2, sigma_b2: weight and bias variances, float scalars ``>= 0``.
        activation: name or callable (see module docstring).
        num_nodes: Gauss-Hermite nodes.

    Returns:
        The next layer's variance, a float scalar.

    Raises:
        ValueError: negative or NaN variances (when concrete), unknown activation.
    """
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    return sigma_w2 * _second_moment(jnp.asarray(q), activation, num_nodes) + sigma_b2


def length_trajectory(
    q0: ArrayLike,
    num_layers: int,
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 64,
) -> Float[Array, " num_layers"]:
    """Iterates ``q^1, ..., q^L`` of :func:`length_map` from the input variance ``q^0 = q0`` (``lax.scan``).

    Returns a float array of shape ``(num_layers,)``. Raises like :func:`length_map`, and
    ``ValueError``/``TypeError`` for a bad ``num_layers``.
    """
    num_layers = as_count(num_layers, "num_layers")
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)

    def step(q, _):
        q = length_map(q, sigma_w2, sigma_b2, activation, num_nodes=num_nodes)
        return q, q

    q0 = jnp.asarray(q0, jnp.result_type(q0, sigma_w2))
    return jax.lax.scan(step, q0, None, length=num_layers)[1]


def correlation_map(
    c: ArrayLike,
    q: ArrayLike,
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 48,
) -> Float[Array, ""]:
    """``c -> (sigma_w2 E phi(u1) phi(u2) + sigma_b2) / q_next`` with ``Var u = q``, ``Corr = c``.

    ``q_next = length_map(q)`` is the next layer's variance (equal to ``q`` at ``q = q*``, which is
    Poole et al. eq. 5). Args as :func:`length_map`; ``c`` a float scalar in ``[-1, 1]``.
    """
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    q = jnp.asarray(q)
    q_next = sigma_w2 * _second_moment(q, activation, num_nodes) + sigma_b2
    return (sigma_w2 * _kernel(jnp.asarray(c), q, activation, num_nodes) + sigma_b2) / q_next


def correlation_trajectory(
    c0: ArrayLike,
    q0: ArrayLike,
    num_layers: int,
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 48,
) -> tuple[Float[Array, " num_layers"], Float[Array, " num_layers"]]:
    """Joint iterates ``(q^l, c^l)``, ``l = 1..L``, for two inputs of equal variance ``q0`` and correlation ``c0``.

    Returns ``(q, c)``, float arrays of shape ``(num_layers,)``.
    """
    num_layers = as_count(num_layers, "num_layers")
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)

    def step(carry, _):
        q, c = carry
        c = correlation_map(c, q, sigma_w2, sigma_b2, activation, num_nodes=num_nodes)
        q = length_map(q, sigma_w2, sigma_b2, activation, num_nodes=num_nodes)
        return (q, c), (q, c)

    dtype = jnp.result_type(q0, c0, sigma_w2)
    return jax.lax.scan(step, (jnp.asarray(q0, dtype), jnp.asarray(c0, dtype)), None, length=num_layers)[1]


def q_star(
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    q0: ArrayLike = 1.0,
    num_nodes: int = 64,
    tol: float = 1e-10,
    max_steps: int = 5000,
    newton_steps: int = 64,
) -> status_lib.Solution:
    """Fixed point ``q* = sigma_w2 E phi(sqrt(q*) z)^2 + sigma_b2`` of the length map.

    ``"linear"`` and ``"relu"`` use the closed forms ``q* = sigma_b2 / (1 - sigma_w2)`` and
    ``sigma_b2 / (1 - sigma_w2 / 2)`` (no finite fixed point, hence ``inf`` and status
    ``INVALID_PARAMETER``, when the slope reaches 1); other activations use
    :func:`jaxphys.theory.fixed_point.solve` (implicit derivatives in ``sigma_w2``, ``sigma_b2``).
    At ``sigma_b2 = 0`` and ``sigma_w2 phi'(0)^2 = 1`` the root ``q* = 0`` is double and the
    iteration only converges algebraically; the Newton polish (``newton_steps``, each halving
    the error at a double root) brings ``q*`` down to ~1e-20 there.

    Gauss-Hermite quadrature resolves ``phi'(sqrt(q) z)^2`` only while ``sqrt(q*)`` is a few
    units at most (64 nodes: ~1e-4 relative error in ``chi_1`` at ``q* = 3``); raise
    ``num_nodes`` for larger variances.

    Returns:
        ``Solution(value=q*, status, num_steps)``; float scalar value.

    Raises:
        ValueError: negative or NaN variances (when concrete), unknown activation.
    """
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    if activation in ("linear", "relu"):
        slope = sigma_w2 if activation == "linear" else sigma_w2 / 2.0
        unbounded = slope >= 1.0
        value = jnp.where(unbounded, jnp.inf, sigma_b2 / jnp.where(unbounded, 1.0, 1.0 - slope))
        st = status_lib.flag(status_lib.ok(), status_lib.Status.INVALID_PARAMETER, unbounded)
        return status_lib.Solution(value, st, jnp.zeros((), jnp.int32))
    activation_function(activation)

    def update(q, params):
        w2, b2 = params
        return w2 * _second_moment(jnp.maximum(q, 0.0), activation, num_nodes) + b2

    q0 = jnp.asarray(q0, jnp.result_type(q0, sigma_w2))
    return fixed_point.solve(
        update, q0, (sigma_w2, sigma_b2), damping=0.0, tol=tol, max_steps=max_steps, newton_steps=newton_steps
    )


def _value_or_nan(solution: status_lib.Solution) -> Array:
    return jnp.where(solution.status == 0, solution.value, jnp.nan)


def chi_1(
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 64,
) -> Float[Array, ""]:
    """``chi_1 = sigma_w2 E_z phi'(sqrt(q*) z)^2``, the slope of the correlation map at ``c = 1``.

    (Poole et al. eq. 7, Schoenholz et al. eq. 5.) ``chi_1 = sigma_w2 / 2`` for ReLU and
    ``sigma_w2`` for linear networks, at any ``q*``. NaN where ``q*`` does not exist or was not found.

    Raises:
        ValueError: negative or NaN variances (when concrete), unknown activation.
    """
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    if activation == "linear":
        return sigma_w2
    if activation == "relu":
        return sigma_w2 / 2.0
    q = _value_or_nan(q_star(sigma_w2, sigma_b2, activation, num_nodes=num_nodes))
    dphi = activation_derivative(activation)
    return sigma_w2 * quadrature.gaussian_expectation(lambda x: dphi(x) ** 2, num_nodes=num_nodes, std=_sqrt(q))


def c_star(
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 48,
    margin: float = 1e-7,
) -> status_lib.Solution:
    """Stable fixed point ``c*`` of the correlation map at ``q = q*``.

    ``c* = 1`` in the ordered phase (``chi_1 <= 1``); in the chaotic phase the root of
    ``correlation_map(c) - c`` in ``[-1 + margin, 1 - margin]`` by
    :func:`jaxphys.theory.fixed_point.bracket_root` (implicit derivatives). Near the edge of
    chaos ``1 - c*`` becomes smaller than ``margin`` and the status says ``INVALID_PARAMETER``.

    Returns:
        ``Solution(value=c*, status, num_steps)``.
    """
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    q_solution = q_star(sigma_w2, sigma_b2, activation, num_nodes=num_nodes)
    q = _value_or_nan(q_solution)
    chaotic = chi_1(sigma_w2, sigma_b2, activation, num_nodes=num_nodes) > 1.0

    def residual(c, params):
        w2, b2, qq = params
        return correlation_map(c, qq, w2, b2, activation, num_nodes=num_nodes) - c

    root = fixed_point.bracket_root(residual, -1.0 + margin, 1.0 - margin, (sigma_w2, sigma_b2, q))
    value = jnp.where(chaotic, root.value, 1.0)
    st = q_solution.status | jnp.where(chaotic, root.status, 0)
    return status_lib.Solution(value, st.astype(jnp.int32), root.num_steps)


class DepthScales(NamedTuple):
    """Depth scales of Schoenholz et al. (2017): ``xi_q`` (length), ``xi_c`` (correlation); float scalars."""

    xi_q: Float[Array, ""]
    xi_c: Float[Array, ""]


def depth_scales(
    sigma_w2: ArrayLike,
    sigma_b2: ArrayLike,
    activation: Activation = "tanh",
    *,
    num_nodes: int = 48,
) -> DepthScales:
    """``xi_q = -1 / log(chi_1 + sigma_w2 E phi'' phi)`` and ``xi_c = -1 / log(sigma_w2 E phi'(u1) phi'(u2))``.

    The Gaussian averages are at ``q*`` (and ``Corr(u1, u2) = c*`` for ``xi_c``), Schoenholz et
    al. eqs. 7 and 9; in the ordered phase ``xi_c = -1 / log chi_1``, which diverges at the edge
    of chaos. ``xi_c`` is ``inf`` exactly at ``chi_c = 1`` and NaN if a fixed point was not found.

    Raises:
        ValueError: negative or NaN variances (when concrete), unknown activation.
    """
    sigma_w2, sigma_b2 = _check_variances(sigma_w2, sigma_b2)
    q = _value_or_nan(q_star(sigma_w2, sigma_b2, activation, num_nodes=num_nodes))
    c = _value_or_nan(c_star(sigma_w2, sigma_b2, activation, num_nodes=num_nodes))
    phi = activation_function(activation)
    dphi = activation_derivative(activation)
    d2phi = activation_derivative(activation, 2)
    slope_q = chi_1(sigma_w2, sigma_b2, activation, num_nodes=num_nodes) + sigma_w2 * quadrature.gaussian_expectation(
        lambda x: d2phi(x) * phi(x), num_nodes=num_nodes, std=_sqrt(q)
    )
    chi_c = sigma_w2 * quadrature.gaussian_expectation_2d(
        lambda x1, x2: dphi(x1) * dphi(x2), c, num_nodes=num_nodes, var1=jnp.maximum(q, 0.0), var2=jnp.maximum(q, 0.0)
    )
    return DepthScales(-1.0 / jnp.log(slope_q), -1.0 / jnp.log(chi_c))


def edge_of_chaos(
    activation: Activation,
    sigma_b2: ArrayLike,
    *,
    bracket: tuple[float, float] = (1e-3, 10.0),
    num_nodes: int = 64,
    tol: float = 1e-10,
) -> status_lib.Solution:
    """Weight variance ``sigma_w2`` at which ``chi_1(sigma_w2, sigma_b2) = 1`` (the order-chaos line).

    Root of ``chi_1 - 1`` in ``bracket`` by :func:`jaxphys.theory.fixed_point.bracket_root`;
    ``d sigma_w2 / d sigma_b2 = -(d chi_1/d sigma_b2) / (d chi_1/d sigma_w2)`` by implicit
    differentiation, so ``jax.grad`` and ``jax.vmap`` over ``sigma_b2`` work. Closed forms:
    ReLU ``sigma_w2 = 2`` and linear ``sigma_w2 = 1`` for every ``sigma_b2`` (Schoenholz et al.),
    tanh at ``sigma_b2 = 0``: ``sigma_w2 = 1``; tanh at ``sigma_b2 = 0.05``: ``sigma_w2 = 1.761``
    (Erdmenger et al. 2022, arXiv:2107.06898).

    Args:
        activation: name or callable.
        sigma_b2: bias variance, float scalar ``>= 0``.
        bracket: ``(lower, upper)`` values of ``sigma_w2`` that bracket the edge; the length map
            must have a finite fixed point at both (for unbounded activations keep ``upper`` small).

    Returns:
        ``Solution(value=sigma_w2, status, num_steps)``; ``INVALID_PARAMETER`` if ``chi_1 - 1``
        has no sign change on ``bracket``.

    Raises:
        ValueError: negative or NaN ``sigma_b2`` (when concrete), unknown activation, bad bracket.
    """
    _, sigma_b2 = _check_variances(0.0, sigma_b2)
    lower, upper = bracket
    if not 0.0 <= lower < upper:
        raise ValueError(f"bracket must be (lower, upper) with 0 <= lower < upper, got {bracket}")
    if activation in ("linear", "relu"):
        value = jnp.full_like(sigma_b2, 1.0 if activation == "linear" else 2.0)
        return status_lib.Solution(value, status_lib.ok(), jnp.zeros((), jnp.int32))

    def residual(sigma_w2, b2):
        return chi_1(sigma_w2, b2, activation, num_nodes=num_nodes) - 1.0

    dtype = sigma_b2.dtype
    return fixed_point.bracket_root(residual, jnp.asarray(lower, dtype), jnp.asarray(upper, dtype), sigma_b2, tol=tol)


def erf_kernel(q1: ArrayLike, q2: ArrayLike, c12: ArrayLike) -> Float[Array, "..."]:
    """``E erf(u1) erf(u2) = (2/pi) arcsin(2 c12 / sqrt((1 + 2 q1)(1 + 2 q2)))`` (Williams 1997).

    ``(u1, u2)`` centred Gaussian with variances ``q1, q2`` and covariance ``c12`` (broadcast
    float arrays). The derivative kernel is ``E erf'(u1) erf'(u2) = (4/pi) / sqrt((1 + 2 q1)(1 + 2 q2) - 4 c12^2)``.
    """
    q1, q2, c12 = (jnp.asarray(a, jnp.result_type(a, float)) for a in (q1, q2, c12))
    return 2.0 / jnp.pi * jnp.arcsin(2.0 * c12 / jnp.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2)))
