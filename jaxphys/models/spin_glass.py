"""Spin-glass energies: Sherrington-Kirkpatrick, Curie-Weiss, Edwards-Anderson, bipartite SK, p-spin.

Every model follows the spin-model protocol of :mod:`jaxphys.models.base` (energy linear in each
spin, ``dE_i = 2 s_i f_i``), so the generic samplers (:func:`jaxphys.mc.metropolis`,
:func:`jaxphys.mc.heatbath`, :func:`jaxphys.mc.run`) and exact enumeration work unchanged.

    SK            E = -sum_{i<j} J_ij s_i s_j,  J_ij ~ N(J0/N, J^2/N)
                  (Sherrington & Kirkpatrick, PRL 35, 1792 (1975))
    CurieWeiss    E = -sum_{i<j} (J/N) s_i s_j - h sum_i s_i
                  (the convention of :func:`jaxphys.exact.closed_forms.curie_weiss`)
    EdwardsAnderson  E = -sum_x sum_k J_{k,x} s_x s_{x+e_k} - sum_x h_x s_x on a hypercubic
                  lattice, one coupling per bond (Edwards & Anderson, J. Phys. F 5, 965 (1975))
    BipartiteSK   E = -sum_{i<=N1, j<=N2} W_ij v_i h_j,  W_ij ~ N(0, 1/N), N = N1 + N2
                  (Hartnett, Parker & Geist, arXiv:1803.06442: the random RBM)
    PSpin         E = -sum_{i<j<k} J_ijk s_i s_j s_k,  J_ijk ~ N(0, J^2 p! / (2 N^(p-1))), p = 3
                  (Gardner, Nucl. Phys. B 257, 747 (1985); Huang & Goudarzi 2018, random active path model)
    DilutedPSpin  E = -sum_{a=1..M} J_a prod_{i in a} s_i on a random p-uniform hypergraph

Disorder replicas: ``eqx.filter_vmap(lambda k: SK(64, key=k))(jax.random.split(key, R))``.
``SK`` and ``CurieWeiss`` are functions returning :class:`~jaxphys.models.pairwise.PairwiseIsing`
(a dense pairwise model needs nothing more); the others are ``eqx.Module`` s whose couplings
are array leaves and whose sizes are static.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..lattice import validate_shape
from ..typing import PRNGKey, Spins
from .base import SpinModel, as_parameter, float_dtype
from .pairwise import PairwiseIsing

_BONDS = ("gaussian", "pm")


def _check_size(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a Python int (a static size), got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_key(key) -> None:
    """Raise unless ``key`` is one typed PRNG key (``jax.random.key``), possibly a tracer."""
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(
            "key must be a typed PRNG key made with jax.random.key(seed), got "
            f"{type(key).__name__} of dtype {getattr(key, 'dtype', None)}; a legacy uint32 key from "
            "jax.random.PRNGKey can be converted with jax.random.wrap_key_data(key)"
        )
    if key.shape != ():
        raise ValueError(
            f"key must be a single key (shape ()), got shape {key.shape}; for disorder replicas use "
            "eqx.filter_vmap(lambda k: Model(..., key=k))(jax.random.split(key, R))"
        )


def _check_bonds(bonds: str) -> str:
    if bonds not in _BONDS:
        raise ValueError(f"bonds must be one of {_BONDS} (Gaussian N(0, J^2) or +-J with equal probability), got {bonds!r}")
    return bonds


def _random_bonds(key, shape: tuple[int, ...], bonds: str, J: Array) -> Array:
    if bonds == "gaussian":
        return J * jax.random.normal(key, shape, float_dtype())
    return J * jnp.where(jax.random.bernoulli(key, 0.5, shape), 1.0, -1.0).astype(float_dtype())


def _scalar_parameter(value, name: str) -> Array:
    arr = as_parameter(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}; use eqx.filter_vmap for many values")
    return arr


# --------------------------------------------------------------------------------------------
# Dense pairwise models: functions returning PairwiseIsing
# --------------------------------------------------------------------------------------------


def SK(num_spins: int, *, key: PRNGKey, J=1.0, J0=0.0) -> PairwiseIsing:
    """Sherrington-Kirkpatrick spin glass: ``E = -sum_{i<j} J_ij s_i s_j``, ``J_ij ~ N(J0/N, J^2/N)``.

    The couplings ``J_ij`` (i < j) are independent; the matrix is symmetric with zero diagonal,
    so ``E = -1/2 s.J.s`` as in :class:`PairwiseIsing`. With ``J0 = 0`` the model is paramagnetic
    for ``beta J < 1``, where the quenched energy per spin is the annealed one, ``-beta J^2 / 2``.

    A function rather than a Module: the result is a plain ``PairwiseIsing`` (couplings ``(N, N)``,
    fields ``(N,)`` zero), so every tool written for dense pairwise models applies. Disorder
    replicas: ``eqx.filter_vmap(lambda k: SK(N, key=k))(keys)``.

    Args:
        num_spins: ``N >= 2`` (static int).
        key: typed PRNG key (``jax.random.key``).
        J: standard deviation scale (scalar; the variance is ``J^2 / N``).
        J0: mean scale (scalar; the mean is ``J0 / N``, ferromagnetic bias).

    Returns:
        ``PairwiseIsing`` with ``J`` of shape ``(N, N)`` in the default float dtype.

    Raises:
        TypeError: non-int ``num_spins``, untyped (uint32) or non-key ``key``.
        ValueError: ``num_spins < 2``, a batch of keys, NaN/inf or non-scalar ``J``/``J0``.
    """
    n = _check_size(num_spins, "num_spins", 2)
    _check_key(key)
    J, J0 = _scalar_parameter(J, "J"), _scalar_parameter(J0, "J0")
    z = jnp.triu(jax.random.normal(key, (n, n), float_dtype()), 1)
    off_diagonal = 1.0 - jnp.eye(n, dtype=float_dtype())
    couplings = (J / math.sqrt(n)) * (z + z.T) + (J0 / n) * off_diagonal
    return PairwiseIsing(couplings)


def CurieWeiss(num_spins: int, J=1.0, h=0.0) -> PairwiseIsing:
    """Curie-Weiss (fully connected) Ising model, ``J_ij = J / N`` for ``i != j``:

        E = -(J / (2N)) (M^2 - N) - h M,     M = sum_i s_i,

    the convention of :func:`jaxphys.exact.closed_forms.curie_weiss` (mean-field ``T_c = J``).

    Args:
        num_spins: ``N >= 2`` (static int).
        J: coupling (scalar, any sign). h: uniform field (scalar) or one per spin ``(N,)``.

    Returns:
        ``PairwiseIsing`` with ``J`` of shape ``(N, N)``, ``h`` of shape ``(N,)``.

    Raises:
        TypeError: non-int ``num_spins``. ValueError: ``num_spins < 2``, NaN/inf or non-scalar ``J``.
    """
    n = _check_size(num_spins, "num_spins", 2)
    J = _scalar_parameter(J, "J")
    return PairwiseIsing((J / n) * (1.0 - jnp.eye(n, dtype=float_dtype())), h=h)


# --------------------------------------------------------------------------------------------
# Edwards-Anderson model on a hypercubic lattice
# --------------------------------------------------------------------------------------------


def _open_bond_mask(shape: tuple[int, ...]) -> np.ndarray:
    """``(d, *shape)`` float mask for open boundaries: 0 where ``x + e_k`` leaves the lattice."""
    mask = np.ones((len(shape), *shape))
    for axis, length in enumerate(shape):
        index = [axis] + [slice(None)] * len(shape)
        index[1 + axis] = length - 1
        mask[tuple(index)] = 0.0
    return mask


class EdwardsAnderson(SpinModel):
    """Edwards-Anderson spin glass on a ``shape = (L_1, ..., L_d)`` hypercubic lattice.

        E(s) = -sum_x sum_k J_{k,x} s_x s_{x + e_k} - sum_x h_x s_x,

    one coupling per bond: ``couplings[k, x]`` joins site ``x`` to ``x + e_k`` (its +1 neighbour
    along axis ``k``). Local field ``f_x = sum_k (J_{k,x} s_{x+e_k} + J_{k,x-e_k} s_{x-e_k}) + h_x``.
    With open boundaries the bonds leaving the lattice do not exist: their entries are zero
    (and are ignored if set later, e.g. with ``eqx.tree_at``). With a periodic side of length 2,
    ``x + e_k`` and ``x - e_k`` coincide and the two bonds joining them both count (as in
    :class:`~jaxphys.models.ising.Ising`).

    Args:
        shape: lattice sides, each >= 2.
        key: typed PRNG key for the couplings.
        bonds: ``"gaussian"`` (``J_b ~ N(0, J^2)``) or ``"pm"`` (``J_b = +-J``, probability 1/2 each).
        J: coupling scale (scalar).
        h: field, scalar or array of ``shape``.
        periodic: periodic (default) or open boundaries.

    Attributes:
        couplings: ``(d, *shape)`` float array (leaf). h: scalar or ``shape`` (leaf).
        shape, periodic: static.

    Raises:
        TypeError: untyped key, bad ``shape``. ValueError: a side < 2, unknown ``bonds``,
        NaN/inf ``J``/``h``, ``h`` of the wrong shape, a batch of keys.
    """

    couplings: Float[Array, "d ..."]
    h: Float[Array, "..."]
    shape: tuple[int, ...] = eqx.field(static=True)
    periodic: bool = eqx.field(static=True)

    def __init__(self, shape, *, key: PRNGKey, bonds: str = "gaussian", J=1.0, h=0.0, periodic: bool = True):
        self.shape = validate_shape(shape, periodic=periodic)
        self.periodic = bool(periodic)
        _check_key(key)
        _check_bonds(bonds)
        J = _scalar_parameter(J, "J")
        raw = _random_bonds(key, (len(self.shape), *self.shape), bonds, J)
        self.couplings = raw if self.periodic else raw * _open_bond_mask(self.shape).astype(raw.dtype)
        self.h = as_parameter(h, "h", self.shape)

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def ndim(self) -> int:
        """Lattice dimension ``d``."""
        return len(self.shape)

    def _live_couplings(self) -> Array:
        if self.periodic:
            return self.couplings
        return self.couplings * _open_bond_mask(self.shape).astype(self.couplings.dtype)

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E(s) = -sum_{x,k} J_{k,x} s_x s_{x+e_k} - sum_x h_x s_x`` (scalar)."""
        s = spins.astype(self.couplings.dtype)
        couplings = self._live_couplings()
        bonds = sum(jnp.sum(couplings[k] * s * jnp.roll(s, -1, axis=k)) for k in range(self.ndim))
        return -bonds - jnp.sum(self.h * s)

    def local_field(self, spins: Spins) -> Float[Array, "..."]:
        """``f_x = sum_k (J_{k,x} s_{x+e_k} + J_{k,x-e_k} s_{x-e_k}) + h_x``, shape ``shape``."""
        s = spins.astype(self.couplings.dtype)
        couplings = self._live_couplings()
        field = jnp.zeros_like(s)
        for k in range(self.ndim):
            field = field + couplings[k] * jnp.roll(s, -1, axis=k) + jnp.roll(couplings[k] * s, 1, axis=k)
        return field + self.h

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """Local field of the site with flat C-order ``index`` in O(d) work."""
        coords = jnp.unravel_index(index, self.shape)
        flat = spins.reshape(-1)
        dtype = self.couplings.dtype
        total = jnp.zeros((), dtype)
        for k, length in enumerate(self.shape):
            bond_k = self.couplings[k].reshape(-1)
            forward, backward = list(coords), list(coords)
            forward[k] = (coords[k] + 1) % length
            backward[k] = (coords[k] - 1) % length
            fwd = jnp.ravel_multi_index(tuple(forward), self.shape, mode="wrap")
            bwd = jnp.ravel_multi_index(tuple(backward), self.shape, mode="wrap")
            term_fwd = bond_k[index] * flat[fwd].astype(dtype)
            term_bwd = bond_k[bwd] * flat[bwd].astype(dtype)
            if not self.periodic:
                # The bond to x+e_k is absent on the last layer, the one from x-e_k on the first.
                term_fwd = jnp.where(coords[k] < length - 1, term_fwd, 0.0)
                term_bwd = jnp.where(coords[k] > 0, term_bwd, 0.0)
            total = total + term_fwd + term_bwd
        h = jnp.broadcast_to(self.h, self.shape).reshape(-1)[index]
        return total + h


# --------------------------------------------------------------------------------------------
# Bipartite SK (random RBM with +-1 units)
# --------------------------------------------------------------------------------------------


class BipartiteSK(SpinModel):
    """Bipartite Sherrington-Kirkpatrick model (Hartnett, Parker & Geist, arXiv:1803.06442).

        E(v, h) = -sum_{i=1..N1} sum_{j=1..N2} W_ij v_i h_j,     W_ij ~ N(0, 1/N),  N = N1 + N2,

    two layers of +-1 units coupled only across layers. The configuration is ONE int8 vector of
    length ``N`` with the visible units first (``spins = concat(v, h)``), so the generic samplers
    and exact enumeration apply; :meth:`split` recovers ``(v, h)``. Local fields: ``W h`` on the
    visible units, ``W^T v`` on the hidden ones. With ``lam = N1 / N`` the paramagnetic phase
    extends to ``beta_c = [lam (1 - lam)]^(-1/4)``, where the energy per spin is
    ``-beta lam (1 - lam)`` (annealed = quenched).

    Args:
        num_visible: ``N1 >= 1`` (static int). num_hidden: ``N2 >= 1`` (static int).
        key: typed PRNG key.

    Attributes:
        W: ``(N1, N2)`` couplings (float leaf). num_visible, num_hidden: from ``W.shape``.

    Raises:
        TypeError: non-int sizes, untyped key. ValueError: sizes < 1, a batch of keys.
    """

    W: Float[Array, "n1 n2"]

    def __init__(self, num_visible: int, num_hidden: int, *, key: PRNGKey):
        n1 = _check_size(num_visible, "num_visible", 1)
        n2 = _check_size(num_hidden, "num_hidden", 1)
        _check_key(key)
        self.W = jax.random.normal(key, (n1, n2), float_dtype()) / math.sqrt(n1 + n2)

    @property
    def num_visible(self) -> int:
        """``N1``."""
        return self.W.shape[0]

    @property
    def num_hidden(self) -> int:
        """``N2``."""
        return self.W.shape[1]

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return (self.num_visible + self.num_hidden,)

    def split(self, spins: Spins) -> tuple[Array, Array]:
        """``(v, h)``: the first ``N1`` entries and the last ``N2`` of ``spins`` (last axis)."""
        return spins[..., : self.num_visible], spins[..., self.num_visible :]

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E = -v.W.h`` (scalar)."""
        v, h = self.split(spins.astype(self.W.dtype))
        return -(v @ (self.W @ h))

    def local_field(self, spins: Spins) -> Float[Array, " n"]:
        """``concat(W h, W^T v)``, shape ``(N1 + N2,)``."""
        v, h = self.split(spins.astype(self.W.dtype))
        return jnp.concatenate([self.W @ h, self.W.T @ v])

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """Field of one unit in ``O(N)``: a row of ``W`` times ``h`` or a column times ``v``."""
        v, h = self.split(spins.astype(self.W.dtype))
        row = jnp.minimum(index, self.num_visible - 1)
        col = jnp.clip(index - self.num_visible, 0, self.num_hidden - 1)
        return jnp.where(index < self.num_visible, self.W[row] @ h, self.W[:, col] @ v)


# --------------------------------------------------------------------------------------------
# p-spin models
# --------------------------------------------------------------------------------------------


class PSpin(SpinModel):
    """Dense (fully connected) Ising p-spin glass with ``p = 3``:

        E(s) = -sum_{i<j<k} J_ijk s_i s_j s_k,     J_ijk ~ N(0, J^2 p! / (2 N^(p-1))) = N(0, 3 J^2 / N^2),

    (Gardner 1985; the normalisation makes ``E`` extensive: ``E_J[E(s)^2] ~ J^2 N / 2``). The
    couplings are stored as the symmetric tensor ``J[i, j, k]`` (all six orderings equal,
    zero whenever two indices coincide), so the local field is

        f_i = sum_{j<k; j,k != i} J_ijk s_j s_k = 1/2 sum_{j,k} J[i, j, k] s_j s_k,

    ``E = -(1/3) sum_i s_i f_i``; ``local_field`` costs ``O(N^3)``, ``site_field`` ``O(N^2)``.
    Memory is ``N^3`` floats (N = 64: 1 MB in float32); only ``p = 3`` is implemented densely,
    use :class:`DilutedPSpin` for other ``p`` or large ``N``.

    Args:
        num_spins: ``N >= 3`` (static int). key: typed PRNG key. p: must be 3. J: scale (scalar).

    Attributes:
        J: ``(N, N, N)`` symmetric coupling tensor (float leaf).

    Raises:
        TypeError: non-int sizes, untyped key. ValueError: ``num_spins < 3``, ``p != 3``,
        NaN/inf ``J``, a batch of keys.
    """

    J: Float[Array, "n n n"]

    def __init__(self, num_spins: int, *, key: PRNGKey, p: int = 3, J=1.0):
        if p != 3:
            raise ValueError(
                f"PSpin implements the dense p = 3 model only, got p = {p!r}; "
                "for other p use DilutedPSpin(num_spins, num_interactions, key=key, p=p)"
            )
        n = _check_size(num_spins, "num_spins", 3)
        _check_key(key)
        scale = _scalar_parameter(J, "J")
        i, j, k = np.indices((n, n, n))
        upper = ((i < j) & (j < k)).astype(np.float64)
        z = jax.random.normal(key, (n, n, n), float_dtype()) * upper.astype(float_dtype())
        z = z * scale * math.sqrt(math.factorial(3) / (2.0 * n**2))
        self.J = sum(jnp.transpose(z, perm) for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)))

    @property
    def p(self) -> int:
        """Interaction order, 3."""
        return 3

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return (self.J.shape[0],)

    def local_field(self, spins: Spins) -> Float[Array, " n"]:
        """``f_i = 1/2 sum_{jk} J[i, j, k] s_j s_k``, shape ``(N,)``."""
        s = spins.astype(self.J.dtype)
        return 0.5 * jnp.einsum("ijk,j,k->i", self.J, s, s)

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E = -sum_{i<j<k} J_ijk s_i s_j s_k = -(1/3) s.f`` (each triple appears in 3 fields)."""
        return -(spins.astype(self.J.dtype) @ self.local_field(spins)) / 3.0

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """``f_i`` of one site in ``O(N^2)``."""
        s = spins.astype(self.J.dtype)
        return 0.5 * (s @ (self.J[index] @ s))


def _random_hyperedges(key: PRNGKey, num_spins: int, num_interactions: int, p: int) -> Array:
    """``(M, p)`` int32, each row a uniformly random set of ``p`` distinct sites, sorted ascending.

    Draw ``r`` uniform among the ``N - a`` sites not chosen yet and map it to the ``r``-th
    unchosen site by stepping over the chosen ones in ascending order (exact, no rejection).
    """
    keys = jax.random.split(key, p)
    chosen = jnp.zeros((num_interactions, 0), jnp.int32)
    for a in range(p):
        r = jax.random.randint(keys[a], (num_interactions,), 0, num_spins - a, jnp.int32)
        for b in range(a):
            r = r + (r >= chosen[:, b]).astype(jnp.int32)
        chosen = jnp.sort(jnp.concatenate([chosen, r[:, None]], axis=1), axis=1)
    return chosen


class DilutedPSpin(SpinModel):
    """Diluted p-spin glass on a random p-uniform hypergraph with ``M`` interactions:

        E(s) = -sum_{a=1..M} J_a prod_{i in a} s_i,     f_i = sum_{a ni i} J_a prod_{j in a, j != i} s_j,

    each hyperedge ``a`` a uniformly random set of ``p`` distinct sites (independently, so two
    hyperedges may coincide), ``J_a ~ N(0, J^2)`` or ``+-J``. The local fields are a
    ``segment_sum`` over the ``M p`` (interaction, site) incidences; ``site_field`` costs
    ``O(M p)`` (a padded adjacency list would have a data-dependent width, which cannot be built
    under ``vmap``). ``p = 2`` is the Viana-Bray model.

    Args:
        num_spins: ``N >= p`` (static int). num_interactions: ``M >= 1`` (static int).
        key: typed PRNG key. p: interaction order, ``2 <= p <= N``. J: coupling scale (scalar).
        bonds: ``"gaussian"`` or ``"pm"``.

    Attributes:
        indices: ``(M, p)`` int32 sites of every interaction (rows sorted, entries distinct).
        couplings: ``(M,)`` float. shape: ``(N,)``, static.

    Raises:
        TypeError: non-int sizes, untyped key. ValueError: bad sizes or ``p``, unknown ``bonds``,
        NaN/inf ``J``, a batch of keys.
    """

    indices: Int[Array, "m p"]
    couplings: Float[Array, " m"]
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, num_spins: int, num_interactions: int, *, key: PRNGKey, p: int = 3, J=1.0, bonds: str = "gaussian"):
        p = _check_size(p, "p", 2)
        n = _check_size(num_spins, "num_spins", p)
        m = _check_size(num_interactions, "num_interactions", 1)
        _check_key(key)
        _check_bonds(bonds)
        scale = _scalar_parameter(J, "J")
        key_graph, key_bonds = jax.random.split(key)
        self.shape = (n,)
        self.indices = _random_hyperedges(key_graph, n, m, p)
        self.couplings = _random_bonds(key_bonds, (m,), bonds, scale)

    @property
    def p(self) -> int:
        """Interaction order."""
        return self.indices.shape[1]

    @property
    def num_interactions(self) -> int:
        """``M``."""
        return self.indices.shape[0]

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return self.shape

    def _products(self, s: Array) -> Array:
        return jnp.prod(s[self.indices], axis=1)

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E = -sum_a J_a prod_{i in a} s_i`` (scalar)."""
        s = spins.astype(self.couplings.dtype)
        return -jnp.sum(self.couplings * self._products(s))

    def local_field(self, spins: Spins) -> Float[Array, " n"]:
        """All local fields, shape ``(N,)``; uses ``prod_{j != i} s_j = s_i prod_j s_j`` (s_i^2 = 1)."""
        s = spins.astype(self.couplings.dtype)
        weight = self.couplings * self._products(s)
        contributions = weight[:, None] * s[self.indices]
        return jax.ops.segment_sum(contributions.reshape(-1), self.indices.reshape(-1), num_segments=self.shape[0])

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """``f_i`` of one site in ``O(M p)``."""
        s = spins.astype(self.couplings.dtype)
        contains = jnp.any(self.indices == index, axis=1)
        return jnp.sum(jnp.where(contains, self.couplings * self._products(s), 0.0)) * s[index]
