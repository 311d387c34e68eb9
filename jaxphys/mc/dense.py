"""Sequential single-site sweeps of dense-coupling models by blocks ("delayed updates").

For ``E = -1/2 s.J.s - h.s`` with a dense (N, N) ``J`` (SK, Curie-Weiss, Hopfield, any
:class:`~jaxphys.models.PairwiseIsing`), a sweep visits the sites in order ``0..N-1`` and
updates each with the Metropolis or heat-bath rule, exactly as
``mc.metropolis("sequential")``/``mc.heatbath("sequential")``. The sites are taken in blocks of
``B``: at the start of a block the fields on its sites are computed at once,

    f_b = J[b, :] s + h_b                      (B x N matrix-vector product),

and inside the block the field on site ``k`` is corrected for the flips made earlier in the same
block, ``f_k + sum_{j in b} J_kj (s_j^new - s_j^old)`` (B x B work). The chain is the same
Markov chain as the sequential single-site sampler (same random numbers give the same moves,
up to float rounding of the fields); only the arithmetic is regrouped. Under ``jax.vmap`` over
R replicas the block fields become an (R, N) x (N, B) matrix product, so a sweep is
``N / B`` matrix products plus ``N`` cheap sequential steps: the dense fast path on CPUs and
accelerators (the "delayed update" idea of quantum Monte Carlo, e.g. Alvarez et al. 2008).

For a Hopfield model stored by its patterns (``J = xi^T xi / N`` off the diagonal, never
formed) the block fields come from the overlaps ``xi s`` carried through the sweep, so a sweep
costs O(N P + N B) instead of O(N^2).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .. import status as st
from ..models.base import float_dtype
from ..models.hopfield import Hopfield
from ..models.pairwise import PairwiseIsing
from .base import Sampler, SpinState, SweepInfo, beta_status

_RULES = ("metropolis", "heatbath")


class _Dense(NamedTuple):
    """Dense form of a model: J rows by block, or Hopfield patterns (low rank)."""

    J: Float[Array, "n n"] | None
    h: Float[Array, " n"]
    patterns: Float[Array, "p n"] | None  # low-rank Hopfield: J = (xi^T xi - P I) / N


def _dense_form(model) -> _Dense:
    dtype = float_dtype()
    if isinstance(model, Hopfield):
        n = model.spin_shape[0]
        h = jnp.zeros((n,), dtype)
        if model.J is None:
            return _Dense(None, h, model.patterns.astype(dtype))
        return _Dense(model.J.astype(dtype), h, None)
    if isinstance(model, PairwiseIsing):
        return _Dense(model.J.astype(dtype), model.h.astype(dtype), None)
    raise TypeError(
        f"mc.dense needs a model with dense pairwise couplings (PairwiseIsing, SK, CurieWeiss, Hopfield), "
        f"got {type(model).__name__}; use mc.metropolis() or mc.heatbath() for other models"
    )


def block_size_for(num_spins: int, block_size: int) -> int:
    """The block actually used: the largest divisor of ``num_spins`` not above ``block_size``."""
    return max(d for d in range(1, min(block_size, num_spins) + 1) if num_spins % d == 0)


def _dense(rule: str, block_size: int) -> Sampler:
    def init(model, spins) -> SpinState:
        _dense_form(model)
        model.check_spins(spins)
        return SpinState(spins=spins, status=st.ok())

    def step(key, state: SpinState, model, beta):
        form = _dense_form(model)
        n = state.spins.shape[0]
        b = block_size_for(n, block_size)
        dtype = float_dtype()
        beta = jnp.asarray(beta, dtype)
        # Same draws as mc.metropolis("sequential"): the site key is unused there too.
        _, key_accept = jax.random.split(key)
        uniforms = jax.random.uniform(key_accept, (n,), dtype)
        s0 = state.spins.astype(dtype)
        lowrank = form.patterns is not None
        num_patterns = form.patterns.shape[0] if lowrank else 0

        def block(t, carry):
            s, overlaps, changed, finite = carry
            start = t * b
            s_b = jax.lax.dynamic_slice(s, (start,), (b,))
            h_b = jax.lax.dynamic_slice(form.h, (start,), (b,))
            u_b = jax.lax.dynamic_slice(uniforms, (start,), (b,))
            if lowrank:
                xi_b = jax.lax.dynamic_slice(form.patterns, (0, start), (num_patterns, b))  # (P, B)
                f_b = (overlaps @ xi_b - num_patterns * s_b) / n + h_b
                J_bb = (xi_b.T @ xi_b) / n
                J_bb = J_bb * (1.0 - jnp.eye(b, dtype=dtype))
            else:
                rows = jax.lax.dynamic_slice(form.J, (start, 0), (b, n))  # (B, N)
                f_b = rows @ s + h_b
                J_bb = jax.lax.dynamic_slice(rows, (0, start), (b, b))

            def site(k, inner):
                d, changed, finite = inner
                s_k = s_b[k]
                field = f_b[k] + J_bb[k] @ d
                if rule == "metropolis":
                    new = jnp.where(u_b[k] < jnp.exp(-beta * (2.0 * s_k * field)), -s_k, s_k)
                else:
                    new = jnp.where(u_b[k] < jax.nn.sigmoid(2.0 * beta * field), 1.0, -1.0).astype(dtype)
                return d.at[k].set(new - s_k), changed + (new != s_k), finite & jnp.isfinite(field)

            d, changed, finite = jax.lax.fori_loop(0, b, site, (jnp.zeros((b,), dtype), changed, finite))
            s = jax.lax.dynamic_update_slice(s, s_b + d, (start,))
            if lowrank:
                overlaps = overlaps + xi_b @ d
            return s, overlaps, changed, finite

        overlaps = form.patterns @ s0 if lowrank else jnp.zeros((0,), dtype)
        s, _, changed, finite = jax.lax.fori_loop(
            0, n // b, block, (s0, overlaps, jnp.zeros((), jnp.int32), jnp.array(True))
        )
        status = st.flag(state.status | beta_status(beta), st.Status.NAN, ~finite)
        info = SweepInfo(acceptance_rate=changed.astype(dtype) / n)
        return SpinState(spins=s.astype(jnp.int8), status=status), info

    return Sampler(init=init, step=step)


@functools.cache
def dense(rule: str = "metropolis", block_size: int = 64) -> Sampler:
    """Sequential-scan single-site sampler for dense couplings, by blocks of ``block_size`` sites.

    The same Markov chain as ``mc.metropolis("sequential")`` (``rule="metropolis"``: flip with
    probability ``min(1, exp(-2 beta s_i f_i))``) or ``mc.heatbath("sequential")``
    (``rule="heatbath"``: ``P(s_i = +1) = 1 / (1 + exp(-2 beta f_i))``), with the fields of a
    block of sites computed by one matrix-vector product (a matrix product over vmapped
    replicas); see the module docstring.

    Args:
        rule: ``"metropolis"`` or ``"heatbath"``.
        block_size: sites per block ``B``; the largest divisor of N not above it is used
            (:func:`block_size_for`). 32-128 suits CPUs; larger blocks give bigger matrix products.

    Returns:
        ``Sampler`` for :class:`~jaxphys.models.PairwiseIsing` (SK, Curie-Weiss) and
        :class:`~jaxphys.models.Hopfield` models; ``step`` does one sweep of N updates and
        returns ``SweepInfo(acceptance_rate)``. State: ``SpinState`` (int8 spins (N,)).

    Raises:
        ValueError: unknown rule, ``block_size < 1``.
        TypeError: (at ``init``/``step``) a model without dense pairwise couplings.
    """
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    return _dense(rule, block_size)
