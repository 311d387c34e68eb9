"""Archetype datasets and the Hebbian rules that learn from their examples.

Random theory of Agliari, Alemanno, Barra & De Marzo, "The emergence of a concept in shallow
neural networks" (arXiv:2109.00454; unsupervised) and Alemanno, Aquaro, Kanter, Barra & Agliari,
"Supervised Hebbian learning" (arXiv:2203.01304; supervised). ``K`` archetypes
``xi^mu in {-1,+1}^N`` are uniform; each is seen only through ``M`` blurred examples

    eta_i^{mu,a} = chi_i^{mu,a} xi_i^mu,   P(chi = +1) = (1 + r)/2,  P(chi = -1) = (1 - r)/2,

so ``E[chi] = r`` is the dataset quality (r = 1: the archetypes themselves; r = 0: noise).
With ``R = r^2 + (1 - r^2)/M`` (the second moment of an example average) the couplings are,
for i != j (diagonals are zero):

    unsupervised:  J_ij = 1/(N r^2 M)   sum_mu sum_a eta_i^{mu,a} eta_j^{mu,a}
    supervised:    J_ij = 1/(N R M^2)   sum_mu (sum_a eta_i^{mu,a}) (sum_b eta_j^{mu,b})

The supervised rule is the Hebbian rule applied to each class average ``eta_bar^mu``, normalised
by ``E[eta_bar_i^2] = R`` as in Alemanno et al.; its mean is ``(r^2/R) J_Hebb(xi)``, which tends to
the archetypes' Hebbian matrix as M grows. The unsupervised rule is normalised by ``r^2``, so
its conditional mean is exactly the archetypes' Hebbian matrix (the normalisation only rescales
temperature). Both are returned as :class:`~jaxphys.models.Hopfield` models with dense
couplings whose ``patterns`` are the archetypes, so ``mattis_overlaps`` measures how well the
network recovers the concepts it never saw (O(N^2) memory: fine for N <= a few thousand).
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..models.base import float_dtype, is_concrete
from .._validate import as_count as _positive_int
from ..models.hopfield import Hopfield, _as_patterns
from ..typing import PRNGKey


def _quality(quality, *, allow_zero: bool = True) -> Float[Array, ""]:
    if isinstance(quality, (bool, np.bool_)):
        raise TypeError(f"quality must be a float in [0, 1], got the bool {quality!r}")
    r = jnp.asarray(quality)
    if not (jnp.issubdtype(r.dtype, jnp.floating) or jnp.issubdtype(r.dtype, jnp.integer)):
        raise TypeError(f"quality must be a real number in [0, 1], got dtype {r.dtype}")
    if r.ndim != 0:
        raise ValueError(f"quality must be a scalar, got shape {r.shape}")
    r = r.astype(float_dtype())
    if is_concrete(r):
        value = float(r)
        low_ok = value > 0 if not allow_zero else value >= 0
        if not (low_ok and value <= 1):
            bound = "(0, 1]" if not allow_zero else "[0, 1]"
            raise ValueError(f"quality r = E[chi] must lie in {bound}, got {value}")
    return r


def archetype_dataset(
    key: PRNGKey, num_archetypes: int, num_examples: int, num_spins: int, quality
) -> tuple[Int[Array, "k n"], Int[Array, "k m n"]]:
    """Draw ``K`` uniform +-1 archetypes and ``M`` blurred examples of each.

    ``eta^{mu,a} = chi^{mu,a} xi^mu`` with i.i.d. ``chi_i = +1`` w.p. ``(1 + r)/2``, else -1.

    Args:
        key: typed PRNG key.
        num_archetypes: ``K >= 1``.
        num_examples: ``M >= 1`` examples per archetype.
        num_spins: ``N >= 1``.
        quality: ``r`` in [0, 1] (may be traced, e.g. vmapped over).

    Returns:
        ``(archetypes, examples)``: int8 arrays of shapes (K, N) and (K, M, N).

    Raises:
        TypeError/ValueError: non-int sizes or sizes < 1, ``r`` outside [0, 1] or not a scalar.
    """
    k = _positive_int(num_archetypes, "num_archetypes")
    m = _positive_int(num_examples, "num_examples")
    n = _positive_int(num_spins, "num_spins")
    r = _quality(quality)
    key_xi, key_chi = jax.random.split(key)
    archetypes = jax.random.rademacher(key_xi, (k, n), jnp.int8)
    agree = jax.random.bernoulli(key_chi, (1.0 + r) / 2.0, (k, m, n))
    chi = jnp.where(agree, jnp.int8(1), jnp.int8(-1))
    return archetypes, (chi * archetypes[:, None, :]).astype(jnp.int8)


def _examples(examples) -> Int[Array, "k m n"]:
    arr = jnp.asarray(examples)
    if arr.ndim != 3:
        raise ValueError(f"examples must have shape (K, M, N) (archetype, example, spin), got shape {arr.shape}")
    _as_patterns(arr.reshape(-1, arr.shape[-1]), "examples")
    return arr.astype(jnp.int8)


def _zero_diagonal(J):
    return J * (1.0 - jnp.eye(J.shape[0], dtype=J.dtype))


def _model(J, archetypes, n):
    if archetypes is not None:
        archetypes = _as_patterns(archetypes, "archetypes")
        if archetypes.shape[1] != n:
            raise ValueError(f"archetypes have N = {archetypes.shape[1]} but the examples have N = {n}")
    return Hopfield.from_couplings(J, archetypes)


def unsupervised_hebbian(examples, quality, archetypes=None) -> Hopfield:
    """Unsupervised Hebbian network ``J_ij = 1/(N r^2 M) sum_{mu,a} eta_i^{mu,a} eta_j^{mu,a}``.

    Agliari et al. arXiv:2109.00454 (labels unused; the sum runs over all K M examples).
    ``E[J_ij | xi] = (1/N) sum_mu xi_i^mu xi_j^mu`` for i != j.

    Args:
        examples: (K, M, N) +-1 array (int or float), e.g. from :func:`archetype_dataset`.
        quality: ``r`` in (0, 1] (r = 0 carries no signal and cannot be normalised).
        archetypes: optional (K', N) +-1 patterns stored as the model's ``patterns`` for
            :func:`~jaxphys.models.mattis_overlaps`.

    Returns:
        :class:`~jaxphys.models.Hopfield` with dense (N, N) couplings.

    Raises:
        ValueError: examples not 3-D or not +-1, ``r`` outside (0, 1], archetypes of the wrong N.
    """
    eta = _examples(examples)
    r = _quality(quality, allow_zero=False)
    _, m, n = eta.shape
    flat = eta.reshape(-1, n).astype(float_dtype())
    J = flat.T @ flat / (n * r**2 * m)
    return _model(_zero_diagonal(J), archetypes, n)


def supervised_hebbian(examples, quality, archetypes=None) -> Hopfield:
    """Supervised Hebbian network ``J_ij = 1/(N R) sum_mu eta_bar_i^mu eta_bar_j^mu``.

    Alemanno et al. arXiv:2203.01304: ``eta_bar^mu = (1/M) sum_a eta^{mu,a}`` is the average of
    the examples labelled mu and ``R = r^2 + (1 - r^2)/M``. ``E[J_ij | xi] = (r^2/R) (1/N)
    sum_mu xi_i^mu xi_j^mu`` for i != j, so J tends to the archetypes' Hebbian matrix as M grows.

    Args:
        examples: (K, M, N) +-1 array, the M examples of each of the K classes.
        quality: ``r`` in [0, 1].
        archetypes: optional (K', N) +-1 patterns for the Mattis overlaps.

    Returns:
        :class:`~jaxphys.models.Hopfield` with dense (N, N) couplings.

    Raises:
        ValueError: examples not 3-D or not +-1, ``r`` outside [0, 1], archetypes of the wrong N.
    """
    eta = _examples(examples)
    r = _quality(quality)
    _, m, n = eta.shape
    mean = jnp.mean(eta.astype(float_dtype()), axis=1)  # (K, N)
    big_r = r**2 + (1.0 - r**2) / m
    J = mean.T @ mean / (n * big_r)
    return _model(_zero_diagonal(J), archetypes, n)
