"""Ising model with arbitrary symmetric pairwise couplings (dense matrix).

    E(s) = -1/2 sum_ij J_ij s_i s_j - sum_i h_i s_i,     J = J^T, J_ii = 0,

the common base of Curie-Weiss, Sherrington-Kirkpatrick, Hopfield and Ising models on any
weighted graph. Local field ``f = J s + h``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..typing import Spins
from .base import SpinModel, as_parameter, is_concrete


class PairwiseIsing(SpinModel):
    """Spins ``s in {-1,+1}^N`` with couplings ``J`` (N, N) and fields ``h`` (N,).

    Args:
        J: symmetric (N, N) float matrix with zero diagonal (the diagonal would only add the
            constant ``-1/2 tr J``; set it to zero).
        h: fields, scalar or (N,); default 0.

    Raises:
        ValueError: non-square, non-symmetric or NaN ``J``, nonzero diagonal, ``h`` of the
            wrong shape (value checks run when ``J`` is concrete, i.e. outside ``jit``/``vmap``).
    """

    J: Float[Array, "n n"]
    h: Float[Array, " n"]

    def __init__(self, J, h=0.0):
        J = as_parameter(J, "J")
        if J.ndim != 2 or J.shape[0] != J.shape[1]:
            raise ValueError(f"J must be a square (N, N) matrix, got shape {J.shape}")
        n = J.shape[0]
        if is_concrete(J):
            Jn = np.asarray(J)
            if not np.allclose(Jn, Jn.T, rtol=1e-5, atol=1e-6):
                raise ValueError("J must be symmetric; symmetrize it with (J + J.T) / 2")
            if np.any(np.diagonal(Jn) != 0):
                raise ValueError("J must have a zero diagonal (self-couplings only add a constant); use J - diag(diag(J))")
        self.J = J
        self.h = jnp.broadcast_to(as_parameter(h, "h", (n,)), (n,))

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return (self.J.shape[0],)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one configuration, ``(N,)``."""
        return self.spin_shape

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E(s) = -1/2 s.J.s - h.s`` (scalar)."""
        s = spins.astype(self.J.dtype)
        return -0.5 * s @ (self.J @ s) - self.h @ s

    def local_field(self, spins: Spins) -> Float[Array, " n"]:
        """``f = J s + h``, shape (N,)."""
        return self.J @ spins.astype(self.J.dtype) + self.h

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """``f_i = sum_j J_ij s_j + h_i`` in O(N)."""
        return self.J[index] @ spins.astype(self.J.dtype) + self.h[index]
