"""jaxtyping aliases shared across jaxphys.

Spins are stored as ``int8`` arrays with values +-1; every energy is computed in the
default floating dtype (float32 unless ``jax_enable_x64`` is on).
"""

from __future__ import annotations

from jaxtyping import Array, Float, Int, Key, Shaped

Spins = Int[Array, "..."]
"""A spin configuration: int8 array of +-1 values in the model's shape."""

Couplings = Float[Array, "n n"]
"""A symmetric coupling matrix with zero diagonal."""

Fields = Float[Array, " n"]
"""External fields, one per spin."""

Scalar = Float[Array, ""]
"""A 0-d floating array (or a Python float where a trace-time constant is fine)."""

PRNGKey = Key[Array, ""]
"""A typed key from ``jax.random.key``."""

__all__ = ["Array", "Couplings", "Fields", "Float", "Int", "PRNGKey", "Scalar", "Shaped", "Spins"]
