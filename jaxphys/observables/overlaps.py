"""Spin-glass observables: replica overlaps, P(q), Edwards-Anderson moments, ultrametricity.

Two configurations ("replicas") ``s^a``, ``s^b`` of the same N spins have the overlap

    q_ab = (1/N) sum_i s^a_i s^b_i          in {-1, -1 + 2/N, ..., 1}

(Edwards & Anderson, J. Phys. F 5, 965 (1975); Parisi, PRL 50, 1946 (1983)). For two
independent thermal replicas of one disorder sample,

    <q^2> = (1/N^2) sum_ij <s_i s_j>^2,

the spin-glass susceptibility is ``chi_SG = N <q^2>`` and the Binder ratio of Bhatt & Young
(PRL 54, 924 (1985)) is ``g = (1/2)(3 - <q^4>/<q^2>^2)``: 0 when q is Gaussian (paramagnet,
N -> infinity), 1 when q = +-q_0 (a single pair of states). The Mattis overlaps
``m_mu = xi^mu . s / N`` measure retrieval of patterns (Hopfield, archetypes; Agliari et al.
arXiv:2109.00454). The link overlap ``q_l = (1/N_b) sum_<ij> s^a_i s^a_j s^b_i s^b_j`` is the
bond analogue of q on hypercubic lattices.

Ultrametricity (Mezard, Parisi, Sourlas, Toulouse, Virasoro, PRL 52, 1156 (1984)): in a
replica-symmetry-broken phase the states form a tree, so in every triplet of states the two
smallest overlaps are equal. :func:`ultrametricity_statistic` measures the violation
``q_mid - q_min`` of sorted triplet overlaps, the test used for bipartite SK models and RBMs by
Hartnett, Parker & Geist (arXiv:1803.06442) and, in terms of Hamming distances
``d = (1 - q)/2``, by Katzgraber & Hartmann (PRL 102, 037207 (2009)).

``mc.run`` measures observables of ONE chain; :func:`pair_sampler` turns any sampler into one
that steps two independent replicas (spins ``(2, *shape)``), and :data:`PAIR_OBSERVABLES`
(``q``, ``q2``, ``q4``, ``abs_q``) measures their overlap, so

    mc.run(key, pair_sampler(mc.metropolis()), model, beta, n, observables=PAIR_OBSERVABLES)

estimates ``<q^2>`` with autocorrelation-aware error bars.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..lattice import validate_shape
from ..mc.base import Sampler
from ..models.base import float_dtype, is_concrete


def _as_spins(x, name: str) -> Array:
    """``x`` as an integer or float array; bool and complex inputs raise ``TypeError``."""
    arr = jnp.asarray(x)
    if arr.dtype == jnp.bool_:
        raise TypeError(f"{name} must hold +-1 values, got a bool array; convert with 2 * {name}.astype(jnp.int8) - 1")
    if not (jnp.issubdtype(arr.dtype, jnp.integer) or jnp.issubdtype(arr.dtype, jnp.floating)):
        raise TypeError(f"{name} must be a real (int8 or float) array of +-1 values, got dtype {arr.dtype}")
    return arr


def _dot(a: Array, b: Array, axes) -> Array:
    """Tensor contraction, exact in int32 for integer spins (float32 would lose +-1 sums above 2^24)."""
    if jnp.issubdtype(a.dtype, jnp.integer) and jnp.issubdtype(b.dtype, jnp.integer):
        return jnp.tensordot(a.astype(jnp.int32), b.astype(jnp.int32), axes=axes).astype(float_dtype())
    dtype = jnp.promote_types(jnp.promote_types(a.dtype, b.dtype), float_dtype())
    return jnp.tensordot(a.astype(dtype), b.astype(dtype), axes=axes)


def replica_overlap(spins_a, spins_b) -> Float[Array, ""]:
    """Overlap ``q_ab = (1/N) sum_i s^a_i s^b_i`` of two configurations.

    Args:
        spins_a, spins_b: configurations of the same shape (any shape, N = total size), int8
            +-1 (or float, e.g. magnetizations ``<s_i>``, which gives ``(1/N) sum_i m^a_i m^b_i``).

    Returns:
        Scalar in the default float dtype; exact (int32 sum) for integer spins.

    Raises:
        ValueError: the shapes differ or the configurations are empty.
        TypeError: bool or complex dtype.
    """
    a, b = _as_spins(spins_a, "spins_a"), _as_spins(spins_b, "spins_b")
    if a.shape != b.shape:
        raise ValueError(f"replica_overlap needs configurations of the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("replica_overlap needs at least one spin, got empty configurations")
    return _dot(a.reshape(-1), b.reshape(-1), 1) / a.size


def overlap_matrix(spins) -> Float[Array, "R R"]:
    """All overlaps ``Q_ab = (1/N) s^a . s^b`` of a stack of ``R`` replicas.

    Args:
        spins: ``(R, *shape)`` with ``R >= 2`` replicas of ``N = prod(shape)`` spins.

    Returns:
        Symmetric ``(R, R)`` float matrix with unit diagonal for +-1 spins.

    Raises:
        ValueError: fewer than 2 replicas (``spins`` must have a leading replica axis).
        TypeError: bool or complex dtype.
    """
    s = _as_spins(spins, "spins")
    if s.ndim < 2 or s.shape[0] < 2:
        raise ValueError(f"overlap_matrix needs a stack of R >= 2 replicas, shape (R, *spin_shape); got shape {s.shape}")
    flat = s.reshape(s.shape[0], -1)
    return _dot(flat, flat, (1, 1)) / flat.shape[1]


def triplet_overlaps(spins) -> Float[Array, "T 3"]:
    """Overlaps ``(q_ab, q_ac, q_bc)`` of every triplet ``a < b < c`` of ``R >= 3`` replicas.

    Args:
        spins: ``(R, *shape)`` stack of replicas.

    Returns:
        ``(R choose 3, 3)`` float array, triplets in lexicographic order of ``(a, b, c)``; the
        input of :func:`ultrametricity_statistic`.

    Raises:
        ValueError: fewer than 3 replicas.
    """
    s = _as_spins(spins, "spins")
    if s.ndim < 2 or s.shape[0] < 3:
        raise ValueError(f"triplet_overlaps needs R >= 3 replicas, shape (R, *spin_shape); got shape {s.shape}")
    q = overlap_matrix(s)
    a, b, c = (np.array(v, dtype=np.int32) for v in zip(*itertools.combinations(range(s.shape[0]), 3)))
    return jnp.stack([q[a, b], q[a, c], q[b, c]], axis=-1)


class OverlapHistogram(NamedTuple):
    """Histogram of overlaps.

    Attributes:
        q: bin centres (the grid points ``-1 + 2k/N`` for the natural grid), shape ``(B,)``.
        probability: fraction of the samples in each bin, shape ``(B,)``; sums to 1 when every
            sample lies in the binned range.
        density: ``probability / bin width``, an estimate of the density P(q) (integrates to 1).
    """

    q: Float[Array, " B"]
    probability: Float[Array, " B"]
    density: Float[Array, " B"]


def overlap_histogram(q_samples, num_spins: int, *, bins=None, symmetrize: bool = False) -> OverlapHistogram:
    """Normalised histogram P(q) of overlap samples.

    With ``bins=None`` the bins are the natural grid of an N-spin overlap,
    ``q_k = -1 + 2k/N``, k = 0..N, each of width 2/N centred on its grid point, so every
    exact overlap falls in its own bin (float round-off included).

    Args:
        q_samples: overlaps, any shape (flattened), e.g. a ``trace`` of ``q`` from ``mc.run``.
        num_spins: ``N`` (a Python int: it fixes the output shape).
        bins: ``None`` (natural grid), an int ``B`` (B equal bins on [-1, 1]), or increasing
            bin edges ``(B + 1,)``; the last bin includes its right edge.
        symmetrize: average P(q) and P(-q), as is usual for models symmetric under a global
            spin flip (h = 0). Needs bins symmetric about 0 (always true for the grid and int B).

    Returns:
        :class:`OverlapHistogram`. Samples outside the range (and NaN) are not counted, but
        the normalisation is by the total number of samples, so a missing mass shows them.

    Raises:
        ValueError: ``num_spins`` not a positive int; no samples; concrete samples outside
            [-1, 1] or NaN; edges not increasing, or not symmetric with ``symmetrize``.
    """
    if isinstance(num_spins, bool) or not isinstance(num_spins, (int, np.integer)) or num_spins < 1:
        raise ValueError(f"num_spins must be a positive int (the N of q = s.s'/N), got {num_spins!r}")
    q = jnp.asarray(q_samples)
    if not jnp.issubdtype(q.dtype, jnp.floating) and not jnp.issubdtype(q.dtype, jnp.integer):
        raise TypeError(f"q_samples must be real, got dtype {q.dtype}")
    q = q.reshape(-1).astype(float_dtype())
    if q.size == 0:
        raise ValueError("overlap_histogram needs at least one sample")
    if is_concrete(q):
        qn = np.asarray(q)
        if not np.all(np.isfinite(qn)):
            raise ValueError("q_samples contain NaN or infinity; check the run's status")
        if np.any(np.abs(qn) > 1 + 1e-5):
            raise ValueError(f"overlaps lie in [-1, 1]; got samples up to |q| = {np.max(np.abs(qn))}")
    n = int(num_spins)
    if bins is None:
        # Nearest grid point: q = 1 - 2d/N with d the Hamming distance, so k = N - d.
        index = jnp.round((q + 1.0) * (n / 2.0)).astype(jnp.int32)
        num_bins = n + 1
        centres = -1.0 + 2.0 * jnp.arange(num_bins, dtype=float_dtype()) / n
        widths = jnp.full((num_bins,), 2.0 / n, float_dtype())
    else:
        if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
            if bins < 1:
                raise ValueError(f"bins must be >= 1, got {bins}")
            edges = jnp.linspace(-1.0, 1.0, int(bins) + 1, dtype=float_dtype())
        else:
            edges = jnp.asarray(bins, float_dtype())
            if edges.ndim != 1 or edges.shape[0] < 2:
                raise ValueError(f"bins must be None, an int, or a 1-d array of >= 2 edges; got shape {edges.shape}")
            if is_concrete(edges):
                en = np.asarray(edges)
                if not np.all(np.diff(en) > 0):
                    raise ValueError("bin edges must be strictly increasing")
                if symmetrize and not np.allclose(en, -en[::-1], atol=1e-6):
                    raise ValueError("symmetrize=True needs bin edges symmetric about 0 (edges == -edges[::-1])")
        num_bins = edges.shape[0] - 1
        index = jnp.searchsorted(edges, q, side="right") - 1
        index = jnp.where(q == edges[-1], num_bins - 1, index)
        centres = 0.5 * (edges[1:] + edges[:-1])
        widths = edges[1:] - edges[:-1]
    inside = jnp.isfinite(q) & (index >= 0) & (index < num_bins)
    counts = jnp.zeros((num_bins,), float_dtype()).at[jnp.clip(index, 0, num_bins - 1)].add(inside.astype(float_dtype()))
    probability = counts / q.size
    if symmetrize:
        probability = 0.5 * (probability + probability[::-1])
    return OverlapHistogram(q=centres, probability=probability, density=probability / widths)


class OverlapMoments(NamedTuple):
    """Sample moments of the overlap: ``abs_q = <|q|>``, ``q2 = <q^2>``, ``q4 = <q^4>``."""

    abs_q: Float[Array, "..."]
    q2: Float[Array, "..."]
    q4: Float[Array, "..."]


def edwards_anderson(q_samples, axis: int | tuple[int, ...] | None = None) -> OverlapMoments:
    """Finite-size estimators of the Edwards-Anderson order parameter from overlap samples.

    ``q_EA`` is the overlap of a state with itself; at finite N it is estimated by ``<|q|>``
    or ``sqrt(<q^2>)`` of two independent replicas (both vanish as N -> infinity in the
    paramagnet, as ``N^{-1/2}``). With replica symmetry breaking ``q_EA`` is the upper edge of
    the support of P(q) and these moments average over the whole P(q): use
    :func:`overlap_histogram` to see it.

    Args:
        q_samples: overlap samples (e.g. a trace of ``q``), any shape.
        axis: axes to average over; ``None`` (default) averages over all.

    Returns:
        :class:`OverlapMoments` ``(<|q|>, <q^2>, <q^4>)`` in the default float dtype.

    Raises:
        ValueError: no samples.
    """
    q = jnp.asarray(q_samples)
    if q.size == 0:
        raise ValueError("edwards_anderson needs at least one overlap sample")
    q = q.astype(jnp.promote_types(q.dtype, float_dtype()))
    q2 = q * q
    return OverlapMoments(abs_q=jnp.mean(jnp.abs(q), axis=axis), q2=jnp.mean(q2, axis=axis), q4=jnp.mean(q2 * q2, axis=axis))


def spin_glass_susceptibility(q2_mean, num_spins: int) -> Float[Array, "..."]:
    """``chi_SG = N <q^2> = (1/N) sum_ij <s_i s_j>^2`` (h = 0; Binder & Young, RMP 58, 801 (1986)).

    Args:
        q2_mean: ``<q^2>`` (a disorder average ``[<q^2>]`` for the usual finite-size scaling).
        num_spins: N.

    Raises:
        ValueError: ``num_spins`` not a positive int.
    """
    if isinstance(num_spins, bool) or not isinstance(num_spins, (int, np.integer)) or num_spins < 1:
        raise ValueError(f"num_spins must be a positive int, got {num_spins!r}")
    return num_spins * jnp.asarray(q2_mean, jnp.promote_types(jnp.asarray(q2_mean).dtype, float_dtype()))


def spin_glass_binder(q2_mean, q4_mean) -> Float[Array, "..."]:
    """Bhatt-Young Binder ratio ``g = (1/2)(3 - <q^4> / <q^2>^2)`` (PRL 54, 924 (1985)).

    Convention: g = 0 for Gaussian q (paramagnet as N -> infinity; ``1/N`` exactly at
    beta = 0 for N spins), g = 1 for q = +-q_0 (one pair of states). For disordered systems
    pass disorder averages of each moment, ``[<q^4>]`` and ``[<q^2>]``, then take the ratio
    (Bhatt & Young), not the average of per-sample ratios. This is ``3/2`` times the
    magnetic convention ``1 - <m^4>/(3<m^2>^2)`` of ``thermodynamic.binder_cumulant``.
    """
    q2 = jnp.asarray(q2_mean)
    q4 = jnp.asarray(q4_mean)
    dtype = jnp.promote_types(jnp.promote_types(q2.dtype, q4.dtype), float_dtype())
    return 0.5 * (3.0 - q4.astype(dtype) / q2.astype(dtype) ** 2)


def mattis_overlaps(spins, patterns) -> Float[Array, " P"]:
    """Mattis overlaps ``m_mu = (1/N) sum_i xi^mu_i s_i`` of a configuration with P patterns.

    Mattis, Phys. Lett. A 56, 421 (1976); the retrieval order parameters of the Hopfield model
    (Amit, Gutfreund & Sompolinsky 1985) and of archetype/example overlaps (Agliari et al.
    arXiv:2109.00454).

    Args:
        spins: one configuration, any shape (N = its size), int8 +-1 or float.
        patterns: ``(P, *spins.shape)`` or ``(P, N)`` (flattened in C order), +-1 or float.

    Returns:
        ``(P,)`` float; exact (int32 sums) for integer inputs.

    Raises:
        ValueError: the pattern length does not match N, or no patterns.
        TypeError: bool or complex dtype.
    """
    s = _as_spins(spins, "spins")
    xi = _as_spins(patterns, "patterns")
    n = s.size
    if xi.ndim < 1 or xi.shape[0] < 1:
        raise ValueError(f"patterns must have shape (P, N) with P >= 1, got {xi.shape}")
    if xi.shape[1:] != s.shape and xi.shape[1:] != (n,):
        raise ValueError(f"patterns have shape {xi.shape} but spins have shape {s.shape}: expected (P, {n}) or (P, *{s.shape})")
    if n == 0:
        raise ValueError("mattis_overlaps needs at least one spin")
    return _dot(xi.reshape(xi.shape[0], n), s.reshape(n), 1) / n


def link_overlap(spins_a, spins_b, *, periodic: bool = True) -> Float[Array, ""]:
    """Link (bond) overlap ``q_l = (1/N_b) sum_<ij> s^a_i s^a_j s^b_i s^b_j`` on a hypercubic lattice.

    Bonds are the nearest-neighbour bonds of :class:`jaxphys.models.Ising` with the same
    convention (each bond once, ``N_b = d N`` with periodic boundaries; a periodic side of
    length 2 counts its bond twice, as the Ising energy does), so ``q_l = 1`` for identical
    replicas and ``<q_l> = (1/N_b) sum_<ij> <s_i s_j>^2`` for independent ones. Used to
    distinguish RSB from droplet pictures (Katzgraber, Palassini & Young, PRB 63, 184422 (2001)).

    Args:
        spins_a, spins_b: configurations of the lattice shape ``(L_1, ..., L_d)``, every side >= 2.
        periodic: periodic (default) or open boundaries, as the model.

    Returns:
        Scalar float.

    Raises:
        ValueError: different shapes, or a side < 2.
    """
    a, b = _as_spins(spins_a, "spins_a"), _as_spins(spins_b, "spins_b")
    if a.shape != b.shape:
        raise ValueError(f"link_overlap needs configurations of the same shape, got {a.shape} and {b.shape}")
    shape = validate_shape(a.shape, periodic=periodic)
    # q_l is the nearest-neighbour correlation of the product field t_i = s^a_i s^b_i.
    if jnp.issubdtype(a.dtype, jnp.integer) and jnp.issubdtype(b.dtype, jnp.integer):
        t = a.astype(jnp.int32) * b.astype(jnp.int32)
    else:
        t = a.astype(float_dtype()) * b.astype(float_dtype())
    total = jnp.zeros((), t.dtype)
    num_bonds = 0
    n = a.size
    for axis, length in enumerate(shape):
        if periodic:
            total = total + jnp.sum(t * jnp.roll(t, -1, axis=axis))
            num_bonds += n
        else:
            lo = jax.lax.slice_in_dim(t, 0, length - 1, axis=axis)
            hi = jax.lax.slice_in_dim(t, 1, length, axis=axis)
            total = total + jnp.sum(lo * hi)
            num_bonds += n // length * (length - 1)
    return total.astype(float_dtype()) / num_bonds


class Ultrametricity(NamedTuple):
    """Result of :func:`ultrametricity_statistic` (T triplets).

    Attributes:
        difference: ``q_mid - q_min`` of every triplet, shape ``(T,)`` (its histogram is the
            distribution to plot; it tends to a delta at 0 for ultrametric states).
        mean: mean of ``difference`` (0 exactly iff every triplet is ultrametric).
        scaled_mean: ``mean / width`` with ``width`` the standard deviation of all ``3T`` input
            overlaps (a dimensionless K; 0 when all overlaps are equal). For independent
            random states (q approximately Gaussian) it is ``3 / (2 sqrt(pi)) = 0.846``.
        correlation: Pearson correlation of ``q_min`` and ``q_mid`` over triplets; 1 for
            ultrametric states, NaN when either is constant over the triplets.
    """

    difference: Float[Array, " T"]
    mean: Float[Array, ""]
    scaled_mean: Float[Array, ""]
    correlation: Float[Array, ""]


def ultrametricity_statistic(overlap_triplets, *, absolute: bool = False) -> Ultrametricity:
    """The "two smallest overlaps are equal" test of ultrametricity on triplets of states.

    Each triplet ``(q_12, q_13, q_23)`` is sorted into ``q_min <= q_mid <= q_max``; ultrametric
    states (a tree of states, Parisi RSB) have ``q_mid = q_min`` in every triplet (the two
    largest Hamming distances ``d = (1 - q)/2`` are equal: isosceles triangles). Returns the
    distribution of ``q_mid - q_min >= 0``, its mean, the mean scaled by the spread of the
    overlaps (cf. ``K = (d_max - d_med) / width`` of Katzgraber & Hartmann, PRL 102, 037207
    (2009)) and the correlation of ``q_min`` with ``q_mid`` (as in Hartnett, Parker & Geist,
    arXiv:1803.06442, where the two smallest overlaps become equal as N grows).

    Args:
        overlap_triplets: ``(..., 3)`` overlaps of triplets (e.g. :func:`triplet_overlaps`),
            leading axes flattened into T >= 1 triplets.
        absolute: use ``|q|`` (removes the global spin-flip symmetry of h = 0 models, whose
            replicas may sit in flipped copies of a state). Default: signed q.

    Returns:
        :class:`Ultrametricity`.

    Raises:
        ValueError: the last axis is not 3, or there are no triplets.
    """
    q = jnp.asarray(overlap_triplets)
    if q.ndim < 1 or q.shape[-1] != 3:
        raise ValueError(f"overlap_triplets must have shape (..., 3) (q_12, q_13, q_23), got {q.shape}")
    if q.size == 0:
        raise ValueError("ultrametricity_statistic needs at least one triplet")
    q = q.reshape(-1, 3).astype(jnp.promote_types(q.dtype, float_dtype()))
    if absolute:
        q = jnp.abs(q)
    q = jnp.sort(q, axis=-1)
    q_min, q_mid = q[:, 0], q[:, 1]
    difference = q_mid - q_min
    mean = jnp.mean(difference)
    width = jnp.std(q)
    # All overlaps equal: every triangle is equilateral, hence ultrametric, and K = 0.
    scaled_mean = jnp.where(width > 0, mean / jnp.where(width > 0, width, 1.0), 0.0)
    dmin, dmid = q_min - jnp.mean(q_min), q_mid - jnp.mean(q_mid)
    correlation = jnp.mean(dmin * dmid) / jnp.sqrt(jnp.mean(dmin**2) * jnp.mean(dmid**2))
    return Ultrametricity(difference=difference, mean=mean, scaled_mean=scaled_mean, correlation=correlation)


# ---------------------------------------------------------------------------------------------
# Two replicas in one chain, for mc.run


class PairState(NamedTuple):
    """State of :func:`pair_sampler`.

    ``replicas``: the inner sampler's state with a leading axis of length 2 on every leaf.
    ``status``: int32 bitmask, OR of both replicas' status words (shape ``()``).
    ``spins`` (property): the two configurations, int8 ``(2, *shape)``.
    """

    replicas: Any
    status: Int[Array, ""]

    @property
    def spins(self) -> Array:
        return self.replicas.spins


# Any fixed seed: the second replica's start only needs to be a well-mixed function of the first.
_SECOND_REPLICA_SEED = 0x5EC0D


def _second_replica(spins: Array) -> Array:
    """A pseudo-random start for replica 2, drawn with a key derived from replica 1's spins.

    The spins are packed 32 to a uint32 word and folded into a threefry key one word at a time,
    so independent random starts of replica 1 (as ``mc.run`` draws them) give independent-
    looking starts of replica 2, without the caller passing a key to ``init``.
    """
    bits = (spins.reshape(-1) > 0).astype(jnp.uint32)
    pad = (-bits.shape[0]) % 32
    words = jnp.sum(jnp.pad(bits, (0, pad)).reshape(-1, 32) << jnp.arange(32, dtype=jnp.uint32), axis=1, dtype=jnp.uint32)
    key = jax.lax.fori_loop(0, words.shape[0], lambda i, k: jax.random.fold_in(k, words[i]), jax.random.key(_SECOND_REPLICA_SEED))
    return jnp.where(jax.random.bernoulli(key, 0.5, spins.shape), 1, -1).astype(jnp.int8)


@functools.cache
def pair_sampler(sampler: Sampler) -> Sampler:
    """Run two independent replicas of ``sampler`` in one chain, for two-replica observables.

    ``init(model, spins)`` accepts either a pair ``(2, *shape)`` (both configurations given) or
    ONE configuration of the model's shape (what ``mc.run`` passes): replica 1 starts there and
    replica 2 from a uniformly pseudo-random configuration drawn with a threefry key derived
    from replica 1's spins (so independent random starts give independent pairs); burn-in must
    forget the start as usual. ``step(key, state,
    model, beta)`` splits ``key`` in two and does one step of ``sampler`` on each replica
    (``jax.vmap`` over the replica axis), so the replicas are independent Markov chains with the
    same model and beta.

    Args:
        sampler: any ``Sampler`` whose state has ``spins`` and ``status`` (metropolis, heatbath,
            checkerboard, wolff, ...).

    Returns:
        ``Sampler`` with state :class:`PairState` (``spins`` of shape ``(2, *shape)``) and Info of
        ``sampler`` stacked along a leading axis of length 2. Cached: equal samplers give the
        same object (``jit`` compiles once).

    Raises:
        TypeError: ``sampler`` is not a ``Sampler``. ``init`` raises ``ValueError``/``TypeError``
        for spins of neither shape, wrong dtype, or values other than +-1.

    Note: ``mc.run(..., x0=...)`` validates ``x0`` with the model, so pass ONE configuration
    there; the default ``observables.STANDARD`` do not accept pairs: pass
    ``observables=PAIR_OBSERVABLES`` (or wrap one-replica observables with :func:`replica_mean`).
    """
    if not isinstance(sampler, Sampler):
        raise TypeError(f"pair_sampler needs a jaxphys.mc.Sampler (e.g. mc.metropolis()), got {type(sampler).__name__}")

    def init(model, spins) -> PairState:
        shape = tuple(model.spin_shape)
        spins_shape = tuple(getattr(spins, "shape", ()))
        if spins_shape == (2, *shape):
            first, second = spins[0], spins[1]
            model.check_spins(first)
            model.check_spins(second)
        elif spins_shape == shape:
            model.check_spins(spins)
            first, second = spins, _second_replica(jnp.asarray(spins))
        else:
            raise ValueError(
                f"pair_sampler.init needs spins of shape (2, *{shape}) (two replicas) or {shape} (one; the "
                f"second is drawn from it), got {spins_shape}"
            )
        states = [sampler.init(model, first), sampler.init(model, second)]
        replicas = jax.tree.map(lambda x, y: jnp.stack([x, y]), *states)
        return PairState(replicas=replicas, status=states[0].status | states[1].status)

    def step(key, state: PairState, model, beta):
        keys = jax.random.split(key, 2)
        replicas, info = jax.vmap(sampler.step, in_axes=(0, 0, None, None))(keys, state.replicas, model, beta)
        status = state.status | replicas.status[0] | replicas.status[1]
        return PairState(replicas=replicas, status=status), info

    return Sampler(init=init, step=step)


def _check_pair(spins) -> None:
    if jnp.ndim(spins) < 2 or jnp.shape(spins)[0] != 2:
        raise ValueError(f"two-replica observables need spins of shape (2, *shape) from pair_sampler, got {jnp.shape(spins)}")


def q(model, spins) -> Float[Array, ""]:
    """Overlap ``q = s^1 . s^2 / N`` of a replica pair ``(2, *shape)`` (``model`` unused)."""
    _check_pair(spins)
    return replica_overlap(spins[0], spins[1])


def q2(model, spins) -> Float[Array, ""]:
    """``q^2`` of a replica pair; ``<q^2> = (1/N^2) sum_ij <s_i s_j>^2``."""
    return q(model, spins) ** 2


def q4(model, spins) -> Float[Array, ""]:
    """``q^4`` of a replica pair (for :func:`spin_glass_binder`)."""
    return q(model, spins) ** 4


def abs_q(model, spins) -> Float[Array, ""]:
    """``|q|`` of a replica pair."""
    return jnp.abs(q(model, spins))


PAIR_OBSERVABLES: dict[str, Callable] = {"q": q, "q2": q2, "q4": q4, "abs_q": abs_q}
"""Two-replica observables for ``mc.run`` with :func:`pair_sampler`: name -> ``(model, pair) -> scalar``."""


def replica_mean(observable: Callable) -> Callable:
    """Turn a one-replica observable ``(model, spins) -> scalar`` into one on pairs.

    Returns ``(model, pair) -> (O(s^1) + O(s^2)) / 2``, e.g.
    ``replica_mean(thermodynamic.energy)`` next to :data:`PAIR_OBSERVABLES` in one ``mc.run``.
    """

    def on_pair(model, spins):
        _check_pair(spins)
        return 0.5 * (observable(model, spins[0]) + observable(model, spins[1]))

    on_pair.__name__ = f"replica_mean_{getattr(observable, '__name__', 'observable')}"
    return on_pair
