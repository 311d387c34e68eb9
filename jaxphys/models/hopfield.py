"""The Hopfield network: Hebbian couplings, Mattis overlaps and zero-temperature dynamics.

Hopfield (PNAS 79, 2554, 1982); equilibrium theory of Amit, Gutfreund & Sompolinsky
(Phys. Rev. A 32, 1007, 1985; Ann. Phys. 173, 30, 1987). ``P`` patterns ``xi^mu in {-1,+1}^N``
are stored by the Hebbian rule

    J_ij = (1/N) sum_mu xi_i^mu xi_j^mu   (i != j),      J_ii = 0,

    E(s) = -1/2 sum_{i != j} J_ij s_i s_j = -(N/2) sum_mu m_mu^2 + P/2,
    m_mu = xi^mu . s / N                                    (Mattis overlaps),
    f_i  = sum_{j != i} J_ij s_j = sum_mu xi_i^mu m_mu - (P/N) s_i,

so energy and local fields cost O(NP) and the (N, N) matrix is never formed. Randomly diluted
couplings (each pair kept with probability ``1 - dilution``; Sompolinsky, Phys. Rev. A 34, 2571,
1986) and arbitrary coupling matrices (:meth:`Hopfield.from_couplings`, used by the archetype
rules of :mod:`jaxphys.learning.archetypes`) are stored densely instead.

At zero temperature, :func:`zero_temperature_dynamics` iterates ``s_i <- sign(f_i)``: one site at
a time in random order (asynchronous; E decreases at every flip, so it stops at a fixed point) or
all sites at once (synchronous; Little dynamics, which may end in a 2-cycle, Goles et al. 1985).
Below the capacity ``alpha_c ~ 0.138`` AGS predict retrieval with ``m ~ 0.99``.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._validate import as_count
from ..typing import PRNGKey, Spins
from .base import SpinModel, float_dtype, is_concrete
from .pairwise import PairwiseIsing


def _as_patterns(patterns, name: str = "patterns") -> Int[Array, "p n"]:
    """Validate +-1 patterns (int or float, shape (P, N)) and return them as int8."""
    if isinstance(patterns, (bool, np.bool_)) or getattr(patterns, "dtype", None) == np.bool_:
        raise TypeError(f"{name} must hold the numbers +1 and -1, got booleans; use 2 * b - 1")
    arr = jnp.asarray(patterns)
    if not (jnp.issubdtype(arr.dtype, jnp.integer) or jnp.issubdtype(arr.dtype, jnp.floating)):
        raise TypeError(f"{name} must be an int or float array of +-1 values, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must have shape (P, N) (one pattern per row), got shape {arr.shape}; use patterns[None] for one pattern"
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have N >= 1 spins, got shape {arr.shape}")
    if is_concrete(arr) and not np.all(np.abs(np.asarray(arr)) == 1):
        raise ValueError(
            f"{name} must take the values +1 and -1 only (got e.g. 0 or NaN); binary 0/1 data maps to +-1 by 2 * x - 1"
        )
    return arr.astype(jnp.int8)


class Hopfield(SpinModel):
    """Hopfield network with Hebbian couplings of ``P`` stored patterns over ``N`` spins.

    Args:
        patterns: (P, N) array of +-1 values, int or float; stored as int8.
        dilution: probability in [0, 1) that a coupling ``J_ij = J_ji`` is cut (a concrete
            Python float; it decides whether the dense matrix is stored). Kept couplings are
            not rescaled: Sompolinsky's ``J_ij = c_ij / (N (1 - dilution)) sum_mu xi_i xi_j`` at
            temperature T is this model at temperature ``(1 - dilution) T``.
        key: typed PRNG key for the dilution mask; required when ``dilution > 0``.

    Attributes:
        patterns: (P, N) int8, the patterns the Mattis overlaps refer to.
        J: ``None`` for the plain Hebbian rule (energies in O(NP)), else the dense (N, N)
            float coupling matrix (diluted, or given to :meth:`from_couplings`).

    Spins are int8 arrays of shape (N,). Build disorder replicas with
    ``jax.vmap(lambda k: Hopfield(jax.random.rademacher(k, (P, N), jnp.int8)))``.

    Raises:
        TypeError: patterns that are not int/float (e.g. bool), a non-float dilution.
        ValueError: patterns that are not 2-D or not +-1, dilution outside [0, 1), dilution
            without a key.
    """

    patterns: Int[Array, "p n"]
    J: Float[Array, "n n"] | None

    def __init__(self, patterns, *, dilution: float = 0.0, key: PRNGKey | None = None):
        self.patterns = _as_patterns(patterns)
        if isinstance(dilution, (bool, np.bool_)) or not isinstance(dilution, (int, float, np.integer, np.floating)):
            raise TypeError(f"dilution must be a Python float in [0, 1), got {dilution!r}")
        dilution = float(dilution)
        if not 0.0 <= dilution < 1.0:
            raise ValueError(f"dilution must lie in [0, 1) (the probability to cut a coupling), got {dilution}")
        if dilution == 0.0:
            self.J = None
            return
        if key is None:
            raise ValueError(
                "dilution > 0 needs a key for the random mask: Hopfield(patterns, dilution=d, key=jax.random.key(0))"
            )
        n = self.patterns.shape[1]
        keep = jax.random.uniform(key, (n, n)) < 1.0 - dilution
        keep = jnp.triu(keep, 1)
        self.J = _hebbian(self.patterns) * (keep | keep.T)

    @classmethod
    def from_couplings(cls, J, patterns=None) -> Hopfield:
        """A Hopfield model with a given dense coupling matrix ``J`` (N, N).

        ``E = -1/2 s.J.s``; ``J`` must be symmetric with zero diagonal (checked as in
        :class:`PairwiseIsing`). ``patterns`` (P, N) +-1 (default: none, P = 0) are only used by
        :func:`mattis_overlaps`, e.g. the archetypes behind a coupling matrix learnt from examples.

        Raises:
            ValueError: ``J`` not square, symmetric, zero-diagonal or finite; ``patterns`` not
                (P, N) with +-1 values.
        """
        J = PairwiseIsing(J).J
        n = J.shape[0]
        if patterns is None:
            patterns = jnp.zeros((0, n), jnp.int8)
        else:
            patterns = _as_patterns(patterns)
            if patterns.shape[1] != n:
                raise ValueError(f"patterns have N = {patterns.shape[1]} spins but J is {J.shape}; they must match")
        model = cls(jnp.ones((0, n), jnp.int8))
        model = eqx.tree_at(lambda m: m.patterns, model, patterns)
        return eqx.tree_at(lambda m: m.J, model, J, is_leaf=lambda x: x is None)

    @classmethod
    def dreaming(cls, patterns, time=1.0) -> Hopfield:
        """The "dreaming" network of Fachechi, Agliari & Barra (Neural Networks 112, 2019, 24).

        ``J = (1/N) xi^T (1 + t) (I + t C)^{-1} xi`` with the pattern correlation matrix
        ``C = xi xi^T / N`` (P, P) and dreaming time ``t >= 0``; the diagonal is set to zero.
        ``t = 0`` is the Hebbian rule; ``t -> inf`` the pseudo-inverse (projector) rule of
        Kanter & Sompolinsky (PRA 35, 1987, 380), ``J = (1/N) xi^T C^{-1} xi``, whose patterns
        stay fixed points up to ``alpha = P/N -> 1`` (Hebbian: 0.138). Dreaming removes the
        spurious mixtures and raises the capacity towards 1 as ``t`` grows.

        Args:
            patterns: (P, N) +-1 array with ``P < N`` linearly independent rows (for large ``t``).
            time: dreaming time ``t >= 0`` (a float; ``float("inf")`` gives the pseudo-inverse).

        Returns:
            ``Hopfield`` with dense couplings (N, N) and ``patterns`` kept for the Mattis overlaps.

        Raises:
            ValueError: negative or NaN ``time``; singular ``C`` for ``t = inf``.
        """
        xi = _as_patterns(patterns).astype(float_dtype())
        t = float(time)
        if not t >= 0:
            raise ValueError(f"the dreaming time must be >= 0 (0: Hebbian, inf: pseudo-inverse), got {time!r}")
        p, n = xi.shape
        C = xi @ xi.T / n
        if np.isinf(t):
            kernel = jnp.linalg.inv(C)
            if not np.all(np.isfinite(np.asarray(kernel))) or np.linalg.matrix_rank(np.asarray(C)) < p:
                raise ValueError("the pattern correlation matrix is singular: patterns must be linearly independent (P < N)")
        else:
            kernel = (1.0 + t) * jnp.linalg.inv(jnp.eye(p, dtype=C.dtype) + t * C)
        J = xi.T @ kernel @ xi / n
        J = 0.5 * (J + J.T) * (1.0 - jnp.eye(n, dtype=J.dtype))
        return cls.from_couplings(J, patterns)

    @classmethod
    def pseudo_inverse(cls, patterns) -> Hopfield:
        """Pseudo-inverse (projector) couplings ``J = (1/N) xi^T C^{-1} xi``, ``C = xi xi^T / N``.

        Kanter & Sompolinsky, PRA 35 (1987) 380; ``Hopfield.dreaming(patterns, inf)``.
        """
        return cls.dreaming(patterns, float("inf"))

    @property
    def spin_shape(self) -> tuple[int, ...]:
        return (self.patterns.shape[1],)

    @property
    def num_patterns(self) -> int:
        """Number of stored patterns ``P``."""
        return self.patterns.shape[0]

    @property
    def load(self) -> float:
        """Storage load ``alpha = P / N``."""
        return self.patterns.shape[0] / self.patterns.shape[1]

    def couplings(self) -> Float[Array, "n n"]:
        """The dense coupling matrix (N, N), float, symmetric, zero diagonal (O(N^2 P) work)."""
        return _hebbian(self.patterns) if self.J is None else self.J

    def _overlap_sums(self, s: Float[Array, " n"]) -> Float[Array, " p"]:
        # N m_mu, integer-valued, so exact in float32 for N < 2^24.
        return self.patterns.astype(s.dtype) @ s

    def energy(self, spins: Spins) -> Float[Array, ""]:
        """``E = -(N/2) sum_mu m_mu^2 + P/2`` in O(NP) (or ``-1/2 s.J.s`` when J is dense)."""
        s = spins.astype(float_dtype())
        if self.J is not None:
            return -0.5 * s @ (self.J.astype(s.dtype) @ s)
        n, p = self.patterns.shape[1], self.patterns.shape[0]
        q = self._overlap_sums(s)
        return -0.5 * jnp.sum(q * q) / n + 0.5 * p

    def local_field(self, spins: Spins) -> Float[Array, " n"]:
        """``f = xi^T m - (P/N) s`` in O(NP) (or ``J s`` when J is dense), shape (N,)."""
        s = spins.astype(float_dtype())
        if self.J is not None:
            return self.J.astype(s.dtype) @ s
        n, p = self.patterns.shape[1], self.patterns.shape[0]
        q = self._overlap_sums(s)
        return (q @ self.patterns.astype(s.dtype) - p * s) / n

    def site_field(self, spins: Spins, index: Int[Array, ""]) -> Float[Array, ""]:
        """``f_i``: O(N) with dense J; O(NP) otherwise, since the overlaps are not cached.

        (:func:`zero_temperature_dynamics` keeps the overlaps up to date in O(P) per update.)
        """
        s = spins.astype(float_dtype())
        if self.J is not None:
            return self.J[index].astype(s.dtype) @ s
        n, p = self.patterns.shape[1], self.patterns.shape[0]
        q = self._overlap_sums(s)
        return (self.patterns[:, index].astype(s.dtype) @ q - p * s[index]) / n


def _hebbian(patterns: Int[Array, "p n"]) -> Float[Array, "n n"]:
    xi = patterns.astype(float_dtype())
    J = xi.T @ xi / xi.shape[1]
    return J * (1.0 - jnp.eye(xi.shape[1], dtype=J.dtype))


def mattis_overlaps(model: Hopfield, spins: Spins) -> Float[Array, " p"]:
    """Mattis overlaps ``m_mu = xi^mu . s / N`` of ``spins`` (N,) with the model's patterns.

    Returns a (P,) float array (default float dtype). ``mc.run`` wants scalar observables: pass
    e.g. ``lambda model, s: mattis_overlaps(model, s)[0]`` or the sum of squares.
    """
    from ..observables.overlaps import mattis_overlaps as overlaps_with  # lazy: avoids an import cycle

    return overlaps_with(spins, model.patterns).astype(float_dtype())


class ZeroTemperatureResult(NamedTuple):
    """``spins`` final configuration (int8, shape of the input); ``num_sweeps`` (int32) sweeps
    done; ``converged`` (bool) True iff a fixed point was reached."""

    spins: Spins
    num_sweeps: Int[Array, ""]
    converged: Bool[Array, ""]


_MODES = ("asynchronous", "synchronous")


def _threshold(h, s):
    """``sign(h)``, keeping the spin where ``h == 0`` (ties), as int8."""
    return jnp.where(h > 0, jnp.int8(1), jnp.where(h < 0, jnp.int8(-1), s)).astype(jnp.int8)


def zero_temperature_dynamics(
    key: PRNGKey,
    model: SpinModel,
    spins: Spins,
    *,
    mode: str = "asynchronous",
    max_sweeps: int = 100,
) -> ZeroTemperatureResult:
    """Deterministic ``T = 0`` dynamics ``s_i <- sign(f_i)`` (ties ``f_i = 0`` keep the spin).

    ``"asynchronous"``: each sweep visits all N sites once in a fresh random order (drawn from
    ``fold_in(key, sweep)``) and updates them one at a time. Every flip lowers E, so the loop
    ends at a fixed point; it stops after the first sweep that changes nothing
    (``num_sweeps`` counts that sweep: a starting fixed point gives ``num_sweeps = 1``).

    ``"synchronous"``: ``s(t+1) = sign(f(s(t)))`` for all sites at once (``key`` unused). It stops
    at a fixed point (``converged = True``, ``num_sweeps`` again counts the confirming step) or
    when a 2-cycle ``s(t+1) = s(t-1) != s(t)`` appears (``converged = False``, ``num_sweeps <=
    max_sweeps``; ``spins`` is then ``s(t+1)``). Symmetric couplings admit no longer cycles
    (Goles, Fogelman-Soulie & Pellegrin 1985).

    For a plain :class:`Hopfield` model the fields are computed in exact integer arithmetic
    from overlaps updated in O(P) per flip (so ties are detected exactly); any other spin model
    uses ``model.site_field`` / ``model.local_field``.

    Args:
        key: typed PRNG key.
        model: any spin model (fields of the flattened spins).
        spins: int8 +-1 starting configuration of ``model.spin_shape``.
        mode: ``"asynchronous"`` or ``"synchronous"``.
        max_sweeps: positive int, the sweep budget (``converged = False`` if exhausted).

    Returns:
        ``ZeroTemperatureResult(spins, num_sweeps, converged)``. Works under jit/vmap
        (``mode`` and ``max_sweeps`` are static).

    Raises:
        ValueError: unknown ``mode``, ``max_sweeps < 1``, spins of the wrong shape or values.
        TypeError: spins that are not int8.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    max_sweeps = as_count(max_sweeps, "max_sweeps")
    model.check_spins(spins)
    exact = isinstance(model, Hopfield) and model.J is None
    shape = spins.shape
    flat = spins.reshape(-1)
    if mode == "asynchronous":
        out, sweeps, converged = _asynchronous(key, model, flat, shape, max_sweeps, exact)
    else:
        out, sweeps, converged = _synchronous(model, flat, shape, max_sweeps, exact)
    return ZeroTemperatureResult(out.reshape(shape), sweeps, converged)


def _asynchronous(key, model, flat, shape, max_sweeps, exact):
    n = flat.shape[0]
    if exact:
        xi_t = model.patterns.T.astype(jnp.int32)  # (N, P): row i = the P pattern bits of site i
        p = model.patterns.shape[0]

    def sweep(carry):
        s, sweeps, _ = carry
        order = jax.random.permutation(jax.random.fold_in(key, sweeps), n)
        if exact:
            # N * f_i = xi_i . q - P s_i with q_mu = xi^mu . s, all integers: ties are exact.
            q0 = xi_t.T @ s.astype(jnp.int32)

            def update(t, c):
                s, q, changed = c
                i = order[t]
                s_i = s[i]
                h = xi_t[i] @ q - p * s_i.astype(jnp.int32)
                new = _threshold(h, s_i)
                q = q + (new - s_i).astype(jnp.int32) * xi_t[i]
                return s.at[i].set(new), q, changed | (new != s_i)

            s, _, changed = jax.lax.fori_loop(0, n, update, (s, q0, jnp.array(False)))
        else:

            def update(t, c):
                s, changed = c
                i = order[t]
                s_i = s[i]
                new = _threshold(model.site_field(s.reshape(shape), i), s_i)
                return s.at[i].set(new), changed | (new != s_i)

            s, changed = jax.lax.fori_loop(0, n, update, (s, jnp.array(False)))
        return s, sweeps + 1, ~changed

    def cond(carry):
        _, sweeps, converged = carry
        return ~converged & (sweeps < max_sweeps)

    return jax.lax.while_loop(cond, sweep, (flat, jnp.zeros((), jnp.int32), jnp.array(False)))


def _synchronous(model, flat, shape, max_sweeps, exact):
    if exact:
        xi = model.patterns.astype(jnp.int32)
        p = model.patterns.shape[0]

    def update(s):
        if exact:
            h = (xi.T @ (xi @ s.astype(jnp.int32))) - p * s.astype(jnp.int32)
        else:
            h = model.local_field(s.reshape(shape)).reshape(-1)
        return _threshold(h, s)

    def step(carry):
        previous, s, sweeps, _, _ = carry
        new = update(s)
        converged = jnp.all(new == s)
        cycle = ~converged & jnp.all(new == previous)
        return s, new, sweeps + 1, converged, cycle

    def cond(carry):
        _, _, sweeps, converged, cycle = carry
        return ~converged & ~cycle & (sweeps < max_sweeps)

    false = jnp.array(False)
    _, s, sweeps, converged, _ = jax.lax.while_loop(cond, step, (flat, flat, jnp.zeros((), jnp.int32), false, false))
    return s, sweeps, converged
