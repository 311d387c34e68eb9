"""The Sampler protocol and the checks every sampler shares.

A sampler is ``Sampler(init, step)``:

    init(model, spins) -> State
    step(key, state, model, beta) -> (State, Info)

``State`` and ``Info`` are NamedTuples; ``state.spins`` is the configuration in the model's
shape and ``state.status`` an int32 bitmask (:mod:`jaxphys.status`). One ``step`` is one Monte
Carlo sweep (N attempted single-spin updates) unless the sampler says otherwise (Wolff: one
cluster). The factory closes over algorithmic choices only; model and beta are arguments, so
they can be vmapped, swept and differentiated.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .. import status as st
from ..models.base import float_dtype, is_concrete


class Sampler(NamedTuple):
    """``init(model, spins) -> State``; ``step(key, state, model, beta) -> (State, Info)``."""

    init: Callable[..., Any]
    step: Callable[..., Any]


class SpinState(NamedTuple):
    """State of single-site samplers: ``spins`` (int8, model shape), ``status`` (int32)."""

    spins: Array
    status: Int[Array, ""]


class SweepInfo(NamedTuple):
    """``acceptance_rate``: fraction of attempted updates that changed a spin in this sweep."""

    acceptance_rate: Float[Array, ""]


def check_beta(beta) -> Float[Array, ""]:
    """Return ``beta`` as a float array; raise ``ValueError`` if concrete and negative, NaN or inf."""
    if isinstance(beta, (bool,)):
        raise TypeError("beta must be a number, got a bool")
    b = jnp.asarray(beta)
    if not (jnp.issubdtype(b.dtype, jnp.floating) or jnp.issubdtype(b.dtype, jnp.integer)):
        raise TypeError(f"beta must be real, got dtype {b.dtype}")
    b = b.astype(float_dtype())
    if is_concrete(b):
        bn = np.asarray(b)  # numpy: under jit, jnp on a closed-over constant gives a tracer
        if not np.all(np.isfinite(bn)):
            raise ValueError(f"beta must be finite, got {beta!r}; beta = 1/T with T > 0")
        if np.any(bn < 0):
            raise ValueError(f"beta must be >= 0 (beta = 1/T), got {beta!r}")
    return b


def beta_status(beta: Array) -> Int[Array, ""]:
    """Status word flagging ``INVALID_PARAMETER`` if a traced beta is negative or not finite."""
    return st.flag(st.ok(), st.Status.INVALID_PARAMETER, ~jnp.all(jnp.isfinite(beta) & (beta >= 0)))


def random_spins(key, shape: tuple[int, ...]) -> Array:
    """Uniformly random +-1 configuration (infinite-temperature start), int8 of ``shape``."""
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(jnp.int8)


def num_sites(shape) -> int:
    return math.prod(shape)
