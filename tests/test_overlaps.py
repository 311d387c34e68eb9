"""Spin-glass observables: exact values on hand-made states, exact distributions, MC vs enumeration.

Statistical tests (fixed seeds, so deterministic):
- comparisons "within 3 error bars" fail with probability 0.27% each for a random seed if the
  error bars are right;
- chi-square tests of histograms fail if p < 1e-3 (false-failure rate 1e-3 for a random seed).
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import exact, mc, status
from jaxphys.lattice import neighbour_table
from jaxphys.exact.enumeration import configurations
from jaxphys.models import Ising, PairwiseIsing
from jaxphys.observables import overlaps as ov
from jaxphys.testing import chi_square_p_value

HARD_ERRORS = ~int(status.Status.UNRELIABLE_ERROR)

# Value tests call jitted functions (one compilation each instead of one per eager op); the
# bad-input tests call the raw functions, whose value checks need concrete arguments.
replica_overlap = jax.jit(ov.replica_overlap)
overlap_matrix = jax.jit(ov.overlap_matrix)
triplet_overlaps = jax.jit(ov.triplet_overlaps)
mattis_overlaps = jax.jit(ov.mattis_overlaps)
link_overlap = jax.jit(ov.link_overlap, static_argnames="periodic")
overlap_histogram = jax.jit(ov.overlap_histogram, static_argnums=1, static_argnames=("bins", "symmetrize"))
edwards_anderson = jax.jit(ov.edwards_anderson)
ultrametricity_statistic = jax.jit(ov.ultrametricity_statistic, static_argnames="absolute")


def assert_within(mean, err, ref, n_sigma=3.0, name=""):
    assert abs(float(mean) - ref) < n_sigma * float(err), f"{name}: {float(mean)} +- {float(err)} vs exact {ref}"


def sk_model(n, seed):
    """SK couplings J_ij ~ N(0, 1/N), symmetric, zero diagonal."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.normal(size=(n, n)) / np.sqrt(n), 1)
    return PairwiseIsing(upper + upper.T)


def exact_two_replica(model, beta):
    """Exact two-replica averages by enumeration, two independent ways.

    ``q2_corr = (1/N^2) sum_ij <s_i s_j>^2`` from the correlation matrix, and the moments of q
    under p(s) p(t) from the (2^N, 2^N) matrix of overlaps.
    """
    n = model.num_spins
    s = np.asarray(configurations(model.spin_shape), np.float64).reshape(-1, n)
    p = np.asarray(exact.probabilities(model, beta), np.float64)
    p = p / p.sum()
    corr = (s * p[:, None]).T @ s
    if n > 12:  # the overlap matrix would be too large
        return corr, np.sum(corr**2) / n**2, None
    q = s @ s.T / n
    moments = {
        "q": p @ q @ p,
        "q2": p @ q**2 @ p,
        "q4": p @ q**4 @ p,
        "abs_q": p @ np.abs(q) @ p,
    }
    return corr, np.sum(corr**2) / n**2, moments


# ---------------------------------------------------------------------------------------------
# Exact values on hand-made configurations


def test_replica_overlap_hand_made():
    a = jnp.array([1, -1, 1, 1], jnp.int8)
    b = jnp.array([1, 1, 1, -1], jnp.int8)
    assert float(replica_overlap(a, b)) == 0.0
    assert float(replica_overlap(a, a)) == 1.0
    assert float(replica_overlap(a, -a)) == -1.0
    c = jnp.array([1, -1, 1, -1], jnp.int8)
    assert float(replica_overlap(a, c)) == 0.5
    # Any shape: q is over all sites; float spins (e.g. magnetizations) work too.
    assert float(replica_overlap(a.reshape(2, 2), c.reshape(2, 2))) == 0.5
    assert float(replica_overlap(0.5 * a.astype(jnp.float32), c.astype(jnp.float32))) == 0.25
    # jit and vmap over a batch of pairs.
    batch = jnp.stack([a, b, c])
    got = jax.jit(jax.vmap(replica_overlap, in_axes=(0, None)))(batch, a)
    np.testing.assert_array_equal(np.asarray(got), [1.0, 0.0, 0.5])


def test_overlap_matrix_and_triplets_hand_made():
    a = jnp.array([1, 1, 1, 1], jnp.int8)
    b = jnp.array([1, 1, -1, -1], jnp.int8)
    c = jnp.array([1, -1, -1, -1], jnp.int8)
    d = -a
    spins = jnp.stack([a, b, c, d])
    expected = np.array([[1.0, 0.0, -0.5, -1.0], [0.0, 1.0, 0.5, 0.0], [-0.5, 0.5, 1.0, 0.5], [-1.0, 0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(np.asarray(overlap_matrix(spins)), expected)
    np.testing.assert_array_equal(np.asarray(ov.overlap_matrix(spins)), expected)
    triplets = np.asarray(triplet_overlaps(spins))
    combos = list(itertools.combinations(range(4), 3))
    assert triplets.shape == (4, 3)
    for row, (i, j, k) in zip(triplets, combos):
        np.testing.assert_array_equal(row, [expected[i, j], expected[i, k], expected[j, k]])


def test_overlap_matrix_matches_pairwise_overlaps_for_random_lattices():
    spins = mc.random_spins(jax.random.key(0), (5, 6, 6))
    matrix = np.asarray(overlap_matrix(spins))
    pairwise = jax.jit(jax.vmap(jax.vmap(ov.replica_overlap, in_axes=(None, 0)), in_axes=(0, None)))(spins, spins)
    np.testing.assert_array_equal(matrix, np.asarray(pairwise))
    np.testing.assert_array_equal(matrix, matrix.T)


def test_mattis_overlap_of_pattern_with_itself_is_one():
    patterns = mc.random_spins(jax.random.key(1), (3, 50))
    m = np.asarray(mattis_overlaps(patterns[0], patterns))
    assert m[0] == 1.0
    np.testing.assert_allclose(m, np.asarray(patterns, np.int32) @ np.asarray(patterns[0], np.int32) / 50, rtol=1e-6)
    assert float(mattis_overlaps(-patterns[1], patterns)[1]) == -1.0
    # Patterns in the configuration's shape, or flattened (P, N).
    lattice = patterns.reshape(3, 5, 10)
    np.testing.assert_array_equal(
        np.asarray(mattis_overlaps(lattice[2], lattice)), np.asarray(mattis_overlaps(patterns[2], patterns))
    )
    np.testing.assert_array_equal(
        np.asarray(mattis_overlaps(lattice[2], patterns)), np.asarray(mattis_overlaps(patterns[2], patterns))
    )
    # Orthogonal (Hadamard) patterns: m = delta_mu,nu.
    hadamard = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], np.int8)
    all_m = jax.vmap(ov.mattis_overlaps, in_axes=(0, None))(jnp.asarray(hadamard), jnp.asarray(hadamard))
    np.testing.assert_array_equal(np.asarray(all_m), np.eye(4))


def test_link_overlap_hand_made():
    ones = jnp.ones((4,), jnp.int8)
    alternating = jnp.array([1, -1, 1, -1], jnp.int8)
    assert float(link_overlap(ones, alternating)) == -1.0
    assert float(link_overlap(ones, alternating, periodic=False)) == -1.0
    assert float(link_overlap(alternating, alternating)) == 1.0
    # One flipped site in a 3x3 lattice: the bonds touching it flip sign.
    a = jnp.ones((3, 3), jnp.int8)
    centre = a.at[1, 1].set(-1)
    corner = a.at[0, 0].set(-1)
    assert float(link_overlap(a, centre)) == pytest.approx((18 - 8) / 18)  # N_b = 2N = 18, 4 bonds
    assert float(link_overlap(a, centre, periodic=False)) == pytest.approx((12 - 8) / 12)  # 12 open bonds
    assert float(link_overlap(a, corner, periodic=False)) == pytest.approx((12 - 4) / 12)
    # Global flip of one replica leaves q_l unchanged (q_l is flip-symmetric, q is not).
    spins = mc.random_spins(jax.random.key(2), (2, 4, 6))
    assert float(link_overlap(spins[0], -spins[1])) == float(link_overlap(spins[0], spins[1]))


def test_link_overlap_equals_bond_correlation_of_the_ising_energy():
    """q_l(s, t) = (sum_<ij> s_i s_j t_i t_j) / N_b with the bonds (and N_b) of the Ising energy."""
    spins = mc.random_spins(jax.random.key(3), (2, 2, 3, 4))
    for periodic in (True, False):
        model = Ising((2, 3, 4), periodic=periodic)

        @jax.jit
        def both(s):
            num_bonds = -model.energy(jnp.ones_like(s[0]))  # E(all up) = -N_b
            return ov.link_overlap(s[0], s[1], periodic=periodic), -model.energy(s[0] * s[1]) / num_bonds

        got, expected = both(spins)
        assert float(got) == pytest.approx(float(expected), abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Independent random spins (infinite temperature): q = (1/N) sum of N independent +-1


def test_moments_of_exact_infinite_temperature_distribution():
    """Over all 2^N configurations t, q(1, t) has exactly the law of q for independent uniform spins.

    <q^2> = 1/N, <q^4> = 3/N^2 - 2/N^3, so chi_SG = 1 and the Bhatt-Young g = 1/N exactly.
    """
    n = 10
    q = jax.vmap(ov.replica_overlap, in_axes=(None, 0))(jnp.ones((n,), jnp.int8), configurations((n,)))
    moments = edwards_anderson(q)
    assert float(moments.q2) == pytest.approx(1 / n, rel=1e-6)
    assert float(moments.q4) == pytest.approx(3 / n**2 - 2 / n**3, rel=1e-6)
    expected_abs = sum(math.comb(n, k) * abs(2 * k - n) / n for k in range(n + 1)) / 2**n
    assert float(moments.abs_q) == pytest.approx(expected_abs, rel=1e-6)
    assert float(ov.spin_glass_susceptibility(moments.q2, n)) == pytest.approx(1.0, rel=1e-6)
    assert float(ov.spin_glass_binder(moments.q2, moments.q4)) == pytest.approx(1 / n, rel=1e-5)
    hist = overlap_histogram(q, n)
    binomial = np.array([math.comb(n, k) for k in range(n + 1)]) / 2**n
    np.testing.assert_allclose(np.asarray(hist.q), -1 + 2 * np.arange(n + 1) / n, atol=1e-6)
    np.testing.assert_allclose(np.asarray(hist.probability), binomial, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(hist.density), binomial * n / 2, rtol=1e-6)


def test_binder_ratio_conventions():
    # Two states q = +-q0: <q^4> = <q^2>^2 -> g = 1; Gaussian q: <q^4> = 3<q^2>^2 -> g = 0.
    assert float(ov.spin_glass_binder(0.25, 0.0625)) == 1.0
    assert float(ov.spin_glass_binder(2.0, 12.0)) == 0.0


def test_histogram_of_random_pairs_is_binomial_and_symmetric():
    """Chi-square of P(q) from 4000 random pairs against the binomial law (rejects at p < 1e-3)."""
    n, num_pairs = 16, 4000
    spins = mc.random_spins(jax.random.key(4), (num_pairs, 2, n))
    q = jax.vmap(lambda s: replica_overlap(s[0], s[1]))(spins)
    hist = overlap_histogram(q, n)
    probability = np.asarray(hist.probability, np.float64)
    assert probability.sum() == pytest.approx(1.0, abs=1e-6)
    expected = np.array([math.comb(n, k) for k in range(n + 1)]) / 2**n
    # Cochran's rule: pool the tails with expected count < 5 into the outermost kept bins.
    kept = np.flatnonzero(expected * num_pairs >= 5)
    lo, hi = kept[0], kept[-1]

    def pooled(x):
        return np.concatenate([[x[: lo + 1].sum()], x[lo + 1 : hi], [x[hi:].sum()]])

    obs, exp = pooled(probability * num_pairs), pooled(expected * num_pairs)
    assert obs.sum() == pytest.approx(num_pairs, rel=1e-5) and exp.sum() == pytest.approx(num_pairs)
    statistic = float(np.sum((obs - exp) ** 2 / exp))
    assert chi_square_p_value(statistic, len(obs) - 1) > 1e-3, statistic
    # <q^2> = 1/N: the sample mean of q^2 within 3 standard errors.
    q2 = np.asarray(q, np.float64) ** 2
    assert_within(q2.mean(), q2.std(ddof=1) / np.sqrt(num_pairs), 1 / n, name="q2")
    # Symmetrized histogram is exactly symmetric and still normalised.
    sym = np.asarray(overlap_histogram(q, n, symmetrize=True).probability)
    np.testing.assert_array_equal(sym, sym[::-1])
    assert sym.sum() == pytest.approx(1.0, abs=1e-6)


def test_histogram_with_given_bins():
    q = jnp.array([-1.0, -0.3, 0.0, 0.2, 0.6, 1.0])
    hist = overlap_histogram(q, 10, bins=4)  # edges -1, -0.5, 0, 0.5, 1; right edge included
    np.testing.assert_allclose(np.asarray(hist.q), [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(np.asarray(hist.probability), [1 / 6, 1 / 6, 2 / 6, 2 / 6], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(hist.density), np.asarray(hist.probability) / 0.5, rtol=1e-6)
    edges = jnp.array([-1.0, -0.1, 0.1, 1.0])
    # Traced edges (under jit) are allowed; their checks then run only outside jit.
    hist = jax.jit(lambda q, e: ov.overlap_histogram(q, 10, bins=e, symmetrize=True))(q, edges)
    np.testing.assert_allclose(np.asarray(hist.probability), [2.5 / 6, 1 / 6, 2.5 / 6], rtol=1e-6)
    assert float(np.sum(np.asarray(hist.density) * np.diff(np.asarray(edges)))) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Ultrametricity


def hierarchical_states(key, n=64, clusters=3, leaves=3, block1=8, block2=4):
    """States on a two-level tree: leaves = root with a cluster block and a leaf block flipped.

    All blocks are disjoint, so two leaves of one cluster have q = 1 - 4 block2 / N and leaves of
    different clusters q = 1 - 4 (block1 + block2) / N: every triplet is isosceles (ultrametric).
    """
    key_root, key_perm = jax.random.split(key)
    root = np.asarray(mc.random_spins(key_root, (n,)))
    sites = np.asarray(jax.random.permutation(key_perm, n))
    states, start = [], 0
    cluster_blocks = []
    for _ in range(clusters):
        cluster_blocks.append(sites[start : start + block1])
        start += block1
    for c in range(clusters):
        for _ in range(leaves):
            state = root.copy()
            state[cluster_blocks[c]] *= -1
            state[sites[start : start + block2]] *= -1
            start += block2
            states.append(state)
    assert start <= n
    return jnp.asarray(np.stack(states))


def test_ultrametricity_statistic_is_zero_on_a_tree_of_states():
    states = hierarchical_states(jax.random.key(5))
    triplets = triplet_overlaps(states)
    assert triplets.shape == (84, 3)
    result = ultrametricity_statistic(triplets)
    assert float(jnp.max(result.difference)) == 0.0
    assert float(result.mean) == 0.0 and float(result.scaled_mean) == 0.0
    assert float(result.correlation) == pytest.approx(1.0, abs=1e-5)
    # The tree has three distinct overlaps (1 on the diagonal): within, across clusters.
    assert sorted(set(np.round(np.asarray(overlap_matrix(states)), 6).ravel())) == pytest.approx(
        [1 - 4 * 12 / 64, 1 - 4 * 4 / 64, 1.0]
    )


def test_ultrametricity_statistic_hand_made_and_absolute():
    result = ultrametricity_statistic(jnp.array([[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]))
    np.testing.assert_allclose(np.asarray(result.difference), [0.1, 0.0], atol=1e-7)
    assert float(result.mean) == pytest.approx(0.05)
    # Signed overlaps (-0.5, -0.5, 0.2) are ultrametric; their absolute values are not.
    triplet = jnp.array([-0.5, -0.5, 0.2])
    assert float(ultrametricity_statistic(triplet).mean) == 0.0
    assert float(ultrametricity_statistic(triplet, absolute=True).mean) == pytest.approx(0.3)


def test_ultrametricity_statistic_of_random_states():
    """Independent random states: q_12, q_13, q_23 are uncorrelated, nearly Gaussian (sd 1/sqrt N).

    For three iid Gaussians E[q_mid - q_min] = 3 / (2 sqrt(pi)) sd = 0.846 sd. The sample mean of
    2000 independent triplets has a standard error ~1% of that; discreteness (step 2/N = sd/8)
    and non-Gaussian corrections O(1/N) are a few per cent, hence the 6% tolerance. The
    correlation of q_min with q_mid is that of Gaussian order statistics, far below 1.
    """
    n, num_triplets = 256, 2000
    spins = mc.random_spins(jax.random.key(6), (num_triplets, 3, n))
    triplets = jax.vmap(ov.triplet_overlaps)(spins)  # (T, 1, 3)
    result = ultrametricity_statistic(triplets)
    assert result.difference.shape == (num_triplets,)
    assert float(result.mean) > 0
    assert float(result.mean) * np.sqrt(n) == pytest.approx(3 / (2 * np.sqrt(np.pi)), rel=0.06)
    assert float(result.scaled_mean) == pytest.approx(3 / (2 * np.sqrt(np.pi)), rel=0.06)
    assert float(result.correlation) < 0.7


# ---------------------------------------------------------------------------------------------
# Two replicas in mc.run


def test_pair_sampler_q2_of_sk_model_matches_enumeration():
    """SK, N = 8, beta = 1: <q>, <q^2>, <q^4>, <|q|> and g of two independent replicas vs exact.

    Exact values by enumeration (the correlation formula and the double sum must agree); MC
    within 3 error bars each (5 comparisons, false-failure rate ~1.4% for a random seed).
    """
    model = sk_model(8, seed=11)
    beta = 1.0
    corr, q2_corr, ref = exact_two_replica(model, beta)
    assert q2_corr == pytest.approx(ref["q2"], rel=1e-5)
    sampler = ov.pair_sampler(mc.metropolis())
    runs = jax.jit(jax.vmap(lambda k: mc.run(k, sampler, model, beta, 3000, burn_in=200, observables=ov.PAIR_OBSERVABLES)))(
        jax.random.split(jax.random.key(12), 8)
    )
    assert runs.state.spins.shape == (8, 2, 8)
    result = mc.combine(runs)
    assert int(result.status) & HARD_ERRORS == 0
    for name in ("q", "q2", "q4", "abs_q"):
        assert_within(result.mean[name], result.stderr[name], ref[name], name=name)
    g, g_err = mc.derived(result, lambda m: ov.spin_glass_binder(m["q2"], m["q4"]))
    assert_within(g, g_err, float(ov.spin_glass_binder(ref["q2"], ref["q4"])), name="binder g")


@pytest.mark.slow  # suite time budget (2 cores, 15 min)
def test_pair_sampler_with_checkerboard_link_overlap_of_ising_lattice():
    """Ising 4x4 at beta = 0.3 with the checkerboard heat bath: <q^2>, <q_l>, <e> vs enumeration.

    <q_l> = (1/N_b) sum_<ij> <s_i s_j>^2. Within 3 error bars each (false-failure rate ~0.8%).
    The heat bath, not Metropolis: checkerboard Metropolis accepts every dE = 0 move, so from one
    of the 36 configurations of the 4x4 torus where every local field vanishes it flips a whole
    sublattice per half-sweep and cycles between two states forever (a closed class of the
    chain). A start derived by pair_sampler hit one with key 13.
    """
    model = Ising((4, 4))
    beta = 0.3
    corr, q2_exact, _ = exact_two_replica(model, beta)
    # Each bond once: the +1 neighbour of every site along both axes.
    bonds = [(i, int(j)) for i, row in enumerate(neighbour_table((4, 4))) for j in row[[0, 2]]]
    ql_exact = np.mean([corr[i, j] ** 2 for i, j in bonds])
    observables = {
        "q2": ov.q2,
        "link": lambda model, pair: link_overlap(pair[0], pair[1]),
        "energy": ov.replica_mean(lambda model, s: model.energy(s) / model.num_spins),
    }
    sampler = ov.pair_sampler(mc.checkerboard(rule="heatbath"))
    runs = jax.jit(jax.vmap(lambda k: mc.run(k, sampler, model, beta, 2000, burn_in=100, observables=observables)))(
        jax.random.split(jax.random.key(13), 8)
    )
    result = mc.combine(runs)
    assert int(result.status) & HARD_ERRORS == 0
    assert_within(result.mean["q2"], result.stderr["q2"], q2_exact, name="q2")
    assert_within(result.mean["link"], result.stderr["link"], ql_exact, name="link overlap")
    e_exact = -np.sum([corr[i, j] for i, j in bonds]) / model.num_spins  # E = -sum_<ij> s_i s_j
    assert_within(result.mean["energy"], result.stderr["energy"], e_exact, name="energy")


def test_pair_sampler_init_and_step():
    model = sk_model(6, seed=0)
    sampler = ov.pair_sampler(mc.heatbath("sequential"))
    assert ov.pair_sampler(mc.heatbath("sequential")) is sampler  # cached: jit compiles once
    pair = mc.random_spins(jax.random.key(0), (2, 6))
    state = sampler.init(model, pair)
    np.testing.assert_array_equal(np.asarray(state.spins), np.asarray(pair))
    # One configuration: the second replica is a deterministic, different-looking function of it.
    one = pair[0]
    s1, s2 = sampler.init(model, one), jax.jit(sampler.init)(model, one)
    np.testing.assert_array_equal(np.asarray(s1.spins[0]), np.asarray(one))
    np.testing.assert_array_equal(np.asarray(s1.spins), np.asarray(s2.spins))
    starts = mc.random_spins(jax.random.key(1), (64, 40))
    big = sk_model(40, seed=1)
    seconds = np.asarray(jax.jit(jax.vmap(lambda s: sampler.init(big, s).spins[1]))(starts), np.float64)
    # 64 independent-looking uniform starts: mean spin and overlap with replica 1 ~ N(0, 1/N)
    # (4 standard deviations: false-failure rate 6e-5 each for a random seed).
    assert abs(seconds.mean()) < 4 / np.sqrt(seconds.size)
    q = np.sum(seconds * np.asarray(starts, np.float64), axis=1) / 40
    assert abs(q.mean()) < 4 / np.sqrt(40 * 64)
    assert len({tuple(row) for row in seconds}) == 64
    step = jax.jit(sampler.step)
    new, info = step(jax.random.key(2), state, model, jnp.float32(0.5))
    assert new.spins.shape == (2, 6) and info.acceptance_rate.shape == (2,)
    assert int(new.status) == 0
    # Replica r is stepped by the inner sampler with the r-th of two keys split from the step's key.
    inner = mc.heatbath("sequential")
    for r, key_r in enumerate(jax.random.split(jax.random.key(2), 2)):
        alone, _ = inner.step(key_r, inner.init(model, pair[r]), model, jnp.float32(0.5))
        np.testing.assert_array_equal(np.asarray(new.spins[r]), np.asarray(alone.spins))
    # A traced negative beta sets INVALID_PARAMETER in the pair's status.
    bad, _ = step(jax.random.key(2), state, model, jnp.float32(-1.0))
    assert int(bad.status) & int(status.Status.INVALID_PARAMETER)


def test_x64():
    with jax.enable_x64(True):
        spins = mc.random_spins(jax.random.key(0), (3, 12))
        assert replica_overlap(spins[0], spins[1]).dtype == jnp.float64
        assert overlap_matrix(spins).dtype == jnp.float64
        assert mattis_overlaps(spins[0], spins).dtype == jnp.float64
        hist = overlap_histogram(overlap_matrix(spins).ravel(), 12)
        assert hist.probability.dtype == jnp.float64 and float(hist.probability.sum()) == pytest.approx(1.0)
        assert ultrametricity_statistic(triplet_overlaps(spins)).mean.dtype == jnp.float64


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_raises():
    a = jnp.ones((4,), jnp.int8)
    with pytest.raises(ValueError, match="same shape"):
        ov.replica_overlap(a, jnp.ones((5,), jnp.int8))
    with pytest.raises(TypeError, match="bool"):
        ov.replica_overlap(a > 0, a)
    with pytest.raises(ValueError, match="R >= 2"):
        ov.overlap_matrix(a[None])
    with pytest.raises(ValueError, match="R >= 2"):
        ov.overlap_matrix(a)
    with pytest.raises(ValueError, match="R >= 3"):
        ov.triplet_overlaps(jnp.stack([a, a]))
    with pytest.raises(ValueError, match="patterns have shape"):
        ov.mattis_overlaps(a, jnp.ones((2, 5), jnp.int8))
    with pytest.raises(ValueError, match="same shape"):
        ov.link_overlap(jnp.ones((3, 3), jnp.int8), jnp.ones((9,), jnp.int8))
    with pytest.raises(ValueError, match=">= 2"):
        ov.link_overlap(jnp.ones((3, 1), jnp.int8), jnp.ones((3, 1), jnp.int8))
    with pytest.raises(ValueError, match="positive int"):
        ov.overlap_histogram(jnp.zeros(3), 0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ov.overlap_histogram(jnp.array([0.0, 1.5]), 4)
    with pytest.raises(ValueError, match="NaN"):
        ov.overlap_histogram(jnp.array([0.0, jnp.nan]), 4)
    with pytest.raises(ValueError, match="increasing"):
        ov.overlap_histogram(jnp.zeros(3), 4, bins=jnp.array([0.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="symmetric"):
        ov.overlap_histogram(jnp.zeros(3), 4, bins=jnp.array([-1.0, 0.5, 1.0]), symmetrize=True)
    with pytest.raises(ValueError, match="at least one"):
        ov.edwards_anderson(jnp.zeros((0,)))
    with pytest.raises(ValueError, match="positive int"):
        ov.spin_glass_susceptibility(0.1, -3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        ov.ultrametricity_statistic(jnp.zeros((5, 2)))
    with pytest.raises(TypeError, match="Sampler"):
        ov.pair_sampler(lambda x: x)
    with pytest.raises(ValueError, match="two-replica"):
        ov.q(None, a)


def test_pair_sampler_init_rejects_bad_spins():
    model = sk_model(5, seed=0)
    sampler = ov.pair_sampler(mc.metropolis())
    with pytest.raises(ValueError, match=r"\(2, \*\(5,\)\)"):
        sampler.init(model, jnp.ones((3, 5), jnp.int8))
    with pytest.raises(ValueError, match="shape"):
        sampler.init(model, jnp.ones((2, 4), jnp.int8))
    with pytest.raises(TypeError, match="int8"):
        sampler.init(model, jnp.ones((2, 5), jnp.int32))
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        sampler.init(model, jnp.zeros((2, 5), jnp.int8))
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        mc.run(jax.random.key(0), sampler, model, 1.0, 10, x0=jnp.zeros((5,), jnp.int8), observables=ov.PAIR_OBSERVABLES)
