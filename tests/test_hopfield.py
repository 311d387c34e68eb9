"""Hopfield networks, zero-temperature retrieval and the archetype (example-based) Hebbian rules.

References: Hebbian couplings against the explicit (N, N) matrix and PairwiseIsing; Metropolis
against exact enumeration (chi-square; a test fails if p < 1e-3, i.e. false-failure rate 0.1%
per test for a random seed; seeds are fixed, so outcomes are deterministic); retrieval against
Amit-Gutfreund-Sompolinsky (m ~ 0.99 below alpha_c = 0.138, collapse above); dataset and
coupling statistics against their exact means and variances (5-sigma tolerances, false-failure
rate < 1e-6 each).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import mc
from jaxphys.learning import archetype_dataset, supervised_hebbian, unsupervised_hebbian
from jaxphys.models import Hopfield, Ising, PairwiseIsing, mattis_overlaps, zero_temperature_dynamics
from jaxphys.testing import sampler_chi_square

ALPHA = 1e-3


def random_patterns(seed, p, n):
    return np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), size=(p, n))


def models(n=12, p=3):
    xi = random_patterns(0, p, n)
    plain = Hopfield(xi)
    return {
        "plain": plain,
        "diluted": Hopfield(xi, dilution=0.4, key=jax.random.key(1)),
        "from_couplings": Hopfield.from_couplings(plain.couplings(), xi),
    }


@pytest.mark.parametrize("name", ["plain", "diluted", "from_couplings"])
def test_flip_cost_and_site_field_contract(name):
    """E(s with s_i flipped) - E(s) = 2 s_i f_i for every site; site_field == local_field."""
    model = models()[name]
    spins = jnp.asarray(random_patterns(2, 4, 12))
    for s in spins:
        f = model.local_field(s)
        flipped = jax.vmap(lambda i: s.at[i].multiply(-1))(jnp.arange(12))
        delta = jax.vmap(model.energy)(flipped) - model.energy(s)
        np.testing.assert_allclose(delta, 2 * s * f, atol=1e-5)
        site = jax.vmap(lambda i: model.site_field(s, i))(jnp.arange(12))
        np.testing.assert_allclose(site, f, atol=1e-6)


def test_couplings_energy_and_fields_match_explicit_hebbian_matrix():
    n, p = 15, 4
    xi = random_patterns(3, p, n)
    model = Hopfield(xi)
    explicit = xi.astype(np.float64).T @ xi / n
    np.fill_diagonal(explicit, 0.0)
    np.testing.assert_allclose(model.couplings(), explicit, atol=1e-6)
    reference = PairwiseIsing(explicit)
    spins = jnp.asarray(random_patterns(4, 20, n))
    np.testing.assert_allclose(jax.vmap(model.energy)(spins), jax.vmap(reference.energy)(spins), atol=1e-5)
    np.testing.assert_allclose(jax.vmap(model.local_field)(spins), jax.vmap(reference.local_field)(spins), atol=1e-5)
    # E = -(N/2) sum m^2 + P/2 with the Mattis overlaps
    m = jax.vmap(lambda s: mattis_overlaps(model, s))(spins)
    np.testing.assert_allclose(m, np.asarray(spins, np.float64) @ xi.T / n, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(model.energy)(spins), -n / 2 * np.sum(m**2, 1) + p / 2, atol=1e-5)
    assert model.load == p / n and model.num_patterns == p


def test_disorder_replicas_by_vmapping_the_constructor():
    """Hopfield built under vmap (traced patterns, traced dilution keys) equals the one-by-one build."""
    n, p = 16, 3
    keys = jax.random.split(jax.random.key(5), 2)
    xi = random_patterns(7, p, n)
    spins = jnp.asarray(random_patterns(6, 2, n))

    @jax.jit
    def replica(key, s):
        k_xi, k_mask = jax.random.split(key)
        plain = Hopfield(jax.random.rademacher(k_xi, (p, n), jnp.int8))
        diluted = Hopfield(xi, dilution=0.5, key=k_mask)
        return plain.energy(s), plain.patterns, diluted.J

    energies, patterns, dilute_J = jax.vmap(replica)(keys, spins)
    for i in range(2):
        reference = Hopfield(patterns[i])
        np.testing.assert_allclose(energies[i], reference.energy(spins[i]), atol=1e-5)
        np.testing.assert_array_equal(dilute_J[i], replica(keys[i], spins[i])[2])
    assert not np.array_equal(dilute_J[0], dilute_J[1])  # independent masks per key


def test_run_measures_mattis_overlaps_against_enumeration():
    """<sum_mu m_mu^2> from one Metropolis chain of mc.run agrees with exact enumeration within
    5 standard errors (false-failure rate < 1e-6 if the error bar is right)."""
    from jaxphys import exact

    model = Hopfield(random_patterns(6, 2, 10))
    observables = {"q": lambda m, s: jnp.sum(mattis_overlaps(m, s) ** 2)}
    reference = float(exact.averages(model, 0.8, observables)["q"])
    result = mc.run(jax.random.key(3), mc.metropolis(), model, 0.8, 20000, burn_in=200, observables=observables)
    assert abs(float(result.mean["q"]) - reference) < 5 * float(result.stderr["q"]), (
        result.mean["q"],
        result.stderr["q"],
        reference,
    )


def test_dilution_keeps_a_symmetric_fraction_of_couplings():
    """Kept fraction of the N(N-1)/2 pairs is 1 - d within 5 binomial sigmas."""
    n, d = 200, 0.3
    model = Hopfield(random_patterns(5, 5, n), dilution=d, key=jax.random.key(7))
    J = np.asarray(model.J)
    hebb = np.asarray(Hopfield(random_patterns(5, 5, n)).couplings())
    assert np.array_equal(J, J.T) and np.all(np.diagonal(J) == 0)
    kept = J != 0
    assert np.all((J == hebb) | ~kept)  # kept couplings are unchanged
    pairs = n * (n - 1) // 2
    # P = 5 is odd, so no Hebbian entry (a sum of five +-1 terms) vanishes: nonzero == kept.
    fraction = np.triu(kept, 1).sum() / pairs
    assert abs(fraction - (1 - d)) < 5 * np.sqrt(d * (1 - d) / pairs), fraction


@pytest.mark.parametrize(
    "beta,start,sweeps",
    [
        (0.5, "random", 50),
        # At beta = 1.5 the four retrieval states are separated by barriers: random starts need
        # ~200 sweeps (slow); starting from exact draws checks that the law is left invariant.
        pytest.param(1.5, "random", 200, marks=pytest.mark.slow),
        (1.5, "exact", 5),
    ],
)
def test_metropolis_matches_enumeration_n10_p2(beta, start, sweeps):
    """Configuration histogram of 2^14 chains vs the exact Boltzmann law over 1024 states."""
    model = Hopfield(random_patterns(6, 2, 10))
    result = sampler_chi_square(
        jax.random.key(21), mc.metropolis(), model, beta, num_chains=16384, num_sweeps=sweeps, start=start
    )
    assert result.p_value > ALPHA, result


def corrupted_pattern(key, patterns, fraction):
    flip = jax.random.bernoulli(key, fraction, patterns.shape[1:])
    return jnp.where(flip, -patterns[0], patterns[0]).astype(jnp.int8)


@functools.partial(jax.jit, static_argnames=("n", "p", "mode"))
def retrieval(key, n, p, mode="asynchronous"):
    """Final overlap with pattern 0 from a start with 10% of its spins flipped."""
    k_xi, k_flip, k_dyn = jax.random.split(key, 3)
    model = Hopfield(jax.random.rademacher(k_xi, (p, n), jnp.int8))
    result = zero_temperature_dynamics(k_dyn, model, corrupted_pattern(k_flip, model.patterns, 0.1), mode=mode)
    return mattis_overlaps(model, result.spins)[0], result.converged, result.num_sweeps


def test_retrieval_below_capacity_and_collapse_above():
    """N = 1000 from 10% noise, three seeds. alpha = 0.05 retrieves: seen m = 1.000 for all three
    (2 sweeps); AGS predict m > 0.99 below alpha_c = 0.138 (bit-error rate ~ Phi(-1/sqrt(alpha))
    = 4e-6). alpha = 0.3 collapses: seen m = 0.17, 0.27, 0.38 (50, 15, 23 sweeps)."""
    keys = jax.random.split(jax.random.key(30), 3)
    m, converged, sweeps = jax.vmap(lambda k: retrieval(k, 1000, 50))(keys)
    assert np.all(np.asarray(converged)) and np.all(np.asarray(m) > 0.95), (m, sweeps)
    m, converged, sweeps = jax.vmap(lambda k: retrieval(k, 1000, 300))(keys)
    assert np.all(np.asarray(converged)) and np.all(np.asarray(m) < 0.6), m


def test_stored_patterns_are_fixed_points_at_low_load():
    """alpha = 0.01: every pattern is stable (signal 1 vs crosstalk ~ sqrt(alpha) = 0.1)."""
    n, p = 1000, 10
    model = Hopfield(random_patterns(8, p, n))
    run = jax.jit(jax.vmap(lambda s: zero_temperature_dynamics(jax.random.key(0), model, s)))
    result = run(model.patterns)
    assert np.all(np.asarray(result.converged)) and np.all(np.asarray(result.num_sweeps) == 1)
    np.testing.assert_array_equal(result.spins, model.patterns)
    sync = jax.vmap(lambda s: zero_temperature_dynamics(jax.random.key(0), model, s, mode="synchronous"))(model.patterns)
    assert np.all(np.asarray(sync.converged)) and np.all(np.asarray(sync.num_sweeps) == 1)
    fields = jax.vmap(model.local_field)(model.patterns)
    assert np.all(np.asarray(fields * model.patterns) > 0)


@pytest.mark.parametrize("name", ["plain", "diluted", "from_couplings", "ising"])
def test_asynchronous_dynamics_ends_at_a_fixed_point_with_lower_energy(name):
    """Any spin model (here also a 2D Ising lattice, shape (5, 8)) relaxes to a fixed point."""
    if name == "ising":
        model = Ising((5, 8), h=0.05)
    else:
        model = models(n=40, p=6)[name] if name != "plain" else Hopfield(random_patterns(9, 6, 40))
    spins = jnp.asarray(random_patterns(10, 8, 40)).reshape(8, *model.spin_shape)
    result = jax.vmap(lambda k, s: zero_temperature_dynamics(k, model, s))(jax.random.split(jax.random.key(2), 8), spins)
    assert result.spins.shape == spins.shape and np.all(np.asarray(result.converged))
    f = jax.vmap(model.local_field)(result.spins)
    assert np.all(np.asarray(result.spins * f) >= -1e-6)  # no site wants to flip
    assert np.all(np.asarray(jax.vmap(model.energy)(result.spins)) <= np.asarray(jax.vmap(model.energy)(spins)) + 1e-5)
    assert np.any(np.asarray(result.spins != spins))  # the dynamics did something


def test_synchronous_two_cycle_is_detected():
    """Antiferromagnetic pair: (+,+) -> (-,-) -> (+,+) under parallel updates; one spin at a time
    it relaxes to an antialigned ground state."""
    model = PairwiseIsing(np.array([[0.0, -1.0], [-1.0, 0.0]]))
    up = jnp.ones(2, jnp.int8)
    sync = zero_temperature_dynamics(jax.random.key(0), model, up, mode="synchronous", max_sweeps=50)
    assert not bool(sync.converged) and int(sync.num_sweeps) == 2
    np.testing.assert_array_equal(sync.spins, up)
    asyn = zero_temperature_dynamics(jax.random.key(0), model, up)
    assert bool(asyn.converged) and int(jnp.sum(asyn.spins)) == 0
    budget = zero_temperature_dynamics(jax.random.key(0), model, up, mode="asynchronous", max_sweeps=1)
    assert int(budget.num_sweeps) == 1 and not bool(budget.converged)


@pytest.mark.parametrize("mode", ["asynchronous", "synchronous"])
def test_integer_overlap_path_agrees_with_dense_couplings(mode):
    """The O(P)-per-update integer path of plain Hopfield models and the generic site_field /
    local_field path of the same couplings give identical trajectories. N even and P odd make
    N f_i odd, so no field is ever zero and float rounding cannot change a sign."""
    n, p = 200, 41
    xi = random_patterns(13, p, n)
    plain, dense = Hopfield(xi), Hopfield.from_couplings(Hopfield(xi).couplings(), xi)
    starts = jnp.asarray(random_patterns(14, 6, n))
    keys = jax.random.split(jax.random.key(5), 6)
    run = lambda model: jax.jit(  # noqa: E731
        jax.vmap(lambda k, s: zero_temperature_dynamics(k, model, s, mode=mode, max_sweeps=60))
    )(keys, starts)
    a, b = run(plain), run(dense)
    np.testing.assert_array_equal(a.spins, b.spins)
    np.testing.assert_array_equal(a.num_sweeps, b.num_sweeps)
    np.testing.assert_array_equal(a.converged, b.converged)
    if mode == "synchronous":
        cycles = ~np.asarray(a.converged) & (np.asarray(a.num_sweeps) < 60)
        assert cycles.any()  # random starts at alpha = 0.2 end in 2-cycles
        J = np.asarray(plain.couplings(), np.float64)
        for s in np.asarray(a.spins, np.float64)[cycles]:
            once = np.sign(J @ s)
            assert np.any(once != s) and np.array_equal(np.sign(J @ once), s)


def test_archetype_dataset_statistics():
    """E[chi] = r: the mean of eta * xi over K M N sites is r within 5 sigma = 5 sqrt((1-r^2)/KMN)."""
    k, m, n = 4, 50, 300
    dataset = jax.jit(archetype_dataset, static_argnums=(1, 2, 3))
    for r in (0.0, 0.3, 0.8, 1.0):
        xi, eta = dataset(jax.random.key(40), k, m, n, r)
        assert xi.shape == (k, n) and eta.shape == (k, m, n) and eta.dtype == jnp.int8
        assert set(np.unique(np.asarray(eta))) <= {-1, 1}
        chi = np.asarray(eta * xi[:, None, :], np.float64)
        assert abs(chi.mean() - r) <= 5 * np.sqrt((1 - r**2) / chi.size) + 1e-12, (r, chi.mean())
    assert abs(float(np.mean(np.asarray(xi)))) < 5 / np.sqrt(k * n)  # uniform archetypes
    # vmappable over the quality
    means = jax.vmap(lambda r: jnp.mean((lambda d: d[1] * d[0][:, None])(archetype_dataset(jax.random.key(1), 2, 20, 50, r))))(
        jnp.array([0.2, 0.6])
    )
    np.testing.assert_allclose(means, [0.2, 0.6], atol=5 * np.sqrt(1 / 2000))


def offdiagonal(a):
    a = np.asarray(a, np.float64)
    return a[~np.eye(a.shape[0], dtype=bool)]


def test_supervised_rule_mean_and_fluctuations_approach_archetype_hebbian():
    """N J_sup - (r^2/R) N J_Hebb(xi) has mean 0 and variance K (R^2 - r^4)/R^2 per entry,
    R = r^2 + (1-r^2)/M; as M grows r^2/R -> 1 and the variance -> 0, so J_sup -> J_Hebb."""
    k, n, r = 3, 100, 0.5
    for m, tol in ((10, 0.1), (4000, 0.1)):
        xi, eta = archetype_dataset(jax.random.key(41), k, m, n, r)
        big_r = r**2 + (1 - r**2) / m
        hebb = Hopfield(xi).couplings()
        model = supervised_hebbian(eta, r, xi)
        deviation = n * (offdiagonal(model.couplings()) - r**2 / big_r * offdiagonal(hebb))
        predicted = np.sqrt(k * (big_r**2 - r**4) / big_r**2)
        assert abs(np.sqrt(np.mean(deviation**2)) / predicted - 1) < tol, (m, np.sqrt(np.mean(deviation**2)), predicted)
        assert abs(deviation.mean()) < 5 * predicted / np.sqrt(n), deviation.mean()
    # large M: relative distance to the archetypes' Hebbian matrix is small
    rel = np.linalg.norm(model.couplings() - hebb) / np.linalg.norm(hebb)
    assert rel < 0.06, rel
    np.testing.assert_allclose(
        mattis_overlaps(model, xi[1]), np.asarray(xi, np.float64) @ np.asarray(xi[1], np.float64) / n, atol=1e-6
    )


def test_unsupervised_rule_is_unbiased_for_the_archetype_hebbian_matrix():
    """E[N J_unsup] = N J_Hebb(xi) off the diagonal, variance K (1 - r^4)/(r^4 M) per entry."""
    k, m, n, r = 3, 500, 100, 0.6
    xi, eta = archetype_dataset(jax.random.key(42), k, m, n, r)
    model = unsupervised_hebbian(eta, r, xi)
    assert np.all(np.diagonal(np.asarray(model.couplings())) == 0)
    deviation = n * (offdiagonal(model.couplings()) - offdiagonal(Hopfield(xi).couplings()))
    predicted = np.sqrt(k * (1 - r**4) / (r**4 * m))
    assert abs(np.sqrt(np.mean(deviation**2)) / predicted - 1) < 0.1
    assert abs(deviation.mean()) < 5 * predicted / np.sqrt(n)
    # the archetypes are recovered by T = 0 dynamics from a 10%-corrupted start
    start = corrupted_pattern(jax.random.key(3), xi, 0.1)
    final = zero_temperature_dynamics(jax.random.key(4), model, start)
    assert float(mattis_overlaps(model, final.spins)[0]) > 0.95


def test_x64_energy_and_dynamics():
    with jax.enable_x64(True):
        model = Hopfield(random_patterns(11, 3, 20))
        s = jnp.asarray(random_patterns(12, 1, 20)[0])
        assert model.energy(s).dtype == jnp.float64
        np.testing.assert_allclose(model.energy(s), PairwiseIsing(model.couplings()).energy(s), atol=1e-12)
        assert bool(zero_temperature_dynamics(jax.random.key(0), model, s).converged)


def test_bad_input():
    good = random_patterns(0, 2, 5)
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        Hopfield(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(P, N\)"):
        Hopfield(good[0])
    with pytest.raises(TypeError, match="booleans"):
        Hopfield(good > 0)
    with pytest.raises(ValueError, match="dilution"):
        Hopfield(good, dilution=1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="key"):
        Hopfield(good, dilution=0.5)
    with pytest.raises(ValueError, match="match"):
        Hopfield.from_couplings(np.zeros((4, 4)), good)
    with pytest.raises(ValueError, match="symmetric"):
        Hopfield.from_couplings(np.triu(np.ones((5, 5)), 1))
    model = Hopfield(good)
    with pytest.raises(TypeError, match="int8"):
        zero_temperature_dynamics(jax.random.key(0), model, jnp.ones(5))
    with pytest.raises(ValueError, match="mode"):
        zero_temperature_dynamics(jax.random.key(0), model, jnp.ones(5, jnp.int8), mode="parallel")
    with pytest.raises(ValueError, match="max_sweeps"):
        zero_temperature_dynamics(jax.random.key(0), model, jnp.ones(5, jnp.int8), max_sweeps=0)
    with pytest.raises(ValueError, match="quality"):
        archetype_dataset(jax.random.key(0), 2, 3, 5, 1.5)
    with pytest.raises(ValueError, match="quality"):
        archetype_dataset(jax.random.key(0), 2, 3, 5, -0.1)
    with pytest.raises(ValueError, match="num_examples"):
        archetype_dataset(jax.random.key(0), 2, 0, 5, 0.5)
    _, eta = archetype_dataset(jax.random.key(0), 2, 3, 5, 0.5)
    with pytest.raises(ValueError, match="quality"):
        unsupervised_hebbian(eta, 0.0)
    with pytest.raises(ValueError, match=r"\(K, M, N\)"):
        supervised_hebbian(eta[0], 0.5)
    with pytest.raises(ValueError, match=r"\+1 and -1"):
        supervised_hebbian(eta * 0, 0.5)


def test_dreaming_interpolates_from_hebbian_to_pseudo_inverse():
    patterns = jax.random.rademacher(jax.random.key(30), (20, 100), jnp.int8)
    hebb = Hopfield(patterns).couplings()
    np.testing.assert_allclose(Hopfield.dreaming(patterns, 0.0).J, hebb, atol=1e-6)
    pinv = Hopfield.pseudo_inverse(patterns).J
    np.testing.assert_allclose(Hopfield.dreaming(patterns, 1e6).J, pinv, atol=1e-4)
    # the pseudo-inverse rule is the projector on the span of the patterns, minus its diagonal
    xi = np.asarray(patterns, np.float64)
    projector = xi.T @ np.linalg.solve(xi @ xi.T, xi)
    np.testing.assert_allclose(np.asarray(pinv, np.float64), projector - np.diag(np.diag(projector)), atol=1e-5)
    assert Hopfield.dreaming(patterns, 3.0).J.shape == (100, 100)


def test_pseudo_inverse_retrieves_above_the_hebbian_capacity():
    """alpha = 0.3 > 0.138: Hebbian retrieval collapses, the projector rule keeps every pattern a
    stable fixed point (f_i = (1 - P_ii) xi_i with P_ii ~ alpha < 1) and retrieves it from 10 % noise."""
    n, p = 1000, 300
    key_xi, key_noise, key_dyn = jax.random.split(jax.random.key(31), 3)
    patterns = jax.random.rademacher(key_xi, (p, n), jnp.int8)
    noise = jnp.where(jax.random.uniform(key_noise, (n,)) < 0.1, -1, 1).astype(jnp.int8)
    start = patterns[0] * noise
    overlaps = {}
    for name, model in (("hebbian", Hopfield(patterns)), ("pseudo-inverse", Hopfield.pseudo_inverse(patterns))):
        result = zero_temperature_dynamics(key_dyn, model, start, max_sweeps=50)
        overlaps[name] = float(jnp.mean(result.spins * patterns[0]))
    assert overlaps["pseudo-inverse"] == 1.0, overlaps
    assert overlaps["hebbian"] < 0.6, overlaps
    pinv = Hopfield.pseudo_inverse(patterns)
    stable = jax.vmap(lambda s: jnp.all(pinv.local_field(s) * s > 0))(patterns[:20])
    assert bool(jnp.all(stable))


def test_dreaming_bad_input():
    patterns = jnp.ones((2, 4), jnp.int8)
    with pytest.raises(ValueError, match="dreaming time"):
        Hopfield.dreaming(patterns, -1.0)
    with pytest.raises(ValueError, match="linearly independent"):
        Hopfield.pseudo_inverse(patterns)
