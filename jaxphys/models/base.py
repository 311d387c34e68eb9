"""The spin-model protocol shared by every Ising-type energy.

A spin model is a final ``eqx.Module`` whose energy is linear in each spin separately,

    E(s) = E(s with s_i = 0) - s_i f_i(s),      f_i(s) independent of s_i,

so flipping spin ``i`` costs ``dE_i = 2 s_i f_i(s)``; ``f`` is the *local field*. Every
pairwise model with zero self-coupling, ``E = -1/2 s.J.s - h.s`` with ``f = J s + h``, is of this
form. Samplers rely on nothing else: ``energy(spins)`` for one configuration,
``local_field(spins)`` for all sites at once, and ``site_field(spins, index)`` for one site.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..typing import Spins


def float_dtype():
    """The default floating dtype (float32, or float64 under ``jax_enable_x64``)."""
    return jnp.result_type(float)


def is_concrete(x) -> bool:
    """True if ``x`` holds values known at trace time (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def as_parameter(value, name: str, shape: tuple[int, ...] | None = None) -> Float[Array, "..."]:
    """Convert a coupling/field to a floating array and reject NaN/inf when the value is concrete.

    ``shape``: if given, the array must broadcast to it (scalars always do).
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or a float array, got the bool {value!r}")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"{name} must be real (float or int), got dtype {arr.dtype}")
    arr = arr.astype(float_dtype())
    if shape is not None and arr.ndim > 0:
        try:
            np.broadcast_shapes(arr.shape, shape)
        except ValueError:
            raise ValueError(f"{name} has shape {arr.shape}, which does not broadcast to {shape}") from None
    if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
        raise ValueError(f"{name} contains NaN or infinity; pass finite values")
    return arr


class SpinModel(eqx.Module):
    """Abstract base of +-1 spin models; see the module docstring for the contract.

    Subclasses define ``shape`` (a static tuple: the shape of one configuration), ``energy``,
    ``local_field`` and may override ``site_field`` with an O(fan-in) version.
    """

    @property
    @abc.abstractmethod
    def spin_shape(self) -> tuple[int, ...]:
        """Shape of one configuration."""

    @property
    def num_spins(self) -> int:
        """Number of spins ``N``."""
        return math.prod(self.spin_shape)

    @abc.abstractmethod
    def energy(self, spins: Spins) -> Float[Array, ""]:
        """Energy ``E(s)`` of one configuration (a scalar in the default float dtype)."""

    @abc.abstractmethod
    def local_field(self, spins: Spins) -> Float[Array, "..."]:
        """Local fields ``f_i(s)`` of all sites, shape ``spin_shape``; ``dE_i = 2 s_i f_i``."""

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """Local field of the site with flat (C-order) ``index``; subclasses make it O(fan-in)."""
        return self.local_field(spins).reshape(-1)[index]

    def check_spins(self, spins) -> None:
        """Raise a clear error unless ``spins`` is an int8 +-1 array of ``spin_shape``."""
        check_spins(spins, self.spin_shape)


def check_spins(spins, shape: tuple[int, ...]) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``spins`` is an int8 array of ``shape`` with +-1 values."""
    spins_shape = tuple(getattr(spins, "shape", ()))
    if spins_shape != tuple(shape):
        raise ValueError(f"spins have shape {spins_shape} but the model expects {tuple(shape)}")
    dtype = getattr(spins, "dtype", None)
    if dtype != jnp.int8:
        raise TypeError(
            f"spins must be an int8 array of +-1 values, got dtype {dtype}; convert with spins.astype(jnp.int8)"
        )
    # numpy, not jnp: under jit a closed-over concrete array would turn into a tracer.
    if is_concrete(spins) and not np.all(np.abs(np.asarray(spins)) == 1):
        raise ValueError("spins must take the values +1 and -1 only (got other values, e.g. 0)")
