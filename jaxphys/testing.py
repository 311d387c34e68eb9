"""Check a sampler against exact enumeration: chi-square of sampled vs exact histograms.

Many independent chains start from independent uniformly random configurations, each runs
``num_sweeps`` steps, and their *final* configurations are exact independent draws from the
chain's law after ``num_sweeps`` steps. If the sampler is correct and ``num_sweeps`` exceeds the
mixing time, the counts of each category (one configuration, or one (E, M) level) follow a
multinomial law with the exact Boltzmann probabilities, and

    X^2 = sum_k (n_k - n p_k)^2 / (n p_k)

is chi-square distributed with (categories - 1) degrees of freedom. Categories with expected
count below ``min_expected`` are pooled (Cochran's rule). A test that rejects at p < alpha has
false-failure rate alpha for a random seed; with a fixed seed it is deterministic.
The same test caught bad generators and broken detailed balance in NetKet's samplers.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .exact.enumeration import _map_configurations, probabilities
from .mc.base import random_spins


class ChiSquareResult(NamedTuple):
    """``statistic`` X^2, ``dof`` degrees of freedom, ``p_value`` P(chi2_dof >= X^2)."""

    statistic: float
    dof: int
    p_value: float


def chi_square_p_value(statistic: float, dof: int) -> float:
    """Upper tail ``P(chi^2_dof >= statistic)`` = Q(dof/2, statistic/2), computed in float64 numpy."""
    from math import exp, lgamma, log

    a, x = dof / 2.0, statistic / 2.0
    if x <= 0:
        return 1.0
    # Numerical Recipes gammq: series for x < a + 1, continued fraction otherwise.
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * exp(-x + a * log(x) - lgamma(a)))
    b, c, d = x + 1 - a, 1e300, 1 / (x + 1 - a)
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return exp(-x + a * log(x) - lgamma(a)) * h


def chi_square(counts: np.ndarray, probs: np.ndarray, *, min_expected: float = 5.0) -> ChiSquareResult:
    """Pearson chi-square of ``counts`` against ``probs`` (same length), pooling sparse categories."""
    counts = np.asarray(counts, np.float64)
    probs = np.asarray(probs, np.float64)
    n = counts.sum()
    expected = n * probs / probs.sum()
    small = expected < min_expected
    obs = np.concatenate([counts[~small], [counts[small].sum()]])
    exp_ = np.concatenate([expected[~small], [expected[small].sum()]])
    if exp_[-1] < min_expected:  # pooled bin still too small: merge it into the smallest kept one
        if len(exp_) > 2:
            j = int(np.argmin(exp_[:-1]))
            obs[j] += obs[-1]
            exp_[j] += exp_[-1]
        obs, exp_ = obs[:-1], exp_[:-1]
    if len(exp_) < 2:
        raise ValueError("too few categories with enough expected counts: use more chains")
    stat = float(np.sum((obs - exp_) ** 2 / exp_))
    dof = len(exp_) - 1
    return ChiSquareResult(stat, dof, chi_square_p_value(stat, dof))


def final_configurations(key, sampler, model, beta, *, num_chains: int, num_sweeps: int, start: str = "random"):
    """Final spins of ``num_chains`` independent chains of ``num_sweeps`` steps.

    ``start="random"``: uniformly random initial spins (tests convergence to the Boltzmann law);
    ``start="exact"``: initial spins drawn from the exact Boltzmann law (tests that the sampler
    leaves it invariant, whatever its mixing time; a sampler that never moves also passes, so
    pair it with a ``"random"`` test).
    """
    if start not in ("random", "exact"):
        raise ValueError(f"start must be 'random' or 'exact', got {start!r}")
    key, key_exact = jax.random.split(key)
    if start == "exact":
        # Inverse-CDF sampling: O(2^N + chains log 2^N), where categorical would cost O(chains 2^N).
        cdf = jnp.cumsum(probabilities(model, beta))
        u = jax.random.uniform(key_exact, (num_chains,), cdf.dtype) * cdf[-1]
        index = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.shape[0] - 1)
        bits = (index[:, None].astype(jnp.uint32) >> jnp.arange(model.num_spins, dtype=jnp.uint32)[None, :]) & 1
        starts = (1 - 2 * bits.astype(jnp.int8)).reshape((num_chains, *model.spin_shape))
    else:
        starts = jax.vmap(lambda k: random_spins(k, model.spin_shape))(jax.random.split(key_exact, num_chains))

    @jax.jit
    def one_chain(key, x0, model, beta):
        state = sampler.init(model, x0)
        krun = key

        def body(state, k):
            return sampler.step(k, state, model, beta)[0], None

        state, _ = jax.lax.scan(body, state, jax.random.split(krun, num_sweeps))
        return state.spins, state.status

    keys = jax.random.split(key, num_chains)
    spins, status = jax.vmap(one_chain, in_axes=(0, 0, None, None))(keys, starts, model, beta)
    if np.any(np.asarray(status) != 0):
        raise RuntimeError(f"sampler reported a non-zero status: {np.unique(np.asarray(status))}")
    return spins


def sampler_chi_square(
    key,
    sampler,
    model,
    beta,
    *,
    num_chains: int = 4096,
    num_sweeps: int = 50,
    by: str = "configuration",
    start: str = "random",
) -> ChiSquareResult:
    """Chi-square test of a sampler against exact enumeration of ``model`` at ``beta``.

    Args:
        key: PRNG key (fix it for a deterministic test).
        sampler: any ``Sampler(init, step)``.
        model: spin model with N <= 24 (``by="configuration"`` needs 2^N states to be few).
        beta: inverse temperature.
        num_chains: independent samples.
        num_sweeps: steps per chain; must exceed the mixing time.
        by: ``"configuration"`` (categories = configurations) or ``"energy_magnetization"``
            (categories = distinct (E, M) levels).
        start: ``"random"`` or ``"exact"`` initial configurations (see :func:`final_configurations`).

    Returns:
        ``ChiSquareResult(statistic, dof, p_value)``.
    """
    spins = final_configurations(key, sampler, model, beta, num_chains=num_chains, num_sweeps=num_sweeps, start=start)
    n = model.num_spins
    probs = np.asarray(probabilities(model, beta), np.float64)
    flat = np.asarray(spins).reshape(num_chains, n)
    index = ((1 - flat) // 2).astype(np.int64) @ (1 << np.arange(n, dtype=np.int64))
    if by == "configuration":
        counts = np.bincount(index, minlength=1 << n)
        return chi_square(counts, probs)
    if by == "energy_magnetization":
        levels = _map_configurations(lambda s: (model.energy(s), jnp.sum(s, dtype=jnp.int32)), model)
        e = np.round(np.asarray(levels[0], np.float64), 4)
        m = np.asarray(levels[1])
        keys, inverse = np.unique(np.stack([e, m], axis=1), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        level_probs = np.bincount(inverse, weights=probs, minlength=len(keys))
        counts = np.bincount(inverse[index], minlength=len(keys))
        return chi_square(counts, level_probs)
    raise ValueError(f"by must be 'configuration' or 'energy_magnetization', got {by!r}")
