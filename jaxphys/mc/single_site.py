"""Single-site Metropolis and heat-bath (Glauber) samplers for any spin model.

One ``step`` is one sweep: ``N`` attempted updates of single sites, chosen uniformly at random
(``scan="random"``) or in C order (``scan="sequential"``). With ``f_i`` the local field and
``dE = 2 s_i f_i`` the cost of flipping spin ``i``:

    Metropolis: flip with probability min(1, exp(-beta dE))        (Metropolis et al. 1953)
    heat bath:  set s_i = +1 with probability 1 / (1 + exp(-2 beta f_i))   (Glauber 1963)

Both satisfy detailed balance for each single-site update, so either scan leaves the Boltzmann
distribution invariant. They work for every :class:`~jaxphys.models.base.SpinModel` through
``model.site_field``; the lattice fast path is :func:`jaxphys.mc.checkerboard`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .. import status as st
from ..models.base import float_dtype
from .base import Sampler, SpinState, SweepInfo, beta_status

_SCANS = ("random", "sequential")


def _single_site(rule: str, scan: str) -> Sampler:
    if scan not in _SCANS:
        raise ValueError(f"scan must be one of {_SCANS}, got {scan!r}")

    def init(model, spins) -> SpinState:
        model.check_spins(spins)
        return SpinState(spins=spins, status=st.ok())

    def step(key, state: SpinState, model, beta):
        shape = state.spins.shape
        n = state.spins.size
        beta = jnp.asarray(beta, float_dtype())
        key_site, key_accept = jax.random.split(key)
        if scan == "random":
            sites = jax.random.randint(key_site, (n,), 0, n)
        else:
            sites = jnp.arange(n)
        uniforms = jax.random.uniform(key_accept, (n,), float_dtype())

        def update(t, carry):
            flat, changed, finite = carry
            i = sites[t]
            s_i = flat[i]
            field = model.site_field(flat.reshape(shape), i)
            if rule == "metropolis":
                delta_e = 2.0 * s_i.astype(field.dtype) * field
                new = jnp.where(uniforms[t] < jnp.exp(-beta * delta_e), -s_i, s_i)
            else:
                p_up = jax.nn.sigmoid(2.0 * beta * field)
                new = jnp.where(uniforms[t] < p_up, jnp.int8(1), jnp.int8(-1))
            return flat.at[i].set(new), changed + (new != s_i), finite & jnp.isfinite(field)

        flat, changed, finite = jax.lax.fori_loop(
            0, n, update, (state.spins.reshape(-1), jnp.zeros((), jnp.int32), jnp.array(True))
        )
        status = state.status | beta_status(beta)
        status = st.flag(status, st.Status.NAN, ~finite)
        info = SweepInfo(acceptance_rate=changed.astype(float_dtype()) / n)
        return SpinState(spins=flat.reshape(shape), status=status), info

    return Sampler(init=init, step=step)


@functools.cache
def metropolis(scan: str = "random") -> Sampler:
    """Single-site Metropolis sampler for any spin model.

    Args:
        scan: ``"random"`` (sites drawn uniformly with replacement) or ``"sequential"``.

    Returns:
        ``Sampler``; ``step(key, state, model, beta)`` does one sweep of N attempts and returns
        ``SweepInfo(acceptance_rate)``. Cached, so equal arguments give the same object (and
        ``jit`` compiles once).
    """
    return _single_site("metropolis", scan)


@functools.cache
def heatbath(scan: str = "random") -> Sampler:
    """Single-site heat-bath (Glauber) sampler for any spin model; see :func:`metropolis`."""
    return _single_site("heatbath", scan)
