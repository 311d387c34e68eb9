"""Exact thermodynamics of small spin models by enumerating all 2^N configurations.

    Z(beta) = sum_s exp(-beta E(s)),    <O> = sum_s O(s) exp(-beta E(s)) / Z.

Works for any :class:`~jaxphys.models.base.SpinModel` with ``N <= 24`` (2^24 = 16.8 M states,
energies evaluated in chunks so memory stays bounded). Everything is written in JAX, so exact
averages are differentiable: ``jax.grad(lambda b: averages(model, b)["energy"])(beta)`` equals
``-N (<e^2> - <e>^2)`` (fluctuation-dissipation), and derivatives with respect to couplings
work the same way. Precision is that of the default float dtype (enable ``jax_enable_x64`` for
float64).

Configuration ``c`` (0 <= c < 2^N) has spin ``i`` (flat C order) equal to ``1 - 2 * bit_i(c)``,
so ``c = 0`` is all +1.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..models.base import float_dtype
from ..observables.thermodynamic import STANDARD

MAX_SPINS = 24
_CHUNK = 1 << 14


def _check_size(model) -> int:
    n = model.num_spins
    if n > MAX_SPINS:
        raise ValueError(
            f"exact enumeration needs N <= {MAX_SPINS} spins (2^N states), the model has N = {n}; "
            "use a transfer matrix (jaxphys.exact.transfer_matrix) or Monte Carlo instead"
        )
    return n


def configurations(shape: tuple[int, ...], start: int = 0, count: int | None = None) -> Array:
    """Configurations ``start .. start+count-1`` as int8 ``(count, *shape)`` (all 2^N by default)."""
    n = 1
    for side in shape:
        n *= side
    if count is None:
        count = (1 << n) - start
    index = jnp.arange(count, dtype=jnp.uint32) + jnp.uint32(start)
    bits = (index[:, None] >> jnp.arange(n, dtype=jnp.uint32)[None, :]) & 1
    return (1 - 2 * bits.astype(jnp.int8)).reshape((count, *shape))


def _map_configurations(fn: Callable, model) -> Array:
    """Evaluate ``fn(spins)`` (pytree of scalars) on every configuration, chunk by chunk."""
    n = _check_size(model)
    total = 1 << n
    chunk = min(total, _CHUNK)
    num_chunks = total // chunk

    def on_chunk(c):
        bits_index = jnp.arange(chunk, dtype=jnp.uint32) + c.astype(jnp.uint32) * jnp.uint32(chunk)
        bits = (bits_index[:, None] >> jnp.arange(n, dtype=jnp.uint32)[None, :]) & 1
        spins = (1 - 2 * bits.astype(jnp.int8)).reshape((chunk, *model.spin_shape))
        return jax.vmap(fn)(spins)

    out = jax.lax.map(on_chunk, jnp.arange(num_chunks))
    return jax.tree.map(lambda x: x.reshape((total, *x.shape[2:])), out)


def energies(model) -> Float[Array, " states"]:
    """Energy of every configuration, shape ``(2^N,)`` in configuration order."""
    return _map_configurations(model.energy, model)


def log_partition_function(model, beta) -> Float[Array, ""]:
    """``ln Z(beta) = ln sum_s exp(-beta E(s))`` (differentiable in beta and in the model)."""
    return jax.nn.logsumexp(-jnp.asarray(beta, float_dtype()) * energies(model))


def probabilities(model, beta) -> Float[Array, " states"]:
    """Boltzmann probabilities ``exp(-beta E(s)) / Z`` of every configuration, shape ``(2^N,)``."""
    return jax.nn.softmax(-jnp.asarray(beta, float_dtype()) * energies(model))


def averages(model, beta, observables: Mapping[str, Callable] | None = None) -> dict[str, Array]:
    """Exact thermal averages ``<O>_beta`` of each observable ``(model, spins) -> scalar``.

    Args:
        model: a spin model with ``N <= 24``.
        beta: inverse temperature (scalar; differentiable).
        observables: name -> observable; default ``observables.STANDARD`` (e, m, |m|, m^2, m^4, e^2).

    Returns:
        dict name -> scalar average.
    """
    observables = STANDARD if observables is None else observables
    p = probabilities(model, beta)
    values = _map_configurations(lambda s: {k: f(model, s) for k, f in observables.items()}, model)
    return {k: jnp.tensordot(p, v.astype(p.dtype), axes=(0, 0)) for k, v in values.items()}


def beta_derivative(model, beta, observable: Callable) -> Float[Array, ""]:
    """``d<O>/dbeta = -(<O E> - <O><E>)`` from enumeration (equals ``jax.grad`` of :func:`averages`)."""
    p = probabilities(model, beta)
    e = energies(model)
    o = _map_configurations(lambda s: observable(model, s), model).astype(p.dtype)
    return -(jnp.sum(p * o * e) - jnp.sum(p * o) * jnp.sum(p * e))
