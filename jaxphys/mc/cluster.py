"""Wolff single-cluster updates for the nearest-neighbour lattice Ising model at zero field.

Wolff, Phys. Rev. Lett. 62, 361 (1989), built on the Fortuin-Kasteleyn (FK) representation of
Swendsen & Wang, Phys. Rev. Lett. 58, 86 (1987). For ``E = -J sum_<ij> s_i s_j`` one cluster
update is:

1. pick a seed site at random (uniformly; any spin-independent law would do, see below);
2. grow a cluster from it: a bond ``<ij>`` with ``i`` in the cluster and ``j`` outside joins
   ``j`` with probability

       p_add = 1 - exp(-2 beta |J|)

   if the bond is *satisfied*, ``J s_i s_j > 0``, and never otherwise;
3. flip every spin of the cluster.

For ``J > 0`` "satisfied" means "aligned with the seed spin", which is Wolff's rule. For
``J < 0`` (antiferromagnet) it means "anti-aligned": on a bipartite lattice (open boundaries,
or even periodic sides) this is Wolff's algorithm after the sublattice gauge transformation
``s_i -> (-1)^(x_1 + ... + x_d) s_i``, which maps ``J`` to ``-J``; on a frustrated lattice (an
odd periodic side) it is still exact, because the detailed-balance argument below never uses
the sign of ``J``, but the clusters stop at frustrated plaquettes. ``J = 0`` gives
``p_add = 0``: every cluster is one spin, which is exact (all states have the same weight).

Detailed balance. Let cluster ``C`` be flipped, taking ``s`` to ``s'``. Bonds inside ``C`` are
satisfied in ``s`` exactly when they are in ``s'``, so the probability of growing ``C`` from
the same seed differs between ``s`` and ``s'`` only through the boundary bonds of ``C``, none of
which may be activated: ``(1 - p_add)^{n_sat}`` from ``s`` and ``(1 - p_add)^{n_unsat}`` from
``s'`` (the flip exchanges satisfied and unsatisfied boundary bonds). Their ratio is
``exp(-2 beta |J| (n_sat - n_unsat)) = exp(-beta (E(s') - E(s)))``: the move is accepted
always, and the Boltzmann distribution is stationary. A field ``h`` would break this (flipping
the cluster would cost ``2 h.s_C``), hence ``h = 0`` is required.

Implementation (vectorised for ``vmap`` and accelerators). All bond variables are drawn up
front, 32 random bits per bond ``(x, x + e_k)`` from one ``jax.random.bits`` call per cluster
(which also gives the seed); a bond is *active* if it is satisfied and its bits are below
``p_add * 2^32`` (probability ``p_add`` to within 2^-32, in float32 and float64 alike). The
cluster is then the connected component of the seed in the graph of active bonds, found by
breadth-first growth in a ``lax.while_loop`` over generations: a boolean frontier (the sites
added in the last generation) spreads along the active bonds to the sites not yet in the
cluster, with ``jnp.roll`` along each axis, until the frontier is empty.

This is exactly Wolff's growth. Wolff tests a bond ``(i, j)`` only from a cluster site ``i``
towards a site ``j`` outside the cluster; sites never leave the cluster, so after that test ``i``
is inside for good and the bond can be tested neither again from ``i`` (which tests each of its
bonds once, when it joins) nor from ``j`` (which would need ``i`` outside). Each bond is
therefore tested at most once, with an independent Bernoulli(``p_add``) outcome, and drawing
every outcome in advance and revealing only those the growth needs gives the same law for the
cluster (principle of deferred decisions): the cluster is the FK cluster of the seed. Bonds the
growth never reaches, and extra active bonds between two sites already in the cluster (several
frontier sites reaching one new site in the same generation), do not change the component.

Cost per cluster: ``d N`` random words plus ``O(d N)`` boolean work per generation; the number
of generations is the largest chemical distance from the seed inside its cluster (~ the
cluster diameter; ~46 at L = 32 and ~77 at L = 64 at beta_c in 2D). On a CPU this is one to two
orders of magnitude slower than a sequential stack-based Wolff; the layout is meant for many
vmapped chains on an accelerator.

Boundaries. Open boundaries simply have no bond across the edge. With periodic boundaries and
a side of length 2 the ``+e_k`` and ``-e_k`` neighbours of a site coincide; the energy counts
that pair twice (see :mod:`jaxphys.models.ising`), and here it is likewise two independent
bonds.

Ergodicity. For ``0 < beta < inf`` and ``J != 0`` every single-spin flip has positive
probability (the seed's at most ``2d`` satisfied bonds all stay inactive with probability
``>= (1 - p_add)^{2d} > 0``), so the chain is irreducible; it is aperiodic because it can
return in 2 steps (flip ``C``, flip ``C``) and in 3: from ``s`` with a satisfied bond ``<ij>``,
flip ``{i}``, then ``{j}`` (the bond is satisfied again), then the pair ``{i, j}``. At
``beta = 0`` (or ``J = 0``) every cluster is a single spin, so each cluster flip changes the
parity of the number of down spins: the chain is periodic, and with an even ``num_clusters`` a
step never changes that parity (not irreducible). The uniform distribution is still
stationary, but use a single-site sampler there.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, UInt

from .. import status as st
from ..models.base import float_dtype, is_concrete
from ..models.ising import Ising
from ..typing import PRNGKey, Spins
from .base import Sampler, SpinState, beta_status, check_beta


class ClusterInfo(NamedTuple):
    """Diagnostics of one Wolff step (``num_clusters`` cluster flips).

    ``cluster_size``: mean number of spins in the clusters flipped in this step (float). In
    equilibrium at ``h = 0`` and ``J > 0`` its average is the improved estimator
    ``<|C|> = N <m^2>`` (Wolff 1989); for ``J < 0`` on a bipartite lattice it is ``N <m_s^2>``
    with the staggered magnetisation ``m_s``.
    ``acceptance_rate``: ``cluster_size / N``, the mean fraction of spins flipped per cluster
    (every cluster is accepted; this is the figure comparable to a sweep's acceptance rate).
    """

    cluster_size: Float[Array, ""]
    acceptance_rate: Float[Array, ""]


def _check_model(model) -> None:
    """Trace-time checks shared by ``init`` and ``step`` (error tier 1)."""
    if not isinstance(model, Ising):
        raise TypeError(
            f"wolff needs a jaxphys.models.Ising lattice model, got {type(model).__name__}; "
            "use jaxphys.mc.metropolis or jaxphys.mc.heatbath for other spin models"
        )
    # numpy, not jnp: inside a jit trace even a jnp op on a concrete array returns a tracer.
    if is_concrete(model.h) and bool(np.any(np.asarray(model.h) != 0)):
        raise ValueError(
            "the Wolff algorithm needs zero external field (flipping a cluster in a field h is not "
            "always accepted); build the model with h=0.0, or use jaxphys.mc.metropolis or "
            "jaxphys.mc.heatbath for h != 0"
        )


def _parameter_status(model) -> Int[Array, ""]:
    """Status bits for a model whose parameters are tracers (the concrete cases raised already)."""
    status = st.flag(st.ok(), st.Status.INVALID_PARAMETER, jnp.any(model.h != 0))
    return st.flag(status, st.Status.NAN, ~(jnp.isfinite(model.J) & jnp.all(jnp.isfinite(model.h))))


def _active_bonds(
    bits: UInt[Array, "d ..."], spins: Spins, model: Ising, p_add: Float[Array, ""]
) -> list[Bool[Array, "..."]]:
    """FK bond variables: ``bonds[k][x]`` is True if the bond ``(x, x + e_k)`` is active.

    Active = satisfied (``J s_x s_{x+e_k} > 0``) and its own 32 random ``bits`` below
    ``p_add * 2^32`` (probability ``p_add`` to within 2^-32). With open boundaries the entries on
    the last layer along ``k`` (no bond there) are False, which also stops ``jnp.roll`` from
    carrying the cluster across the edge.
    """
    # Integer threshold rather than uniform floats: one hash call per cluster (the seed comes
    # from the same bits) compiles faster, and is finer than float32 uniforms (2^-23).
    certain = p_add >= 1.0  # 2^32 does not fit in uint32
    scaled = jnp.clip(p_add, 0.0, 1.0) * 2.0**32
    threshold = jnp.where(certain, 0.0, jnp.floor(scaled)).astype(jnp.uint32)
    ferromagnetic = model.J > 0
    bonds = []
    for axis, length in enumerate(model.shape):
        aligned = spins == jnp.roll(spins, -1, axis=axis)
        active = (aligned == ferromagnetic) & ((bits[axis] < threshold) | certain)
        if not model.periodic:
            position = jax.lax.broadcasted_iota(jnp.int32, model.shape, axis)
            active = active & (position < length - 1)
        bonds.append(active)
    return bonds


def _grow(
    seed: Int[Array, ""], bonds: list[Bool[Array, "..."]], shape: tuple[int, ...]
) -> Bool[Array, "..."]:
    """Connected component of ``seed`` (flat index) in the graph of active ``bonds`` (bool, ``shape``)."""
    start = (jnp.arange(math.prod(shape), dtype=jnp.int32) == seed).reshape(shape)

    def spread(carry):
        cluster, frontier = carry
        reached = jnp.zeros_like(frontier)
        for axis, active in enumerate(bonds):
            # x -> x + e_k over bond (x, x + e_k), and x + e_k -> x over the same kind of bond.
            reached = reached | jnp.roll(frontier & active, 1, axis=axis)
            reached = reached | (jnp.roll(frontier, -1, axis=axis) & active)
        new = reached & ~cluster
        return cluster | new, new

    cluster, _ = jax.lax.while_loop(lambda carry: jnp.any(carry[1]), spread, (start, start))
    return cluster


def _flip_cluster(key: PRNGKey, spins: Spins, model: Ising, p_add: Float[Array, ""]):
    """One Wolff cluster flip: returns the new spins and the cluster size (int32)."""
    n = spins.size
    bits = jax.random.bits(key, (model.ndim * n + 1,), jnp.uint32)
    # The seed is bits mod N, uniform to within N / 2^32 (exactly for N a power of 2). Any seed
    # law that does not depend on the spins keeps detailed balance exactly: the move s -> s'
    # has probability sum_{i in C} P(seed = i) P(grow C from i | s), and the ratio of the growth
    # factors to those of s' -> s is exp(-beta dE) for every seed i in C.
    seed = (bits[-1] % jnp.uint32(n)).astype(jnp.int32)
    bonds = _active_bonds(bits[:-1].reshape(model.ndim, *model.shape), spins, model, p_add)
    cluster = _grow(seed, bonds, model.shape)
    return jnp.where(cluster, -spins, spins), jnp.sum(cluster, dtype=jnp.int32)


@functools.cache
def wolff(num_clusters: int = 1) -> Sampler:
    """Wolff single-cluster sampler for :class:`jaxphys.models.Ising` at zero field.

    Algorithm and proof of exactness in the module docstring (Wolff, PRL 62, 361 (1989)):
    grow a cluster from a random seed through satisfied bonds, each joined with probability
    ``p_add = 1 - exp(-2 beta |J|)``, and flip it. Works in any dimension, with periodic or
    open boundaries, for ``J > 0``, ``J < 0`` (antiferromagnet: clusters of anti-aligned
    neighbours, the sublattice-gauge image of Wolff's rule) and ``J = 0``.

    Args:
        num_clusters: cluster flips per ``step`` (a positive int). Near the critical point one
            cluster flips ``~ N <m^2>`` spins, so ``N / (N <m^2>)`` clusters are about one sweep.

    Returns:
        ``Sampler(init, step)`` (cached: equal arguments give the same object, so ``jit``
        compiles once):

        - ``init(model, spins) -> SpinState(spins, status)``; ``spins`` int8 +-1 of
          ``model.shape``.
        - ``step(key, state, model, beta) -> (SpinState, ClusterInfo)``: ``num_clusters``
          cluster flips; ``ClusterInfo.cluster_size`` (mean size of the flipped clusters, in
          spins, default float dtype) and ``acceptance_rate = cluster_size / N``.

        Status bits (set when the value is only known at run time): ``INVALID_PARAMETER`` for a
        nonzero field (the spins are then left unchanged) or a negative/NaN ``beta``; ``NAN``
        for a NaN/inf coupling or field.

    Raises:
        TypeError: ``num_clusters`` not an int; the model is not an ``Ising`` lattice; spins
            not int8.
        ValueError: ``num_clusters < 1``; a concrete nonzero field ``h`` (Wolff needs
            ``h = 0``); concrete ``beta`` negative, NaN or inf; spins of the wrong shape or not
            +-1.
    """
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, int):
        raise TypeError(f"num_clusters must be a positive int, got {num_clusters!r}")
    if num_clusters < 1:
        raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")

    def init(model: Ising, spins: Spins) -> SpinState:
        _check_model(model)
        model.check_spins(spins)
        return SpinState(spins=spins, status=_parameter_status(model))

    def step(key: PRNGKey, state: SpinState, model: Ising, beta) -> tuple[SpinState, ClusterInfo]:
        _check_model(model)
        beta = check_beta(beta)
        # expm1 keeps p_add accurate for small beta |J|, where 1 - exp(.) would cancel.
        p_add = -jnp.expm1(-2.0 * beta * jnp.abs(model.J.astype(beta.dtype)))

        def one_cluster(spins, key):
            return _flip_cluster(key, spins, model, p_add)

        spins, sizes = jax.lax.scan(one_cluster, state.spins, jax.random.split(key, num_clusters))
        status = state.status | beta_status(beta) | _parameter_status(model)
        wrong_field = jnp.any(model.h != 0)
        spins = jnp.where(wrong_field, state.spins, spins)
        cluster_size = jnp.mean(sizes.astype(float_dtype()))
        info = ClusterInfo(cluster_size=cluster_size, acceptance_rate=cluster_size / state.spins.size)
        return SpinState(spins=spins, status=status), info

    return Sampler(init=init, step=step)
