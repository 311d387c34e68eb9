"""Spin-glass energies (SK, Curie-Weiss, Edwards-Anderson, bipartite SK, p-spin) against references.

Deterministic checks: the flip-cost contract ``E(s^i) - E(s) = 2 s_i f_i`` and ``site_field ==
local_field`` for every model, energies against explicit loops (neighbour table, double and
triple sums, block PairwiseIsing, the Curie-Weiss closed form), vmap/jit/x64, bad input.

Statistical checks (fixed seeds, so each outcome is deterministic; the stated rate is the
chance that a correct implementation fails for a random seed):
- coupling statistics: mean and variance within 4 standard errors (two-sided normal tail,
  6e-5 per comparison);
- chi-square of ``mc.metropolis()`` against exact enumeration and of the hypergraph sampler
  against the uniform law: fail if p < 1e-3 (0.1% per test);
- paramagnetic energies of SK and bipartite SK averaged over disorder replicas: Student-t
  interval with two-sided level 1e-3 (0.1% per test).
"""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxphys import exact, mc
from jaxphys.exact.closed_forms import curie_weiss
from jaxphys.lattice import neighbour_table
from jaxphys.models import SK, BipartiteSK, CurieWeiss, DilutedPSpin, EdwardsAnderson, Ising, PairwiseIsing, PSpin
from jaxphys.mc import random_spins
from jaxphys.testing import chi_square, sampler_chi_square

ALPHA = 1e-3
Z_MAX = 4.0  # two-sided normal tail 6.3e-5 per comparison
KEY = jax.random.key(2024)


def make_models():
    """One instance of every model, including awkward geometries (open boundaries, side 2)."""
    k = jax.random.split(KEY, 8)
    return {
        "sk": SK(11, key=k[0], J=1.3, J0=0.4),
        "curie_weiss": CurieWeiss(9, J=1.1, h=0.3),
        "ea_2d_periodic": EdwardsAnderson((4, 5), key=k[1], h=0.2),
        "ea_2d_open_pm": EdwardsAnderson((3, 4), key=k[2], bonds="pm", periodic=False),
        "ea_3d_side2": EdwardsAnderson((2, 3, 2), key=k[3], h=jnp.linspace(-0.5, 0.5, 12).reshape(2, 3, 2)),
        "bipartite": BipartiteSK(5, 7, key=k[5]),
        "pspin": PSpin(9, key=k[6], J=1.2),
        "diluted": DilutedPSpin(12, 30, key=k[7]),
        "diluted_p4_pm": DilutedPSpin(10, 15, key=k[0], p=4, bonds="pm"),
    }


# One compilation for all constructors (eager construction compiles every jnp op separately).
MODELS = eqx.filter_jit(make_models)()


@eqx.filter_jit
def contract(model, spins):
    """For a batch of configurations: (E(s^i) - E(s), 2 s_i f_i, site_field_i, f_i), each (batch, N)."""

    def one(s):
        flat = s.reshape(-1)
        shape = model.spin_shape
        flipped = jax.vmap(lambda i: model.energy(flat.at[i].set(-flat[i]).reshape(shape)))(jnp.arange(flat.size))
        field = model.local_field(s)
        assert field.shape == shape
        field = field.reshape(-1)
        site = jax.vmap(model.site_field, in_axes=(None, 0))(s, jnp.arange(flat.size))
        return flipped - model.energy(s), 2 * flat * field, site, field

    return jax.vmap(one)(spins)


def random_batch(seed, shape, count=3):
    return jax.vmap(lambda k: random_spins(k, shape))(jax.random.split(jax.random.key(seed), count))


@pytest.mark.parametrize("name", [n for n in MODELS if n != "curie_weiss"])
def test_flip_cost_is_twice_spin_times_local_field(name):
    """The spin-model contract the samplers rely on, and site_field == local_field.

    CurieWeiss is a PairwiseIsing like SK (whose contract tests/test_models.py also checks).
    """
    model = MODELS[name]
    delta, expected, site, field = contract(model, random_batch(0, model.spin_shape))
    np.testing.assert_allclose(delta, expected, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(site, field, rtol=1e-5, atol=1e-6)


def test_flip_cost_and_dtypes_with_x64():
    """Under jax_enable_x64 the couplings are float64 and the contract holds to float64 precision."""
    with jax.enable_x64(True):
        k = jax.random.split(jax.random.key(3), 3)
        # SK and CurieWeiss are PairwiseIsing, BipartiteSK the same matrix products: not repeated here.
        models = eqx.filter_jit(
            lambda k: [EdwardsAnderson((2, 3), key=k[0], periodic=False, h=0.1), PSpin(6, key=k[1]), DilutedPSpin(7, 9, key=k[2])]
        )(k)
        for model in models:
            leaves = [x for x in jax.tree.leaves(model) if jnp.issubdtype(x.dtype, jnp.floating)]
            assert leaves and all(x.dtype == jnp.float64 for x in leaves), model
            delta, expected, site, field = contract(model, random_batch(4, model.spin_shape, 1))
            assert delta.dtype == jnp.float64
            np.testing.assert_allclose(delta, expected, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(site, field, rtol=1e-12, atol=1e-12)
    assert not jax.config.jax_enable_x64


# ------------------------------------------------------------------------------------------
# Energies against explicit loops
# ------------------------------------------------------------------------------------------


def ea_energy_by_loop(model, spins):
    """Explicit loop over sites and their +1 neighbours from lattice.neighbour_table."""
    shape, periodic = model.shape, model.periodic
    table = neighbour_table(shape, periodic=periodic)
    s = np.asarray(spins, np.float64).reshape(-1)
    couplings = np.asarray(model.couplings, np.float64).reshape(len(shape), -1)
    h = np.broadcast_to(np.asarray(model.h, np.float64), shape).reshape(-1)
    energy = 0.0
    for x in range(s.size):
        for k in range(len(shape)):
            y = table[x, 2 * k]
            if y < s.size:  # missing neighbour (open boundary) has index num_sites
                energy -= couplings[k, x] * s[x] * s[y]
        energy -= h[x] * s[x]
    return energy


@pytest.mark.parametrize("name", [n for n in MODELS if n.startswith("ea")])
def test_edwards_anderson_energy_matches_neighbour_table_loop(name):
    model = MODELS[name]
    for seed in range(4):
        spins = random_spins(jax.random.key(10 + seed), model.shape)
        np.testing.assert_allclose(model.energy(spins), ea_energy_by_loop(model, spins), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,periodic", [((2, 3, 2), True), ((5,), False)])
def test_edwards_anderson_with_uniform_couplings_is_the_ising_model(shape, periodic):
    """Setting every bond to J (also the absent open-boundary ones, which must be ignored) gives Ising."""
    ea = EdwardsAnderson(shape, key=KEY, h=0.3, periodic=periodic)
    ea = eqx.tree_at(lambda m: m.couplings, ea, jnp.full_like(ea.couplings, 0.7))
    ising = Ising(shape, J=0.7, h=0.3, periodic=periodic)
    index = jnp.arange(math.prod(shape))

    @jax.jit
    def both(ea, ising, spins):
        site = jax.vmap(ea.site_field, (None, 0))(spins, index)
        return (ea.energy(spins), ea.local_field(spins), site), (
            ising.energy(spins),
            ising.local_field(spins),
            ising.local_field(spins).reshape(-1),
        )

    got, ref = jax.vmap(both, (None, None, 0))(ea, ising, random_batch(1, shape))
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-5)


def test_sk_energy_matches_double_loop():
    model = MODELS["sk"]
    J = np.asarray(model.J, np.float64)
    n = J.shape[0]
    for seed in range(3):
        s = np.asarray(random_spins(jax.random.key(seed), (n,)), np.float64)
        ref = -sum(J[i, j] * s[i] * s[j] for i in range(n) for j in range(i + 1, n))
        np.testing.assert_allclose(model.energy(jnp.asarray(s, jnp.int8)), ref, rtol=1e-5, atol=1e-5)


def test_curie_weiss_energy_closed_form_and_exact_thermodynamics():
    """E = -(J/2N)(M^2 - N) - hM per configuration, and <E> agrees with exact.closed_forms.curie_weiss."""
    n, J, h = 9, 1.1, 0.3
    model = MODELS["curie_weiss"]
    for seed in range(4):
        s = random_spins(jax.random.key(seed), (n,))
        M = float(jnp.sum(s, dtype=jnp.int32))
        np.testing.assert_allclose(model.energy(s), -(J / (2 * n)) * (M**2 - n) - h * M, rtol=1e-5, atol=1e-5)
    for beta in (0.5, 1.3):
        ref = curie_weiss(n, beta, J=J, h=h)
        got = exact.averages(model, beta)
        for name in ("energy", "magnetization", "m2", "energy2"):
            np.testing.assert_allclose(got[name], getattr(ref, name), rtol=1e-4, err_msg=name)


def test_bipartite_energy_equals_block_pairwise_model():
    model = MODELS["bipartite"]
    n1, n2 = model.num_visible, model.num_hidden
    W = np.asarray(model.W, np.float64)
    block = np.zeros((n1 + n2, n1 + n2))
    block[:n1, n1:] = W
    block[n1:, :n1] = W.T
    pairwise = PairwiseIsing(block)
    for seed in range(4):
        spins = random_spins(jax.random.key(seed), (n1 + n2,))
        v, h = model.split(spins)
        assert v.shape == (n1,) and h.shape == (n2,)
        np.testing.assert_array_equal(jnp.concatenate([v, h]), spins)
        np.testing.assert_allclose(model.energy(spins), pairwise.energy(spins), rtol=1e-5, atol=1e-5)
        ref = -np.asarray(v, np.float64) @ W @ np.asarray(h, np.float64)
        np.testing.assert_allclose(model.energy(spins), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(model.local_field(spins), pairwise.local_field(spins), rtol=1e-5, atol=1e-6)


def test_pspin_energy_matches_triple_loop_and_tensor_is_symmetric():
    model = MODELS["pspin"]
    J = np.asarray(model.J, np.float64)
    n = J.shape[0]
    for perm in itertools.permutations(range(3)):
        np.testing.assert_array_equal(J, np.transpose(J, perm))
    i, j, k = np.indices(J.shape)
    assert np.all(J[(i == j) | (j == k) | (i == k)] == 0)
    for seed in range(3):
        s = np.asarray(random_spins(jax.random.key(seed), (n,)), np.float64)
        ref = -sum(J[a, b, c] * s[a] * s[b] * s[c] for a, b, c in itertools.combinations(range(n), 3))
        np.testing.assert_allclose(model.energy(jnp.asarray(s, jnp.int8)), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["diluted", "diluted_p4_pm"])
def test_diluted_pspin_energy_matches_loop_over_interactions(name):
    model = MODELS[name]
    idx = np.asarray(model.indices)
    couplings = np.asarray(model.couplings, np.float64)
    assert idx.shape == (model.num_interactions, model.p) and idx.dtype == np.int32
    assert np.all(np.diff(idx, axis=1) > 0) and idx.min() >= 0 and idx.max() < model.num_spins  # distinct sites
    for seed in range(3):
        s = np.asarray(random_spins(jax.random.key(seed), model.spin_shape), np.float64)
        ref = -sum(couplings[a] * np.prod(s[idx[a]]) for a in range(len(couplings)))
        np.testing.assert_allclose(model.energy(jnp.asarray(s, jnp.int8)), ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------
# Coupling statistics
# ------------------------------------------------------------------------------------------


def assert_gaussian_moments(samples, mean, variance, name):
    """Sample mean and variance (about the true mean) within Z_MAX standard errors."""
    x = np.asarray(samples, np.float64).reshape(-1)
    m = x.size
    z_mean = (x.mean() - mean) / math.sqrt(variance / m)
    # mean of (x - mean)^2 has variance 2 sigma^4 / m for a Gaussian
    z_var = (np.mean((x - mean) ** 2) - variance) / (variance * math.sqrt(2.0 / m))
    assert abs(z_mean) < Z_MAX, f"{name}: mean {x.mean()} vs {mean} (z = {z_mean:.2f})"
    assert abs(z_var) < Z_MAX, f"{name}: variance {np.mean((x - mean) ** 2)} vs {variance} (z = {z_var:.2f})"


def test_sk_coupling_statistics():
    n, J, J0 = 800, 1.3, 0.7
    couplings = np.asarray(SK(n, key=jax.random.key(1), J=J, J0=J0).J)
    np.testing.assert_array_equal(couplings, couplings.T)
    assert np.all(np.diagonal(couplings) == 0)
    assert_gaussian_moments(couplings[np.triu_indices(n, 1)], J0 / n, J**2 / n, "SK")


def test_bipartite_coupling_statistics():
    n1, n2 = 300, 500
    W = BipartiteSK(n1, n2, key=jax.random.key(2)).W
    assert W.shape == (n1, n2)
    assert_gaussian_moments(W, 0.0, 1.0 / (n1 + n2), "BipartiteSK")


def test_pspin_coupling_statistics():
    n, J = 64, 0.9
    tensor = np.asarray(PSpin(n, key=jax.random.key(3), J=J).J)
    i, j, k = np.indices(tensor.shape)
    assert_gaussian_moments(tensor[(i < j) & (j < k)], 0.0, J**2 * math.factorial(3) / (2 * n**2), "PSpin")


def test_edwards_anderson_coupling_statistics():
    gaussian = EdwardsAnderson((40, 40, 20), key=jax.random.key(4), J=1.5)
    assert gaussian.couplings.shape == (3, 40, 40, 20)
    assert_gaussian_moments(gaussian.couplings, 0.0, 1.5**2, "EA gaussian")
    pm = np.asarray(EdwardsAnderson((200, 200), key=jax.random.key(5), bonds="pm", J=0.5).couplings)
    assert set(np.unique(pm)) == {-0.5, 0.5}
    assert abs(np.mean(pm > 0) - 0.5) < Z_MAX * 0.5 / math.sqrt(pm.size)
    open_ = np.asarray(EdwardsAnderson((5, 6), key=jax.random.key(6), periodic=False).couplings)
    assert np.all(open_[0, -1, :] == 0) and np.all(open_[1, :, -1] == 0)
    assert np.all(open_[0, :-1, :] != 0) and np.all(open_[1, :, :-1] != 0)


def test_diluted_hyperedges_are_uniform_and_couplings_gaussian():
    """Every one of the C(6, 3) = 20 triples equally likely (chi-square, p > 1e-3)."""
    n, m = 6, 20000
    model = DilutedPSpin(n, m, key=jax.random.key(7), J=0.8)
    triples = {t: a for a, t in enumerate(itertools.combinations(range(n), 3))}
    counts = np.bincount([triples[tuple(row)] for row in np.asarray(model.indices).tolist()], minlength=len(triples))
    result = chi_square(counts, np.full(len(triples), 1.0 / len(triples)))
    assert result.p_value > ALPHA, result
    assert_gaussian_moments(model.couplings, 0.0, 0.8**2, "DilutedPSpin")


# ------------------------------------------------------------------------------------------
# Metropolis against exact enumeration
# ------------------------------------------------------------------------------------------


CHI_SQUARE_CASES = [
    # (model, beta, by, num_chains, num_sweeps)
    pytest.param(lambda: SK(12, key=jax.random.key(20)), 0.8, "energy_magnetization", 16384, 50, id="sk12"),
    pytest.param(lambda: BipartiteSK(5, 5, key=jax.random.key(21)), 1.5, "configuration", 8192, 50, id="bipartite5+5"),
    # Strong doubled bonds (side 2) trap chains for hundreds of sweeps at beta = 1: stay at 0.5.
    pytest.param(
        lambda: EdwardsAnderson((2, 3), key=jax.random.key(22), h=0.2), 0.5, "configuration", 4096, 60, id="ea2x3_periodic"
    ),
    pytest.param(
        lambda: EdwardsAnderson((2, 3), key=jax.random.key(23), bonds="pm", periodic=False),
        0.7,
        "configuration",
        4096,
        60,
        id="ea2x3_open_pm",
        marks=pytest.mark.slow,
    ),
    pytest.param(lambda: PSpin(8, key=jax.random.key(24)), 2.0, "configuration", 4096, 40, id="pspin8"),
    # Odd-p interactions of strength ~1.5 trap chains for hundreds of sweeps at beta = 1.
    pytest.param(lambda: DilutedPSpin(8, 10, key=jax.random.key(25)), 0.5, "configuration", 4096, 100, id="diluted8"),
]


@pytest.mark.parametrize("make,beta,by,num_chains,num_sweeps", CHI_SQUARE_CASES)
def test_metropolis_converges_to_boltzmann(make, beta, by, num_chains, num_sweeps):
    """Final states of independent chains vs exact enumeration; false-failure rate 0.1%."""
    result = sampler_chi_square(
        jax.random.key(30), mc.metropolis(), eqx.filter_jit(make)(), beta, num_chains=num_chains, num_sweeps=num_sweeps, by=by
    )
    assert result.p_value > ALPHA, result


# ------------------------------------------------------------------------------------------
# Paramagnetic phase: quenched energy = annealed energy
# ------------------------------------------------------------------------------------------


def disorder_mean(per_replica):
    """Mean over replicas and its Student-t half-width at two-sided level ALPHA."""
    x = np.asarray(per_replica, np.float64)
    r = x.size
    return x.mean(), scipy.stats.t.ppf(1 - ALPHA / 2, r - 1) * x.std(ddof=1) / math.sqrt(r)


def test_sk_paramagnetic_energy_is_annealed():
    """beta = 0.5 < 1: u = -beta (N - 1) / (2N) from ln E Z = N ln 2 + beta^2 (N - 1) / 4.

    Each replica (independent couplings and chain) gives one estimate of the disorder-averaged
    energy; their spread holds both thermal and disorder fluctuations. The quenched-annealed
    gap E ln Z - ln E Z -> (ln(1 - beta^2) + beta^2) / 4 (Aizenman, Lebowitz & Ruelle 1987)
    adds beta^3 / (2 N (1 - beta^2)) = 3e-4 per spin at N = 256, included in the reference.
    """
    n, beta, replicas, num_sweeps = 256, 0.5, 16, 600
    keys = jax.random.split(jax.random.key(40), replicas)
    models = eqx.filter_vmap(lambda k: SK(n, key=k))(keys)
    runs = eqx.filter_jit(
        eqx.filter_vmap(
            lambda m, k: mc.run(
                k, mc.metropolis(), m, beta, num_sweeps, burn_in=50, observables={"energy": lambda m, s: m.energy(s) / n}
            )
        )
    )(models, jax.random.split(jax.random.key(41), replicas))
    assert np.all(np.asarray(runs.status) & ~8 == 0)
    reference = -beta * (n - 1) / (2 * n) + beta**3 / (2 * n * (1 - beta**2))
    mean, half_width = disorder_mean(runs.mean["energy"])
    assert abs(mean - reference) < half_width, (mean, half_width, reference)
    assert half_width < 0.05 * abs(reference)  # the test has power: -beta/2 is resolved to 5%


def test_bipartite_paramagnetic_energy_is_annealed():
    """beta = 0.5 < beta_c = [lam (1 - lam)]^(-1/4) = 1.44: u = -beta lam (1 - lam), lam = N1 / N.

    ln E Z = N ln 2 + (beta^2 / 2) sum_ij E W_ij^2 = N ln 2 + beta^2 N1 N2 / (2N), so
    <E> = -beta N1 N2 / N and u = -beta lam (1 - lam). The quenched correction is O(1/N) per spin
    (an estimated ~2e-4 here, well below the error bar).
    """
    n1, n2, beta, replicas = 96, 160, 0.5, 16
    lam = n1 / (n1 + n2)
    keys = jax.random.split(jax.random.key(42), replicas)
    models = eqx.filter_vmap(lambda k: BipartiteSK(n1, n2, key=k))(keys)
    runs = eqx.filter_jit(eqx.filter_vmap(lambda m, k: mc.run(k, mc.metropolis(), m, beta, 600, burn_in=50)))(
        models, jax.random.split(jax.random.key(43), replicas)
    )
    assert np.all(np.asarray(runs.status) & ~8 == 0)
    mean, half_width = disorder_mean(runs.mean["energy"])
    reference = -beta * lam * (1 - lam)
    assert abs(mean - reference) < half_width, (mean, half_width, reference)
    assert half_width < 0.1 * abs(reference)


# ------------------------------------------------------------------------------------------
# vmap, jit, bad input
# ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_disorder_replicas_by_filter_vmap_equal_single_constructions():
    """eqx.filter_vmap over keys builds the same replicas as one construction per key (both jitted).

    Slow only by compilation (~7 s); the fast paramagnetic tests build SK and BipartiteSK
    ensembles with eqx.filter_vmap and check their physics.
    """
    makers = {
        "ea": lambda k: EdwardsAnderson((3, 3), key=k, bonds="pm", periodic=False),
        "pspin": lambda k: PSpin(6, key=k),
        "diluted": lambda k: DilutedPSpin(8, 12, key=k),
    }
    keys = jax.random.split(jax.random.key(50), 2)
    for name, make in makers.items():
        # One compilation: the vmapped construction and the per-key ones side by side.
        ensemble, singles = eqx.filter_jit(lambda ks: (eqx.filter_vmap(make)(ks), [make(ks[r]) for r in range(len(keys))]))(keys)
        for r, single in enumerate(singles):
            replica = jax.tree.map(lambda x: x[r], ensemble)
            assert jax.tree.structure(replica) == jax.tree.structure(single), name
            for a, b in zip(jax.tree.leaves(replica), jax.tree.leaves(single)):
                np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)


def test_bad_input_raises_clear_errors():
    key = jax.random.key(0)
    legacy = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="num_spins"):
        SK(1, key=key)
    with pytest.raises(TypeError, match="num_spins"):
        SK(12.0, key=key)
    with pytest.raises(TypeError, match="typed PRNG key"):
        SK(12, key=legacy)
    with pytest.raises(ValueError, match="single key"):
        SK(12, key=jax.random.split(key, 2))
    with pytest.raises(ValueError, match="NaN"):
        SK(12, key=key, J=float("nan"))
    with pytest.raises(ValueError, match="num_spins"):
        CurieWeiss(1)
    with pytest.raises(ValueError, match="side"):
        EdwardsAnderson((1, 4), key=key)
    with pytest.raises(ValueError, match="bonds"):
        EdwardsAnderson((3, 3), key=key, bonds="uniform")
    with pytest.raises(TypeError, match="typed PRNG key"):
        EdwardsAnderson((3, 3), key=legacy)
    with pytest.raises(ValueError, match="broadcast"):
        EdwardsAnderson((3, 3), key=key, h=jnp.zeros(4))
    with pytest.raises(ValueError, match="num_hidden"):
        BipartiteSK(5, 0, key=key)
    with pytest.raises(TypeError, match="typed PRNG key"):
        BipartiteSK(5, 5, key=legacy)
    with pytest.raises(ValueError, match="p = 3"):
        PSpin(8, key=key, p=4)
    with pytest.raises(ValueError, match="num_spins"):
        PSpin(2, key=key)
    with pytest.raises(TypeError, match="typed PRNG key"):
        PSpin(8, key=legacy)
    with pytest.raises(ValueError, match="num_spins"):
        DilutedPSpin(2, 5, key=key, p=3)
    with pytest.raises(ValueError, match="num_interactions"):
        DilutedPSpin(8, 0, key=key)
    with pytest.raises(ValueError, match="shape"):
        mc.metropolis().init(MODELS["bipartite"], jnp.ones((5,), jnp.int8))


@pytest.mark.slow
def test_metropolis_leaves_boltzmann_invariant_at_low_temperature():
    """beta = 1 on the 2x3 EA lattice mixes too slowly from random starts; start from exact draws (0.1%)."""
    model = EdwardsAnderson((2, 3), key=jax.random.key(22), h=0.2)
    result = sampler_chi_square(jax.random.key(31), mc.metropolis(), model, 1.0, num_chains=4096, num_sweeps=5, start="exact")
    assert result.p_value > ALPHA, result
