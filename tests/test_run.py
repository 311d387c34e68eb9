"""The chain driver: averages against exact values, calibrated error bars, vmap, bad input.

Comparisons "within 3 error bars" fail with probability 0.27% each for a random seed if the
error bars are right (seeds are fixed, so the outcome is deterministic).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxphys import exact, mc, status
from jaxphys.exact.transfer_matrix import ising_2d
from jaxphys.models import Ising

BETA_C = 0.5 * np.log(1 + np.sqrt(2))


def assert_within(mean, err, ref, n_sigma=3.0, name=""):
    assert abs(float(mean) - ref) < n_sigma * float(err), f"{name}: {float(mean)} +- {float(err)} vs exact {ref}"


@pytest.mark.parametrize("sampler", [mc.metropolis("random"), mc.heatbath("sequential")], ids=["metropolis", "heatbath"])
def test_L4_at_beta_c_matches_transfer_matrix(sampler):
    model = Ising((4, 4))
    ref = ising_2d(4, BETA_C)
    runs = jax.vmap(lambda k: mc.run(k, sampler, model, BETA_C, 6000, burn_in=500))(jax.random.split(jax.random.key(0), 8))
    result = mc.combine(runs)
    assert int(result.status) & ~status.Status.UNRELIABLE_ERROR == 0
    for name in ("energy", "m2", "m4", "energy2"):
        assert np.mean(np.asarray(runs.converged[name])) >= 0.75, name
        assert_within(result.mean[name], result.stderr[name], getattr(ref, name), name=name)
    binder, binder_err = mc.derived(result, lambda m: 1 - m["m4"] / (3 * m["m2"] ** 2))
    assert_within(binder, binder_err, 1 - ref.m4 / (3 * ref.m2**2), name="binder")


def test_error_bars_are_calibrated():
    """Across 48 independent chains the scatter of the means matches the binning error bars.

    For Gaussian chain means, s^2 / sigma^2 has relative sd sqrt(2/47) = 0.21, so the ratio of
    standard deviations lies in [0.6, 1.45] except with probability < 1e-3.
    """
    model = Ising((4, 4))
    runs = jax.vmap(lambda k: mc.run(k, mc.metropolis(), model, 0.4, 4000, burn_in=400))(jax.random.split(jax.random.key(7), 48))
    for name in ("energy", "abs_magnetization"):
        scatter = float(np.std(np.asarray(runs.mean[name]), ddof=1))
        reported = float(np.sqrt(np.mean(np.asarray(runs.stderr[name]) ** 2)))
        assert 0.6 < scatter / reported < 1.45, (name, scatter, reported)


def test_tau_int_is_one_half_for_independent_sweeps():
    """At beta = 0 a heat-bath sweep redraws every spin: consecutive measurements are independent."""
    model = Ising((4, 4))
    runs = jax.vmap(lambda k: mc.run(k, mc.heatbath("sequential"), model, 0.0, 4096, burn_in=1))(jax.random.split(jax.random.key(3), 16))
    tau = np.asarray(runs.tau_int["energy"])
    # Each estimate comes from the binning plateau of 64 bins (relative sd of a variance ~ 0.18 at
    # the 32-bin level): the mean over 16 chains is 0.5 within ~0.05.
    assert abs(tau.mean() - 0.5) < 0.12, tau


def test_vmap_over_betas_against_enumeration():
    model = Ising((3, 3), h=0.1)
    betas = jnp.array([0.1, 0.3, 0.5])
    keys = jax.random.split(jax.random.key(4), (3, 4))
    runs = jax.vmap(lambda ks, b: jax.vmap(lambda k: mc.run(k, mc.metropolis(), model, b, 3000))(ks))(keys, betas)
    for i, beta in enumerate(np.asarray(betas)):
        ref = exact.averages(model, beta)
        one = jax.tree.map(lambda x: x[i], runs)
        combined = mc.combine(one)
        for name in ("energy", "magnetization", "m2"):
            assert_within(combined.mean[name], combined.stderr[name], float(ref[name]), name=f"{name} at beta={beta}")


def test_trace_custom_observables_and_reproducibility():
    model = Ising((4, 4))
    observables = {"energy": lambda m, s: m.energy(s) / m.num_spins, "corner": lambda m, s: s[0, 0] * s[1, 1]}
    a = mc.run(jax.random.key(5), mc.metropolis(), model, 0.3, 640, observables=observables, trace=True, thin=2)
    b = mc.run(jax.random.key(5), mc.metropolis(), model, 0.3, 640, observables=observables, trace=True, thin=2)
    assert a.trace["energy"].shape == (320,)
    np.testing.assert_allclose(np.mean(a.trace["corner"]), a.mean["corner"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.trace["energy"], b.trace["energy"])
    assert a.bins["energy"].shape == (64,)
    assert 0 < float(a.info.acceptance_rate) < 1


def test_continue_from_final_state():
    model = Ising((4, 4))
    first = mc.run(jax.random.key(6), mc.metropolis(), model, 0.9, 200)
    second = mc.run(jax.random.key(7), mc.metropolis(), model, 0.9, 200, x0=first.state.spins, burn_in=0)
    assert second.state.spins.shape == (4, 4)
    assert float(second.mean["abs_magnetization"]) > 0.9  # ordered phase, no re-equilibration needed


def test_nan_coupling_sets_status_and_throw_raises():
    model = eqx.tree_at(lambda m: m.J, Ising((3, 3)), jnp.array(jnp.nan))  # bypasses the constructor check
    result = mc.run(jax.random.key(0), mc.metropolis(), model, 0.5, 64)
    assert int(result.status) & status.Status.NAN
    with pytest.raises(Exception, match="NaN"):
        mc.run(jax.random.key(0), mc.metropolis(), model, 0.5, 64, throw=True)


def test_bad_input_gives_clear_errors():
    model = Ising((3, 3))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        mc.run(key, mc.metropolis(), model, -1.0, 100)
    with pytest.raises(ValueError, match="finite"):
        mc.run(key, mc.metropolis(), model, float("nan"), 100)
    with pytest.raises(ValueError, match="num_sweeps"):
        mc.run(key, mc.metropolis(), model, 0.5, 0)
    with pytest.raises(ValueError, match="at least 2 measurements"):
        mc.run(key, mc.metropolis(), model, 0.5, 10, thin=10)
    with pytest.raises(TypeError, match="observables"):
        mc.run(key, mc.metropolis(), model, 0.5, 100, observables=[lambda m, s: 0.0])
    with pytest.raises(TypeError, match="Sampler"):
        mc.run(key, lambda k: k, model, 0.5, 100)
    with pytest.raises(TypeError, match="int8"):
        mc.run(key, mc.metropolis(), model, 0.5, 100, x0=jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        mc.run(key, mc.metropolis(), model, 0.5, 100, x0=jnp.ones((4, 4), jnp.int8))


def test_vmap_over_disorder_replicas_against_enumeration():
    """Disorder replicas = eqx.filter_vmap over the constructor; run vmaps over the ensemble."""
    from jaxphys.models import PairwiseIsing

    def random_model(key):
        a = jax.random.normal(key, (8, 8)) / jnp.sqrt(8.0)
        upper = jnp.triu(a, 1)
        return PairwiseIsing(upper + upper.T, h=0.2)

    models = eqx.filter_vmap(random_model)(jax.random.split(jax.random.key(8), 4))
    runs = eqx.filter_vmap(lambda m, k: mc.run(k, mc.metropolis(), m, 0.8, 4000))(models, jax.random.split(jax.random.key(9), 4))
    for r in range(4):
        model = jax.tree.map(lambda x: x[r], models)
        ref = exact.averages(model, 0.8)
        for name in ("energy", "magnetization"):
            assert_within(runs.mean[name][r], runs.stderr[name][r], float(ref[name]), name=f"replica {r} {name}")


@pytest.mark.slow  # suite time budget (2 cores, 15 min)
def test_progress_bar_does_not_change_results(capsys):
    model = Ising((3, 3))
    quiet = mc.run(jax.random.key(10), mc.metropolis(), model, 0.4, 256)
    shown = mc.run(jax.random.key(10), mc.metropolis(), model, 0.4, 256, progress=True)
    np.testing.assert_array_equal(quiet.bins["energy"], shown.bins["energy"])
    assert "mc.run bins" in capsys.readouterr().err
