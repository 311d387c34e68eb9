"""Parameter checks and broadcasting shared by the theory model modules (tier 1 and 2 errors)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .quadrature import _concrete


def temperature(T: Any, name: str = "T") -> Array:
    """``T`` as a float array; ``ValueError`` if it is concrete and not ``> 0`` (or NaN)."""
    value = _concrete(T)
    if value is not None:
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise TypeError(f"{name} must be a real number or array, got {value.dtype}")
        if not np.all(value > 0) or not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be > 0 and finite (temperatures are positive), got {value}")
    return jnp.asarray(T, jnp.result_type(T, float))


def parameter(x: Any, name: str) -> Array:
    """``x`` as a float array; ``ValueError`` if it is concrete and NaN or infinite."""
    value = _concrete(x)
    if value is not None:
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise TypeError(f"{name} must be a real number or array, got {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite, got {value}")
    return jnp.asarray(x, jnp.result_type(x, float))


def invalid_temperature(T: Array) -> Array:
    """Traced check: ``True`` where ``T`` is not a finite positive number."""
    return ~((T > 0) & jnp.isfinite(T))


def broadcast_map(fn: Callable[..., Any], *args: Array) -> Any:
    """Apply the scalar function ``fn`` elementwise over the broadcast of ``args`` (by ``jax.lax.map``).

    Every output leaf gets the broadcast shape as its leading shape.
    """
    args = jnp.broadcast_arrays(*args)
    shape = args[0].shape
    if not shape:
        return fn(*args)
    # lax.map, not vmap: each point's solver loop stops when that point has converged (a vmapped
    # while_loop runs every point until the slowest, near-critical one is done); the work of one
    # point is already vectorised over the quadrature nodes.
    out = jax.lax.map(lambda a: fn(*a), tuple(a.reshape(-1) for a in args))
    return jax.tree_util.tree_map(lambda leaf: leaf.reshape(shape + leaf.shape[1:]), out)


class _Bound(NamedTuple):
    """Hashable ``fn`` with trailing static options (so jit's cache is hit across calls)."""

    fn: Callable[..., Any]
    static: tuple

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args, *self.static)


@functools.partial(jax.jit, static_argnums=0)
def _jitted_broadcast(bound: _Bound, args: tuple, extra: tuple) -> Any:
    return broadcast_map(lambda *a: bound(*a, *extra), *args)


def jit_broadcast(fn: Callable[..., Any], args: tuple, extra: tuple = (), static: tuple = ()) -> Any:
    """``fn(*args_i, *extra, *static)`` over the broadcast of ``args``, compiled once per ``(fn, static)``.

    ``fn`` must be a module-level function (hashable); ``static`` hashable Python values;
    ``extra`` pytrees of arrays passed unbroadcast.
    """
    return _jitted_broadcast(_Bound(fn, tuple(static)), tuple(args), tuple(extra))
